"""Every figure of the notebooks and reports; notebooks only call these.

A builder takes mart DataFrames and returns a Chart (the plotly figure and the exact data it
plots). Context.show() displays a chart and, in reports, writes its data as CSV beside the page.
All dates are UTC; weekly periods start on Monday; the current, unfinished week is shaded.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from . import marts
from .suppress import OTHER, fold_small

TEMPLATE = "plotly_white"
PARTIAL_FILL = "rgba(150, 150, 150, 0.15)"


@dataclass
class Chart:
    """A figure and the table it plots (written as CSV in reports)."""

    name: str
    figure: go.Figure
    data: pd.DataFrame


class Context:
    """A notebook's parameters: where marts are, the date range, suppression k and the CSV folder."""

    def __init__(self, notebook: str, parquet_dir=None, start=None, end=None, min_count: int = 0,
                 chart_dir=None):
        self.notebook = notebook
        self.parquet_dir = marts.parquet_dir(parquet_dir)
        self.start, self.end = start, end
        self.min_count = int(min_count or 0)
        self.chart_dir = Path(chart_dir) if chart_dir else None
        # inline plotly.js once per page and keep the live mimetype for JupyterLab (no CDN)
        pio.renderers.default = os.environ.get("PLOTLY_RENDERER", "plotly_mimetype+notebook")
        days = self.mart("active_daily")["day"]
        self.last_day = days.max() if len(days) else None
        self.first_day = days.min() if len(days) else None

    def mart(self, name: str) -> pd.DataFrame:
        """Return a mart cut to the notebook's date range."""
        return marts.read(name, self.parquet_dir, self.start, self.end)

    def show(self, chart: Chart):
        """Display the chart; in a report, write its data to <chart_dir>/<notebook>__<name>.csv.

        In a report the figure is emitted as plain HTML: plotly.js inlined with the first chart
        only and no MathJax (plotly's notebook renderer would link MathJax from a CDN).
        """
        if not self.chart_dir:
            chart.figure.show()
            return
        from IPython.display import HTML, display

        self.chart_dir.mkdir(parents=True, exist_ok=True)
        chart.data.to_csv(self.chart_dir / f"{self.notebook}__{chart.name}.csv", index=False)
        first = not Context._plotly_js_sent
        Context._plotly_js_sent = True
        display(HTML(chart.figure.to_html(full_html=False, include_plotlyjs=first, include_mathjax=False,
                                          default_height=500, config={"displaylogo": False})))

    _plotly_js_sent = False

    def fold(self, df: pd.DataFrame, period: str, category, count: str = "instances") -> pd.DataFrame:
        """Fold categories under min_count instances per period into 'other' (reports only)."""
        return fold_small(df, period, category, self.min_count, count)


def _layout(fig: go.Figure, title: str, x: str, y: str, percent: bool = False) -> go.Figure:
    """Apply the common title, axis labels, hover mode and template."""
    fig.update_layout(template=TEMPLATE, title=title, xaxis_title=x, yaxis_title=y, hovermode="x unified",
                      legend_title_text="", margin=dict(t=60, r=20, b=50, l=60))
    if percent:
        fig.update_yaxes(tickformat=".0%", range=[0, 1])
    return fig


def mark_partial_week(fig: go.Figure, last_day) -> go.Figure:
    """Shade the week holding last_day when it has not ended (last_day is not a Sunday)."""
    if last_day is None or pd.isna(last_day) or pd.Timestamp(last_day).dayofweek == 6:
        return fig
    monday = pd.Timestamp(last_day) - pd.Timedelta(days=pd.Timestamp(last_day).dayofweek)
    fig.add_vrect(x0=monday - pd.Timedelta(days=3.5), x1=monday + pd.Timedelta(days=3.5),
                  fillcolor=PARTIAL_FILL, line_width=0)
    fig.add_annotation(x=monday, y=1.02, yref="paper", text="week in progress", showarrow=False,
                       font=dict(size=10, color="gray"))
    return fig


