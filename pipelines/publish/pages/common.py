"""What several pages share: the rows of a week or month, the marks of gaps, a breakdown's finding."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from .. import charts, figures, fmt, marts, suppress
from ..charts import Chart
from ..context import Context
from ..suppress import Protected

REST = set(charts.REST)
#: the columns a breakdown chart's CSV holds
BREAKDOWN_CSV = ["week", "category", "instances", "share"]
#: which alert runs mark a time series, and how (a gap or an outage in the data); a run's severity is its worst
#: day's: a critical pings_per_day run has a day without pings, and maybe days with few
GAP_LABELS = {("pings_per_day", "critical"): "no or few pings", ("pings_per_day", "warning"): "few pings",
              ("active_7d_drop", "critical"): "7-day active fell"}


def rows_of(df: pd.DataFrame, column: str, when) -> pd.DataFrame:
    """Return the rows whose period column equals `when` (none when it is unknown)."""
    return df.iloc[0:0] if when is None else df[df[column] == pd.Timestamp(when)]


#: half a period in days: a band around a point drawn at a period's first day covers the period's bar
HALF = {"day": 0.5, "week": 3.5, "month": 15}


def in_progress(ctx: Context, period: str) -> pd.Timestamp | None:
    """Return the first day of the week (or month) holding the as-of day when that day is not its last (its bar
    or point, drawn at that day, counts only the days so far), else None (and for days)."""
    if period not in ("week", "month") or ctx.as_of is None or ctx.scope.cut_short:   # a range cut short shows
        return None                                                                   # whole periods only
    start = marts.period_start(ctx.as_of, period)
    return None if marts.over_by(start, period, ctx.as_of) else start


def unfinished(fig: go.Figure, ctx: Context, period: str, panels: int = 0) -> list[str]:
    """Shade the week (or month) in progress. Small multiples (`panels`) are shaded in each panel, and the
    sentence saying so is returned for the chart's notes (otherwise the axis says it: [])."""
    start = in_progress(ctx, period)
    if start is None:
        return []
    half = pd.Timedelta(days=HALF[period])
    charts.mark_unfinished(fig, start - half, start + half, f"{period} in progress", panels, over=True)
    what = f"the week of {fmt.day(start)}" if period == "week" else fmt.month(start)
    return [f"Grey: {what} is in progress, counted to {fmt.day(ctx.as_of)}."] if panels else []


def dated(fig: go.Figure, ctx: Context, period: str, whole: bool = False) -> go.Figure:
    """Finish a chart over weeks or months: dates labelled by the period, counts as whole numbers when `whole`,
    the period in progress shaded."""
    charts.dates(fig, period)
    if whole:
        charts.whole(fig)
    unfinished(fig, ctx, period)
    return fig


def gaps(ctx: Context) -> pd.DataFrame:
    """Return the spans to mark on time series: days without pings, with too few, drops of active instances."""
    runs = ctx.mart_optional("alert_runs")
    if runs is None or runs.empty:
        return pd.DataFrame(columns=["first_day", "last_day", "label"])
    keys = list(zip(runs["check"], runs["severity"]))
    runs = runs.assign(label=[GAP_LABELS.get(key) for key in keys]).dropna(subset=["label"])
    if ctx.start:
        runs = runs[runs["last_day"] >= pd.Timestamp(ctx.start)]
    return runs[["first_day", "last_day", "label"]].sort_values("first_day").reset_index(drop=True)


def breakdown(ctx: Context, dimension: str) -> pd.DataFrame:
    """Return breakdown_weekly's rows of one dimension in the date range."""
    df = ctx.mart("breakdown_weekly")
    return df[df["dimension"] == dimension].drop(columns="dimension")


#: the dimensions whose categories are quoted or drawn elsewhere with the same count: 'dev builds' in both (and
#: its own chart), and the first category, the newest line, in the headline
VERSION_DIMENSIONS = ("version_line", "version_lag")


