"""Page 01, fleet overview: active instances, added and removed, the size of an instance, what they run on."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from .. import charts, figures, fmt, marts
from ..charts import Chart
from ..context import Context
from . import common

WINDOWS = (("active_1d", "seen that day"), ("active_7d", "seen in 7 days"), ("active_28d", "seen in 28 days"))
SIZES = (("users", "users"), ("projects", "hosted (projects)"), ("devices", "remote (devices)"))


def active_title(ctx: Context) -> str:
    """Return '904 instances seen in the 7 days to 5 Dec 2026, +0.3 % on the 7 days before' (headline_daily)."""
    found = figures.daily(ctx.scope)
    if not found:
        return "Active instances"
    title = f"{ctx.quote(found['active_7d'])} instances seen in the 7 days to {fmt.day(found['active_7d'].as_of)}"
    if "active_7d_days" in found:   # the window reaches before the first day with data
        return title + figures.only_in_data(ctx.quote(found["active_7d_days"]))
    if found["active_7d_change"].value is None:
        return title
    return f"{title}, {ctx.quote(found['active_7d_change'])} on the 7 days before"


def active_instances(ctx: Context) -> Chart:
    """Active instances per day over 1, 7 and 28-day windows; the title: the 7-day figure as of the last day."""
    df = ctx.mart("active_daily")
    title = active_title(ctx)
    if df.empty:
        return common.empty("active_instances", title, "sent a ping")
    rows = ctx.protect(df, [c for c, _ in WINDOWS])
    fig = go.Figure()
    for (column, label), colour in zip(WINDOWS, charts.PALETTE):
        fig.add_trace(go.Scatter(x=rows.rows["day"], y=rows.rows[column], name=label, mode=charts.mode(len(df)),
                                 line=dict(color=colour), hovertemplate="%{fullData.name}: %{y:,}<extra></extra>"))
    common.over_time(fig, ctx, df["day"], "day", "distinct instances")
    return Chart("active_instances", title, "Distinct instances seen in the 1, 7 and 28 days up to each day; "
                 "gaps and outages in the data are shaded", fig, rows)


def added_and_removed(ctx: Context) -> Chart:
    """Instances added and removed per week (fleet_weekly), without the first week of data."""
    return common.added_removed(ctx, ctx.mart("fleet_weekly"), "week", "added_and_removed",
                                "Per week: added = first ping; removed = last ping, then silent for 28 days (known 28 "
                                "days later)")


def fleet_size(ctx: Context) -> Chart:
    """Median and 90th percentile of users, hosted and remote instances per instance, one panel each."""
    df = ctx.mart("fleet_size_weekly")
    if df.empty:
        return common.empty("fleet_size", "Size of an instance", "reported its size", ctx, "week")
    rows = ctx.protect(df, {"instances": ["median", "p90"]})
    week = common.rows_of(rows.rows, "week", ctx.scope.week).set_index("metric")
    title = "Size of an instance"
    if {"users", "projects", "devices"} <= set(week.index):
        said = [ctx.quote(figures.amount(f"median_{name}", week.loc[metric, "median"], week.loc[metric, "week"]))
                for metric, name in (("users", "users"), ("projects", "hosted_instances"),
                                     ("devices", "remote_instances"))]
        title = (f"The median instance has {said[0]} users, {said[1]} hosted and {said[2]} remote instances, "
                 f"week of {fmt.day(ctx.scope.week)}")
    fig = charts.panels(3, [label for _, label in SIZES])
    for i, (metric, _) in enumerate(SIZES):
        part = rows.rows[rows.rows["metric"] == metric]
        for stat, colour in (("median", charts.PALETTE[0]), ("p90", charts.PALETTE[1])):
            fig.add_trace(go.Scatter(x=part["week"], y=part[stat], name=stat, mode=charts.mode(len(part)),
                                     line=dict(color=colour), hovertemplate=stat + ": %{y:,.1f}<extra></extra>"),
                          **charts.cell(i))
        top = part[["median", "p90"]].max().max()
        top = top if top > 0 else 1                  # from just under 0: a median of 0 stays visible over the axis
        fig.update_yaxes(range=[-0.04 * top, 1.06 * top], **charts.cell(i))
    charts.dates(fig, "week")
    return Chart("fleet_size", title, "Per week and instance: the median (blue) and the 90th percentile (orange) "
                 "of its latest reported count", fig, rows, extra=common.unfinished(fig, ctx, "week", len(SIZES)))


def platform(ctx: Context, dimension: str, what: str, name: str, prefix: str = "") -> Chart:
    """Share of weekly active instances by os/arch (or another breakdown dimension), top 7 and 'other'."""
    df, rows = common.protected_breakdown(ctx, dimension)
    if df.empty:
        return common.empty(name, what, f"reported a {what.lower()}", ctx, "week")
    title = common.top_finding(ctx, df, rows, f"{dimension}_top_share", what, prefix)
    order = charts.series_order(df, "category")
    fig = charts.share_area(rows, "week", "category", order)
    charts.layout(fig, charts.AXIS["week"], "share of weekly active instances", percent=True)
    common.dated(fig, ctx, "week")
    return Chart(name, title, f"{what}: share of each week's active instances", fig,
                 rows.only(common.BREAKDOWN_CSV), extra=common.rest_note(ctx, df, "values"))


def nodejs(ctx: Context) -> Chart:
    """Node.js major lines in use, each line's end of life marked."""
    chart = platform(ctx, "nodejs_major", "Node.js major line", "nodejs_majors", prefix="Node.js ")
    if chart.empty:
        return chart
    eol = marts.reference("nodejs_releases")
    shown = set(chart.data.rows["category"].astype(str))
    lo, hi = chart.data.rows["week"].min(), chart.data.rows["week"].max() + pd.Timedelta(days=6)
    marks = eol[eol["major"].astype(str).isin(shown) & eol["end_of_life"].between(lo, hi)]
    charts.mark_days(chart.figure, pd.DataFrame({"day": marks["end_of_life"],
                                                 "label": "Node " + marks["major"].astype(str) + " end of life"}),
                     color="#B04A00")
    chart.subtitle += "; end-of-life dates marked"
    return chart