def _marker(fig: go.Figure, x, text: str, color: str = "gray") -> None:
    """Draw a dotted vertical line at x with a small rotated label."""
    fig.add_shape(type="line", x0=x, x1=x, y0=0, y1=1, yref="paper", line=dict(dash="dot", width=1, color=color))
    fig.add_annotation(x=x, y=1, yref="paper", text=text, showarrow=False, textangle=-90, xanchor="left",
                       yanchor="top", font=dict(size=9, color=color))


def share_area(df: pd.DataFrame, period: str, category: str, title: str, name: str,
               order: list[str] | None = None, last_day=None) -> Chart:
    """100% stacked area of shares by category over periods, hover with counts and shares."""
    df = df.sort_values([period, category])
    cats = order or sorted(df[category].unique(), key=lambda c: (c == OTHER, str(c)))
    fig = go.Figure()
    for cat in cats:
        part = df[df[category] == cat]
        fig.add_trace(go.Scatter(
            x=part[period], y=part["share"], name=str(cat), mode="lines", stackgroup="one",
            customdata=part[["instances"]], line=dict(width=0.5),
            hovertemplate="%{fullData.name}: %{y:.1%} (%{customdata[0]:,} instances)<extra></extra>",
        ))
    _layout(fig, title, "week (UTC, starting Monday)", "share of weekly active instances", percent=True)
    mark_partial_week(fig, last_day)
    return Chart(name, fig, df[[period, category, "instances", "share"]])


def count_lines(df: pd.DataFrame, period: str, category: str, title: str, name: str, y: str = "instances",
                y_label: str = "instances", last_day=None) -> Chart:
    """Lines of counts by category over periods."""
    df = df.sort_values([period, category])
    fig = go.Figure()
    for cat in sorted(df[category].unique(), key=lambda c: (c == OTHER, str(c))):
        part = df[df[category] == cat]
        fig.add_trace(go.Scatter(x=part[period], y=part[y], name=str(cat), mode="lines",
                                 hovertemplate="%{fullData.name}: %{y:,}<extra></extra>"))
    _layout(fig, title, "week (UTC, starting Monday)" if period == "week" else period, y_label)
    mark_partial_week(fig, last_day)
    return Chart(name, fig, df[[period, category, y]])


# ---- 01 fleet overview -------------------------------------------------------------------------

def active_instances(active_daily: pd.DataFrame) -> Chart:
    """Active instances per day over 1, 7 and 28-day windows."""
    fig = go.Figure()
    for col, label in (("active_1d", "seen that day"), ("active_7d", "seen in 7 days"), ("active_28d", "seen in 28 days")):
        fig.add_trace(go.Scatter(x=active_daily["day"], y=active_daily[col], name=label, mode="lines",
                                 hovertemplate="%{fullData.name}: %{y:,} instances<extra></extra>"))
    _layout(fig, "Active instances", "day (UTC)", "distinct instances")
    return Chart("active_instances", fig, active_daily)


def new_and_churned(fleet_weekly: pd.DataFrame, last_day=None) -> Chart:
    """New instances (first ping) and churned ones (28 days unseen) per week."""
    fig = go.Figure()
    fig.add_trace(go.Bar(x=fleet_weekly["week"], y=fleet_weekly["new"], name="new",
                         hovertemplate="new: %{y:,} instances<extra></extra>"))
    fig.add_trace(go.Bar(x=fleet_weekly["week"], y=-fleet_weekly["churned"], name="churned (28 days unseen)",
                         customdata=fleet_weekly[["churned"]],
                         hovertemplate="churned: %{customdata[0]:,} instances<extra></extra>"))
    fig.update_layout(barmode="relative")
    _layout(fig, "New and churned instances per week", "week (UTC, starting Monday)", "instances (churned below 0)")
    mark_partial_week(fig, last_day)
    return Chart("new_and_churned", fig, fleet_weekly)


