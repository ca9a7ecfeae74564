"""Every figure of the notebooks and reports; notebooks only call these.

A builder takes mart DataFrames and returns a Chart: the plotly figure and the exact data it plots,
or, when nothing can be shown (no data, or everything under the small-count threshold k), no
figure and one sentence saying why. Context.show() displays either and, in reports, writes the
chart's data as CSV beside the page. Titles state the finding, computed from the data.

All dates are UTC; weekly periods start on Monday (weekly axes tick on Mondays); the current,
unfinished week is shaded. Colours are defined once here (colour-blind-safe; one category, one
colour on every chart).
"""

from __future__ import annotations

import html
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from . import marts, status
from .suppress import OTHER, fold_coarsening, fold_small, hide_small

TEMPLATE = "plotly_white"
PARTIAL_FILL = "rgba(150, 150, 150, 0.15)"
#: plotly's toolbar without the cloud "share" button, the logo or the lasso/select tools
CONFIG = {"displaylogo": False, "responsive": True,
          "modeBarButtonsToRemove": ["sendChartToCloud", "sendDataToCloud", "editInChartStudio", "lasso2d",
                                     "select2d"]}
#: renderer in notebooks: JupyterLab draws the figure JSON with its own plotly (nothing heavy in outputs)
NOTEBOOK_RENDERER = "plotly_mimetype"
FEW_POINTS = 30          # a line with at most this many points gets markers
FEW_AREA_POINTS = 2      # a stacked area band this short gets markers (else it would not show)
MONDAY = "2000-01-03"    # any Monday: weekly ticks start there
WEEK_MS = 7 * 24 * 3600 * 1000

# ---- colours: defined once ------------------------------------------------------------------------

#: Okabe-Ito then Paul Tol's muted scheme: distinguishable with the common colour-vision deficiencies
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#332288", "#44AA99",
           "#882255", "#999933", "#AA4499", "#117733"]
GREY, LIGHT_GREY = "#8C8C8C", "#C8C8C8"
#: categories that appear on several charts keep these colours everywhere
FIXED_COLOURS = {
    OTHER: GREY, "unknown": LIGHT_GREY, "unreported": LIGHT_GREY, "dev builds": "#AA4499",
    "localfs": "#0072B2", "docker": "#E69F00", "kubernetes": "#009E73", "stub": "#CC79A7",
    "CE": "#0072B2", "EE": "#E69F00", "TRIAL": "#009E73", "DEV": "#CC79A7",
    "linux": "#0072B2", "darwin": "#E69F00", "win32": "#009E73",
    "Linux/x64": "#0072B2", "Linux/arm64": "#56B4E9", "Linux/arm": "#44AA99", "Windows_NT/x64": "#E69F00",
    "Darwin/arm64": "#CC79A7", "Darwin/x64": "#882255",
    "all": "#0072B2", "core": "#E69F00", "added": "#009E73", "removed": "#D55E00",
    # quarantine reasons, each its own colour
    "not_json": "#0072B2", "not_object": "#56B4E9", "instance_id_missing": "#D55E00",
    "instance_id_not_string": "#CC79A7", "instance_id_empty": "#009E73", "instance_id_too_long": "#E69F00",
    "received_at_missing": "#332288", "received_at_unparseable": "#882255", "csv_malformed": "#999933",
    "received_at_out_of_range": "#44AA99",
}
#: one sequential ramp per FlowForge major line, light (older) to dark (newer)
MAJOR_RAMPS = {
    0: ["#e6e6e6", "#cccccc", "#b3b3b3", "#999999", "#808080", "#666666", "#4d4d4d"],
    1: ["#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c"],
    2: ["#fee6ce", "#fdd0a2", "#fdae6b", "#fd8d3c", "#f16913", "#d94801", "#a63603"],
    3: ["#e5f5e0", "#c7e9c0", "#a1d99b", "#74c476", "#41ab5d", "#238b45", "#006d2c"],
    4: ["#f2f0f7", "#dadaeb", "#bcbddc", "#9e9ac8", "#807dba", "#6a51a3", "#4a1486"],
}
#: FlowFuse's week-on-week growth bands: (lower bound, name, colour), best first
BANDS = [(0.06, "exceptional", "#08519c"), (0.04, "strong", "#4292c6"), (0.02, "sustainable", "#9ecae1"),
         (0.01, "okay", "#fdae6b"), (-math.inf, "not acceptable", "#d94801")]


def colour(category) -> str:
    """Return the one colour of a category: a fixed one, else a stable pick from the palette by name."""
    key = str(category)
    if key in FIXED_COLOURS:
        return FIXED_COLOURS[key]
    return PALETTE[zlib.crc32(key.encode()) % len(PALETTE)]


def band_of(growth) -> str | None:
    """Return FlowFuse's band for a week-on-week growth fraction (>= 6 % exceptional ... <= 1 % not acceptable)."""
    if growth is None or pd.isna(growth):
        return None
    # the bands' bounds are inclusive at the top: 6 % is exceptional, 1 % is not acceptable
    for low, name, _ in BANDS:
        if growth >= low and not (name == "okay" and growth <= 0.01):
            return name
    return BANDS[-1][1]


# ---- the chart and its context ----------------------------------------------------------------------

@dataclass
class Chart:
    """A figure and the table it plots (written as CSV in reports); no figure means `note` says why."""

    name: str
    figure: go.Figure | None
    data: pd.DataFrame
    note: str | None = None

    @property
    def empty(self) -> bool:
        """True when there is nothing to draw and the note takes the chart's place."""
        return self.figure is None


def nothing(name: str, sentence: str, data: pd.DataFrame | None = None) -> Chart:
    """Return an empty chart whose place holds one explanatory sentence."""
    if data is None or len(data.columns) == 0:
        data = pd.DataFrame({"note": [sentence]})   # the chart's CSV says why it is empty
    return Chart(name, None, data, sentence)


class Context:
    """A notebook's parameters: where marts are, the date range, suppression k and the CSV folder."""

    def __init__(self, notebook: str, parquet_dir=None, start=None, end=None, min_count: int = 0,
                 chart_dir=None):
        self.notebook = notebook
        # one resolved parquet set for every mart this notebook reads
        self.parquet_dir = marts.resolve(parquet_dir)
        self.start, self.end = start, end
        self.min_count = int(min_count or 0)
        self.chart_dir = Path(chart_dir) if chart_dir else None
        pio.renderers.default = NOTEBOOK_RENDERER
        days = self.mart("active_daily")["day"]
        self.last_day = days.max() if len(days) else None
        self.first_day = days.min() if len(days) else None
        everything = marts.read("active_daily", self.parquet_dir)["day"]
        self.data_first_day = everything.min() if len(everything) else None   # before any start cut

    def mart(self, name: str) -> pd.DataFrame:
        """Return a mart cut to the notebook's date range."""
        return marts.read(name, self.parquet_dir, self.start, self.end)

    def optional(self, name: str) -> pd.DataFrame | None:
        """Return a mart cut to the date range, or None when this parquet set lacks it."""
        return marts.read_optional(name, self.parquet_dir, self.start, self.end)

    def show(self, chart: Chart):
        """Display the chart (or its sentence); in a report also write <chart_dir>/<notebook>__<name>.csv.

        In a report the figure is emitted as plain HTML without plotly.js: the page loads the one
        copy in the report folder. In JupyterLab the figure goes out as plotly JSON only.
        """
        from IPython.display import HTML, Markdown, display

        if self.chart_dir:
            self.chart_dir.mkdir(parents=True, exist_ok=True)
            chart.data.to_csv(self.chart_dir / f"{self.notebook}__{chart.name}.csv", index=False)
        if chart.empty:
            if self.chart_dir:
                display(HTML(f'<p class="chart-empty" data-chart="{html.escape(chart.name)}">'
                             f"{html.escape(chart.note)}</p>"))
            else:
                display(Markdown(f"*{chart.note}*"))
            return
        if not self.chart_dir:
            chart.figure.show(config=CONFIG)
            return
        div = chart.figure.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False,
                                   default_height=chart.figure.layout.height or 480, config=CONFIG)
        display(HTML(f'<div class="chart" data-chart="{html.escape(chart.name)}">{div}</div>'))

    def table(self, df: pd.DataFrame, name: str, empty: str | None = None):
        """Display a small table (all columns, no truncation); in a report also write it as CSV."""
        from IPython.display import HTML, display

        if self.chart_dir:
            self.chart_dir.mkdir(parents=True, exist_ok=True)
            df.to_csv(self.chart_dir / f"{self.notebook}__{name}.csv", index=False)
        if df.empty and empty:
            display(HTML(f'<p class="table-empty">{html.escape(empty)}</p>'))
            return
        shown = df.copy()
        for col in shown.columns:   # thousands separators on counts
            if pd.api.types.is_integer_dtype(shown[col]) and not pd.api.types.is_bool_dtype(shown[col]):
                shown[col] = shown[col].map("{:,}".format)
        display(HTML(shown.to_html(index=False, escape=True, na_rep="", classes=["data-table"], border=0,
                                   float_format=lambda v: f"{v:,.4g}")))

    def fold(self, df: pd.DataFrame, period: str, category, count: str = "instances") -> pd.DataFrame:
        """Fold categories under min_count instances per period into 'other' (reports only)."""
        return fold_small(df, period, category, self.min_count, count)

    def suppressed(self, what: str, period: str = "week") -> str:
        """Return the sentence for a chart whose every category is under k."""
        if self.min_count > 1:
            return (f"Fewer than {self.min_count} instances {what} in any {period}: nothing shown,"
                    " to avoid identifying instances.")
        return f"No instances {what} in this date range."