def protected_breakdown(ctx: Context, dimension: str) -> tuple[pd.DataFrame, Protected]:
    """Return breakdown_weekly's rows of one dimension in the date range, and the same rows protected with each
    week as one partition (its categories add up to the week's active instances, which a share gives away).

    Every chart, title and legend showing a breakdown cell reads its marks here, so a count withheld on one chart
    is withheld on all. In the version dimensions, 'dev builds', 'unknown' and the first category are never
    withheld: the same counts show on the development builds chart, in the other version dimension and in the
    headline (the two dimensions are otherwise decided apart: docs/reports.md says what that leaves open)."""
    df = breakdown(ctx, dimension)
    keep = None
    if dimension in VERSION_DIMENSIONS:
        keep = df["category"].isin(["dev builds", "unknown"]) | (df["category_rank"] == 1)
    return df, ctx.protect(df, {"instances": ["share"]}, within=["week"], keep=keep)


def withheld(rows: Protected, row: pd.Series, column: str = "instances") -> bool:
    """Return whether a row's count (a row of the protected rows' source) is withheld to protect a smaller one."""
    return bool(rows.is_withheld(column).get(row.name, False))


def category_colours(ctx: Context, dimension: str) -> dict:
    """Return {category: colour} of a breakdown dimension as its share and count charts draw them."""
    return charts.colours(charts.series_order(breakdown(ctx, dimension), "category"))


def licence_colours(ctx: Context) -> dict:
    """Return {licence type: colour} as page 04's licence charts draw them, so a type has one colour everywhere."""
    return category_colours(ctx, "license_type")


#: bar patterns telling apart changes to one value by where they came from (the first: solid)
PATTERNS = ("", "/", "x", ".", "\\", "+", "-", "|")


def change_styles(ctx: Context, dimension: str, changes: list) -> tuple[dict, dict]:
    """Return ({'a → b': b's colour}, {'a → b': a pattern for a}) for changes between a dimension's values: a change
    in the colour of the value it went to (as that value's own charts draw it), its pattern by the value it left."""
    values = category_colours(ctx, dimension)
    pairs = {c: c.split(" → ", 1) for c in changes if " → " in c}
    extra = charts.colours([v for _, v in pairs.values() if v not in values])   # not named on the breakdown charts
    sources = list(dict.fromkeys([*values, *sorted({a for a, _ in pairs.values()} - set(values))]))
    return ({c: values.get(b, extra.get(b)) for c, (_, b) in pairs.items()},
            {c: PATTERNS[sources.index(a) % len(PATTERNS)] for c, (a, _) in pairs.items()})


def line_colours(ctx: Context) -> dict:
    """Return {minor line: colour}, newest line first in the palette (as version_lag's 'newest line', '1 behind'
    ...), so a line has one colour on every chart of pages 02 and 07."""
    return category_colours(ctx, "version_line")


#: a patch version's dash by its place in its minor line, newest first (the line gives the colour)
PATCH_DASHES = ("solid", "dash", "dot", "dashdot")


def patch_styles(ctx: Context, versions: list) -> tuple[list, dict, dict]:
    """Return the patch versions newest first (the rest last), {version: its minor line's colour} and {version: dash,
    the line's newest solid}."""
    lines = line_colours(ctx)
    minor = {v: v.rsplit(".", 1)[0] for v in versions if v not in REST and v.count(".") == 2}
    ranked = sorted(minor, key=lambda v: tuple(int(p) if p.isdigit() else -1 for p in v.split(".")), reverse=True)
    dashes, seen = {}, {}
    for version in ranked:
        place = seen[minor[version]] = seen.get(minor[version], -1) + 1
        dashes[version] = PATCH_DASHES[place % len(PATCH_DASHES)]
    order = ranked + [v for v in versions if v not in minor]
    return order, {v: lines[m] for v, m in minor.items() if m in lines}, dashes