def fleet_size(fleet_size_weekly: pd.DataFrame, last_day=None) -> Chart:
    """Median and 90th percentile of users, projects and devices per instance, weekly."""
    fig = go.Figure()
    for metric in ("users", "projects", "devices"):
        part = fleet_size_weekly[fleet_size_weekly["metric"] == metric]
        for stat, dash in (("median", "solid"), ("p90", "dash")):
            fig.add_trace(go.Scatter(x=part["week"], y=part[stat], name=f"{metric} {stat}", mode="lines",
                                     line=dict(dash=dash), customdata=part[["instances"]],
                                     hovertemplate="%{fullData.name}: %{y:,.1f} (over %{customdata[0]:,} instances)<extra></extra>"))
    _layout(fig, "Size of an instance: users, projects, devices (median and p90)", "week (UTC, starting Monday)",
            "count per instance")
    mark_partial_week(fig, last_day)
    return Chart("fleet_size", fig, fleet_size_weekly)


def platform_share(ctx: Context, platform_weekly: pd.DataFrame, dimension: str, title: str) -> Chart:
    """Share of weekly active instances by one platform dimension (os_type, os_arch, nodejs_major)."""
    part = platform_weekly[platform_weekly["dimension"] == dimension].drop(columns="dimension")
    part = ctx.fold(part, "week", "value")
    chart = share_area(part, "week", "value", title, f"platform_{dimension}", last_day=ctx.last_day)
    return chart


def nodejs_majors(ctx: Context, platform_weekly: pd.DataFrame, nodejs_releases: pd.DataFrame) -> Chart:
    """Node.js major lines in use, with each line's end-of-life date marked."""
    part = platform_weekly[platform_weekly["dimension"] == "nodejs_major"].drop(columns="dimension")
    part = ctx.fold(part, "week", "value")
    order = sorted(part["value"].unique(), key=lambda v: (not str(v).isdigit(), int(v) if str(v).isdigit() else 0, str(v)))
    chart = share_area(part, "week", "value", "Node.js major lines (end of life marked)", "nodejs_majors",
                       order=order, last_day=ctx.last_day)
    lo, hi = part["week"].min(), part["week"].max()
    for _, row in nodejs_releases.iterrows():
        if str(row["major"]) in set(map(str, order)) and lo <= row["end_of_life"] <= hi + pd.Timedelta(days=7):
            _marker(chart.figure, row["end_of_life"], f"Node {row['major']} EOL", color="firebrick")
    return chart


# ---- 02 versions -----------------------------------------------------------------------------------

def _minor_key(v: str) -> tuple:
    """Sort key for 'X.Y' lines: numeric, with 'unknown'/'other' last."""
    m = re.match(r"^(\d+)\.(\d+)$", str(v))
    return (0, int(m.group(1)), int(m.group(2))) if m else (1, 0, 0)


def version_lines(ctx: Context, adoption: pd.DataFrame, releases: pd.DataFrame, top_n: int = 8) -> Chart:
    """Share of weekly active instances by minor line: the top N lines, the rest as 'other', dev builds apart."""
    df = adoption.copy()
    df["line"] = df["version_minor"].where(~df["version"].str.contains("-", regex=False), "dev builds")
    weekly = df.groupby(["week", "line"], as_index=False)[["instances", "share"]].sum()
    # the lines that were ever among the biggest: ranked by their highest weekly share
    top = (weekly[~weekly["line"].isin(["dev builds", "unknown"])].groupby("line")["share"].max()
           .sort_values(ascending=False).head(top_n).index)
    weekly["line"] = weekly["line"].where(weekly["line"].isin(top) | (weekly["line"] == "dev builds"), OTHER)
    weekly = weekly.groupby(["week", "line"], as_index=False)[["instances", "share"]].sum()
    weekly = ctx.fold(weekly, "week", "line")
    order = sorted([v for v in weekly["line"].unique() if v not in (OTHER, "dev builds")], key=_minor_key)
    order += [v for v in (OTHER, "dev builds") if v in set(weekly["line"])]
    chart = share_area(weekly, "week", "line", f"FlowForge minor lines (top {top_n}; release dates marked)",
                       "version_lines", order=order, last_day=ctx.last_day)
    lo, hi = weekly["week"].min(), weekly["week"].max()
    firsts = releases[releases["version"].str.endswith(".0")]
    for _, row in firsts.iterrows():
        line = row["version"].rsplit(".", 1)[0]
        if line in set(top) and lo <= row["released_on"] <= hi:
            _marker(chart.figure, row["released_on"], line)
    return chart


