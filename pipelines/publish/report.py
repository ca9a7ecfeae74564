"""Report pages: execute every notebook with its parameters on the current marts, export offline HTML.

Builds in a hidden temporary folder beside the reports and renames it into place only when every
notebook ran, so a failed run never replaces the last good report (flow.report holds the lock).
"""

from __future__ import annotations

import html
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import pandas as pd

from .. import settings as settings_mod
from ..settings import NOTEBOOKS_DIR

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1180px;
       padding: 1rem 2rem; color: #222; }}
nav {{ font-size: .9rem; margin-bottom: 1rem; }}
.jp-InputPrompt, .jp-OutputPrompt {{ display: none; }}
.jp-RenderedHTMLCommon table {{ border-collapse: collapse; }}
.jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th {{ border: 1px solid #ddd; padding: .2rem .5rem; }}
footer {{ color: #777; font-size: .8rem; margin-top: 2rem; }}
</style></head>
<body>
<nav><a href="index.html">Report index</a> · data {first} to {last} (UTC) · generated {generated}</nav>
{body}
<footer>FlowForge usage telemetry. Categories with fewer than {k} instances in a period are folded into
"other". Chart data: <a href="data/">data/</a>.</footer>
</body></html>
"""

INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>FlowForge telemetry report {day}</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 900px; margin: 2rem auto; color: #222; }}
li {{ margin: .4rem 0; }} .meta {{ color: #555; }}</style></head>
<body>
<h1>FlowForge usage telemetry: {day}</h1>
<p class="meta">Data from {first} to {last} (UTC days). Generated {generated}.
{instances} instances seen in all; {active} active in the last 28 days.</p>
<ul>
{links}
</ul>
<p class="meta">Each chart's data is in <a href="data/">data/</a> as CSV. Categories with fewer than {k}
instances in a period are folded into "other"; licence ids never appear.</p>
</body></html>
"""


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

    nb = inject(jupytext.read(path), params)
    # the kernel only talks to this process over loopback; keep its start-up warnings out of cron mail
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                   extra_arguments=["--IPKernelApp.log_level=ERROR"],
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def to_html(nb: nbformat.NotebookNode, title: str, meta: dict) -> str:
    """Export an executed notebook as one offline page: code hidden, plotly.js inlined once."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    return PAGE.format(title=html.escape(title), body=body, **meta)


def _title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """Return the first markdown heading of a notebook."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def _data_range(parquet_dir: Path) -> dict:
    """Return first/last day of data, instances seen and active in the last 28 days."""
    active = pd.read_parquet(parquet_dir / "active_daily.parquet")
    instances = pd.read_parquet(parquet_dir / "instances.parquet", columns=["instance_id"])
    if active.empty:
        return {"first": "-", "last": "-", "instances": 0, "active": 0}
    return {"first": str(active["day"].min())[:10], "last": str(active["day"].max())[:10],
            "instances": f"{len(instances):,}", "active": f"{int(active['active_28d'].iloc[-1]):,}"}


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
    """Execute every notebook on the current marts and write reports/YYYY-MM-DD; return that folder."""
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    tmp = reports / f".building-{day}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "data").mkdir(parents=True)
    meta = {**_data_range(Path(cfg.parquet_dir)), "k": cfg.report_min_count,
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    links = []
    try:
        for path in pages or notebooks():
            started = time.monotonic()
            params = {"start": start, "end": end, "parquet_dir": str(Path(cfg.parquet_dir).resolve()),
                      "min_count": cfg.report_min_count, "chart_dir": str((tmp / "data").resolve())}
            nb = execute(path, params, cfg.cell_timeout_s)
            title = _title(nb, path.stem)
            page = f"{path.stem}.html"
            (tmp / page).write_text(to_html(nb, title, meta), encoding="utf-8")
            links.append(f'<li><a href="{page}">{html.escape(title)}</a></li>')
            log(f"report: {path.name} -> {page} ({time.monotonic() - started:.1f}s)")
        (tmp / "index.html").write_text(INDEX.format(day=day, links="\n".join(links), **meta), encoding="utf-8")
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