def top_finding(ctx: Context, df: pd.DataFrame, rows: Protected, id_: str, what: str, prefix: str = "") -> str:
    """Return '<prefix><top category>: <share> of active instances, week of <week>' (the last complete week; the
    share hidden as its count is on the chart, `rows`)."""
    week = rows_of(df, "week", ctx.scope.week)
    named = week[~week["category"].isin(REST)].sort_values("share", ascending=False)
    if named.empty:
        return what
    top = named.iloc[0]
    share = ctx.quote(figures.share(id_, top["share"], top["week"], top["instances"], ctx.k,
                                    withheld=withheld(rows, top)))
    return f"{prefix}{top['category']}: {share} of active instances, week of {fmt.day(top['week'])}"


def rest_note(ctx: Context, rows: pd.DataFrame, what: str) -> list[str]:
    """Return a sentence saying how many values 'other' holds in the last week drawn, or none."""
    other = rows[rows["category"] == "other"]
    if other.empty:
        return []
    last = other.sort_values("week").iloc[-1]
    n = int(last["categories"])
    return [f"'other': the rest, {n:,} more {what if n != 1 else what.rstrip('s')} in the week of "
            f"{fmt.day(last['week'])}."]


#: the words for a period a chart draws
PERIOD_WORDS = {"week": ("week (Monday to Sunday)", "weeks"), "month": ("calendar month", "months"),
                "cohort_month": ("calendar month", "months")}


def holds_period(ctx: Context, period: str) -> bool:
    """Whether the date range holds a week (or month) that a chart over them draws: one starting on or after the
    range's start and, when the range ends before the data, ending by its end (marts.read's cut)."""
    if ctx.as_of is None or ctx.start is None:
        return ctx.as_of is not None
    start = pd.Timestamp(ctx.start)
    first = marts.period_start(start, period)
    if first < start:
        first += marts.PERIODS[period]
    return marts.over_by(first, period, ctx.as_of) if ctx.scope.cut_short else first <= ctx.as_of


def empty(name: str, title: str, what: str, ctx: Context | None = None, period: str | None = None) -> Chart:
    """Return the sentence for a chart with no rows in the date range; for a chart over weeks or months (`period`)
    a range too short to hold a whole one says that instead."""
    if ctx is not None and period and not holds_period(ctx, period):
        one, many = PERIOD_WORDS[period]
        return charts.nothing(name, title, f"No whole {one} lies in this date range: this chart draws whole {many}.")
    return charts.nothing(name, title, f"No instance {what} in this date range.")


def growth_title(ctx: Context) -> str:
    """Return 'Active instances +0.2 % week on week (not acceptable), week of 23 Nov 2026' (headline_weekly)."""
    row = figures.week_row(ctx.scope)
    found = figures.weekly(ctx.scope)
    if row is None or fmt.missing(row["wow_growth"]):
        return "Active instances per week"
    growth = ctx.quote(found["weekly_active_growth"])
    return f"Active instances {growth} week on week ({row['band']}), week of {fmt.day(row['week'])}"


def changes_title(ctx: Context) -> str:
    """Return '175 added and 125 removed in the 90 days to 5 Nov 2026' (fleet_changes_daily)."""
    found = figures.fleet_changes(ctx.scope)
    if not found:
        return "Instances added and removed"
    added, removed = ctx.quote(found["added"]), ctx.quote(found["removed"])
    return f"{added} added and {removed} removed in the 90 days to {fmt.day(found['added'].as_of)}"


def after_first_week(df: pd.DataFrame, column: str, ctx: Context) -> pd.DataFrame:
    """Drop the rows of the week (Monday start) holding the data's first day, where every instance is new."""
    first = ctx.scope.freshness.get("first_day")
    if fmt.missing(first) or df.empty:
        return df
    return df[df[column] >= marts.period_start(first, "week") + marts.PERIODS["week"]]


FIRST_WEEK_NOTE = "The first week of data is left out: every instance seen then counts as added."


def over_time(fig: go.Figure, ctx: Context, drawn: pd.Series, period: str, y_label: str) -> go.Figure:
    """Finish a count chart over days or weeks: the one layout, whole numbers, gaps and outages marked."""
    charts.layout(fig, charts.AXIS[period], y_label)
    charts.whole(charts.dates(fig, period))
    return charts.mark_spans(fig, gaps(ctx), drawn)


