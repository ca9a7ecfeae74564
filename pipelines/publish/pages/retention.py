"""Page 07, retention and upgrades: monthly cohorts, upgrade paths between minor lines, version lag."""

from __future__ import annotations

import pandas as pd

from .. import charts, figures, fmt, marts
from ..charts import Chart
from ..context import Context
from . import common, versions


def retention(ctx: Context) -> Chart:
    """Share of each monthly cohort active N months after it was first seen."""
    df = ctx.mart("retention_cohorts")
    day28 = ctx.mart("retention_day28")
    title = "Retention by monthly cohort"
    whole = day28[(day28["whole_from"] <= ctx.as_of) & (day28["eligible"] > 0)] if ctx.as_of is not None else day28[:0]
    if len(whole):
        row = whole.sort_values("cohort_month").iloc[-1]
        share = ctx.quote(figures.share("retained_day_28_share", row["share"], row["cohort_month"],
                                        row["retained_day_28"], ctx.k, digits=0))
        title = (f"{share} of the instances first seen in {fmt.month(row['cohort_month'])} were seen again 28 days "
                 "or more after their first ping")
    later = _after_last_month(ctx, df)
    if ctx.scope.cut_short:   # the range ends before the data: a later month's cells count days after its end
        df, later = df[~later], later[~later]
    if df.empty:
        return common.empty("retention", title, "arrived", ctx, "cohort_month")
    rows = ctx.protect(df, {"retained": ["share"], "cohort_size": ["share"]})
    earlier = set(df.loc[df["includes_earlier"], "cohort_month"])
    labels = {m: f"{fmt.month(m)}{'*' if m in earlier else ''} ({fmt.count(n, ctx.k)})"
              for m, n in zip(df["cohort_month"], df["cohort_size"])}
    shown = rows.rows.assign(cohort=rows.rows["cohort_month"].map(labels))
    grid = shown.pivot(index="cohort", columns="months_since", values="share")
    order = [labels[m] for m in sorted(labels)]
    grid = grid.reindex(order)
    hidden = (rows.any_hidden("share").set_axis(shown.index).groupby([shown["cohort"], shown["months_since"]]).any()
              .unstack().reindex(order)) if ctx.k else None
    text = grid.map(lambda v: "" if pd.isna(v) else f"{v * 100:.0f}")
    cells = shown[later.to_numpy()]
    partial = list(zip(cells["cohort"], cells["months_since"]))
    for cohort, since in partial:   # the month in progress: italic, its count so far
        text.loc[cohort, since] = f"<i>{text.loc[cohort, since]}</i>" if text.loc[cohort, since] else ""
    fig = charts.heatmap(grid, hidden, text, ctx.k, "Blues", "retained", "%{y}, month %{x}: %{z:.1%} active<extra></extra>",
                         zmax=1, bar_format=".0%")
    charts.layout(fig, "months since first seen", "cohort: month first seen (size)",
                  height=max(420, 16 * len(grid) + 160))
    fig.update_layout(hovermode="closest", showlegend=False)
    notes = [f"* {fmt.month(m)} is the data's first month: its cohort also holds every instance already running "
             "then, so its retention is not that of new instances" for m in sorted(earlier)]
    if partial:
        notes.append(f"Italic: {fmt.month(ctx.as_of)} is in progress, counted to {fmt.day(ctx.as_of)}.")
    if len(whole):
        notes += common.later_pings(ctx, "'Seen again'")
    return Chart("retention", title, "Share of each cohort (the UTC month first seen) active in each later month; "
                 "percent in each cell", fig, rows, extra=notes)


def _after_last_month(ctx: Context, df: pd.DataFrame) -> pd.Series:
    """Return which retention cells lie in a month not over by the as-of day (the month in progress, or later)."""
    if ctx.as_of is None:
        return pd.Series(False, index=df.index)
    cohort = pd.to_datetime(df["cohort_month"]).dt.to_period(marts.CALENDARS["month"])
    month = (cohort + df["months_since"]).dt.start_time   # the first day of the cell's month
    return ~marts.over_by(month, "month", ctx.as_of)


