"""The chart kit every page uses: one palette, one layout, a few chart shapes, marks for gaps and releases.

A page module (pipelines/publish/pages/) builds a `Chart`: the finding (a title whose figures come
from marts, quoted through the Context), what is drawn, the plotly figure, and the exact rows it plots
(written beside the page as that chart's CSV). A chart with nothing to show has no figure and one
sentence saying why. Charts never compute a metric: they select rows of marts and draw them.

All dates are UTC; weeks start on Monday. At most eight series a chart, each its own colour from one
colour-blind-safe palette (Okabe-Ito), legends below the plot so a chart fits a 390 px phone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from . import fmt
from .suppress import Protected

TEMPLATE = "plotly_white"
#: plotly's toolbar without the cloud "share" button, the logo or the lasso/select tools
CONFIG = {"displaylogo": False, "responsive": True,
          "modeBarButtonsToRemove": ["sendChartToCloud", "sendDataToCloud", "editInChartStudio", "lasso2d",
                                     "select2d"]}
#: renderer in notebooks: JupyterLab draws the figure JSON with its own plotly (nothing heavy in outputs)
NOTEBOOK_RENDERER = "plotly_mimetype"
FEW_POINTS = 30          # a line with at most this many points gets markers
SPANS_NAMED = 2          # gaps and outages named under a chart's x axis, a line each (the rest counted)
WEEK_MS = 7 * 24 * 3600 * 1000   # a week's bar width on a date axis
MAX_SERIES = 8
TICK_STANDOFF = 6        # px between the x axis and its labels: the first date clears the y axis's "0" on a phone

#: Okabe-Ito: distinguishable with the common colour-vision deficiencies, on light and dark pages
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442"]
GREY, LIGHT_GREY = "#8C8C8C", "#BDBDBD"
#: categories that stand for a rest or an absence: greys, after the named ones
REST = {"other": GREY, "other lines": GREY, "unknown": LIGHT_GREY, "unreported": LIGHT_GREY}
#: what is not final yet (the week in progress, removals not known yet): a grey band with a dotted edge, at least
#: UNFINISHED_MIN_WIDTH of the drawn dates wide so one week shows on a chart of years (and in a phone's panel)
SHADE, UNFINISHED_MIN_WIDTH = "rgba(140, 140, 140, 0.32)", 0.03
#: gaps and outages: a yellow highlight, a hue no count or share on the pages means (the palette's yellow is its
#: last colour), named in words under the axis
GAP_SHADE, GAP_NAME = "rgba(240, 228, 66, 0.45)", "yellow"
GAP_MIN_WIDTH = 0.012    # of the drawn dates' range: a one-day outage stays visible at 390 px
#: FlowFuse's growth bands, best first (names from the growth_bands mart; colours from the palette, but "not
#: acceptable" a dark red: the palette's vermilion sat too close to okay's orange, so it differs in lightness too)
BAND_COLOURS = {"exceptional": "#0072B2", "strong": "#56B4E9", "sustainable": "#009E73", "okay": "#E69F00",
                "not acceptable": "#A50F15"}
AXIS = {"day": "day (UTC)", "week": "week (UTC, starting Monday)", "month": "month (UTC)"}
HOVER = {"day": "%-d %b %Y", "week": "week of %-d %b %Y", "month": "%b %Y"}


@dataclass
class Chart:
    """A finding, what is drawn, the figure and its rows (CSV); no figure: `note` says why in one sentence."""

    name: str
    title: str
    subtitle: str
    figure: go.Figure | None
    data: Protected
    note: str | None = None
    extra: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when there is nothing to draw and the note takes the chart's place."""
        return self.figure is None


def nothing(name: str, title: str, sentence: str, data: pd.DataFrame | None = None) -> Chart:
    """Return a chart whose place holds one sentence (its CSV says the same when there are no rows)."""
    rows = data if data is not None and len(data.columns) else pd.DataFrame({"note": [sentence]})
    return Chart(name, title, "", None, Protected(rows), sentence)


def colours(categories) -> dict:
    """Give each category its own colour: palette colours in order, greys for the rest and absences."""
    out, named = {}, 0
    for cat in categories:
        if str(cat) in REST:
            out[cat] = REST[str(cat)]
        else:
            out[cat] = PALETTE[named % len(PALETTE)]
            named += 1
    return out


def mode(points: int) -> str:
    """Lines with few points also draw markers, so a single week is visible."""
    return "lines+markers" if points <= FEW_POINTS else "lines"


