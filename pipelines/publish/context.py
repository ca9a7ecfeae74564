"""A notebook's context: its parameters, the marts it reads, the figures it quotes, how it shows a chart.

The same Context runs in JupyterLab and in a report, so both show the same numbers for the same
audience: the audience and k come from the settings unless the notebook's parameters say otherwise
(`report --public` passes them). In a report, each chart's rows go beside the page as CSV (hidden cells
written '< k', text cells a spreadsheet would evaluate neutralised) and every quoted figure is recorded
for figures.json.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import plotly.io as pio

from .. import settings as settings_mod
from . import charts, figures, marts, safe_csv
from .charts import Chart
from .suppress import Protected, protect

#: how a report's pages hand their quoted figures to the report (removed once figures.json is written)
FIGURES_SUFFIX = ".figures.json"
PUBLIC, TEAM = "public", "team"


def audience_k(audience: str | None, min_count: int | None) -> tuple[str, int]:
    """Return (audience, k): the parameters when given, else the settings; k is 0 for the team."""
    cfg = settings_mod.load() if audience is None or min_count is None else None
    audience = audience or cfg.audience
    k = int(min_count if min_count is not None else cfg.report_min_count)
    return audience, (k if audience == PUBLIC else 0)


def cell_text(column: pd.Series) -> pd.Series:
    """Return a table column as display text: counts with thousands separators, floats to 4 digits, days as
    YYYY-MM-DD, blanks for missing values."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.dt.strftime("%Y-%m-%d %H:%M").str.removesuffix(" 00:00").fillna("")
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        return column.astype(object).where(column.notna(), "").astype(str)
    spec = "{:,}" if pd.api.types.is_integer_dtype(column) else "{:,.4g}"
    return column.map(lambda v: "" if pd.isna(v) else spec.format(v))


#: a cell of a count column: '1,234', '12.5', a hidden count '< 5', or blank
NUMBER_TEXT = r"(< ?)?[0-9][0-9,]*(\.[0-9]+)?|"


def numeric(texts: pd.Series) -> bool:
    """Return True when a column's display texts are all numbers (hidden counts and blanks allowed), not all blank."""
    texts = texts.astype(str).str.strip()
    return bool((texts != "").any() and texts.str.fullmatch(NUMBER_TEXT).all())


def table_html(rows: pd.DataFrame) -> str:
    """Return a small table as HTML: headers in words ('rows read'), number columns right-aligned (class num),
    each cell labelled with its header, so a narrow screen can show a row as a card (report.css)."""
    heads = [html.escape(str(c).replace("_", " ")) for c in rows.columns]
    texts = [cell_text(rows[c]) for c in rows.columns]
    kinds = [' class="num"' if numeric(t) else "" for t in texts]
    texts = [t.map(html.escape).tolist() for t in texts]
    body = "".join("<tr>" + "".join(f'<td{k} data-label="{h}">{t[i]}</td>' for h, t, k in zip(heads, texts, kinds))
                   + "</tr>" for i in range(len(rows)))
    return (f'<table class="data-table"><thead><tr>{"".join(f"<th{k}>{h}</th>" for h, k in zip(heads, kinds))}'
            f"</tr></thead><tbody>{body}</tbody></table>")


