"""Report pages: execute every notebook with its parameters on the current marts, export offline HTML.

Builds in a hidden temporary folder beside the reports and renames it into place only when every
notebook ran, so a failed run never replaces the last good report (flow.report holds the lock).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import pandas as pd

from .. import settings as settings_mod
from ..settings import NOTEBOOKS_DIR

TEMPLATES = Path(__file__).resolve().parent / "templates"
PLOTLY_JS = "plotly.min.js"     # written once per report folder; every page loads it by this relative path
STYLESHEET = "report.css"


def _env():
    """Return the Jinja2 environment of the report templates (autoescaped)."""
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def notebooks() -> list[Path]:
    """Return the notebook scripts, in their numbered order."""
    return sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py"))


def inject(nb: nbformat.NotebookNode, params: dict) -> nbformat.NotebookNode:
    """Insert a cell setting `params` right after the cell tagged `parameters`."""
    code = "# injected parameters\n" + "\n".join(f"{k} = {v!r}" for k, v in params.items())
    cell = nbformat.v4.new_code_cell(code, metadata={"tags": ["injected-parameters"]})
    for i, existing in enumerate(nb.cells):
        if "parameters" in existing.get("metadata", {}).get("tags", []):
            nb.cells.insert(i + 1, cell)
            return nb
    raise ValueError("the notebook has no cell tagged `parameters`")


def execute(path: Path, params: dict, timeout: int) -> nbformat.NotebookNode:
    """Read a percent script, inject parameters, run it in a fresh python3 kernel and return it."""
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = inject(jupytext.read(path), params)
    # the kernel only talks to this process over loopback; keep its start-up warnings out of cron mail
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                       extra_arguments=["--IPKernelApp.log_level=ERROR"],
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except CellExecutionError as exc:   # one line for the terminal; the chained traceback goes to the log
        raise RuntimeError(f"{path.name}: a cell failed: {exc.ename}: {exc.evalue}") from exc
    return nb


def to_html(nb: nbformat.NotebookNode, title: str, meta: dict) -> str:
    """Export an executed notebook as one offline page: code hidden, plotly.js loaded from the report folder."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    return _env().get_template("page.html.j2").render(title=title, body=body, plotly_js=PLOTLY_JS, **meta)


def _title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """Return the first markdown heading of a notebook."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def summary(nb: nbformat.NotebookNode) -> str:
    """Return the first sentence under a notebook's heading: what the page shows, in one line."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("# "):
            text = " ".join(line.strip() for line in cell.source.splitlines()[1:] if line.strip())
            return re.split(r"(?<=\.)\s", text, maxsplit=1)[0]
    return ""


def _write_assets(folder: Path) -> None:
    """Write plotly.js and the stylesheet once into the report folder (pages load them by relative path)."""
    from plotly.offline import get_plotlyjs

    (folder / PLOTLY_JS).write_text(get_plotlyjs(), encoding="utf-8")
    shutil.copyfile(TEMPLATES / STYLESHEET, folder / STYLESHEET)


def _fmt_count(value) -> str:
    """Format a headline count ('1,234'; '–' when unknown)."""
    return "–" if value is None else f"{value:,.0f}"


def _fmt_change(value, points: bool = False) -> str:
    """Format a headline change: '+3.1 %' (or '+1.2 pts' for shares; '–' when unknown)."""
    if value is None:
        return "–"
    return f"{value * 100:+.1f} pts" if points else f"{value * 100:+.1f} %"


def _bands(all_band, core_band) -> str:
    """Return 'band' or 'all band / core band' when they differ."""
    if core_band and all_band and core_band != all_band:
        return f"{all_band} / core: {core_band}"
    return all_band or ""


def _direction(value) -> str:
    """Return the CSS class for a change's direction."""
    return "" if value is None or value == 0 else ("up" if value > 0 else "down")