# ---- layout helpers ---------------------------------------------------------------------------------

def _layout(fig: go.Figure, title: str, x: str, y: str, subtitle: str | None = None,
            percent: bool = False) -> go.Figure:
    """Apply the finding title (and what the chart shows underneath), axis labels, hover and template."""
    fig.update_layout(template=TEMPLATE, xaxis_title=x, yaxis_title=y, hovermode="x unified",
                      legend_title_text="", margin=dict(t=80 if subtitle else 60, r=20, b=50, l=70),
                      title=dict(text=title, subtitle=dict(text=subtitle or "")),
                      colorway=PALETTE)
    if percent:
        fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return fig


def _pct(x: float, digits: int = 0) -> str:
    """Format a fraction as a percentage with a space before the sign ('31 %')."""
    return f"{x * 100:.{digits}f} %"


def _signed_pct(x: float) -> str:
    """Format a change as a signed percentage ('+3.1 %')."""
    return f"{x * 100:+.1f} %"


def _mode(points: int) -> str:
    """Lines with few points also draw markers, so a single week is visible."""
    return "lines+markers" if points <= FEW_POINTS else "lines"


def weekly_axis(fig: go.Figure, weeks, **kw) -> go.Figure:
    """Tick a weekly x axis on Mondays, every 1, 2, 4, 13, 26 or 52 weeks (about a dozen ticks)."""
    span = pd.Series(pd.to_datetime(pd.Series(weeks))).dropna()
    n = max(1, int((span.max() - span.min()).days / 7) + 1) if len(span) else 1
    step = next((s for s in (1, 2, 4, 13, 26, 52) if n / s <= 14), 104)
    fig.update_xaxes(tick0=MONDAY, dtick=step * WEEK_MS, tickformat="%d %b<br>%Y",
                     hoverformat="week of %d %b %Y", **kw)
    return fig


def whole_numbers(fig: go.Figure, top: float | None, **kw) -> go.Figure:
    """Make a count axis show whole numbers only (and start at 0)."""
    fig.update_yaxes(tickformat=",d", rangemode="tozero", **kw)
    if top is not None and not pd.isna(top) and top < 6:
        fig.update_yaxes(dtick=1, **kw)
    return fig


def mark_partial_week(fig: go.Figure, last_day) -> go.Figure:
    """Shade the week holding last_day when it has not ended (last_day is not a Sunday)."""
    if last_day is None or pd.isna(last_day) or pd.Timestamp(last_day).dayofweek == 6:
        return fig
    monday = pd.Timestamp(last_day) - pd.Timedelta(days=pd.Timestamp(last_day).dayofweek)
    fig.add_vrect(x0=monday - pd.Timedelta(days=3.5), x1=monday + pd.Timedelta(days=3.5),
                  fillcolor=PARTIAL_FILL, line_width=0)
    fig.add_annotation(x=monday, y=1.0, yref="paper", text="week in progress", showarrow=False,
                       yanchor="bottom", font=dict(size=10, color="gray"))
    return fig


def _marker(fig: go.Figure, x, text: str, color: str = "gray", row: int = 0) -> None:
    """Draw a dotted vertical line at x with a label at the top (staggered over three heights)."""
    fig.add_shape(type="line", x0=x, x1=x, y0=0, y1=1, yref="paper", line=dict(dash="dot", width=1, color=color))
    fig.add_annotation(x=x, y=1 - 0.05 * (row % 3), yref="paper", text=text, showarrow=False, xanchor="left",
                       yanchor="top", bgcolor="rgba(255,255,255,0.7)", font=dict(size=10, color=color))


def share_area(df: pd.DataFrame, period: str, category: str, title: str, name: str,
               order: list[str] | None = None, last_day=None, subtitle: str | None = None,
               colours: dict | None = None) -> Chart:
    """100% stacked area of shares by category over weeks, hover with counts and shares."""
    df = df.sort_values([period, category])
    cats = order or sorted(df[category].unique(), key=lambda c: (c == OTHER, str(c)))
    fig = go.Figure()
    for cat in cats:
        part = df[df[category] == cat]
        c = (colours or {}).get(cat) or colour(cat)
        fig.add_trace(go.Scatter(
            x=part[period], y=part["share"], name=str(cat), stackgroup="one",
            mode="lines+markers" if len(part) <= FEW_AREA_POINTS else "lines",
            customdata=part[["instances"]], line=dict(width=0.5, color=c), fillcolor=c, marker=dict(size=5),
            hovertemplate="%{fullData.name}: %{y:.1%} (%{customdata[0]:,} instances)<extra></extra>",
        ))
    _layout(fig, title, "week (UTC, starting Monday)", "share of weekly active instances", subtitle, percent=True)
    fig.update_yaxes(range=[0, 1])
    weekly_axis(fig, df[period])
    mark_partial_week(fig, last_day)
    return Chart(name, fig, df[[period, category, "instances", "share"]])


def count_lines(df: pd.DataFrame, period: str, category: str, title: str, name: str, y: str = "instances",
                y_label: str = "instances", last_day=None, subtitle: str | None = None,
                order: list | None = None, colours: dict | None = None) -> Chart:
    """Lines of counts by category over periods (markers when a line has few points)."""
    df = df.sort_values([period, category])
    fig = go.Figure()
    for cat in order or sorted(df[category].unique(), key=lambda c: (c == OTHER, str(c))):
        part = df[df[category] == cat]
        fig.add_trace(go.Scatter(x=part[period], y=part[y], name=str(cat), mode=_mode(len(part)),
                                 line=dict(color=(colours or {}).get(cat) or colour(cat)), marker=dict(size=6),
                                 hovertemplate="%{fullData.name}: %{y:,}<extra></extra>"))
    _layout(fig, title, "week (UTC, starting Monday)" if period == "week" else f"{period} (UTC)", y_label, subtitle)
    whole_numbers(fig, df[y].max())
    if period == "week":
        weekly_axis(fig, df[period])
        mark_partial_week(fig, last_day)
    return Chart(name, fig, df[[period, category, y]])


def _latest_complete(df: pd.DataFrame, period: str, last_day) -> pd.DataFrame:
    """Return the rows of the last complete week (the latest week when last_day is unknown)."""
    if df.empty:
        return df
    weeks = sorted(df[period].unique())
    week = weeks[-1]
    if last_day is not None and pd.Timestamp(last_day).dayofweek != 6 and len(weeks) > 1 \
            and pd.Timestamp(week) + pd.Timedelta(days=6) > pd.Timestamp(last_day):
        week = weeks[-2]
    return df[df[period] == week]


def _top_share_finding(df: pd.DataFrame, period: str, category: str, last_day, what: str) -> str:
    """Return '<top category> runs on N % of active instances (week of ...)' for a share mart."""
    latest = _latest_complete(df[df[category] != OTHER], period, last_day)
    if latest.empty:
        return what
    top = latest.sort_values("share", ascending=False).iloc[0]
    return (f"{top[category]}: {_pct(top['share'])} of active instances, week of "
            f"{pd.Timestamp(top[period]):%d %b %Y}")


# ---- 01 fleet overview -------------------------------------------------------------------------

def growth_title(growth: dict | None, fallback: str) -> str:
    """Return 'Active instances +3.1 % week on week (sustainable)' from the latest growth_weekly row."""
    if not growth or growth.get("wow_growth") is None or pd.isna(growth.get("wow_growth")):
        return fallback
    band = growth.get("band") or band_of(growth["wow_growth"])
    return (f"Active instances {_signed_pct(growth['wow_growth'])} week on week ({band}), "
            f"week of {pd.Timestamp(growth['week']):%d %b %Y}")