def layout(fig: go.Figure, x: str, y: str, percent: bool = False, height: int = 420) -> go.Figure:
    """Apply the one layout: no title (the page prints the finding), legend below, axis labels, hover."""
    fig.update_layout(template=TEMPLATE, xaxis_title=x, yaxis_title=y, hovermode="x unified", height=height,
                      legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, xanchor="left", x=0,
                                  title_text=""),
                      margin=dict(t=24, r=12, b=40, l=56), colorway=PALETTE)
    fig.update_xaxes(ticklabelstandoff=TICK_STANDOFF)
    if percent:
        fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return fig


def dates(fig: go.Figure, period: str, **kw) -> go.Figure:
    """Label a date axis by its period (hover 'week of 23 Nov 2026'); plotly picks ticks that fit the width."""
    fig.update_xaxes(hoverformat=HOVER[period], type="date", **kw)
    return fig


def drawn_top(fig: go.Figure) -> float | None:
    """Return the highest value a figure's y axis must reach (stacked bars summed per x), None when nothing is drawn."""
    traces = [t for t in fig.data if getattr(t, "y", None) is not None and len(t.y)]
    if not traces:
        return None
    stacked = fig.layout.barmode in ("stack", "relative")
    parts = [pd.DataFrame({"x": list(t.x) if t.x is not None else range(len(t.y)),
                           "y": pd.to_numeric(pd.Series(t.y), errors="coerce").clip(lower=0)}) for t in traces]
    values = pd.concat(parts)
    top = values.groupby("x")["y"].sum().max() if stacked else values["y"].max()
    return None if pd.isna(top) else float(top)


def whole(fig: go.Figure, top=None, **kw) -> go.Figure:
    """Make a count axis show whole numbers from 0: one tick per unit when the axis is short, never 0, 1, 1, 2, 2.

    `top` is the axis's highest value; by default the highest value the figure draws.
    """
    fig.update_yaxes(tickformat=",d", rangemode="tozero", **kw)
    top = drawn_top(fig) if top is None else top
    if top is not None and not pd.isna(top) and top < 6:
        fig.update_yaxes(dtick=1, **kw)
    return fig


def mark_spans(fig: go.Figure, spans: pd.DataFrame, drawn: pd.Series | None = None) -> go.Figure:
    """Shade each span (first_day .. last_day, a label) across the plot: gaps, outages.

    The x axis's title names them ("yellow: no or few pings 3–10 Dec 2025"): a label on the plot would
    cover the marks under it on a narrow screen. With `drawn` (the plotted dates), only the spans inside them
    are marked (a mark never widens the axis), each at least GAP_MIN_WIDTH of their range wide.
    """
    least = pd.Timedelta(0)
    if drawn is not None and len(drawn):
        spans = spans[(spans["last_day"] >= drawn.min()) & (spans["first_day"] <= drawn.max())]
        least = (pd.Timestamp(drawn.max()) - pd.Timestamp(drawn.min())) * GAP_MIN_WIDTH
    for span in spans.itertuples():
        start, end = pd.Timestamp(span.first_day), pd.Timestamp(span.last_day) + pd.Timedelta(days=1)
        widen = max(least - (end - start), pd.Timedelta(0)) / 2
        fig.add_vrect(x0=start - widen, x1=end + widen, fillcolor=GAP_SHADE, line_width=0, layer="below")
    for span in spans.head(SPANS_NAMED).itertuples():   # one line each: a phone's axis is ~45 characters wide
        axis_note(fig, f"{GAP_NAME}: {span.label} {fmt.days(span.first_day, span.last_day)}")
    if len(spans) > SPANS_NAMED:
        axis_note(fig, f"{GAP_NAME}: {len(spans) - SPANS_NAMED} more gaps or outages (page 05)")
    return fig


def drawn_range(fig: go.Figure) -> tuple | None:
    """Return the (lowest, highest) x value a figure draws (dates or numbers), None when it draws none."""
    xs = pd.concat([pd.Series(list(t.x)) for t in fig.data if getattr(t, "x", None) is not None and len(t.x)] or
                   [pd.Series([], dtype=object)])
    if xs.empty:
        return None
    xs = pd.to_datetime(xs) if not pd.api.types.is_numeric_dtype(xs) else xs
    return xs.min(), xs.max()