def headline_rows(parquet_dir: Path, k: int = 0) -> tuple[dict, str | None]:
    """Return the index's headline table (formatted, with bands) and the growth week it grades.

    The newest line's share is only shown when at least k instances run it (else 'fewer than k').
    """
    from . import charts, marts

    head = marts.headlines(parquet_dir)
    growth = marts.growth_latest(parquet_dir)
    for row in head["rows"]:
        share = row["kind"] == "newest"
        if share and k > 1:
            for part in ("all", "core"):
                if (row[f"instances_{part}"] or 0) < k:
                    row[part], row[f"change_{part}"] = f"fewer than {k} instances", None
        fmt = ((lambda v: "–" if v is None else v if isinstance(v, str) else f"{v * 100:.1f} %") if share
               else _fmt_count)
        row.update(all_text=fmt(row["all"]), core_text=fmt(row["core"]),
                   change_all_text=_fmt_change(row["change_all"], share),
                   change_core_text=_fmt_change(row["change_core"], share),
                   dir_all=_direction(row["change_all"]), dir_core=_direction(row["change_core"]),
                   band=_bands(charts.band_of(row["change_all"]), charts.band_of(row["change_core"]))
                   if row["kind"] == "active" else None)
    week = None
    if growth is not None:
        week = str(growth["week"])[:10]
        weekly = {"figure": f"Weekly active instances (week of {week})", "kind": "weekly",
                  "all_text": _fmt_count(growth.get("active")),
                  "core_text": _fmt_count(growth.get("active_core")) if "active_core" in growth else "–",
                  "change_all_text": _fmt_change(growth.get("wow_growth")),
                  "change_core_text": _fmt_change(growth.get("wow_growth_core")),
                  "dir_all": _direction(growth.get("wow_growth")), "dir_core": _direction(growth.get("wow_growth_core")),
                  "band": _bands(growth.get("band") or charts.band_of(growth.get("wow_growth")),
                                 charts.band_of(growth.get("wow_growth_core")))}
        head["rows"].insert(3, weekly)
    return head, week


def alert_rows(parquet_dir: Path) -> list[dict] | None:
    """Return the open alerts as rows for the index (None when the alerts mart is absent)."""
    from . import marts

    if not marts.exists("alerts", parquet_dir):
        return None
    rows = []
    for a in marts.open_alerts(parquet_dir).to_dict("records"):
        lo, hi = a.get("expected_low"), a.get("expected_high")
        expected = "" if pd.isna(lo) and pd.isna(hi) else f"{_num(lo)} to {_num(hi)}"
        rows.append({"checked_day": str(a["checked_day"])[:10], "check": a["check"], "subject": a["subject"],
                     "value": _num(a["value"]), "expected": expected, "severity": a["severity"]})
    return rows


def _num(value) -> str:
    """Format an alert figure compactly ('' when missing)."""
    if value is None or pd.isna(value):
        return ""
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.3g}"


def index_html(day: str, meta: dict, pages: list[dict], parquet_dir: Path) -> str:
    """Render the index: headline figures (all and core), open alerts, one line per page."""
    head, growth_week = headline_rows(parquet_dir, meta.get("k", 0))
    return _env().get_template("index.html.j2").render(
        day=day, pages=pages, headline=head, growth_week=growth_week, alerts=alert_rows(parquet_dir), **meta)


def _data_range(parquet_dir: Path) -> dict:
    """Return first/last day of data, instances seen and active in the last 28 days."""
    from . import marts

    return marts.data_range(parquet_dir)


def _point_latest(reports: Path, name: str) -> None:
    """Atomically point reports/latest at the named report folder."""
    tmp = reports / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(name)
    os.replace(tmp, reports / "latest")


def _prune(reports: Path, keep: int) -> list[str]:
    """Delete dated report folders beyond the newest `keep`; return their names."""
    dated = sorted(p for p in reports.iterdir() if p.is_dir() and not p.is_symlink() and p.name[:4].isdigit())
    gone = dated[:-keep] if keep > 0 else []
    for p in gone:
        shutil.rmtree(p)
    return [p.name for p in gone]


def write(cfg: settings_mod.Settings, reports: Path, start: str | None = None, end: str | None = None,
          log=print, pages: list[Path] | None = None) -> Path:
    """Execute every notebook on the current marts and write reports/YYYY-MM-DD; return that folder.

    The parquet set is resolved once: every page and the index read the same set even when a
    refresh switches to a new one meanwhile. A simulated set puts a banner on every page.
    """
    from . import marts

    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    tmp = reports / f".building-{day}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "data").mkdir(parents=True)
    folder = marts.resolve(cfg.parquet_dir)
    meta = {**_data_range(folder), "k": cfg.report_min_count, "simulated": marts.is_simulated(folder),
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    listed = []
    try:
        _write_assets(tmp)
        for path in pages or notebooks():
            started = time.monotonic()
            params = {"start": start, "end": end, "parquet_dir": str(folder.resolve()),
                      "min_count": cfg.report_min_count, "chart_dir": str((tmp / "data").resolve())}
            nb = execute(path, params, cfg.cell_timeout_s)
            title = _title(nb, path.stem)
            page = f"{path.stem}.html"
            (tmp / page).write_text(to_html(nb, title, meta), encoding="utf-8")
            listed.append({"href": page, "title": title, "summary": summary(nb)})
            log(f"report: {path.name} -> {page} ({time.monotonic() - started:.1f}s)")
        (tmp / "index.html").write_text(index_html(day, meta, listed, folder), encoding="utf-8")
        final = reports / day
        if final.exists():
            old = reports / f".replaced-{day}-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old)
        else:
            os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _point_latest(reports, day)
    for name in _prune(reports, cfg.reports_keep):
        log(f"report: removed old report {name} (keeping {cfg.reports_keep})")
    return final
