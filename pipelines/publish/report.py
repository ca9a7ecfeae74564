"""Report pages: execute every notebook with its parameters on the current marts, export offline HTML.

Builds in a hidden temporary folder beside the reports and renames it into place only when every
notebook ran, so a failed run never replaces the last good report (flow.report holds the lock). A
report of the whole data is `YYYY-MM-DD/`; a report of a range is `YYYY-MM-DD_<start>_to_<end>/`, and a
public one ends in `_public`, so none replaces another. The demo's reports go to `<reports>/demo/`. Each folder holds the pages, the
index, figures.json (every figure quoted, with its id, page, value, text and as-of day) and data/.
"""

from __future__ import annotations

import atexit
import copy
import json
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from .. import privacy
from .. import settings as settings_mod
from ..settings import NOTEBOOKS_DIR
from . import context, figures, fmt, index, marts

TEMPLATES = Path(__file__).resolve().parent / "templates"
PLOTLY_JS = "plotly.min.js"     # written once per report folder; every page loads it by this relative path
ASSETS = ("report.css", "report.js")
FIGURES = "figures.json"
#: notebooks run side by side (each in its own kernel)
WORKERS = 2


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


#: a notebook's kernel is started up to this many times: jupyter_client picks free ports, then the kernel binds
#: them, and another process (a second report, a test) may take one in between; the kernel then dies at once
KERNEL_STARTS = 3
START_FAILURES = ("Kernel died before replying to kernel_info", "Kernel didn't respond in")


def execute(path: Path, params: dict, timeout: int, kernel: str = "python3") -> nbformat.NotebookNode:
    """Read a percent script, inject parameters, run it in a fresh kernel and return it (a kernel that dies
    before it answers is started again, up to KERNEL_STARTS times)."""
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    script = inject(jupytext.read(path), params)
    attempt = 0
    while True:
        attempt += 1
        nb = copy.deepcopy(script)   # a run fills the cells' outputs: each start begins from the script
        # the kernel only talks to this process over loopback; keep its start-up warnings out of cron mail
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, allow_errors=False,
                                extra_arguments=["--IPKernelApp.log_level=ERROR"],
                                resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
            return nb
        except CellExecutionError as exc:   # one line for the terminal; the chained traceback goes to the log
            raise RuntimeError(f"{path.name}: a cell failed: {exc.ename}: {exc.evalue}") from exc
        except RuntimeError as exc:
            # nbclient leaves the clean-up of a kernel that never started registered: at exit it would print a
            # traceback
            atexit.unregister(client._cleanup_kernel)
            if not str(exc).startswith(START_FAILURES):   # a kernel that died mid-cell: no start to count
                raise RuntimeError(f"{path.name}: {exc}") from exc
            if attempt == KERNEL_STARTS:
                raise RuntimeError(f"{path.name}: {exc} ({attempt} kernel starts)") from exc


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


def contents(body: str) -> list[dict]:
    """Return the page's sections (its h2 headings as nbconvert writes them) for the contents list."""
    return [{"id": m.group(1), "text": re.sub(r"<[^>]+>", "", m.group(2))}
            for m in re.finditer(r'<h2 id="([^"]+)">(.*?)<a class="anchor-link"', body)]


def to_html(nb: nbformat.NotebookNode, page: dict, meta: dict) -> str:
    """Export an executed notebook as one offline page: header (range, freshness, links), body, code hidden."""
    from markupsafe import Markup
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    body = re.sub(r"<h1 [^>]*>.*?</h1>", "", body, count=1, flags=re.S)   # the page's header carries the title
    return _env().get_template("page.html.j2").render(page=page, body=Markup(body), sections=contents(body),
                                                      plotly_js=PLOTLY_JS, **meta)


def _write_assets(folder: Path) -> None:
    """Write plotly.js, the stylesheet and the page script once into the report folder (loaded by relative path)."""
    from plotly.offline import get_plotlyjs

    (folder / PLOTLY_JS).write_text(get_plotlyjs(), encoding="utf-8")
    for name in ASSETS:
        shutil.copyfile(TEMPLATES / name, folder / name)


def folder_name(day: str, start: str | None, end: str | None, public: bool = False) -> str:
    """Return a report's folder name: the day, the range when one was asked for, '_public' for that audience."""
    name = day if not (start or end) else f"{day}_{start or 'first'}_to_{end or 'last'}"
    return f"{name}_public" if public else name


def describe_data(folder: Path, simulated: bool) -> str:
    """Return which data a report shows: the demo fleet, or its sources (addresses blanked)."""
    if simulated:
        return "the simulated demo fleet (data/demo/), not real FlowForge instances"
    names = [privacy.scrub(n) for n in index.source_names(folder)]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3:,} more" if len(names) > 3 else "")
    return f"{len(names):,} source{'s' if len(names) != 1 else ''}: {shown}" if names else "no source yet"