def active_instances(active_daily: pd.DataFrame, growth: dict | None = None) -> Chart:
    """Active instances per day over 1, 7 and 28-day windows; the title states last week's growth."""
    if active_daily.empty:
        return nothing("active_instances", "No instance sent a ping in this date range.")
    fig = go.Figure()
    for col, label, c in (("active_1d", "seen that day", PALETTE[4]), ("active_7d", "seen in 7 days", PALETTE[0]),
                          ("active_28d", "seen in 28 days", PALETTE[6])):
        fig.add_trace(go.Scatter(x=active_daily["day"], y=active_daily[col], name=label,
                                 mode=_mode(len(active_daily)), line=dict(color=c),
                                 hovertemplate="%{fullData.name}: %{y:,} instances<extra></extra>"))
    last = active_daily.iloc[-1]
    fallback = f"{int(last['active_28d']):,} instances active in the 28 days to {pd.Timestamp(last['day']):%d %b %Y}"
    _layout(fig, growth_title(growth, fallback), "day (UTC)", "distinct instances",
            "Distinct instances seen in the 1, 7 and 28 days up to each day")
    whole_numbers(fig, active_daily["active_28d"].max())
    return Chart("active_instances", fig, active_daily)


FIRST_WEEK_NOTE = "The first week of data is left out: every instance seen then counts as new."


def after_first_week(df: pd.DataFrame, column: str, data_first_day) -> pd.DataFrame:
    """Drop the rows of the week (Monday start) holding the data's first day, where everything is new."""
    if data_first_day is None or df.empty:
        return df
    first = pd.Timestamp(data_first_day)
    first_week = first - pd.Timedelta(days=first.dayofweek)
    return df[pd.to_datetime(df[column]) >= first_week + pd.Timedelta(days=7)]


def new_and_churned(fleet_weekly: pd.DataFrame, last_day=None, data_first_day=None) -> Chart:
    """New instances (first ping) and churned ones (28 days unseen) per week, without the first week."""
    fleet_weekly = after_first_week(fleet_weekly, "week", data_first_day)
    if fleet_weekly.empty:
        return nothing("new_and_churned", "No instance arrived or left in this date range.")
    fig = go.Figure()
    fig.add_trace(go.Bar(x=fleet_weekly["week"], y=fleet_weekly["new"], name="new", marker_color=colour("added"),
                         hovertemplate="new: %{y:,} instances<extra></extra>"))
    fig.add_trace(go.Bar(x=fleet_weekly["week"], y=-fleet_weekly["churned"], name="churned (28 days unseen)",
                         customdata=fleet_weekly[["churned"]], marker_color=colour("removed"),
                         hovertemplate="churned: %{customdata[0]:,} instances<extra></extra>"))
    fig.update_layout(barmode="relative")
    done = _latest_complete(fleet_weekly, "week", last_day)
    recent = fleet_weekly[fleet_weekly["week"] > fleet_weekly["week"].max() - pd.Timedelta(weeks=13)]
    title = (f"{int(recent['new'].sum()):,} new and {int(recent['churned'].sum()):,} churned instances"
             " in the last 13 weeks") if len(done) else "New and churned instances per week"
    _layout(fig, title, "week (UTC, starting Monday)", "instances (churned below 0)",
            "New: first ping that week. Churned: not seen for 28 days, counted in the week that ran out. "
            + FIRST_WEEK_NOTE)
    fig.update_yaxes(tickformat=",d")
    weekly_axis(fig, fleet_weekly["week"])
    mark_partial_week(fig, last_day)
    return Chart("new_and_churned", fig, fleet_weekly)


def fleet_size(fleet_size_weekly: pd.DataFrame, last_day=None) -> Chart:
    """Median and 90th percentile of users, projects and devices per instance, weekly."""
    if fleet_size_weekly.empty:
        return nothing("fleet_size", "No instance reported its size in this date range.")
    fig = go.Figure()
    for metric in ("users", "projects", "devices"):
        part = fleet_size_weekly[fleet_size_weekly["metric"] == metric]
        for stat, dash in (("median", "solid"), ("p90", "dash")):
            fig.add_trace(go.Scatter(x=part["week"], y=part[stat], name=f"{metric} {stat}", mode=_mode(len(part)),
                                     line=dict(dash=dash, color=colour(metric)), customdata=part[["instances"]],
                                     hovertemplate="%{fullData.name}: %{y:,.1f} (over %{customdata[0]:,} instances)<extra></extra>"))
    latest = _latest_complete(fleet_size_weekly, "week", last_day).set_index("metric")
    title = "Size of an instance"
    if {"users", "projects", "devices"} <= set(latest.index):
        title = (f"The median instance has {latest.loc['users', 'median']:g} users, "
                 f"{latest.loc['projects', 'median']:g} hosted and {latest.loc['devices', 'median']:g} remote instances")
    _layout(fig, title, "week (UTC, starting Monday)", "count per instance",
            "Users, projects and devices per instance: median (solid) and 90th percentile (dashed)")
    weekly_axis(fig, fleet_size_weekly["week"])
    mark_partial_week(fig, last_day)
    return Chart("fleet_size", fig, fleet_size_weekly)


def platform_share(ctx: Context, platform_weekly: pd.DataFrame, dimension: str, title: str) -> Chart:
    """Share of weekly active instances by one platform dimension (os_type, os_arch, nodejs_major)."""
    part = platform_weekly[platform_weekly["dimension"] == dimension].drop(columns="dimension")
    part = ctx.fold(part, "week", "value")
    if part.empty:
        return nothing(f"platform_{dimension}", ctx.suppressed(f"reported a {dimension}"))
    return share_area(part, "week", "value", _top_share_finding(part, "week", "value", ctx.last_day, title),
                      f"platform_{dimension}", last_day=ctx.last_day, subtitle=title)


def nodejs_majors(ctx: Context, platform_weekly: pd.DataFrame, nodejs_releases: pd.DataFrame) -> Chart:
    """Node.js major lines in use, with each line's end-of-life date marked."""
    part = platform_weekly[platform_weekly["dimension"] == "nodejs_major"].drop(columns="dimension")
    part = ctx.fold(part, "week", "value")
    if part.empty:
        return nothing("nodejs_majors", ctx.suppressed("reported a Node.js version"))
    order = sorted(part["value"].unique(), key=lambda v: (not str(v).isdigit(), int(v) if str(v).isdigit() else 0, str(v)))
    latest = _latest_complete(part, "week", ctx.last_day)
    eol = nodejs_releases[nodejs_releases["end_of_life"] <= (ctx.last_day or pd.Timestamp.max)]
    past = latest[latest["value"].astype(str).isin(eol["major"].astype(str))]
    title = (f"{_pct(past['share'].sum())} of active instances run a Node.js line past its end of life"
             if len(latest) else "Node.js major lines")
    chart = share_area(part, "week", "value", title, "nodejs_majors", order=order, last_day=ctx.last_day,
                       subtitle="Node.js major lines in use; end-of-life dates marked")
    lo, hi = part["week"].min(), part["week"].max()
    shown = [r for _, r in nodejs_releases.iterrows()
             if str(r["major"]) in set(map(str, order)) and lo <= r["end_of_life"] <= hi + pd.Timedelta(days=7)]
    for i, row in enumerate(shown):
        _marker(chart.figure, row["end_of_life"], f"Node {row['major']} EOL", color="firebrick", row=i)
    return chart


# ---- 02 versions -----------------------------------------------------------------------------------

def _minor_key(v: str) -> tuple:
    """Sort key for 'X.Y' lines: numeric, with 'unknown'/'other' last."""
    m = re.match(r"^(\d+)\.(\d+)$", str(v))
    return (0, int(m.group(1)), int(m.group(2))) if m else (1, 0, 0)


def version_groups(adoption: pd.DataFrame, named: int) -> pd.DataFrame:
    """Label each version row: the newest `named` minor lines by name, older ones 'N.x older', 'dev builds', 'unknown'."""
    df = adoption.copy()
    dev = df["version"].str.contains("-", regex=False)
    known = df["version_minor"].map(lambda v: _minor_key(v)[0] == 0)
    lines = sorted(df.loc[known & ~dev, "version_minor"].unique(), key=_minor_key)
    newest = set(lines[-named:]) if named > 0 else set()
    major = df["version_minor"].str.split(".").str[0]
    df["line"] = (major + ".x older").where(known, "unknown")
    df.loc[df["version_minor"].isin(newest), "line"] = df["version_minor"]
    df.loc[dev, "line"] = "dev builds"
    return df


