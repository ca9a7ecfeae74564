"""Page 05, data quality: sources, files in trouble, alerts (repeats grouped), new payload keys, quarantine."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from ... import privacy
from .. import charts, figures, fmt, suppress
from ..charts import Chart
from ..context import Context
from ..suppress import Protected
from . import common

#: rows a table shows before 'and N more' (the CSV beside it holds them all)
TABLE_ROWS = 20
SOURCE_COUNTS = ["rows_read", "loaded", "duplicates", "quarantined", "pending"]
#: the checks whose value is a count (pings, instances), hidden under k like every count
COUNT_CHECKS = {"pings_per_day", "active_7d_drop", "new_payload_key"}


def short(path: str) -> str:
    """Return a path's last two components (enough to name a file within its source), addresses blanked."""
    parts = Path(privacy.scrub(str(path))).parts
    return str(Path(*parts[-2:])) if len(parts) >= 2 else privacy.scrub(str(path))


def more(total: int, shown: int, what: str) -> str | None:
    """Return "and 2,985 more <what>, not listed" when a table shows only some rows (the CSV: the rows shown)."""
    return f"and {total - shown:,} more {what}, not listed" if total > shown else None


def sources(ctx: Context) -> Protected:
    """One row per source: items, items in trouble, rows read = loaded + duplicates + quarantined + pending."""
    df = ctx.mart("source_summary").assign(last_loaded_utc=lambda d: d["last_loaded_at"].dt.strftime("%Y-%m-%d %H:%M"),
                                           source=lambda d: d["source"].map(short))
    cols = ["source", "items", "items_in_trouble", *SOURCE_COUNTS, "last_loaded_utc"]
    return ctx.protect(df[cols], SOURCE_COUNTS, withhold=suppress.parts_of_rows(df, SOURCE_COUNTS[1:], ctx.k))


def files_in_trouble(ctx: Context) -> tuple[Protected, str | None]:
    """Only the files or tables that changed after loading, failed, or wait on a torn final line (worst first)."""
    df = ctx.mart("source_status")
    df = df[df["in_trouble"]].sort_values(["status", "pending"], ascending=[False, False])
    df = df.assign(item=df["item"].map(short), message=df["message"].fillna(""), source=df["source"].map(privacy.scrub))
    cols = ["source", "item", "status", "pending", "rows_read", "loaded", "quarantined", "message"]
    return ctx.protect(df[cols].head(TABLE_ROWS), ["pending", "rows_read", "loaded", "quarantined"]), \
        more(len(df), TABLE_ROWS, "files")


#: an alert row's run, in the words of a run: the alerts mart's run columns and the day it stood on
RUN_COLUMNS = {"run_first_day": "first_day", "run_days": "days", "run_severity": "severity",
               "checked_day": "last_day"}


def as_runs(alerts: pd.DataFrame | None) -> pd.DataFrame | None:
    """Return alerts mart rows as runs that end on their day (first_day, last_day, days, severity: the worst so
    far; value and expected range of that day), or None when this parquet set's alerts carry no runs."""
    if alerts is None or "run_first_day" not in alerts:
        return None
    return alerts.drop(columns="severity").rename(columns=RUN_COLUMNS)


def alerts(ctx: Context, days: int = 90) -> tuple[Protected, str | None]:
    """The alerts of the last `days` days of the range, a run of repeats on consecutive days as one row, as it
    stood on the range's last day: the alerts mart's row of the run's latest day in the range."""
    found = as_runs(ctx.mart_optional("alerts"))
    cols = ["state", "check", "subject", "first_day", "last_day", "days", "severity", "value", "expected"]
    if found is None or found.empty or ctx.as_of is None:
        return Protected(pd.DataFrame(columns=cols)), None
    recent = found[found["last_day"] > ctx.as_of - pd.Timedelta(days=days)]
    runs = recent.sort_values("last_day").drop_duplicates(["check", "subject", "first_day"], keep="last")
    runs = runs.assign(is_open=runs["last_day"] == ctx.as_of).sort_values(
        ["is_open", "last_day", "rank_on_day"], ascending=[False, False, True])
    shown = runs.head(TABLE_ROWS).assign(
        state=lambda d: d["is_open"].map({True: "open", False: "ended"}),
        expected=lambda d: [_expected(lo, hi) for lo, hi in zip(d["expected_low"], d["expected_high"])],
        first_day=lambda d: d["first_day"].dt.strftime("%Y-%m-%d"), last_day=lambda d: d["last_day"].dt.strftime("%Y-%m-%d"))
    return ctx.protect(shown[cols], ["value"], shown["check"].isin(COUNT_CHECKS)), more(len(runs), TABLE_ROWS,
                                                                                        "alerts")