def upgrade_paths(ctx: Context) -> Chart:
    """Changes between minor lines in the 12 months to the last complete month (downgrades left of the diagonal)."""
    df = common.rows_of(ctx.mart("upgrade_paths_12m"), "month", ctx.scope.month)
    title = "Upgrade paths between minor lines"
    if df.empty:
        first = ctx.scope.freshness.get("first_day")
        if not fmt.missing(first) and ctx.start:
            first = max(pd.Timestamp(first), pd.Timestamp(ctx.start))
        if ctx.scope.month is None or fmt.missing(first) or ctx.scope.month < pd.Timestamp(first).replace(day=1):
            return charts.nothing("upgrade_paths", title, "No month of this date range is complete yet: this chart "
                                  "counts the changes of whole months.")
        return charts.nothing("upgrade_paths", title, "No instance changed minor line in the 12 months to the end of "
                              "this date range.")
    row = df.iloc[0]
    period = f"{fmt.month(row['window_start'])} – {fmt.month(row['month'])}"
    ups = ctx.quote(figures.count("upgrades_12m", row["upgrades"], row["month"], ctx.k))
    downs = ctx.quote(figures.count("downgrades_12m", row["downgrades"], row["month"], ctx.k))
    skipping = ctx.quote(figures.share("skipping_share_12m", row["skipping_share"], row["month"], row["upgrades"],
                                       ctx.k, digits=0))
    title = f"{period}: {ups} upgrades ({skipping} skip a line) and {downs} downgrades between minor lines"
    columns = ["month", "window_start", "from_minor", "to_minor", "direction", "minors_skipped", "changes", "drawn"]
    summed = df["direction"].mask((df["direction"] == "up") & (df["minors_skipped"] > 0), "up, skipping")
    rows = ctx.protect(df[columns].assign(summed=summed), ["changes"], within=["summed"]).only(columns)   # the
    # title's sums: the downgrades, the upgrades, and (their skipping share) those that skip a line
    ends = [df[[f"{end}_minor", f"{end}_rank", f"{end}_drawn"]].set_axis(["line", "rank", "drawn"], axis=1)
            for end in ("from", "to")]
    lines = pd.concat(ends).query("drawn").drop_duplicates("line")
    drawn = lines.sort_values("rank", ascending=False)["line"].tolist()   # the mart's newest lines, oldest first
    part = rows.rows[rows.rows["drawn"]]
    grid = part.pivot(index="from_minor", columns="to_minor", values="changes").reindex(index=drawn, columns=drawn)
    mask = rows.any_hidden("changes")[part.index] if ctx.k else None
    hidden, withheld = (None, None) if mask is None else (
        _cells(part, mask, drawn), _cells(part, rows.is_withheld("changes")[part.index], drawn))
    text = grid.map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
    fig = charts.heatmap(grid, hidden, text, ctx.k, "Oranges", "changes",
                         "%{y} → %{x}: %{z:,} changes<extra></extra>", withheld=withheld)
    charts.layout(fig, "to minor line", "from minor line", height=620)
    fig.update_layout(showlegend=False)
    extra = [_older_lines(ctx, row, len(drawn), mask is not None and mask.any())] if row["lines_not_drawn"] else []
    return Chart("upgrade_paths", title, f"Changes of minor line between consecutive days an instance was seen, "
                 f"{period}: upgrades right of the diagonal, downgrades left of it", fig, rows, extra=extra)


def _cells(part: pd.DataFrame, marks: pd.Series, lines: list) -> pd.DataFrame:
    """Return a mark per upgrade path as the heatmap's grid (from line by to line, `lines` in order)."""
    return part.assign(h=marks).pivot(index="from_minor", columns="to_minor", values="h").reindex(
        index=lines, columns=lines).fillna(False)


def _older_lines(ctx: Context, row: pd.Series, drawn: int, hidden: bool) -> str:
    """Return the note on the lines older than those drawn: what the drawn cells add up to (left out when a
    drawn cell is hidden: the sum would give it away)."""
    older = int(row["lines_not_drawn"])
    rest = f"one of {older:,} older lines" if older > 1 else "an older line"
    if hidden:
        return f"The {drawn} newest lines are drawn; changes that involve {rest} are in the CSV."
    cells = ctx.quote(figures.count("upgrade_paths_drawn_changes_12m", row["drawn_changes"], row["month"], ctx.k))
    return f"The {drawn} newest lines are drawn: their cells add up to {cells} changes. The rest involve {rest} " \
           "and are in the CSV."


def version_lag(ctx: Context) -> Chart:
    """Share of weekly active instances by how many minor lines behind the newest release they run."""
    title = versions.newest_title(ctx)
    df, rows = common.protected_breakdown(ctx, "version_lag")
    if df.empty:
        return common.empty("version_lag", title, "reported a version", ctx, "week")
    fig = charts.share_area(rows, "week", "category", charts.series_order(df, "category"))
    charts.layout(fig, charts.AXIS["week"], "share of weekly active instances", percent=True)
    common.dated(fig, ctx, "week")
    return Chart("version_lag", title, "Minor lines behind the newest one released by the week's Sunday", fig,
                 rows.only(common.BREAKDOWN_CSV))