def drawn_middle(fig: go.Figure):
    """Return the middle of the x values a figure draws (dates or numbers), None when it draws none."""
    drawn = drawn_range(fig)
    return None if drawn is None else drawn[0] + (drawn[1] - drawn[0]) / 2


def mark_days(fig: go.Figure, days: pd.DataFrame, color: str = "#6E6E6E") -> go.Figure:
    """Draw a dotted line at each day (a release, an end of life) with its label at the top.

    A label sits on the line's inner side (right of it in the left half, left of it in the right half), so
    it never widens the axis past the data.
    """
    middle = drawn_middle(fig)
    for i, mark in enumerate(days.itertuples()):
        fig.add_shape(type="line", x0=mark.day, x1=mark.day, y0=0, y1=1, yref="paper",
                      line=dict(dash="dot", width=1, color=color))
        inner = "right" if middle is not None and pd.Timestamp(mark.day) > middle else "left"
        fig.add_annotation(x=mark.day, y=1 - 0.06 * (i % 3), yref="paper", text=mark.label, showarrow=False,
                           xanchor=inner, yanchor="top", font=dict(size=10, color=color),
                           bgcolor="rgba(255,255,255,0.6)")
    return fig


def mark_unfinished(fig: go.Figure, start, end, text: str, panels: int = 0, over: bool = False) -> go.Figure:
    """Shade a period whose figures are not final yet (the week in progress, removals not known yet).

    The x axis's title says what the grey band is (a label on the plot would cover the marks under it). Small
    multiples (`panels`, as many as panels() drew) get the band in each panel and no note: the caller says it.
    A band is at least UNFINISHED_MIN_WIDTH of the drawn dates wide, widened to the right (past the data, never
    over a final period), with a dotted edge (a grey series such as "other" has none). `over` lays it over the
    marks, greying them (a share area fills the plot: a band under it would not show); otherwise under them.
    """
    drawn = drawn_range(fig)
    if drawn is not None:
        least = (pd.Timestamp(drawn[1]) - pd.Timestamp(drawn[0])) * UNFINISHED_MIN_WIDTH
        end = max(pd.Timestamp(end), pd.Timestamp(start) + least)
    for at in [cell(i) for i in range(panels)] or [{}]:
        fig.add_vrect(x0=start, x1=end, fillcolor=SHADE, layer="above" if over else "below",
                      line=dict(width=1, dash="dot", color=GREY), **at)   # a dotted edge: not a grey series
    return fig if panels else axis_note(fig, f"grey: {text}")


def axis_note(fig: go.Figure, text: str) -> go.Figure:
    """Add a line under the x axis's title (what a shaded band means); the legend, at the figure's foot, stays clear."""
    title = fig.layout.xaxis.title.text
    fig.update_xaxes(title_text=f"{title}<br>{text}" if title else text)
    return fig


#: the legend rank of the hidden marks: after every series (plotly's default rank is 1000)
HIDDEN_RANK = 2000


def hidden_marks(fig: go.Figure, rows: Protected, x: str, column: str, y, name: str, where: pd.Series | None = None,
                 at: dict | None = None, **kw) -> go.Figure:
    """Draw the hidden cells of a column (those `where` selects) as open markers at y: the small ones named
    'fewer than k (hidden)' in the legend, those withheld to protect them 'hidden (would give one away)' (each
    label once a figure); `at` places them in a panel of small multiples (cell())."""
    selected = pd.Series(True, index=rows.rows.index) if where is None else where
    kinds = ((rows.is_small(column), f"fewer than {rows.k} (hidden)", "x-thin-open", f"< {rows.k}"),
             (rows.is_withheld(column), "hidden (would give one away)", "circle-open", fmt.WITHHELD))
    for rank, (mask, label, symbol, text) in enumerate(kinds, HIDDEN_RANK):
        mask = mask & selected
        if not mask.any():
            continue
        part = rows.rows[mask]
        fig.add_trace(go.Scatter(x=part[x], y=[y] * len(part) if not isinstance(y, str) else part[y], mode="markers",
                                 name=label, marker=dict(symbol=symbol, size=9, color=GREY, line=dict(width=2)),
                                 hovertemplate=f"{name}: {text}<extra></extra>", legendrank=rank,
                                 **{"showlegend": not any(t.name == label for t in fig.data), **kw}), **(at or {}))
    return fig


