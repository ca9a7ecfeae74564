"""Page 02, version adoption: minor lines over time, upgrade velocity, patch versions, development builds."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from .. import charts, figures, fmt, marts
from ..charts import Chart
from ..context import Context
from ..suppress import Protected
from . import common

MILESTONES = ((25, "25 %"), (50, "50 %"), (75, "75 %"))


def newest_title(ctx: Context) -> str:
    """Return '2.33 is the newest line: 74.2 % of active instances run it, week of 23 Nov 2026'."""
    found = figures.weekly(ctx.scope)
    if not found:
        return "FlowForge minor lines"
    line, share = ctx.quote(found["newest_line"]), ctx.quote(found["newest_line_share"])
    return (f"{line} is the newest line: {share} of active instances run it (or a newer one), week of "
            f"{fmt.day(found['newest_line'].as_of)}")


def _line_order(df: pd.DataFrame) -> list:
    """Stack older lines at the bottom: 'other lines', the named lines oldest to newest, then the rest."""
    ranks = df.drop_duplicates("category").set_index("category")["category_rank"]
    named = ranks[ranks <= 5].sort_values(ascending=False).index.tolist()
    return [c for c in ("other lines",) if c in ranks] + named + [c for c in ("dev builds", "unknown") if c in ranks]


def version_lines(ctx: Context, weeks: int = 52) -> Chart:
    """Share of weekly active instances by minor line over the last `weeks` weeks, minor releases marked."""
    title = newest_title(ctx)
    df, rows = common.protected_breakdown(ctx, "version_line")
    if df.empty:
        return common.empty("version_lines", title, "reported a FlowForge version", ctx, "week")
    recent = df["week"] > df["week"].max() - pd.Timedelta(weeks=weeks)
    df, rows = df[recent], rows.where(recent)
    order = _line_order(df)
    fig = charts.share_area(rows, "week", "category", order, common.line_colours(ctx))
    charts.layout(fig, charts.AXIS["week"], "share of weekly active instances", percent=True)
    common.dated(fig, ctx, "week")
    releases = marts.reference("flowforge_releases")
    firsts = releases[releases["version"].str.endswith(".0")
                      & releases["released_on"].between(df["week"].min(), df["week"].max() + pd.Timedelta(days=6))]
    charts.mark_days(fig, pd.DataFrame({"day": firsts["released_on"],
                                        "label": firsts["version"].str.rsplit(".", n=1).str[0]}))
    return Chart("version_lines", title, f"The last {weeks} weeks: the 5 newest minor lines by name, older ones "
                 "together, development builds apart; each minor release marked", fig,
                 rows.only(common.BREAKDOWN_CSV))


def _known_by(uptake: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.DataFrame:
    """Return release_uptake's rows released by the as-of day, each milestone blank when reached after it."""
    if as_of is None:
        return uptake
    uptake = uptake[uptake["released_on"] <= as_of].copy()
    for pct, _ in MILESTONES:
        column = f"days_to_{pct}pct"
        later = uptake["released_on"] + pd.to_timedelta(uptake[column], unit="D") > as_of
        uptake[column] = uptake[column].mask(later.fillna(False))
    return uptake


def _reached(ctx: Context, uptake: pd.DataFrame) -> pd.Series | None:
    """Return the newest line that reached a milestone (uptake: as `_known_by` gives it), with that milestone."""
    if ctx.as_of is None:
        return None
    for _, row in uptake.sort_values("released_on", ascending=False).iterrows():
        for pct, _ in reversed(MILESTONES):
            days = row[f"days_to_{pct}pct"]
            if not fmt.missing(days):
                return pd.Series({"version": row["version"], "pct": pct, "days": days,
                                  "on": row["released_on"] + pd.Timedelta(days=int(days))})
    return None


