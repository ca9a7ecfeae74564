"""Page 06, growth and adoption: week-on-week growth in FlowFuse's bands, added and removed per day, hosted
and remote instances, which features instances use."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from .. import charts, figures, fmt, marts
from ..charts import Chart
from ..context import Context
from ..suppress import Protected
from . import common

TOTALS = {"hosted_instances": "hosted instances (projects)", "remote_instances": "remote instances (devices)",
          "devices_seen_last_day": "devices seen in the last day", "devices_never_connected": "devices never connected",
          "suspended_projects": "suspended projects"}


def _bands_text(bands: pd.DataFrame) -> str:
    """Return the bands as prose from the growth_bands mart, each bound as it includes or not: '≥ 6 % exceptional,
    4 to under 6 % strong, ..., over 1 to under 2 % okay, ≤ 1 % not acceptable'."""
    def bound(row) -> str:
        def pct(value) -> str:
            return f"{value * 100:g}"
        if fmt.missing(row.low):
            return f"{'≤' if row.high_inclusive else '<'} {pct(row.high)} %"
        if fmt.missing(row.high):
            return f"{'≥' if row.low_inclusive else '>'} {pct(row.low)} %"
        return (f"{'' if row.low_inclusive else 'over '}{pct(row.low)} to {'' if row.high_inclusive else 'under '}"
                f"{pct(row.high)} %")
    return ", ".join(f"{bound(r)} {r.band}" for r in bands.sort_values("band_rank").itertuples())


def growth_bands(ctx: Context) -> Chart:
    """Week-on-week growth of weekly active instances (all, and core as a line) against FlowFuse's bands."""
    title = common.growth_title(ctx)
    growth = ctx.mart("growth_weekly")
    df = growth[growth["wow_growth"].notna()]
    if df.empty:
        return charts.nothing("growth_bands", title, "Fewer than two complete weeks in this date range: no "
                              "week-on-week growth yet.")
    bands = marts.read("growth_bands", ctx.parquet_dir)
    rows = ctx.protect(df[["week", "active", "wow_growth", "band", "active_core", "wow_growth_core", "band_core"]],
                       {"active": ["wow_growth"], "active_core": ["wow_growth_core"]})
    fig = go.Figure()
    lo, hi = rows.rows["wow_growth"].min(), rows.rows["wow_growth"].max()
    for band in bands.itertuples():   # the bands' backgrounds, bounds from the mart
        top = hi + 0.02 if fmt.missing(band.high) else band.high
        bottom = min(lo, -0.02) - 0.01 if fmt.missing(band.low) else band.low
        fig.add_hrect(y0=bottom, y1=top, fillcolor=charts.BAND_COLOURS[band.band], opacity=0.08, line_width=0,
                      layer="below")
        part = rows.rows[rows.rows["band"] == band.band]
        if len(part):
            fig.add_trace(go.Bar(x=part["week"], y=part["wow_growth"], name=band.band, width=charts.WEEK_MS * 0.8,
                                 marker_color=charts.BAND_COLOURS[band.band], customdata=part[["active"]],
                                 hovertemplate="all: %{y:+.1%} (%{customdata[0]:,} active, " + band.band
                                 + ")<extra></extra>"))
    fig.add_trace(go.Scatter(x=rows.rows["week"], y=rows.rows["wow_growth_core"], name="core (without excluded)",
                             mode=charts.mode(len(df)), line=dict(color="#555555", width=1.5),
                             hovertemplate="core: %{y:+.1%}<extra></extra>"))
    charts.layout(fig, charts.AXIS["week"], "growth on the week before")
    charts.dates(fig, "week")
    fig.update_yaxes(tickformat=".0%")   # 0% unsigned (a "+" on the axis read "+0%")
    fig.update_layout(barmode="overlay")
    charts.mark_spans(fig, common.gaps(ctx), df["week"])
    return Chart("growth_bands", title, "Weekly active instances against the week before; bands: "
                 + _bands_text(bands), fig, rows)