def _expected(low, high) -> str:
    """Return an alert's expected range as text ('' when it has none)."""
    if fmt.missing(low) and fmt.missing(high):
        return ""
    return f"{fmt.amount(low)} to {fmt.amount(high)}" if not fmt.missing(high) else f"at least {fmt.amount(low)}"


def new_payload_keys(ctx: Context, days: int = 90) -> tuple[Protected, str | None]:
    """Payload keys first seen in the last `days` days of the range, the most sent first."""
    keys = ctx.mart_optional("payload_keys")
    cols = ["key", "first_day", "last_day", "pings", "instances"]
    if keys is None or keys.empty or ctx.as_of is None:
        return Protected(pd.DataFrame(columns=cols)), None
    new = keys[(keys["first_day"] > ctx.as_of - pd.Timedelta(days=days)) & (keys["first_day"] <= ctx.as_of)]
    new = new.sort_values(["instances", "first_day", "key"], ascending=[False, False, True])
    shown = new.head(TABLE_ROWS).assign(first_day=lambda d: d["first_day"].dt.strftime("%Y-%m-%d"),
                                        last_day=lambda d: d["last_day"].dt.strftime("%Y-%m-%d"))
    return ctx.protect(shown[cols], {"instances": [], "pings": []}), more(len(new), TABLE_ROWS, "keys")


def _in_range(ctx: Context, df: pd.DataFrame) -> pd.Series:
    """Return which rows' days lie between the data's first day and the as-of day."""
    first = ctx.scope.freshness.get("first_day")
    return df["day"].between(pd.Timestamp(first), ctx.as_of) if ctx.as_of is not None else df["day"].notna()


def quarantine(ctx: Context) -> Chart:
    """Quarantined rows per day by their own time, one small panel per reason (each on its own scale)."""
    df = ctx.mart("quarantine_daily")
    timed = df[df["timed"] & _in_range(ctx, df)]
    title = "Quarantined rows per day, by reason"
    if timed.empty:
        return charts.nothing("quarantine_reasons", title, "No row with a readable time was quarantined in this "
                              "date range; rows without one are listed below.")
    rows = ctx.protect(timed[["day", "reason", "rows"]], ["rows"])
    reasons = sorted(timed["reason"].unique())
    fig = charts.panels(len(reasons), reasons, columns=2, height_each=130)
    for i, reason in enumerate(reasons):
        part = rows.rows[rows.rows["reason"] == reason]
        fig.add_trace(go.Scatter(x=part["day"], y=part["rows"], name=reason, mode="markers",
                                 marker=dict(color=charts.PALETTE[i % len(charts.PALETTE)], size=5),
                                 hovertemplate=reason + ": %{y:,} rows<extra></extra>"), **charts.cell(i, 2))
        charts.hidden_marks(fig, rows, "day", "rows", 0, reason, where=rows.rows["reason"] == reason,
                            at=charts.cell(i, 2))
        top = part["rows"].max()   # every count hidden: an axis of 0 and 1 under the marks
        charts.whole(fig, 1 if pd.isna(top) else top, nticks=3, **charts.cell(i, 2))
    first, last = timed["day"].min(), timed["day"].max()
    pad = max(pd.Timedelta(days=14), (last - first) * 0.02)   # dots clear of the 0 and the axis's ends; plotly's
    charts.dates(fig, "day", range=[first - pad, last + pad])  # own padding ran the axis into the next year
    return Chart("quarantine_reasons", title, "Rows set aside by the loader, one dot per UTC day of their own time; "
                 "each panel on its own scale", fig, rows)


def quarantine_untimed(ctx: Context) -> Protected:
    """Quarantined rows the panels leave out: with no readable time (by the UTC day they were loaded), or with one
    outside the data (by that day); `day_is` says which."""
    df = ctx.mart("quarantine_daily")
    apart = df[~(df["timed"] & _in_range(ctx, df))].sort_values(["day", "reason"], ascending=[False, True])
    apart = apart.assign(day=apart["day"].dt.strftime("%Y-%m-%d"),
                         day_is=apart["timed"].map({True: "its own time, outside the data",
                                                    False: "loaded (no readable time)"}))
    return ctx.protect(apart[["day", "day_is", "reason", "rows"]], ["rows"])