def patch_mix(ctx: Context, adoption: pd.DataFrame, lines: int = 3) -> Chart:
    """Patch versions within the newest minor lines, as instances per week."""
    df = adoption[~adoption["version"].str.contains("-", regex=False) & (adoption["version_minor"] != "unknown")]
    newest = sorted(df["version_minor"].unique(), key=_minor_key)[-lines:]
    part = df[df["version_minor"].isin(newest)][["week", "version", "instances"]]
    part = ctx.fold(part, "week", "version")
    return count_lines(part, "week", "version", f"Patch versions of the newest {lines} minor lines",
                       "patch_mix", y_label="weekly active instances", last_day=ctx.last_day)


def release_uptake(uptake: pd.DataFrame) -> Chart:
    """Days from each minor release until 25/50/75% of weekly active instances ran it or newer."""
    df = uptake.copy()
    fig = go.Figure()
    for col, label in (("days_to_25pct", "25%"), ("days_to_50pct", "50%"), ("days_to_75pct", "75%")):
        fig.add_trace(go.Bar(x=df["version"], y=df[col], name=label,
                             hovertemplate="%{x}: " + label + " after %{y} days<extra></extra>"))
    _layout(fig, "Upgrade velocity: days from release until a share of the fleet ran it or newer",
            "minor release", "days after release")
    fig.update_layout(barmode="group", hovermode="closest")
    return Chart("release_uptake", fig, df)


def dev_builds(adoption: pd.DataFrame, last_day=None) -> Chart:
    """Instances running development builds (a version with a pre-release suffix such as -git)."""
    df = adoption[adoption["version"].str.contains("-", regex=False)]
    weekly = df.groupby("week", as_index=False)[["instances", "share"]].sum()
    fig = go.Figure(go.Bar(x=weekly["week"], y=weekly["instances"], customdata=weekly[["share"]],
                           hovertemplate="%{y:,} instances (%{customdata[0]:.1%})<extra></extra>"))
    _layout(fig, "Instances on development builds", "week (UTC, starting Monday)", "weekly active instances")
    mark_partial_week(fig, last_day)
    return Chart("dev_builds", fig, weekly)


# ---- 03 drivers / 04 licences ------------------------------------------------------------------

def mix_share(ctx: Context, mix: pd.DataFrame, column: str, title: str, name: str) -> Chart:
    """Weekly share by one category column (driver, license_type)."""
    part = ctx.fold(mix, "week", column)
    return share_area(part, "week", column, title, name, last_day=ctx.last_day)


def mix_counts(ctx: Context, mix: pd.DataFrame, column: str, title: str, name: str) -> Chart:
    """Weekly instance counts by one category column."""
    part = ctx.fold(mix, "week", column)
    return count_lines(part, "week", column, title, name, y_label="weekly active instances", last_day=ctx.last_day)


def transitions(ctx: Context, df: pd.DataFrame, dimension: str, title: str, name: str) -> Chart:
    """Instances changing one dimension (driver, license_type) per month, one bar segment per change."""
    df = df[df["dimension"] == dimension]
    df = df.assign(change=df["from_value"].astype(str) + " → " + df["to_value"].astype(str))
    df = ctx.fold(df[["month", "change", "instances"]], "month", "change")
    fig = go.Figure()
    for change in sorted(df["change"].unique(), key=lambda c: (c == OTHER, c)):
        part = df[df["change"] == change]
        fig.add_trace(go.Bar(x=part["month"], y=part["instances"], name=change,
                             hovertemplate="%{fullData.name}: %{y:,} instances<extra></extra>"))
    fig.update_layout(barmode="stack")
    _layout(fig, title, "month (UTC)", "instances")
    return Chart(name, fig, df)