def later_pings(ctx: Context, what: str) -> list[str]:
    """Return the note that `what` (a figure that waits for later pings) counts pings after a range cut short."""
    if not ctx.scope.cut_short:
        return []
    return [f"{what} counts pings up to {fmt.day(ctx.scope.freshness['last_day'])}, after this range's end too."]


#: the days page 06 draws added and removed for
DAYS_DRAWN = 180
CHANGES = ["added", "removed"]


def days_drawn(ctx: Context) -> tuple[pd.DataFrame, bool]:
    """Return fleet_changes_daily's last DAYS_DRAWN days in the range (the daily chart's rows), and whether the
    range holds more."""
    df = ctx.mart("fleet_changes_daily")
    drawn = df[df["day"] > df["day"].max() - pd.Timedelta(days=DAYS_DRAWN)] if len(df) else df
    return drawn, len(drawn) < len(df)


def protect_days(ctx: Context, days: pd.DataFrame) -> tuple[pd.DataFrame, Protected]:
    """Return the daily chart's days (without the first week) with their Monday, and the same rows protected with each
    week as one partition: its days add up to the week's bar on the weekly chart."""
    days = after_first_week(days, "day", ctx)[["day", *CHANGES]]
    days = days.assign(week=marts.period_start(days["day"], "week"))
    return days, ctx.protect(days, CHANGES, within=["week"])


def protect_changes(ctx: Context, df: pd.DataFrame, period: str) -> Protected:
    """Return added and removed per day or week protected. A week whose days' hidden counts its bar would give away
    (suppress.exposed: nothing was left to withhold beside them on the daily chart) has that bar withheld."""
    if period == "day":
        return protect_days(ctx, df)[1].only([period, *CHANGES])
    days, rows = protect_days(ctx, days_drawn(ctx)[0])
    weeks = {c: df[period].isin(suppress.exposed(days, rows, c, ["week"])["week"]) for c in CHANGES} if ctx.k else None
    return ctx.protect(df[[period, *CHANGES]], CHANGES, withhold=weeks)


def added_removed(ctx: Context, df: pd.DataFrame, period: str, name: str, subtitle: str) -> Chart:
    """Bars of instances added (up) and removed (down) per day or week; removals not known yet shaded."""
    title = changes_title(ctx)
    kept = after_first_week(df, period, ctx)
    if len(kept) < len(df):
        subtitle = f"{subtitle}. {FIRST_WEEK_NOTE}"
    df = kept
    if df.empty:
        return empty(name, title, "was added or removed", ctx, None if period == "day" else period)
    rows = protect_changes(ctx, df, period)
    fig = go.Figure()
    fig.add_trace(go.Bar(x=rows.rows[period], y=rows.rows["added"], name="added (first seen)",
                         marker_color=charts.PALETTE[2], hovertemplate="added: %{y:,}<extra></extra>"))
    fig.add_trace(go.Bar(x=rows.rows[period], y=-rows.rows["removed"], name="removed (then silent 28 days)",
                         marker_color=charts.PALETTE[3], customdata=rows.rows[["removed"]],
                         hovertemplate="removed: %{customdata[0]:,}<extra></extra>"))
    fig.update_layout(barmode="relative", bargap=0.1)
    charts.hidden_marks(fig, rows, period, "added", 0, "added")
    charts.hidden_marks(fig, rows, period, "removed", 0, "removed")
    over_time(fig, ctx, df[period], period, f"instances per {period} (removed below 0)")
    fig.update_yaxes(tickformat=",d", rangemode="normal")
    unknown = df[df["removed"].isna()]
    if len(unknown):   # the period in progress, when drawn, is among them: one band says both
        half = pd.Timedelta(days=HALF[period])
        current = in_progress(ctx, period)
        also = f"; {period} in progress" if current is not None and current in set(unknown[period]) else ""
        charts.mark_unfinished(fig, unknown[period].min() - half, unknown[period].max() + half,
                               "removals not known yet" + also)
    else:
        unfinished(fig, ctx, period)
    return Chart(name, title, subtitle, fig, rows, extra=later_pings(ctx, "'Removed' (then silent 28 days)"))