def _line_order(lines) -> list[str]:
    """Order version groups: older majors first, then named lines oldest to newest, then the rest."""
    def key(v):
        m = re.match(r"^(\d+)\.x older$", v)
        if m:
            return (0, int(m.group(1)), -1)
        k = _minor_key(v)
        return (0, k[1], k[2]) if k[0] == 0 else (1, {"unknown": 0, OTHER: 1, "dev builds": 2}.get(v, 3), 0)
    return sorted(lines, key=key)


def version_colours(lines) -> dict:
    """Graded colours: one ramp per major, 'N.x older' lightest, named lines darker as they get newer."""
    out = {}
    by_major: dict[int, list[str]] = {}
    for v in lines:
        m = re.match(r"^(\d+)\.(?:x older|\d+)$", v)
        if m:
            by_major.setdefault(int(m.group(1)), []).append(v)
    for major, members in by_major.items():
        ramp = MAJOR_RAMPS[major % len(MAJOR_RAMPS)]
        named = [v for v in _line_order(members) if not v.endswith("older")]
        for v in members:
            if v.endswith("older"):
                out[v] = ramp[1]
        for v, c in zip(named, _graded(ramp[2], ramp[-1], len(named))):   # oldest lightest, newest darkest
            out[v] = c
    return out


def _graded(light: str, dark: str, n: int) -> list[str]:
    """Return n colours evenly spaced from light to dark (hex in, 'rgb(...)' out; dark alone for n = 1)."""
    from plotly.colors import find_intermediate_color, hex_to_rgb

    lo, hi = hex_to_rgb(light), hex_to_rgb(dark)
    steps = [1.0] if n == 1 else [i / (n - 1) for i in range(n)]
    return ["rgb({:.0f}, {:.0f}, {:.0f})".format(*find_intermediate_color(lo, hi, t)) for t in steps]


def uptake_finding(uptake: pd.DataFrame) -> str | None:
    """Return '2.33 reached 75 % of active instances in 52 days' for the newest line that reached a share."""
    if uptake is None or uptake.empty:
        return None
    for _, row in uptake.sort_values("version", key=lambda s: s.map(_minor_key), ascending=False).iterrows():
        for pct in (75, 50, 25):
            days = row.get(f"days_to_{pct}pct")
            if days is not None and not pd.isna(days):
                return f"{row['version']} reached {pct} % of active instances in {int(days)} days"
    return None


def version_lines(ctx: Context, adoption: pd.DataFrame, releases: pd.DataFrame, named: int = 8,
                  uptake: pd.DataFrame | None = None, weeks: int = 52) -> Chart:
    """Share of weekly active instances over the last `weeks` weeks: the newest minor lines by name,
    older ones by major, dev builds apart."""
    if adoption.empty:
        return nothing("version_lines", "No instance reported a FlowForge version in this date range.")
    if weeks:
        adoption = adoption[adoption["week"] > adoption["week"].max() - pd.Timedelta(weeks=weeks)]
    df = version_groups(adoption, named)
    weekly = df.groupby(["week", "line"], as_index=False)[["instances", "share"]].sum()
    weekly = ctx.fold(weekly, "week", "line")
    order = _line_order(weekly["line"].unique())
    title = uptake_finding(uptake) or _top_share_finding(weekly, "week", "line", ctx.last_day, "FlowForge minor lines")
    chart = share_area(weekly, "week", "line", title, "version_lines", order=order, last_day=ctx.last_day,
                       subtitle=f"The last {weeks} weeks: the newest {named} minor lines by name, older lines by"
                       " major, development builds apart; release dates marked", colours=version_colours(order))
    lo, hi = weekly["week"].min(), weekly["week"].max()
    firsts = releases[releases["version"].str.endswith(".0")]
    shown = [r for _, r in firsts.iterrows()
             if r["version"].rsplit(".", 1)[0] in set(order) and lo <= r["released_on"] <= hi]
    for i, row in enumerate(shown):
        _marker(chart.figure, row["released_on"], row["version"].rsplit(".", 1)[0], row=i)
    return chart


def patch_mix(ctx: Context, adoption: pd.DataFrame, lines: int = 3) -> Chart:
    """Patch versions within the newest minor lines, as instances per week (markers: a new patch shows)."""
    df = adoption[~adoption["version"].str.contains("-", regex=False) & (adoption["version_minor"] != "unknown")]
    newest = sorted(df["version_minor"].unique(), key=_minor_key)[-lines:]
    part = df[df["version_minor"].isin(newest)][["week", "version", "instances"]]
    part = ctx.fold(part, "week", "version")
    if part.empty:
        return nothing("patch_mix", ctx.suppressed("ran one of the newest minor lines"))
    order = sorted(part["version"].unique(), key=lambda v: (v == OTHER, [int(x) if x.isdigit() else 0
                                                                          for x in str(v).split(".")]))
    latest = _latest_complete(part[part["version"] != OTHER], "week", ctx.last_day)
    title = "Patch versions of the newest minor lines"
    if len(latest):
        top = latest.sort_values("instances", ascending=False).iloc[0]
        title = f"{top['version']} is the most run patch version: {int(top['instances']):,} instances"
    return count_lines(part, "week", "version", title, "patch_mix", y_label="weekly active instances",
                       last_day=ctx.last_day, order=order,
                       colours={v: PALETTE[i % len(PALETTE)] if v != OTHER else GREY for i, v in enumerate(order)},
                       subtitle=f"Instances per week on each patch version of the newest {lines} minor lines")


def release_uptake(uptake: pd.DataFrame, last: int = 16) -> Chart:
    """Days from each minor release until 25/50/75% of weekly active instances ran it or newer."""
    if uptake.empty:
        return nothing("release_uptake", "No minor release fell in this date range.")
    df = uptake.sort_values("version", key=lambda s: s.map(_minor_key)).tail(last).copy()
    fig = go.Figure()
    for col, label, c in (("days_to_25pct", "25 %", PALETTE[4]), ("days_to_50pct", "50 %", PALETTE[0]),
                          ("days_to_75pct", "75 %", PALETTE[6])):
        fig.add_trace(go.Bar(x=df["version"], y=df[col], name=label, marker_color=c,
                             hovertemplate="%{x}: " + label + " after %{y} days<extra></extra>"))
    med = df["days_to_50pct"].median()
    title = (f"Half the fleet runs a new minor line (or newer) {med:.0f} days after release (median of the last {len(df)})"
             if not pd.isna(med) else "Upgrade velocity")
    _layout(fig, title, "minor release", "days after release",
            "Days from release until 25, 50 and 75 % of weekly active instances ran it or newer; no bar: not reached yet")
    fig.update_layout(barmode="group", hovermode="closest")
    fig.update_xaxes(type="category")
    whole_numbers(fig, df[["days_to_25pct", "days_to_50pct", "days_to_75pct"]].max().max())
    return Chart("release_uptake", fig, df)


def dev_builds(ctx: Context, adoption: pd.DataFrame) -> Chart:
    """Instances running development builds (a version with a pre-release suffix such as -git)."""
    df = adoption[adoption["version"].str.contains("-", regex=False)]
    weekly = df.groupby("week", as_index=False)[["instances", "share"]].sum()
    if ctx.min_count > 1:
        weekly = weekly[weekly["instances"] >= ctx.min_count]
    if weekly.empty:
        return nothing("dev_builds", ctx.suppressed("ran a development build"))
    fig = go.Figure(go.Bar(x=weekly["week"], y=weekly["instances"], customdata=weekly[["share"]],
                           marker_color=colour("dev builds"),
                           hovertemplate="%{y:,} instances (%{customdata[0]:.1%})<extra></extra>"))
    latest = _latest_complete(weekly, "week", ctx.last_day).iloc[-1]
    _layout(fig, f"{int(latest['instances']):,} instances ({_pct(latest['share'], 1)}) ran development builds"
            f" in the week of {pd.Timestamp(latest['week']):%d %b %Y}", "week (UTC, starting Monday)",
            "weekly active instances", "Instances whose version carries a pre-release suffix such as -git")
    whole_numbers(fig, weekly["instances"].max())
    weekly_axis(fig, weekly["week"])
    mark_partial_week(fig, ctx.last_day)
    return Chart("dev_builds", fig, weekly)


# ---- 03 drivers / 04 licences ------------------------------------------------------------------

def mix_share(ctx: Context, mix: pd.DataFrame, column: str, title: str, name: str) -> Chart:
    """Weekly share by one category column (driver, license_type)."""
    part = ctx.fold(mix, "week", column)
    if part.empty:
        return nothing(name, ctx.suppressed(f"reported a {column}"))
    return share_area(part, "week", column, _top_share_finding(part, "week", column, ctx.last_day, title), name,
                      last_day=ctx.last_day, subtitle=title)