def release_uptake(ctx: Context, last: int = 16) -> Chart:
    """Days from each minor release until 25, 50 and 75 % of weekly active instances ran it or newer."""
    uptake = _known_by(marts.read("release_uptake", ctx.parquet_dir), ctx.as_of)
    title = "Upgrade velocity"
    reached = _reached(ctx, uptake)
    if reached is not None:
        version = ctx.quote(figures.label("uptake_line", reached["version"], reached["on"]))
        share = ctx.quote(figures.share("uptake_share", reached["pct"] / 100, reached["on"], digits=0))
        days = ctx.quote(figures.days("uptake_days", reached["days"], reached["on"]))
        title = f"{version} ran on {share} of active instances (or newer ones) {days} after its release"
    if uptake.empty:
        return charts.nothing("release_uptake", title, "No minor release came out in this date range.")
    df = uptake.sort_values("released_on").tail(last)
    fig = go.Figure()
    for (pct, label), colour in zip(MILESTONES, charts.PALETTE):
        fig.add_trace(go.Bar(x=df["version"], y=df[f"days_to_{pct}pct"], name=label, marker_color=colour,
                             hovertemplate="%{x}: " + label + " after %{y} days<extra></extra>"))
    charts.layout(fig, "minor release", "days after release")
    fig.update_layout(barmode="group", hovermode="closest")
    fig.update_xaxes(type="category")
    charts.whole(fig)
    return Chart("release_uptake", title, "Days from each minor release until 25, 50 and 75 % of weekly active "
                 "instances ran it or a newer line; no bar: not reached in a complete week", fig, Protected(df))


def patch_mix(ctx: Context) -> Chart:
    """Instances per week on each patch version of the 3 newest minor lines (top 7 and 'other')."""
    df, rows = common.protected_breakdown(ctx, "patch_version")
    if df.empty:
        return common.empty("patch_mix", "Patch versions of the newest lines", "ran one of the newest lines",
                            ctx, "week")
    week = common.rows_of(df[df["category"] != "other"], "week", ctx.scope.week)
    title = "Patch versions of the newest minor lines"
    if len(week):
        top = week.sort_values("instances", ascending=False).iloc[0]
        version = ctx.quote(figures.label("top_patch_version", top["category"], top["week"]))
        count = ctx.quote(figures.count("top_patch_instances", top["instances"], top["week"], ctx.k,
                                        common.withheld(rows, top)))
        title = f"{version} is the most run patch version: {count} instances, week of {fmt.day(top['week'])}"
    order, palette, dashes = common.patch_styles(ctx, charts.series_order(df, "category"))
    fig = charts.lines(rows, "week", "category", "instances", order, palette=palette, dashes=dashes)
    charts.layout(fig, charts.AXIS["week"], "weekly active instances")
    common.dated(fig, ctx, "week", whole=True)
    return Chart("patch_mix", title, "Instances per week on each patch version of the 3 newest minor lines, in "
                 "its minor line's colour (as in the minor lines chart), the line's newest patch solid", fig,
                 rows.only(common.BREAKDOWN_CSV), extra=common.rest_note(ctx, df, "patch versions"))


def dev_builds(ctx: Context) -> Chart:
    """Instances running development builds (a pre-release suffix such as -git) per week."""
    df, rows = common.protected_breakdown(ctx, "version_line")
    dev = df["category"] == "dev builds"
    df, rows = df[dev], rows.where(dev)
    title = "Development builds"
    if df.empty:
        return common.empty("dev_builds", title, "ran a development build", ctx, "week")
    week = common.rows_of(df, "week", ctx.scope.week)
    if len(week):
        count = ctx.quote(figures.count("dev_build_instances", week["instances"].iloc[0], week["week"].iloc[0], ctx.k))
        share = ctx.quote(figures.share("dev_build_share", week["share"].iloc[0], week["week"].iloc[0],
                                        week["instances"].iloc[0], ctx.k))
        title = f"{count} instances ({share}) ran development builds in the week of {fmt.day(week['week'].iloc[0])}"
    colour = common.line_colours(ctx)["dev builds"]   # as in the minor lines chart
    fig = go.Figure(go.Bar(x=rows.rows["week"], y=rows.rows["instances"], name="development builds",
                           marker_color=colour, customdata=rows.rows[["share"]],
                           hovertemplate="%{y:,} instances (%{customdata[0]:.1%})<extra></extra>"))
    charts.hidden_marks(fig, rows, "week", "instances", 0, "development builds")
    charts.layout(fig, charts.AXIS["week"], "weekly active instances")
    common.dated(fig, ctx, "week", whole=True)
    return Chart("dev_builds", title, "Instances whose version carries a pre-release suffix such as -git", fig,
                 rows.only(common.BREAKDOWN_CSV))