def active_all_core(ctx: Context) -> Chart:
    """Weekly active instances, all and core (without dev builds, one-day instances and clones)."""
    found = figures.weekly(ctx.scope)
    title = "Weekly active instances"
    if found:
        every, core = ctx.quote(found["weekly_active"]), ctx.quote(found["weekly_active_core"])
        title = (f"{every} instances active in the week of {fmt.day(found['weekly_active'].as_of)}, {core} without "
                 "excluded ones")
    df = ctx.mart("growth_weekly")
    if df.empty:
        return common.empty("active_all_core", title, "was active", ctx, "week")
    long = pd.concat([df[["week", "active"]].assign(fleet="all"),
                      df[["week", "active_core"]].rename(columns={"active_core": "active"}).assign(fleet="core")])
    rows = ctx.protect(long, ["active"])
    fig = charts.lines(rows, "week", "fleet", "active", ["all", "core"])
    charts.layout(fig, charts.AXIS["week"], "weekly active instances")
    common.dated(fig, ctx, "week", whole=True)
    charts.mark_spans(fig, common.gaps(ctx), df["week"])
    return Chart("active_all_core", title, "All instances, and core: without development builds, one-day instances "
                 "and clones", fig, rows)


def fleet_changes(ctx: Context) -> Chart:
    """Instances added (first seen) and removed (last ping, then 28 days silent) per day, the last 180 days."""
    drawn, cut = common.days_drawn(ctx)
    which = f"Per day, the last {common.DAYS_DRAWN} days" if cut else "Per day"
    return common.added_removed(ctx, drawn, "day", "fleet_changes", f"{which}: added = first ping; removed = last "
                                "ping, then silent for 28 days (known 28 days later)")


def fleet_totals(ctx: Context) -> Chart:
    """Summed hosted and remote instances (and device and project counts) over the week's active instances."""
    found = figures.weekly(ctx.scope)
    title = "Hosted and remote instances"
    if found and not fmt.missing(found["hosted_instances"].value):
        hosted, remote = ctx.quote(found["hosted_instances"]), ctx.quote(found["remote_instances"])
        title = f"{hosted} hosted and {remote} remote instances, week of {fmt.day(found['hosted_instances'].as_of)}"
    df = ctx.mart("fleet_totals_weekly")
    df = df[(df["license_type"] == "ALL") & df["metric"].isin(list(TOTALS))]
    if df.empty:
        return common.empty("fleet_totals", title, "reported hosted or remote instances", ctx, "week")
    df = df.assign(series=df["metric"].map(TOTALS))[["week", "series", "total", "instances"]]
    rows = ctx.protect(df, {"instances": ["total"]})
    fig = charts.lines(rows, "week", "series", "total", [TOTALS[m] for m in TOTALS if TOTALS[m] in set(df["series"])],
                       unit="")
    charts.layout(fig, charts.AXIS["week"], "summed over active instances")
    common.dated(fig, ctx, "week", whole=True)
    return Chart("fleet_totals", title, "Summed over the week's active instances, each in its latest state that "
                 "week (instances whose pings lack a key do not count as 0)", fig, rows, extra=late_starts(df, "series"))


def late_starts(df: pd.DataFrame, series: str) -> list[str]:
    """Return a sentence per week in which series start after the chart's first week: no instance sent them before."""
    firsts = df.groupby(series, sort=False)["week"].min()
    late = firsts[firsts > firsts.min()]
    said = []
    for week, names in late.groupby(late):
        one = len(names) == 1
        it = "it" if one else "them"
        said.append(f"{fmt.sentence(fmt.listing(list(names.index)))} start{'s' if one else ''} in the week of "
                    f"{fmt.day(week)}: no instance reported {it} before (newer FlowForge versions send {it}).")
    return said