def rows_per_source(ctx: Context) -> Chart:
    """Pings landed per source and day (each ping counted for the source it first came from)."""
    summary = ctx.mart("source_summary")
    title = "Pings loaded per source"
    if len(summary):
        top = summary.sort_values("loaded", ascending=False).iloc[0]
        total = ctx.quote(figures.count("pings_loaded", top["loaded_all"], ctx.as_of, ctx.k))
        share = ctx.quote(figures.share("top_source_share", top["share_of_loaded"], ctx.as_of, top["loaded"], ctx.k))
        title = f"{total} pings loaded; {short(top['source'])} loaded {share} of them first"
    df = ctx.mart("source_daily")
    if df.empty:
        return charts.nothing("rows_per_source", title, "No ping was loaded in this date range.")
    named = summary.sort_values("loaded", ascending=False)["source"].head(charts.MAX_SERIES).tolist()
    df = df[df["source"].isin(named)].assign(source=lambda d: d["source"].map(short))
    rows = ctx.protect(df, ["pings"])
    fig = charts.lines(rows, "day", "source", "pings", [short(s) for s in named], unit="pings")
    common.over_time(fig, ctx, df["day"], "day", "pings (UTC day received)")
    return Chart("rows_per_source", title, "Pings landed per source and day; a ping counts for the source it first "
                 "came from", fig, rows)


def clones(ctx: Context) -> Chart:
    """Instances seen from several keyed IP hashes on one day (clones, or an address change)."""
    df = ctx.mart("clones_daily")
    title = "InstanceIds sending from several IP hashes in one day"
    if df.empty or not (df["several_ip_hashes"] > 0).any():
        return charts.nothing("clones", title, "No instanceId sent from several IP hashes on one day in this date range.")
    rows = ctx.protect(df, {"several_ip_hashes": [], "instances": []})
    fig = go.Figure(go.Scatter(x=rows.rows["day"], y=rows.rows["several_ip_hashes"], mode=charts.mode(len(df)),
                               name="several IP hashes", line=dict(color=charts.PALETTE[3]),
                               hovertemplate="%{y:,} instances<extra></extra>"))
    charts.hidden_marks(fig, rows, "day", "several_ip_hashes", 0, "instances")
    charts.layout(fig, charts.AXIS["day"], "instances")
    charts.whole(charts.dates(fig, "day"), df["several_ip_hashes"].max())
    return Chart("clones", title, "InstanceIds that sent from several keyed IP hashes in one day: cloned installs "
                 "or address changes", fig, rows)


def pings_per_day(ctx: Context) -> Chart:
    """How many instance-days carried 1, 2, 3 ... pings (log scale: the rare counts stay visible)."""
    df = ctx.mart("pings_per_instance_day").sort_values("pings")
    # the counts as category labels (kept in their numeric order); their shares add up to 1, the counts to all
    df = df.rename(columns={"pings": "pings_in_the_day"}).assign(pings_in_the_day=lambda d: d["pings_in_the_day"].astype(str))
    rows = ctx.protect(df.assign(whole=1), {"instance_days": ["share"]}, within=["whole"]).only(list(df))
    title = "Pings per instance-day"
    one = df[df["pings_in_the_day"] == "1"]
    if len(one):
        share = ctx.quote(figures.share("one_ping_share", one["share"].iloc[0], ctx.as_of,
                                        one["instance_days"].iloc[0], ctx.k,
                                        withheld=common.withheld(rows, one.iloc[0], "instance_days")))
        title = f"{share} of instance-days carry one ping; restarts add the rest"
    if df.empty:
        return charts.nothing("pings_per_instance_day", title, "No instance-day in this date range.")
    fig = go.Figure(go.Bar(x=rows.rows["pings_in_the_day"], y=rows.rows["instance_days"], marker_color=charts.PALETTE[0],
                           customdata=rows.rows[["share"]], name="instance-days",
                           hovertemplate="%{x} pings: %{y:,} instance-days (%{customdata[0]:.2%})<extra></extra>"))
    charts.hidden_marks(fig, rows, "pings_in_the_day", "instance_days", 1, "instance-days")   # 1: the log axis's foot
    charts.layout(fig, "pings in the day", "instance-days (log scale)")
    fig.update_layout(hovermode="closest")
    fig.update_yaxes(type="log", tickformat=",d", dtick=1)
    fig.update_xaxes(type="category")
    return Chart("pings_per_instance_day", title, "Instance-days by the number of pings they carried (all data)",
                 fig, rows)