def series_order(df: pd.DataFrame, series: str, rank: str | None = "category_rank") -> list:
    """Return the series in their mart order (category_rank), else by name."""
    if rank and rank in df:
        return df.sort_values(rank).drop_duplicates(series)[series].tolist()
    return sorted(df[series].unique(), key=str)


def lines(rows: Protected, x: str, series: str, y: str, order: list, unit: str = "instances",
          palette: dict | None = None, dashes: dict | None = None) -> go.Figure:
    """One line per series (at most eight; colours from `palette`, else in order; `dashes` tells apart series of
    one colour), hidden cells as markers near 0."""
    fig = go.Figure()
    palette = {**colours(order), **(palette or {})}
    for cat in order:
        part = rows.rows[rows.rows[series] == cat].sort_values(x)
        fig.add_trace(go.Scatter(x=part[x], y=part[y], name=str(cat), mode=mode(len(part)),
                                 line=dict(color=palette[cat], dash=(dashes or {}).get(cat, "solid")),
                                 marker=dict(size=5),
                                 hovertemplate=f"%{{fullData.name}}: %{{y:,}} {unit}<extra></extra>"))
    return hidden_marks(fig, rows, x, y, rows.k / 2, "a series") if rows.k else fig


def share_area(rows: Protected, x: str, series: str, order: list, palette: dict | None = None) -> go.Figure:
    """100 % stacked areas of shares by category, stacked in `order` (colours from `palette`, else in order; counts
    in the hover); hidden cells marked along the top."""
    fig = go.Figure()
    palette = {**colours(order), **(palette or {})}
    for cat in order:
        part = rows.rows[rows.rows[series] == cat].sort_values(x)
        fig.add_trace(go.Scatter(
            x=part[x], y=part["share"], name=str(cat), stackgroup="one", mode="lines+markers" if len(part) <= 2
            else "lines", customdata=part[["instances"]], line=dict(width=0.5, color=palette[cat]),
            fillcolor=palette[cat], marker=dict(size=5),
            hovertemplate="%{fullData.name}: %{y:.1%} (%{customdata[0]:,} instances)<extra></extra>"))
    fig.update_yaxes(range=[0, 1.04], tickformat=".0%")
    return hidden_marks(fig, rows, x, "share", 1.02, "a category") if rows.k else fig


def stacked_bars(rows: Protected, x: str, series: str, order: list, y: str = "instances",
                 names: dict | None = None, palette: dict | None = None, patterns: dict | None = None) -> go.Figure:
    """Bars stacked by category (at most eight; colours from `palette`, else in order; `patterns` tells apart
    categories of one colour), hidden cells as markers at the bar's foot."""
    fig = go.Figure()
    palette = {**colours(order), **(palette or {})}
    for cat in order:
        part = rows.rows[rows.rows[series] == cat]
        fig.add_trace(go.Bar(x=part[x], y=part[y], name=(names or {}).get(cat, str(cat)), marker_color=palette[cat],
                             marker_pattern=dict(shape=(patterns or {}).get(cat, ""), fgcolor="white", size=6,
                                                 solidity=0.35),
                             hovertemplate="%{fullData.name}: %{y:,}<extra></extra>"))
    fig.update_layout(barmode="stack", hovermode="closest")
    return hidden_marks(fig, rows, x, y, 0, "a category") if rows.k else fig