def trials_ended(ctx: Context, df: pd.DataFrame) -> Chart:
    """Trial licences that ended per month, by what they became."""
    ended = df[(df["dimension"] == "license_type") & (df["from_value"] == "TRIAL")]
    return transitions(ctx, ended, "license_type", "Trials that ended", "trials_ended")


def conversions(ctx: Context, df: pd.DataFrame) -> Chart:
    """CE instances that became EE, per month."""
    ce_ee = df[(df["dimension"] == "license_type") & (df["from_value"] == "CE") & (df["to_value"] == "EE")]
    return transitions(ctx, ce_ee, "license_type", "CE to EE conversions", "ce_to_ee")


# ---- 05 data quality ---------------------------------------------------------------------------

def rows_per_source(source_daily: pd.DataFrame) -> Chart:
    """Pings landed per source and day (each ping counted for the source it first came from)."""
    df = source_daily.assign(source=source_daily["source"].map(lambda s: Path(s).name or s))
    return count_lines(df, "day", "source", "Pings landed per source and day", "rows_per_source", y="pings",
                       y_label="pings (UTC day received)")


def quarantine_reasons(quarantine_daily: pd.DataFrame) -> Chart:
    """Quarantined rows per day, by reason."""
    fig = go.Figure()
    for reason in sorted(quarantine_daily["reason"].unique()):
        part = quarantine_daily[quarantine_daily["reason"] == reason]
        fig.add_trace(go.Bar(x=part["day"], y=part["rows"], name=reason,
                             hovertemplate="%{fullData.name}: %{y:,} rows<extra></extra>"))
    fig.update_layout(barmode="stack")
    _layout(fig, "Quarantined rows by reason", "day (UTC; load day when the row had no readable time)", "rows")
    return Chart("quarantine_reasons", fig, quarantine_daily)


def source_table(source_status: pd.DataFrame) -> Chart:
    """Per source file or table: read, loaded, duplicates, quarantined, pending and state."""
    df = source_status.assign(item=source_status["item"].map(lambda s: Path(s).name or s))
    cols = ["source", "item", "rows_read", "loaded", "duplicates", "quarantined", "pending", "status"]
    df = df.sort_values(["pending", "status", "source", "item"], ascending=[False, False, True, True])[cols]
    fig = go.Figure(go.Table(header=dict(values=cols), cells=dict(values=[df[c] for c in cols])))
    fig.update_layout(title="Sources: pending torn lines and files in trouble first", template=TEMPLATE,
                      margin=dict(t=60, r=20, b=20, l=20))
    return Chart("sources", fig, df)


def clones(clones_daily: pd.DataFrame) -> Chart:
    """Instances seen from several keyed IP hashes on one day (clones or address changes)."""
    fig = go.Figure(go.Scatter(x=clones_daily["day"], y=clones_daily["several_ip_hashes"], mode="lines",
                               customdata=clones_daily[["instances"]],
                               hovertemplate="%{y:,} of %{customdata[0]:,} active instances<extra></extra>"))
    _layout(fig, "InstanceIds sending from several IP hashes in a day", "day (UTC)", "instances")
    return Chart("clones", fig, clones_daily)


def pings_per_day(pings_per_instance_day: pd.DataFrame) -> Chart:
    """How many instance-days carried 1, 2, 3... pings."""
    df = pings_per_instance_day
    total = df["instance_days"].sum()
    fig = go.Figure(go.Bar(x=df["pings"].astype(str), y=df["instance_days"],
                           customdata=(df["instance_days"] / total).to_frame(),
                           hovertemplate="%{x} pings: %{y:,} instance-days (%{customdata[0]:.1%})<extra></extra>"))
    _layout(fig, "Pings per instance-day (restarts add pings)", "pings in the day", "instance-days")
    fig.update_layout(hovermode="closest")
    return Chart("pings_per_instance_day", fig, df)