def page_meta(cfg, folder: Path, scope: figures.Scope, start: str | None, end: str | None) -> dict:
    """Return what every page and the index state: data, range, freshness, audience, generation time."""
    fresh = scope.freshness
    sources = index.freshness_rows(scope)
    loaded = sources["last_loaded_at"].iloc[0] if len(sources) else None
    simulated = marts.is_simulated(folder)
    return {"simulated": simulated, "data": describe_data(folder, simulated),
            "first": fmt.iso(fresh.get("first_day")) or "–", "last": fmt.iso(fresh.get("last_day")) or "–",
            "start": start, "end": end, "as_of": fmt.iso(scope.as_of) or "–",
            "last_ping": "–" if fmt.missing(fresh.get("last_ping_at")) else f"{fresh['last_ping_at']:%Y-%m-%d %H:%M}",
            "loaded": "–" if fmt.missing(loaded) else f"{loaded:%Y-%m-%d %H:%M}",
            "public": scope.k > 1, "k": scope.k,
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def _nav(listed: list[dict], i: int) -> dict:
    """Return the previous and next pages of page i (None at the ends)."""
    return {"prev": listed[i - 1] if i > 0 else None, "next": listed[i + 1] if i + 1 < len(listed) else None}


def run_pages(paths: list[Path], params: dict, timeout: int, log) -> dict[Path, nbformat.NotebookNode]:
    """Execute the notebooks side by side (WORKERS kernels), logging each as it ends; return them by path."""
    done = {}
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        started = time.monotonic()
        futures = {pool.submit(execute, path, params, timeout): path for path in paths}
        for future in as_completed(futures):
            path = futures[future]
            done[path] = future.result()
            log(f"report: {path.name} ran ({len(done)}/{len(paths)} pages, {time.monotonic() - started:.1f}s)")
    return done


def collect_figures(data: Path, pages: list[dict], quoted_on_index: list[figures.Figure]) -> list[dict]:
    """Gather the figures each page quoted (and the index's) into one list; remove the pages' hand-over files."""
    entries = [f.entry("index.html") for f in quoted_on_index]
    for page in pages:
        part = data / f"{page['stem']}{context.FIGURES_SUFFIX}"
        if part.exists():
            entries += json.loads(part.read_text())
            part.unlink()
    return entries


def write(cfg: settings_mod.Settings, reports: Path, start: str | None = None, end: str | None = None,
          log=print, pages: list[Path] | None = None) -> Path:
    """Execute every notebook on the current marts and write the report folder; return it.

    The parquet set is resolved once: every page and the index read the same set even when a
    refresh switches to a new one meanwhile. A simulated set puts a banner on every page.
    """
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    audience, k = context.audience_k(cfg.audience, cfg.report_min_count)
    name = folder_name(day, start, end, audience == context.PUBLIC)
    tmp = reports / f".building-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "data").mkdir(parents=True)
    folder = marts.resolve(cfg.parquet_dir)
    scope = figures.Scope(folder, end, k)
    meta = page_meta(cfg, folder, scope, start, end)
    params = {"start": start, "end": end, "parquet_dir": str(folder.resolve()), "audience": audience,
              "min_count": cfg.report_min_count, "chart_dir": str((tmp / "data").resolve())}
    try:
        _write_assets(tmp)
        paths = pages or notebooks()
        ran = run_pages(paths, params, cfg.cell_timeout_s, log)
        listed = [{"href": f"{p.stem}.html", "stem": p.stem, "title": _title(ran[p], p.stem),
                   "summary": summary(ran[p])} for p in paths]
        for i, path in enumerate(paths):
            page = {**listed[i], **_nav(listed, i), "pages": listed}
            (tmp / listed[i]["href"]).write_text(to_html(ran[path], page, meta), encoding="utf-8")
        rows, quoted, under = index.headline(scope)
        (tmp / "index.html").write_text(_env().get_template("index.html.j2").render(
            day=day, pages=listed, headline=rows, **under, alerts=index.open_alerts(scope),
            instances=figures.seen(scope)["instances_seen"].text, **meta), encoding="utf-8")
        (tmp / FIGURES).write_text(json.dumps(collect_figures(tmp / "data", listed, quoted), indent=1) + "\n")
        final = _place(reports, tmp, name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if name == day:   # latest: the newest whole-data report for the team
        _point_latest(reports, name)
    for gone in _prune(reports, cfg.reports_keep):
        log(f"report: removed old report {gone} (keeping {cfg.reports_keep})")
    return final


def _place(reports: Path, tmp: Path, name: str) -> Path:
    """Rename the built folder into place (replacing the same day's report of the same range); return it."""
    final = reports / name
    if final.exists():
        old = reports / f".replaced-{name}-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)
    return final


def _point_latest(reports: Path, name: str) -> None:
    """Atomically point reports/latest at the named report folder."""
    tmp = reports / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(name)
    os.replace(tmp, reports / "latest")


def _prune(reports: Path, keep: int) -> list[str]:
    """Delete report folders beyond the newest `keep` (by name: day, then range); return their names."""
    dated = sorted(p for p in reports.iterdir() if p.is_dir() and not p.is_symlink() and p.name[:4].isdigit())
    gone = dated[:-keep] if keep > 0 else []
    for p in gone:
        shutil.rmtree(p)
    return [p.name for p in gone]