def feature_adoption(ctx: Context) -> Chart:
    """Share of reporting instances that use each feature, weekly, one small panel per feature."""
    df = ctx.mart("feature_adoption_weekly")
    df = df[df["license_type"] == "ALL"][["week", "feature", "instances", "adopters", "share"]]
    title = "Feature adoption"
    week = common.rows_of(df, "week", ctx.scope.week).sort_values("share", ascending=False)
    if len(week):
        top = week.iloc[0]
        share = ctx.quote(figures.share("top_feature_share", top["share"], top["week"], top["adopters"], ctx.k))
        title = f"{top['feature']} is the most used feature: {share} of reporting instances, week of {fmt.day(top['week'])}"
    if df.empty:
        return common.empty("feature_adoption", title, "reported a feature", ctx, "week")
    rows = ctx.protect(df, {"adopters": ["share"], "instances": ["share"]})
    features = week["feature"].tolist() + sorted(set(df["feature"]) - set(week["feature"]))
    fig = charts.panels(len(features), features)
    for i, feature in enumerate(features):
        part = rows.rows[rows.rows["feature"] == feature]
        fig.add_trace(go.Scatter(x=part["week"], y=part["share"], name=feature, mode=charts.mode(len(part)),
                                 line=dict(color=charts.PALETTE[0]), customdata=part[["adopters", "instances"]],
                                 hovertemplate="%{y:.1%} (%{customdata[0]:,} of %{customdata[1]:,})<extra></extra>"),
                      **charts.cell(i))
        charts.hidden_marks(fig, rows, "week", "share", 0, feature, where=rows.rows["feature"] == feature,
                            at=charts.cell(i))
    charts.dates(fig, "week")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05], tickvals=[0, 0.5, 1], showticklabels=False)
    fig.update_yaxes(showticklabels=True, col=1)   # one scale, 0–100 %: the left column labels it for its row
    return Chart("feature_adoption", title, "Per feature (most used first): the share of the week's active instances "
                 "reporting it that use it, every panel 0–100 %; a line starts when instances first reported the "
                 "feature", fig, rows, extra=common.unfinished(fig, ctx, "week", len(features)))


def licence_label(ctx: Context, week: pd.DataFrame, rows: Protected, licence: str) -> str:
    """Return a licence type's legend label with its active instances that week, as page 04 shows them (`rows`:
    the protected licence breakdown): 'EE (1,234 active)', 'EE (< 5 active)', 'EE (active: hidden)'."""
    row = week[week["category"] == licence].iloc[0]
    if common.withheld(rows, row):
        return f"{licence} (active: {fmt.WITHHELD})"
    return f"{licence} ({fmt.count(row['instances'], ctx.k)} active)"


def feature_by_license(ctx: Context) -> Chart:
    """Feature adoption in the last complete week, by licence type (the licence types named on page 04)."""
    licence_df, licence_rows = common.protected_breakdown(ctx, "license_type")
    named = common.rows_of(licence_df, "week", ctx.scope.week)
    licences = named[~named["category"].isin(common.REST)].sort_values("category_rank")["category"].tolist()
    week = common.rows_of(ctx.mart("feature_adoption_weekly"), "week", ctx.scope.week)
    df = week[week["license_type"].isin(licences)]
    if ctx.scope.week is None:
        return charts.nothing("feature_by_license", "Feature adoption by licence type", "No week (Monday to Sunday) "
                              "lies wholly within the data in this date range yet: this chart shows the last complete "
                              "week.")
    title = f"Feature adoption by licence type, week of {fmt.day(ctx.scope.week)}"
    if df.empty:
        return common.empty("feature_by_license", title, "of a named licence type reported a feature")
    withheld = [lic for lic in licences if common.withheld(licence_rows, named[named["category"] == lic].iloc[0])]
    rows = ctx.protect(df[["week", "license_type", "feature", "instances", "adopters", "share"]],
                       {"adopters": ["share"], "instances": ["share"]}, within=["week", "feature"],  # types add up
                       withhold={"instances": df["license_type"].isin(withheld)})   # as on page 04
    order = week[week["license_type"] == "ALL"].sort_values("share", ascending=False)["feature"].tolist()
    fig, colours = go.Figure(), common.licence_colours(ctx)
    for lic in licences:
        part = rows.rows[rows.rows["license_type"] == lic].set_index("feature").reindex(order).reset_index()
        name = licence_label(ctx, named, licence_rows, lic)
        fig.add_trace(go.Bar(x=part["feature"], y=part["share"], name=name, marker_color=colours[lic],
                             text=part["share"].map(lambda v: "0 %" if v == 0 else ""), textposition="outside",
                             textfont_size=9, cliponaxis=False,
                             customdata=part[["adopters", "instances"]],
                             hovertemplate=lic + ": %{y:.1%} (%{customdata[0]:,} of %{customdata[1]:,})<extra></extra>"))
        charts.hidden_marks(fig, rows, "feature", "share", 0, lic, where=rows.rows["license_type"] == lic)
    charts.layout(fig, "", "share of instances reporting it", percent=True)
    # the legend above the bars, under the tool bar: the feature names below keep their room
    fig.update_layout(barmode="group", hovermode="closest", legend=dict(yref="paper", y=1.02, yanchor="bottom"), margin_t=72)
    fig.update_xaxes(automargin=True)
    return Chart("feature_by_license", title, "Share of each licence type's reporting instances that use a feature",
                 fig, rows)