def mix_counts(ctx: Context, mix: pd.DataFrame, column: str, title: str, name: str) -> Chart:
    """Weekly instance counts by one category column."""
    part = ctx.fold(mix, "week", column)
    if part.empty:
        return nothing(name, ctx.suppressed(f"reported a {column}"))
    latest = _latest_complete(part[part[column] != OTHER], "week", ctx.last_day)
    finding = title
    if len(latest) >= 1:
        top = latest.sort_values("instances", ascending=False).iloc[0]
        finding = f"{top[column]}: {int(top['instances']):,} instances, week of {pd.Timestamp(top['week']):%d %b %Y}"
    return count_lines(part, "week", column, finding, name, y_label="weekly active instances",
                       last_day=ctx.last_day, subtitle=title)


def _stacked_periods(df: pd.DataFrame, period: str, category: str, period_name: str, title: str, subtitle: str,
                     name: str, names=None) -> Chart:
    """Stacked bars of instances per period and category, with a total label on top of each bar."""
    fig = go.Figure()
    for cat in sorted(df[category].unique(), key=lambda c: (c == OTHER, str(c))):
        part = df[df[category] == cat]
        fig.add_trace(go.Bar(x=part[period], y=part["instances"], name=(names or {}).get(cat, str(cat)),
                             marker_color=colour(cat),
                             hovertemplate="%{fullData.name}: %{y:,} instances<extra></extra>"))
    totals = df.groupby(period, as_index=False)["instances"].sum()
    fig.add_trace(go.Scatter(x=totals[period], y=totals["instances"], mode="text", text=totals["instances"],
                             textposition="top center", showlegend=False, hoverinfo="skip"))
    fig.update_layout(barmode="stack", hovermode="closest")
    fmt = {"month": "%b %Y", "quarter": "Q%q %Y", "year": "%Y"}[period_name]
    _layout(fig, title, f"{period_name} (UTC)", "instances", subtitle)
    fig.update_layout(hovermode="closest")
    fig.update_xaxes(tickformat=fmt, dtick={"month": "M1", "quarter": "M3", "year": "M12"}[period_name]
                     if len(totals) <= 24 else None)
    whole_numbers(fig, totals["instances"].max() * 1.15)
    return Chart(name, fig, df)


def transitions(ctx: Context, df: pd.DataFrame, dimension: str, title: str, name: str, what: str) -> Chart:
    """Instances changing one dimension per month (per quarter or year when no month reaches k)."""
    df = df[df["dimension"] == dimension]
    df = df.assign(change=df["from_value"].astype(str) + " → " + df["to_value"].astype(str))
    shown, period = fold_coarsening(df[["month", "change", "instances"]], "month", "change", ctx.min_count)
    if shown.empty:
        return nothing(name, ctx.suppressed(what, "month, quarter or year"), shown)
    top = shown[shown["change"] != OTHER].groupby("change")["instances"].sum().sort_values(ascending=False)
    finding = f"Most common change: {top.index[0]} ({int(top.iloc[0]):,} instances)" if len(top) else title
    return _stacked_periods(shown, "month", "change", period, finding, f"{title}, per {period}", name)


def trials_ended(ctx: Context, df: pd.DataFrame) -> Chart:
    """Trial licences that ended per month (quarter, year), by what they became."""
    ended = df[(df["dimension"] == "license_type") & (df["from_value"] == "TRIAL")]
    ended = ended.assign(became=ended["to_value"].astype(str))[["month", "became", "instances"]]
    shown, period = fold_coarsening(ended, "month", "became", ctx.min_count)
    if shown.empty:
        return nothing("trials_ended", ctx.suppressed("ended a trial", "month, quarter or year"), shown)
    by = shown.groupby("became")["instances"].sum().sort_values(ascending=False)
    total = int(by.sum())
    finding = f"{total:,} trials ended: " + ", ".join(
        f"{_pct(n / total)} became {b}" if b != OTHER else f"{_pct(n / total)} other" for b, n in by.items())
    return _stacked_periods(shown, "month", "became", period, finding,
                            f"Trial licences that ended per {period}, by the licence they became", "trials_ended",
                            names={b: f"became {b}" for b in by.index if b != OTHER})


def conversions(ctx: Context, df: pd.DataFrame) -> Chart:
    """CE instances that became EE, per month (quarter, year)."""
    ce_ee = df[(df["dimension"] == "license_type") & (df["from_value"] == "CE") & (df["to_value"] == "EE")]
    ce_ee = ce_ee.assign(change="CE → EE")[["month", "change", "instances"]]
    shown, period = fold_coarsening(ce_ee, "month", "change", ctx.min_count)
    if shown.empty:
        return nothing("ce_to_ee", ctx.suppressed("converted from CE to EE", "month, quarter or year"), shown)
    return _stacked_periods(shown, "month", "change", period,
                            f"{int(shown['instances'].sum()):,} CE instances became EE",
                            f"CE to EE conversions per {period}", "ce_to_ee")


# ---- 05 data quality ---------------------------------------------------------------------------

#: quarantine reasons whose rows carry no readable receive time (dated by their load day instead)
NO_TIME_REASONS = {"not_json", "not_object", "received_at_missing", "received_at_unparseable",
                   "csv_malformed", "received_at_out_of_range"}


def _short(path: str) -> str:
    """Return a path's last two components (enough to name a file within its source)."""
    parts = Path(str(path)).parts
    return str(Path(*parts[-2:])) if len(parts) >= 2 else str(path)


def source_summary(source_status: pd.DataFrame) -> pd.DataFrame:
    """One row per source: rows read, loaded, duplicates, quarantined, pending, files in trouble, last load."""
    out = status.by_source(source_status).rename(columns={"last_loaded_at": "last_loaded_utc"})
    out["last_loaded_utc"] = pd.to_datetime(out["last_loaded_utc"]).dt.strftime("%Y-%m-%d %H:%M")
    return out


def files_in_trouble(source_status: pd.DataFrame) -> pd.DataFrame:
    """Only the files or tables in trouble: changed, failed or waiting on a torn tail, worst first."""
    df = source_status[status.in_trouble(source_status)]
    df = df.assign(item=df["item"].map(_short), message=df["message"].fillna(""))
    cols = ["source", "item", "status", "pending", "rows_read", "loaded", "quarantined", "message"]
    return df.sort_values(["status", "pending"], ascending=[False, False])[cols]


def rows_per_source(source_daily: pd.DataFrame, last_day=None) -> Chart:
    """Pings landed per source and week (each ping counted for the source it first came from)."""
    if source_daily.empty:
        return nothing("rows_per_source", "No ping was loaded in this date range.")
    df = source_daily.assign(source=source_daily["source"].map(lambda s: Path(s).name or s),
                             week=source_daily["day"] - pd.to_timedelta(source_daily["day"].dt.dayofweek, unit="D"))
    weekly = df.groupby(["week", "source"], as_index=False)["pings"].sum()
    by = weekly.groupby("source")["pings"].sum().sort_values(ascending=False)
    title = f"{int(by.sum()):,} pings loaded; {by.index[0]} supplied {_pct(by.iloc[0] / by.sum())} first"
    return count_lines(weekly, "week", "source", title, "rows_per_source", y="pings",
                       y_label="pings (UTC week received)", last_day=last_day,
                       subtitle="Pings landed per source and week; a ping counts for the source it first came from")


