"""Pages 03 and 04, container drivers and licence types: shares, counts, and the changes between them."""

from __future__ import annotations

import pandas as pd

from .. import charts, figures, fmt
from ..charts import Chart
from ..context import Context
from . import common

#: the CSV columns of a monthly changes chart
CHANGES_CSV = ["month", "category", "instances"]


def shares(ctx: Context, dimension: str, what: str, name: str) -> Chart:
    """Weekly share of active instances by driver or licence type (top 7 and 'other')."""
    df, rows = common.protected_breakdown(ctx, dimension)
    if df.empty:
        return common.empty(name, what, f"reported a {what.lower()}", ctx, "week")
    title = common.top_finding(ctx, df, rows, f"{dimension}_top_share", what)
    fig = charts.share_area(rows, "week", "category", charts.series_order(df, "category"))
    charts.layout(fig, charts.AXIS["week"], "share of weekly active instances", percent=True)
    common.dated(fig, ctx, "week")
    return Chart(name, title, f"{what}: share of each week's active instances", fig,
                 rows.only(common.BREAKDOWN_CSV), extra=common.rest_note(ctx, df, "values"))


def counts(ctx: Context, dimension: str, what: str, name: str) -> Chart:
    """Weekly active instances by driver or licence type (top 7 and 'other')."""
    df, rows = common.protected_breakdown(ctx, dimension)
    if df.empty:
        return common.empty(name, what, f"reported a {what.lower()}", ctx, "week")
    week = common.rows_of(df[~df["category"].isin(common.REST)], "week", ctx.scope.week)
    title = what
    if len(week):
        top = week.sort_values("instances", ascending=False).iloc[0]
        count = ctx.quote(figures.count(f"{dimension}_top_instances", top["instances"], top["week"], ctx.k,
                                        common.withheld(rows, top)))
        title = f"{top['category']}: {count} instances, week of {fmt.day(top['week'])}"
    fig = charts.lines(rows, "week", "category", "instances", charts.series_order(df, "category"))
    charts.layout(fig, charts.AXIS["week"], "weekly active instances")
    common.dated(fig, ctx, "week", whole=True)
    return Chart(name, title, f"Weekly active instances per {what.lower()}", fig, rows.only(common.BREAKDOWN_CSV),
                 extra=common.rest_note(ctx, df, "values"))


def _months(ctx: Context, dimension: str) -> pd.DataFrame:
    """Return changes_monthly's rows of one dimension in the date range."""
    df = ctx.mart("changes_monthly")
    return df[df["dimension"] == dimension]


def _window(ctx: Context, df: pd.DataFrame) -> pd.DataFrame:
    """Return the rows of the last complete month (their 12-month sums describe the report's end)."""
    return common.rows_of(df, "month", ctx.scope.month)


def _period(row) -> str:
    """Return 'Dec 2025 – Nov 2026': the months a 12-month sum covers."""
    return f"{fmt.month(row['window_start'])} – {fmt.month(row['month'])}"


def _sums(df: pd.DataFrame, window: pd.Series | None, quoted: list) -> pd.Series:
    """Return each row's partition for suppression: in the 12 months the title sums (`window`: its row), the
    category when the title quotes its sum, else 'rest' (the dimension's quoted sum less those); blank outside."""
    if window is None:
        return pd.Series(None, index=df.index, dtype=object)
    inside = df["month"].between(window["window_start"], window["month"])
    return df["category"].where(df["category"].isin(quoted), "rest").where(inside)


def _bars(ctx: Context, df: pd.DataFrame, name: str, title: str, subtitle: str, y_label: str, names=None,
          palette=None, patterns=None, window: pd.Series | None = None, quoted: list | None = None) -> Chart:
    """Stacked monthly bars of changes by category (top 7 and 'other'; colours from `palette`, else in order); the
    months the title sums (`window`, the categories whose sums it quotes) protected as partitions."""
    rows = ctx.protect(df.assign(sums=_sums(df, window, quoted or [])), ["instances"], within=["sums"]).only(list(df))
    fig = charts.stacked_bars(rows, "month", "category", charts.series_order(df, "category"), names=names,
                              palette=palette, patterns=patterns)
    charts.layout(fig, charts.AXIS["month"], y_label)
    common.dated(fig, ctx, "month", whole=True)
    return Chart(name, title, subtitle, fig, rows.only(CHANGES_CSV))