class Context:
    """A notebook's parameters: the parquet set, the date range, the audience and where a report writes."""

    def __init__(self, notebook: str, parquet_dir=None, start=None, end=None, audience=None, min_count=None,
                 chart_dir=None):
        self.notebook = notebook
        self.page = f"{notebook}.html"
        self.parquet_dir = marts.resolve(parquet_dir)        # one resolved set for every mart of the page
        self.start, self.end = start, end
        self.audience, self.k = audience_k(audience, min_count)
        self.chart_dir = Path(chart_dir) if chart_dir else None
        self.scope = figures.Scope(self.parquet_dir, end, self.k)
        self.quoted: list[dict] = []
        self._marts: dict[str, pd.DataFrame] = {}            # each mart read once a page
        pio.renderers.default = charts.NOTEBOOK_RENDERER

    @property
    def as_of(self) -> pd.Timestamp | None:
        """The last day with data in the range: what every figure describes."""
        return self.scope.as_of

    def mart(self, name: str) -> pd.DataFrame:
        """Return a mart cut to the notebook's date range (read once; each call gets its own copy)."""
        if name not in self._marts:
            self._marts[name] = marts.read(name, self.parquet_dir, self.start, self.end, whole=self.scope.cut_short)
        return self._marts[name].copy()

    def mart_optional(self, name: str) -> pd.DataFrame | None:
        """Return a mart cut to the date range, or None when this parquet set lacks it."""
        return self.mart(name) if marts.exists(name, self.parquet_dir) else None

    def protect(self, df: pd.DataFrame, counts, rows: pd.Series | None = None, within: list[str] | None = None,
                keep: pd.Series | None = None, withhold: dict[str, pd.Series] | None = None) -> Protected:
        """Hide the counts under k (public audience), what reveals them, and in a partition (`within`) what would
        give them away; see suppress.protect."""
        return protect(df, self.k, counts, rows, within, keep, withhold)

    def quote(self, figure: figures.Figure) -> str:
        """Record a figure as quoted on this page and return its text, for a title."""
        self.quoted.append(figure.entry(self.page))
        if self.chart_dir:
            path = self.chart_dir / f"{self.notebook}{FIGURES_SUFFIX}"
            path.write_text(json.dumps(self.quoted, indent=1))
        return figure.text

    def csv_name(self, name: str) -> str:
        """Return a chart's CSV file name: <notebook>__<chart>.csv."""
        return f"{self.notebook}__{name}.csv"

    def _write(self, rows: pd.DataFrame, name: str) -> None:
        """Write a chart's or table's rows beside the report page."""
        if self.chart_dir:
            safe_csv.write(rows, self.chart_dir / self.csv_name(name))

    def show(self, chart: Chart) -> None:
        """Display a chart (or its sentence) with its finding; in a report also write its CSV and link to it."""
        from IPython.display import HTML, Markdown, display

        self._write(chart.data.for_csv(), chart.name)
        if not self.chart_dir:
            lines = [f"**{chart.title}**", *([chart.subtitle] if chart.subtitle else []), *chart.extra]
            display(Markdown("  \n".join(lines)))   # the finding, what is drawn and the notes, as the report
            if chart.empty:
                display(Markdown(f"*{chart.note}*"))
            else:
                chart.figure.show(config=charts.CONFIG)
            return
        display(HTML(self._figure_html(chart)))

    def _figure_html(self, chart: Chart) -> str:
        """Return a chart as report HTML: finding, what is drawn, the plot (or its sentence), its CSV link."""
        name = html.escape(chart.name)
        caption = (f'<figcaption><p class="finding">{html.escape(chart.title)}</p>'
                   + (f'<p class="what">{html.escape(chart.subtitle)}</p>' if chart.subtitle else "")
                   + "".join(f'<p class="what">{html.escape(e)}</p>' for e in chart.extra) + "</figcaption>")
        if chart.empty:
            body = f'<p class="chart-empty">{html.escape(chart.note)}</p>'
        else:
            body = chart.figure.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False,
                                        default_width="100%", default_height=chart.figure.layout.height or 420,
                                        config=charts.CONFIG)
        link = (f'<p class="chart-data"><a href="data/{html.escape(self.csv_name(chart.name))}">'
                f"Data of this chart (CSV)</a></p>")
        return f'<figure class="chart" id="chart-{name}" data-chart="{name}">{caption}{body}{link}</figure>'

    def table(self, rows: pd.DataFrame | Protected, name: str, empty: str, more: str | None = None) -> None:
        """Display a small table (hidden cells as '< k'); in a report also write it as CSV and link to it."""
        from IPython.display import HTML, display

        shown = rows.for_csv() if isinstance(rows, Protected) else rows
        self._write(shown, name)
        if shown.empty:
            display(HTML(f'<p class="table-empty">{html.escape(empty)}</p>'))
            return
        table = table_html(shown)
        extra = f'<p class="more">{html.escape(more)}</p>' if more else ""
        link = (f'<p class="chart-data"><a href="data/{html.escape(self.csv_name(name))}">Data of this table (CSV)'
                "</a></p>" if self.chart_dir else "")
        display(HTML(f'<div class="table-wrap" data-table="{html.escape(name)}">{table}</div>{extra}{link}'))