def quarantine_split(quarantine_daily: pd.DataFrame, first_day=None, last_day=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split quarantined rows into (dated by their own time, weekly) and (no readable time, per reason)."""
    df = quarantine_daily
    outside = pd.Series(False, index=df.index)
    if first_day is not None and last_day is not None:
        outside = (df["day"] < pd.Timestamp(first_day)) | (df["day"] > pd.Timestamp(last_day))
    untimed = df["reason"].isin(NO_TIME_REASONS) | outside
    timed = df[~untimed].assign(week=lambda d: d["day"] - pd.to_timedelta(d["day"].dt.dayofweek, unit="D"))
    weekly = timed.groupby(["week", "reason"], as_index=False)["rows"].sum()
    apart = df[untimed].groupby("reason", as_index=False)["rows"].sum().sort_values("rows", ascending=False)
    return weekly, apart


def quarantine_reasons(quarantine_daily: pd.DataFrame, first_day=None, last_day=None) -> Chart:
    """Quarantined rows per week, one small panel per reason with its own scale (small counts visible)."""
    weekly, apart = quarantine_split(quarantine_daily, first_day, last_day)
    if weekly.empty:
        return nothing("quarantine_reasons", "No row with a readable time was quarantined in this date range"
                       + (f" ({int(apart['rows'].sum()):,} rows without one are listed below)." if len(apart) else "."),
                       weekly)
    reasons = weekly.groupby("reason")["rows"].sum().sort_values(ascending=False)
    fig = make_subplots(rows=len(reasons), cols=1, shared_xaxes=True, vertical_spacing=min(0.1, 0.4 / len(reasons)),
                        subplot_titles=[f"{r} ({int(n):,} rows)" for r, n in reasons.items()])
    for i, reason in enumerate(reasons.index, start=1):
        part = weekly[weekly["reason"] == reason]
        fig.add_trace(go.Bar(x=part["week"], y=part["rows"], name=reason, marker_color=colour(reason),
                             width=WEEK_MS * 0.8, marker_line_width=1.5, marker_line_color=colour(reason),
                             hovertemplate=reason + ": %{y:,} rows<extra></extra>"), row=i, col=1)
        whole_numbers(fig, part["rows"].max(), row=i, col=1)
        fig.update_yaxes(nticks=3, row=i, col=1)
    total = int(reasons.sum())
    _layout(fig, f"{total:,} rows with a readable time quarantined; {_pct(reasons.iloc[0] / total)} {reasons.index[0]}",
            "", "", "Quarantined rows per week (UTC, by the row's own time), one panel per reason, each on its own scale")
    fig.update_layout(height=180 + 130 * len(reasons), showlegend=False, margin=dict(t=120))
    fig.update_xaxes(title_text="week (UTC, starting Monday)", row=len(reasons), col=1)
    weekly_axis(fig, weekly["week"])
    return Chart("quarantine_reasons", fig, weekly)


def clones(ctx: Context, clones_daily: pd.DataFrame) -> Chart:
    """Instances seen from several keyed IP hashes on one day (clones or address changes)."""
    if clones_daily.empty or clones_daily["several_ip_hashes"].sum() == 0:
        return nothing("clones", "No instanceId sent from several IP hashes on one day in this date range.")
    fig = go.Figure(go.Scatter(x=clones_daily["day"], y=clones_daily["several_ip_hashes"],
                               mode=_mode(len(clones_daily)), customdata=clones_daily[["instances"]],
                               line=dict(color=PALETTE[5]),
                               hovertemplate="%{y:,} of %{customdata[0]:,} active instances<extra></extra>"))
    days = int((clones_daily["several_ip_hashes"] > 0).sum())
    _layout(fig, f"On {days:,} of {len(clones_daily):,} days some instanceId sent from several IP hashes (max "
            f"{int(clones_daily['several_ip_hashes'].max()):,})", "day (UTC)", "instances",
            "InstanceIds sending from several keyed IP hashes in one day: cloned installs or address changes")
    whole_numbers(fig, clones_daily["several_ip_hashes"].max())
    return Chart("clones", fig, clones_daily)


def pings_per_day(pings_per_instance_day: pd.DataFrame) -> Chart:
    """How many instance-days carried 1, 2, 3... pings (log axis: the rare counts stay visible)."""
    df = pings_per_instance_day.sort_values("pings")
    if df.empty:
        return nothing("pings_per_instance_day", "No instance-day in this date range.")
    total = df["instance_days"].sum()
    fig = go.Figure(go.Bar(x=df["pings"].astype(str), y=df["instance_days"], marker_color=PALETTE[0],
                           customdata=(df["instance_days"] / total).to_frame(),
                           text=df["instance_days"].map("{:,}".format), textposition="outside",
                           hovertemplate="%{x} pings: %{y:,} instance-days (%{customdata[0]:.2%})<extra></extra>"))
    one = df.loc[df["pings"] == 1, "instance_days"].sum() / total
    _layout(fig, f"{_pct(one, 1)} of instance-days carry one ping; restarts add the rest", "pings in the day",
            "instance-days (log scale)", "Instance-days by the number of pings they carried (log scale)")
    fig.update_layout(hovermode="closest")
    fig.update_yaxes(type="log", tickformat=",d", dtick=1)
    fig.update_xaxes(type="category")
    return Chart("pings_per_instance_day", fig, df)


def recent_alerts(alerts: pd.DataFrame | None, last_day, days: int = 28) -> pd.DataFrame:
    """Return the alerts of the last `days` days of data, newest first, with `open` marking the last day's."""
    cols = ["open", "checked_day", "check", "subject", "value", "expected_low", "expected_high", "severity"]
    if alerts is None or alerts.empty:
        return pd.DataFrame(columns=cols)
    latest = pd.Timestamp(last_day) if last_day is not None else alerts["checked_day"].max()
    out = alerts[alerts["checked_day"] > latest - pd.Timedelta(days=days)]
    out = out.assign(open=(out["checked_day"] >= latest).map({True: "open", False: ""}),
                     checked_day=out["checked_day"].dt.strftime("%Y-%m-%d"))
    return out.sort_values(["checked_day", "severity"], ascending=[False, True])[[c for c in cols if c in out]]


def alerts_by_check(alerts: pd.DataFrame | None) -> pd.DataFrame:
    """Return one row per check: alerts raised over the date range, the first and the last day."""
    if alerts is None or alerts.empty:
        return pd.DataFrame(columns=["check", "alerts", "subjects", "first_day", "last_day"])
    out = alerts.groupby("check", as_index=False).agg(alerts=("subject", "size"), subjects=("subject", "nunique"),
                                                       first_day=("checked_day", "min"), last_day=("checked_day", "max"))
    for col in ("first_day", "last_day"):
        out[col] = out[col].dt.strftime("%Y-%m-%d")
    return out.sort_values("last_day", ascending=False)


def new_payload_keys(payload_keys: pd.DataFrame, last_day, days: int = 90, k: int = 0) -> pd.DataFrame:
    """Return the payload keys first seen in the last `days` days of data, newest first (small counts hidden)."""
    if payload_keys is None or payload_keys.empty:
        return pd.DataFrame(columns=["key", "first_day", "last_day", "pings", "instances"])
    since = (pd.Timestamp(last_day) if last_day is not None else payload_keys["first_day"].max()) - pd.Timedelta(days=days)
    out = payload_keys[payload_keys["first_day"] > since].sort_values(["first_day", "key"], ascending=[False, True])
    out = out.assign(first_day=out["first_day"].dt.strftime("%Y-%m-%d"), last_day=out["last_day"].dt.strftime("%Y-%m-%d"))
    if k > 1 and "instances" in out:
        out["instances"] = hide_small(out["instances"].astype("Int64"), k).map(
            lambda v: f"fewer than {k}" if pd.isna(v) else f"{int(v):,}")
    return out[[c for c in ("key", "first_day", "last_day", "pings", "instances") if c in out]]


# ---- 06 growth and adoption --------------------------------------------------------------------

def _missing(name: str, mart: str) -> Chart:
    """Return the sentence for a chart whose mart this parquet set does not have."""
    return nothing(name, f"The {mart} mart is not in this parquet set yet: run `make refresh` with the current"
                         " version to build it.")


def growth_bands(ctx: Context, growth: pd.DataFrame | None) -> Chart:
    """Week-on-week growth of weekly active instances (all and core) against FlowFuse's bands."""
    if growth is None:
        return _missing("growth_bands", "growth_weekly")
    df = growth[growth["wow_growth"].notna()].sort_values("week")
    if df.empty:
        return nothing("growth_bands", "Fewer than two complete weeks in this date range: no week-on-week growth yet.")
    fig = go.Figure()
    lo = min(df["wow_growth"].min(), df.get("wow_growth_core", df["wow_growth"]).min(), -0.02)
    hi = max(df["wow_growth"].max(), df.get("wow_growth_core", df["wow_growth"]).max(), 0.08)
    bounds = [hi + 0.01] + [b for b, _, _ in BANDS[:-1]] + [lo - 0.01]
    for (low, name, c), top, bottom in zip(BANDS, bounds[:-1], bounds[1:]):
        fig.add_hrect(y0=bottom, y1=top, fillcolor=c, opacity=0.10, line_width=0, layer="below")
    band = (df["band"] if "band" in df else df["wow_growth"].map(band_of)).astype(str)
    for _, name, c in BANDS:   # one bar trace per band: the legend names the colours
        part = df[band.str.lower() == name]
        if len(part):
            fig.add_trace(go.Bar(x=part["week"], y=part["wow_growth"], name=name, marker_color=c,
                                 width=WEEK_MS * 0.8, customdata=part[["active"]],
                                 hovertemplate="all: %{y:+.1%} (%{customdata[0]:,} active, " + name + ")<extra></extra>"))
    if "wow_growth_core" in df:
        fig.add_trace(go.Scatter(x=df["week"], y=df["wow_growth_core"], name="core (without excluded)",
                                 mode=_mode(len(df)), line=dict(color="#222222", width=1.5), marker=dict(size=5),
                                 hovertemplate="core: %{y:+.1%}<extra></extra>"))
    last = df.iloc[-1].to_dict()
    _layout(fig, growth_title(last, "Week-on-week growth"), "week (UTC, starting Monday)", "growth on the week before",
            "Weekly active instances against the week before; bands: ≥ 6 % exceptional, 4–6 % strong, 2–4 % "
            "sustainable, 1–2 % okay, ≤ 1 % not acceptable")
    fig.update_yaxes(tickformat="+.0%", range=[lo - 0.01, hi + 0.01])
    fig.update_layout(barmode="overlay", legend_traceorder="normal")
    weekly_axis(fig, df["week"])
    return Chart("growth_bands", fig, df)


def active_all_core(ctx: Context, growth: pd.DataFrame | None) -> Chart:
    """Weekly active instances, all and core (without dev builds, single-day instances and clones)."""
    if growth is None:
        return _missing("active_all_core", "growth_weekly")
    if growth.empty:
        return nothing("active_all_core", "No instance was active in this date range.")
    df = growth.sort_values("week")
    fig = go.Figure()
    for col, label in (("active", "all"), ("active_core", "core")):
        if col in df:
            fig.add_trace(go.Scatter(x=df["week"], y=df[col], name=label, mode=_mode(len(df)),
                                     line=dict(color=colour(label)),
                                     hovertemplate=label + ": %{y:,} instances<extra></extra>"))
    last = _latest_complete(df, "week", ctx.last_day).iloc[-1]
    title = f"{int(last['active']):,} instances active in the week of {pd.Timestamp(last['week']):%d %b %Y}"
    if "active_core" in df:
        title += f", {int(last['active_core']):,} without excluded ones"
    _layout(fig, title, "week (UTC, starting Monday)", "weekly active instances",
            "All instances, and core: without development builds, one-day instances and clones")
    whole_numbers(fig, df["active"].max())
    weekly_axis(fig, df["week"])
    mark_partial_week(fig, ctx.last_day)
    return Chart("active_all_core", fig, df)


def fleet_changes(ctx: Context, changes: pd.DataFrame | None) -> Chart:
    """Instances added (first seen) and removed (last ping, then 28 days silent) per day."""
    if changes is None:
        return _missing("fleet_changes", "fleet_changes_daily")
    changes = after_first_week(changes, "day", ctx.data_first_day)
    if changes.empty:
        return nothing("fleet_changes", "No instance was added or removed in this date range.")
    df = changes.sort_values("day")
    known = df[df["removed"].notna()]
    recent = known[known["day"] > known["day"].max() - pd.Timedelta(days=90)] if len(known) else known
    title = "Instances added and removed"
    if len(recent):
        title = (f"{int(recent['added'].sum()):,} added and {int(recent['removed'].sum()):,} removed in the 90 days"
                 f" to {pd.Timestamp(recent['day'].max()):%d %b %Y}")
    # over more than ~4 months, daily bars are too thin to read: sum them per week (Monday start)
    period = "day" if (df["day"].max() - df["day"].min()).days <= 120 else "week"
    shown = df
    if period == "week":
        shown = (df.assign(week=df["day"] - pd.to_timedelta(df["day"].dt.dayofweek, unit="D"))
                 .groupby("week", as_index=False).agg(added=("added", "sum"), removed=("removed", "sum"),
                                                      days_known=("removed", "count"))
                 .rename(columns={"week": "day"}))
    fig = go.Figure()
    fig.add_trace(go.Bar(x=shown["day"], y=shown["added"], name="added (first seen)", marker_color=colour("added"),
                         hovertemplate="added: %{y:,}<extra></extra>"))
    fig.add_trace(go.Bar(x=shown["day"], y=-shown["removed"], name="removed (silent 28 days since)",
                         marker_color=colour("removed"), customdata=shown[["removed"]],
                         hovertemplate="removed: %{customdata[0]:,}<extra></extra>"))
    _layout(fig, title, "day (UTC)" if period == "day" else "week (UTC, starting Monday)",
            f"instances per {period} (removed below 0)",
            "Added: first ping. Removed: last ping, then silent for 28 days (not known yet for the last 28 days)."
            + (" Daily figures summed per week." if period == "week" else "") + " " + FIRST_WEEK_NOTE)
    fig.update_layout(barmode="relative", bargap=0.1)
    whole_numbers(fig, None)
    fig.update_yaxes(rangemode="normal")
    if period == "week":
        weekly_axis(fig, shown["day"])
    if len(known):
        fig.add_vrect(x0=known["day"].max(), x1=df["day"].max(), fillcolor=PARTIAL_FILL, line_width=0)
        fig.add_annotation(x=known["day"].max(), y=1.0, yref="paper", yanchor="bottom", xanchor="right",
                           text="removals not known yet →", showarrow=False, font=dict(size=10, color="gray"))
    return Chart("fleet_changes", fig, df)


TOTAL_METRICS = {"hosted_instances": "hosted instances (projects)", "remote_instances": "remote instances (devices)",
                 "devices_seen_last_day": "devices seen in the last day", "devices_never_connected": "devices never connected",
                 "suspended_projects": "suspended projects"}


def fleet_totals(ctx: Context, totals: pd.DataFrame | None) -> Chart:
    """Summed hosted and remote instances over the week's active instances (licence type ALL)."""
    if totals is None:
        return _missing("fleet_totals", "fleet_totals_weekly")
    df = totals[(totals["license_type"] == "ALL") & totals["metric"].isin(list(TOTAL_METRICS))]
    if ctx.min_count > 1:
        df = df[df["instances"] >= ctx.min_count]
    if df.empty:
        return nothing("fleet_totals", ctx.suppressed("reported hosted or remote instances"))
    df = df.assign(series=df["metric"].map(TOTAL_METRICS))
    order = [TOTAL_METRICS[m] for m in TOTAL_METRICS if m in set(df["metric"])]
    latest = _latest_complete(df, "week", ctx.last_day).set_index("metric")
    title = "Hosted and remote instances"
    if {"hosted_instances", "remote_instances"} <= set(latest.index):
        title = (f"{int(latest.loc['hosted_instances', 'total']):,} hosted and "
                 f"{int(latest.loc['remote_instances', 'total']):,} remote instances, week of "
                 f"{pd.Timestamp(latest['week'].iloc[0]):%d %b %Y}")
    return count_lines(df.rename(columns={"total": "summed"}), "week", "series", title, "fleet_totals", y="summed",
                       y_label="summed over active instances", last_day=ctx.last_day, order=order,
                       subtitle="Summed over the week's active instances, each in its latest state that week"
                       " (instances whose pings lack a key do not count as 0)")


def feature_adoption(ctx: Context, adoption: pd.DataFrame | None) -> Chart:
    """Share of reporting instances that use each feature, weekly, whole fleet (licence type ALL)."""
    if adoption is None:
        return _missing("feature_adoption", "feature_adoption_weekly")
    df = adoption[adoption["license_type"] == "ALL"]
    if ctx.min_count > 1:
        df = df[df["adopters"] >= ctx.min_count]
    if df.empty:
        return nothing("feature_adoption", ctx.suppressed("used a feature"))
    fig = go.Figure()
    latest = _latest_complete(df, "week", ctx.last_day).sort_values("share", ascending=False)
    for feature in latest["feature"].tolist() + sorted(set(df["feature"]) - set(latest["feature"])):
        part = df[df["feature"] == feature].sort_values("week")
        fig.add_trace(go.Scatter(x=part["week"], y=part["share"], name=feature, mode=_mode(len(part)),
                                 line=dict(color=colour(feature)), customdata=part[["adopters", "instances"]],
                                 hovertemplate="%{fullData.name}: %{y:.1%} (%{customdata[0]:,} of %{customdata[1]:,})<extra></extra>"))
    title = "Feature adoption"
    if len(latest):
        top = latest.iloc[0]
        title = f"{top['feature']} is the most used feature: {_pct(top['share'])} of reporting instances"
    _layout(fig, title, "week (UTC, starting Monday)", "share of instances reporting the feature",
            "Share of active instances reporting a feature that use it (legend: most used first)", percent=True)
    weekly_axis(fig, df["week"])
    mark_partial_week(fig, ctx.last_day)
    return Chart("feature_adoption", fig, df)


def feature_by_license(ctx: Context, adoption: pd.DataFrame | None) -> Chart:
    """Feature adoption in the last complete week, by licence type (bars)."""
    if adoption is None:
        return _missing("feature_by_license", "feature_adoption_weekly")
    df = _latest_complete(adoption[adoption["license_type"] != "ALL"], "week", ctx.last_day)
    if ctx.min_count > 1:
        df = df[(df["adopters"] >= ctx.min_count) & (df["instances"] >= ctx.min_count)]
    if df.empty:
        return nothing("feature_by_license", ctx.suppressed("of one licence type used a feature"))
    fig = go.Figure()
    features = df.groupby("feature")["share"].max().sort_values(ascending=False).index.tolist()
    for lic in sorted(df["license_type"].unique()):
        part = df[df["license_type"] == lic].set_index("feature").reindex(features).reset_index()
        fig.add_trace(go.Bar(x=part["feature"], y=part["share"], name=lic, marker_color=colour(lic),
                             customdata=part[["adopters", "instances"]],
                             hovertemplate=lic + ": %{y:.1%} (%{customdata[0]:,} of %{customdata[1]:,})<extra></extra>"))
    week = pd.Timestamp(df["week"].iloc[0])
    gap = df.pivot_table(index="feature", columns="license_type", values="share")
    title = f"Feature adoption by licence type, week of {week:%d %b %Y}"
    if {"EE", "CE"} <= set(gap.columns):
        diff = (gap["EE"] - gap["CE"]).dropna().sort_values(ascending=False)
        if len(diff):
            title = (f"{diff.index[0]}: {_pct(gap.loc[diff.index[0], 'EE'])} of EE vs "
                     f"{_pct(gap.loc[diff.index[0], 'CE'])} of CE instances, week of {week:%d %b %Y}")
    _layout(fig, title, "feature", "share of instances reporting the feature",
            "Share of each licence type's reporting instances that use a feature (last complete week)", percent=True)
    fig.update_layout(barmode="group", hovermode="closest")
    return Chart("feature_by_license", fig, df)


# ---- 07 retention and upgrades -------------------------------------------------------------------

def retention_heatmap(ctx: Context, cohorts: pd.DataFrame | None, day28: pd.DataFrame | None = None) -> Chart:
    """Share of each monthly cohort active N months after it was first seen (cohorts under k hidden)."""
    if cohorts is None:
        return _missing("retention", "retention_cohorts")
    df = cohorts.copy()
    if ctx.min_count > 1:
        df = df[(df["cohort_size"] >= ctx.min_count) & (df["retained"] >= ctx.min_count)]
    if df.empty:
        return nothing("retention", ctx.suppressed("arrived", "month"))
    grid = df.pivot_table(index="cohort_month", columns="months_since", values="share").sort_index()
    sizes = df.groupby("cohort_month")["cohort_size"].first().reindex(grid.index)
    labels = [f"{pd.Timestamp(m):%b %Y} ({int(n):,})" for m, n in zip(grid.index, sizes)]
    text = grid.map(lambda v: "" if pd.isna(v) else f"{v * 100:.0f}")
    fig = go.Figure(go.Heatmap(z=grid.values, x=[int(c) for c in grid.columns], y=labels, zmin=0, zmax=1,
                               colorscale="Blues", text=text.values, texttemplate="%{text}", textfont_size=9,
                               colorbar=dict(title="retained", tickformat=".0%"), xgap=1, ygap=1,
                               hovertemplate="%{y}, month %{x}: %{z:.1%} active<extra></extra>"))
    title = "Retention by monthly cohort"
    if day28 is not None and not day28.empty and "retained_day_28" in day28:
        d = day28.copy()
        if "cohort_size" not in d:
            d = d.merge(df.groupby("cohort_month", as_index=False)["cohort_size"].first(), on="cohort_month")
        d = d[d["cohort_size"] > 0]
        if len(d):
            title = (f"{_pct(d['retained_day_28'].sum() / d['cohort_size'].sum())} of new instances are seen again"
                     " 28 days or more after their first ping")
    elif 1 in grid.columns:
        title = f"Median month-1 retention: {_pct(grid[1].median())}"
    _layout(fig, title, "months since first seen", "cohort: month first seen (size)",
            "Share of each cohort (month first seen, UTC) active in each later month; percent in each cell")
    fig.update_layout(hovermode="closest", height=max(420, 18 * len(grid) + 160))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(dtick=1 if grid.shape[1] <= 24 else 3)
    return Chart("retention", fig, df)


def upgrade_paths(ctx: Context, paths: pd.DataFrame | None, lines: int = 16) -> Chart:
    """From→to minor-line changes over the date range as a heatmap (downgrades below the diagonal)."""
    if paths is None:
        return _missing("upgrade_paths", "upgrade_paths_monthly")
    df = paths.groupby(["from_minor", "to_minor", "direction"], as_index=False)["instances"].sum()
    if ctx.min_count > 1:
        df = df[df["instances"] >= ctx.min_count]
    if df.empty:
        return nothing("upgrade_paths", ctx.suppressed("changed minor line", "date range"))
    known = sorted(set(df["from_minor"]) | set(df["to_minor"]), key=_minor_key)[-lines:]
    df = df[df["from_minor"].isin(known) & df["to_minor"].isin(known)]
    grid = df.pivot_table(index="from_minor", columns="to_minor", values="instances", aggfunc="sum")
    grid = grid.reindex(index=known, columns=known)
    fig = go.Figure(go.Heatmap(z=grid.values, x=known, y=known, colorscale="Oranges", xgap=1, ygap=1,
                               text=grid.map(lambda v: "" if pd.isna(v) else f"{int(v)}").values,
                               texttemplate="%{text}", textfont_size=9, colorbar=dict(title="instances"),
                               hovertemplate="%{y} → %{x}: %{z:,} instances<extra></extra>"))
    up = df[df["direction"] == "up"].sort_values("instances", ascending=False)
    down_total = int(paths.loc[paths["direction"] == "down", "instances"].sum())
    down = (f"{down_total:,} downgrades" if down_total >= max(ctx.min_count, 1) or down_total == 0
            else f"fewer than {ctx.min_count} downgrades")
    skipped = ""
    if "minors_skipped" in paths and len(paths):
        jumps = paths[paths["direction"] == "up"]
        share = jumps.loc[jumps["minors_skipped"] > 0, "instances"].sum() / max(1, jumps["instances"].sum())
        skipped = f"; {_pct(share)} of upgrades skip a line"
    title = (f"Most common upgrade: {up.iloc[0]['from_minor']} → {up.iloc[0]['to_minor']} "
             f"({int(up.iloc[0]['instances']):,} instances){skipped}; {down}") if len(up) else "Upgrade paths"
    _layout(fig, title, "to minor line", "from minor line",
            f"Changes of minor line between consecutive instance-days, the newest {lines} lines: upgrades right of"
            " the diagonal, downgrades left of it")
    fig.update_layout(hovermode="closest", height=620)
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    return Chart("upgrade_paths", fig, df)


def version_lag(ctx: Context, lag: pd.DataFrame | None) -> Chart:
    """Share of weekly active instances by how many minor lines they run behind the newest release."""
    if lag is None:
        return _missing("version_lag", "version_lag_weekly")
    df = lag.copy()
    df["lag"] = df["lag"].astype(str)
    numeric = pd.to_numeric(df["lag"], errors="coerce")
    df["behind"] = numeric.map(lambda v: "" if pd.isna(v) else ("newest line" if v == 0 else
                                                                 f"{int(v)} behind" if v < 4 else "4+ behind"))
    df.loc[numeric.isna(), "behind"] = df.loc[numeric.isna(), "lag"].map(
        lambda v: "dev builds" if v == "dev" else "unknown")
    weekly = df.groupby(["week", "behind"], as_index=False)[["instances", "share"]].sum()
    weekly = ctx.fold(weekly, "week", "behind")
    if weekly.empty:
        return nothing("version_lag", ctx.suppressed("reported a version"))
    order = [c for c in ("newest line", "1 behind", "2 behind", "3 behind", "4+ behind", "unknown", OTHER, "dev builds")
             if c in set(weekly["behind"])]
    ramp = MAJOR_RAMPS[1]
    colours = {"newest line": ramp[6], "1 behind": ramp[5], "2 behind": ramp[4], "3 behind": ramp[3],
               "4+ behind": ramp[2]}
    latest = _latest_complete(weekly, "week", ctx.last_day)
    newest = latest.loc[latest["behind"] == "newest line", "share"].sum()
    behind = latest.loc[latest["behind"].isin(["2 behind", "3 behind", "4+ behind"]), "share"].sum()
    title = (f"{_pct(newest)} of active instances run the newest minor line; {_pct(behind)} are 2 or more behind"
             if len(latest) else "Version lag")
    return share_area(weekly.rename(columns={"behind": "lag"}), "week", "lag", title, "version_lag", order=order,
                      last_day=ctx.last_day, colours=colours,
                      subtitle="Minor lines behind the newest release available that week")