def changes(ctx: Context, dimension: str, what: str, name: str) -> Chart:
    """Instances changing driver (or licence type) per month; the title: the last 12 months' commonest change."""
    df = _months(ctx, dimension)
    title = f"Instances that changed {what}"
    window = _window(ctx, df)
    named = window[window["category"] != "other"].sort_values(["changes_12m", "category"], ascending=[False, True])
    summed, tied = None, []
    if len(named) and named["dimension_changes_12m"].iloc[0] > 0:
        top = named.iloc[0]
        total = ctx.quote(figures.count(f"{dimension}_changes_12m", top["dimension_changes_12m"], top["month"], ctx.k))
        most = ctx.quote(figures.count(f"{dimension}_top_change_12m", top["changes_12m"], top["month"], ctx.k))
        tied = named[named["changes_12m"] == top["changes_12m"]]["category"].tolist()
        commonest = (f"the most common: {top['category']} ({most})" if len(tied) == 1 else
                     f"the most common: {fmt.listing(tied)} ({most} each)")
        title = f"{_period(top)}: {total} changes of {what}; {commonest}"
        summed = top
    if not (df["instances"] > 0).any():
        return charts.nothing(name, title, f"No instance changed {what} in this date range.")
    palette, patterns = common.change_styles(ctx, dimension, df["category"].unique().tolist())
    return _bars(ctx, df, name, title, f"Instances whose {what} changed between two days they reported it, per "
                 f"month (UTC); up to 7 commonest changes by name, the rest as 'other'; a change in the colour of the "
                 f"{what} it went to (as above), its pattern by the one it left", "instances changing", palette=palette,
                 patterns=patterns, window=summed, quoted=tied)


def trials_ended(ctx: Context) -> Chart:
    """Trial licences that ended per month, by the licence type they became."""
    df = _months(ctx, "trial_end")
    title = "Trials that ended, and what they became"
    window = _window(ctx, df)
    summed = None
    if len(window) and window["dimension_changes_12m"].iloc[0] > 0:
        top = window.sort_values("changes_12m", ascending=False).iloc[0]
        total = ctx.quote(figures.count("trials_ended_12m", top["dimension_changes_12m"], top["month"], ctx.k))
        share = ctx.quote(figures.share("trial_top_outcome_share", top["share_12m"], top["month"], top["changes_12m"],
                                        ctx.k, digits=0))
        one = top["dimension_changes_12m"] == 1 and not fmt.hidden(top["dimension_changes_12m"], ctx.k)
        trials = "trial" if one else "trials"   # a hidden count keeps the plural: '1' would show through
        title = f"{_period(top)}: {total} {trials} ended; {share} of them became {top['category']}"
        summed = top
    if not (df["instances"] > 0).any():
        return charts.nothing("trials_ended", title, "No trial licence ended in this date range.")
    names = {c: f"became {c}" for c in df["category"].unique() if c != "other"}
    licences = common.licence_colours(ctx)
    return _bars(ctx, df, "trials_ended", title, "Trial licences that ended per month (UTC), by the licence type "
                 "they became", "trials ended", names, {c: licences[c] for c in names if c in licences},
                 window=summed, quoted=[] if summed is None else [summed["category"]])


def conversions(ctx: Context) -> Chart:
    """CE instances that became EE, per month."""
    df = _months(ctx, "ce_to_ee")
    title = "CE to EE conversions"
    window = _window(ctx, df)
    row = None
    if len(window):
        row = window.iloc[0]
        total = ctx.quote(figures.count("conversions_12m", row["changes_12m"], row["month"], ctx.k))
        title = f"{_period(row)}: {total} CE instances became EE"
    if not (df["instances"] > 0).any():
        return charts.nothing("ce_to_ee", title, "No CE instance became EE in this date range.")
    ee = common.licence_colours(ctx).get("EE")   # in EE's colour, as 'became EE' above
    return _bars(ctx, df, "ce_to_ee", title, "CE instances that became EE, per month (UTC)", "instances converted",
                 palette={c: ee for c in df["category"].unique()} if ee else None, window=row)