def heatmap(grid: pd.DataFrame, hidden: pd.DataFrame | None, text: pd.DataFrame, k: int, colorscale: str,
            bar_title: str, hover: str, zmax=None, bar_format: str = ",d",
            withheld: pd.DataFrame | None = None) -> go.Figure:
    """A grid of values with its text in each cell; hidden cells drawn grey with '< k' (or 'hidden' where
    `withheld` marks a cell hidden only to protect a smaller one)."""
    grid = grid.astype("float64")   # a public audience's counts are nullable integers: NA becomes NaN
    fig = go.Figure(go.Heatmap(z=grid.values, x=[str(c) for c in grid.columns], y=[str(i) for i in grid.index],
                               zmin=0, zmax=zmax, colorscale=colorscale, xgap=1, ygap=1,
                               colorbar=dict(title=bar_title, orientation="h", yref="container", y=0,
                                             yanchor="bottom", thickness=10,
                                             tickformat=bar_format),
                               hovertemplate=hover))
    fig.add_trace(cell_text(grid, text, fig.data[0].colorscale, zmax))
    if hidden is not None and hidden.values.any():
        mask = hidden.astype(bool)
        apart = withheld.astype(bool).reindex_like(mask).fillna(False).values if withheld is not None \
            else np.zeros(mask.shape, dtype=bool)
        said = [[("" if not m else fmt.WITHHELD if w else f"< {k}") for m, w in zip(r, a)]
                for r, a in zip(mask.values, apart)]
        why = [[("hidden (would give one away)" if w else f"fewer than {k}") for w in a] for a in apart]
        fig.add_trace(go.Heatmap(z=mask.where(mask).astype(float).values, x=[str(c) for c in grid.columns],
                                 y=[str(i) for i in grid.index], colorscale=[[0, LIGHT_GREY], [1, LIGHT_GREY]],
                                 showscale=False, text=said, customdata=why,
                                 texttemplate="%{text}", textfont_size=9, xgap=1, ygap=1,
                                 hovertemplate="%{y} → %{x}: %{customdata}<extra></extra>"))
    fig.update_layout(hovermode="closest")
    # the cells' extent, first row on top: the text trace would otherwise pad the axes like a scatter's
    fig.update_xaxes(type="category", range=[-0.5, len(grid.columns) - 0.5])
    fig.update_yaxes(type="category", range=[len(grid.index) - 0.5, -0.5])
    return fig


#: a cell darker than this relative luminance (WCAG) gets white text, a lighter one near-black: whichever
#: contrasts more (against #1a1a1a and white the two contrasts are equal at 0.2)
DARK_TEXT, LIGHT_TEXT, TEXT_SWITCH = "#1a1a1a", "#ffffff", 0.2
#: the meta of a heatmap's text trace: report.js hides it on a phone, where the numbers would overlap
CELL_TEXT = "cell-text"


def luminance(colours: list[str]) -> np.ndarray:
    """Return the WCAG relative luminance of 'rgb(r, g, b)' colours."""
    rgb = np.array([[float(c) for c in re.findall(r"[\d.]+", colour)[:3]] for colour in colours]) / 255
    linear = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def cell_text(grid: pd.DataFrame, text: pd.DataFrame, colorscale, zmax=None) -> go.Scatter:
    """Return a float grid's cell text as a text trace, near-black or white by each cell's colour."""
    values = grid.to_numpy()
    ys, xs = np.nonzero((text.values != "") & ~np.isnan(values))
    font = []
    if len(ys):
        top = zmax if zmax is not None else np.nanmax(values)   # plotly's own zmax: the highest value
        scale = [[position, colour] for position, colour in colorscale]   # plotly resolved the name to tuples
        colours = sample_colorscale(scale, list(np.clip(values[ys, xs] / (top or 1), 0, 1)))
        font = list(np.where(luminance(colours) > TEXT_SWITCH, DARK_TEXT, LIGHT_TEXT))
    return go.Scatter(x=[str(grid.columns[i]) for i in xs], y=[str(grid.index[i]) for i in ys],
                      text=list(text.values[ys, xs]), mode="text", textfont=dict(size=9, color=font),
                      hoverinfo="skip", showlegend=False, meta=CELL_TEXT)


def panels(n: int, titles: list[str], columns: int = 3, height_each: int = 170) -> go.Figure:
    """Return small multiples: n panels in rows of `columns`, sharing the x axis, each titled."""
    rows = -(-n // columns)
    fig = make_subplots(rows=rows, cols=columns, shared_xaxes=True, subplot_titles=titles,
                        vertical_spacing=min(0.12, 0.5 / rows), horizontal_spacing=0.08)
    fig.update_layout(height=110 + height_each * rows, showlegend=False, template=TEMPLATE,
                      margin=dict(t=40, r=12, b=40, l=48), hovermode="x unified")
    fig.update_annotations(font_size=11)
    fig.update_xaxes(ticklabelstandoff=TICK_STANDOFF)
    for i in range(n):   # the lowest panel of each column labels its dates (the column's bottom cell may be empty)
        if i + columns >= n:
            fig.update_xaxes(showticklabels=True, **cell(i, columns))
    for i in range(n, rows * columns):   # an empty cell draws no axes
        fig.update_xaxes(visible=False, **cell(i, columns))
        fig.update_yaxes(visible=False, **cell(i, columns))
    return fig


def cell(index: int, columns: int = 3) -> dict:
    """Return the row and col of panel `index` (0-based) in small multiples."""
    return {"row": index // columns + 1, "col": index % columns + 1}
