"""Notebooks: each runs headless against the demo fleet's marts with nothing heavy in its outputs;
JupyterLab lists and opens them as notebooks, with the project's kernel and settings."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from html import unescape
from pathlib import Path

import duckdb
import jupytext
import numpy as np
import pandas as pd
import pytest

from conftest import TEST_KEY, ping_line, require, write_lines
from pipelines import settings as settings_mod
from pipelines.flow import refresh
from pipelines.publish import charts, marts, report
from pipelines.publish.context import Context
from pipelines.publish.pages import retention
from pipelines.settings import PROJECT_ROOT
from pipelines.tools.simulate import write_fleet
from reporting import pinned_days

KERNEL = "flowforge-pings"
PLOTLY_JSON = "application/vnd.plotly.v1+json"


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    """Marts of a small demo fleet."""
    base = tmp_path_factory.mktemp("nb")
    write_fleet(base / "demo", instances=50, start="2025-09-01", end="2026-03-31", seed=9, key=TEST_KEY.encode())
    cfg = settings_mod.Settings(data_dir=base / "data", ip_hash_key=TEST_KEY)
    refresh(cfg, [str(base / "demo" / "pinglog")], progress=lambda m: None)
    return cfg.parquet_dir


@pytest.mark.parametrize("path", report.notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_and_every_chart_is_light_plotly_json_or_a_sentence(parquet, path):
    nb = report.execute(path, {"parquet_dir": str(parquet), "start": "2025-10-01", "end": None,
                               "audience": "team", "min_count": 5, "chart_dir": None}, timeout=300)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    drawn = [o for o in outputs if PLOTLY_JSON in o.get("data", {})]
    notes = [o.get("data", {}).get("text/markdown", "") for o in outputs]
    explained = [n for n in notes if n.startswith("*") and not n.startswith("**")]     # a sentence, not a finding
    assert len(drawn) + len(explained) == path.read_text().count("ctx.show(")
    assert [o for o in outputs if PLOTLY_JSON in o.get("data", {})]
    for o in outputs:   # JupyterLab draws the JSON with its own plotly: no plotly.js copy in the notebook
        assert "text/html" not in o.get("data", {}) or "plotly" not in o["data"]["text/html"].lower()
        if PLOTLY_JSON in o.get("data", {}):
            assert o["data"][PLOTLY_JSON]["config"]["displaylogo"] is False
    assert len(json.dumps(nb)) < 3_000_000


def test_notebooks_name_the_project_kernel_and_have_a_parameters_cell():
    for path in report.notebooks():
        nb = jupytext.read(path)
        assert nb.metadata["kernelspec"]["name"] == KERNEL, path.name
        assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), path.name
        text = path.read_text()                  # thin: a Context and one page module, no metric computed
        assert "from pipelines.publish.context import Context" in text and "from pipelines.publish.pages import" in text


def test_notebook_reads_every_mart_from_one_resolved_set(parquet):
    ctx = Context("t", parquet)
    assert ctx.parquet_dir == marts.resolve(parquet) and not ctx.parquet_dir.is_symlink()


def _charts(ctx: Context) -> list:
    """Return every chart the notebooks show, built in this process from their own ctx.show(...) calls."""
    from pipelines.publish.pages import fleet, growth, mix, quality, retention, versions

    pages = {"fleet": fleet, "growth": growth, "mix": mix, "quality": quality, "retention": retention,
             "versions": versions}
    calls = [m.group(1) for p in report.notebooks() for m in re.finditer(r"^ctx\.show\((.*)\)$", p.read_text(), re.M)]
    assert len(calls) >= 25
    return [_call(call, pages, ctx) for call in calls]


def _call(text: str, pages: dict, ctx: Context):
    """Return what a notebook's `page.chart(ctx, "literal", ...)` call returns, made without eval."""
    node = ast.parse(text, mode="eval").body
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute), text
    args = [ctx if isinstance(a, ast.Name) and a.id == "ctx" else ast.literal_eval(a) for a in node.args]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    return getattr(pages[node.func.value.id], node.func.attr)(*args, **kwargs)


def test_every_weekly_chart_that_reaches_the_week_in_progress_shades_it_in_each_panel_and_says_so(parquet):
    ctx = Context("t", parquet)
    week = pd.Timestamp("2026-03-30")   # the fleet ends on Tuesday 31 Mar 2026: the week of Monday 30 Mar is in progress
    assert ctx.as_of == pd.Timestamp("2026-03-31")
    note = "Grey: the week of 30 Mar 2026 is in progress, counted to 31 Mar 2026."
    checked = []
    for chart in _charts(ctx):
        fig = chart.figure
        if fig is None or fig.layout.xaxis.hoverformat != charts.HOVER["week"]:
            continue
        reaching = {t.xaxis or "x" for t in fig.data if t.x is not None and len(t.x) and pd.Timestamp(max(t.x)) >= week}
        if not reaching:
            continue
        bands = {s.xref for s in fig.layout.shapes
                 if s.fillcolor == charts.SHADE and pd.Timestamp(s.x0) < week < pd.Timestamp(s.x1)}
        assert reaching <= bands, (chart.name, reaching, bands)          # every panel drawing the week shades it
        said = re.search(r"grey: (removals not known yet; )?week in progress", fig.layout.xaxis.title.text or "") \
            or note in chart.extra
        assert said, (chart.name, fig.layout.xaxis.title.text, chart.extra)
        checked.append(chart.name)
    assert {"added_and_removed", "fleet_size", "feature_adoption", "version_lines", "patch_mix", "driver_share", "license_counts",
            "active_all_core", "version_lag"} <= set(checked), checked


def test_every_chart_of_the_notebooks_builds_for_the_public_audience_with_counts_hidden(parquet):
    built = _charts(Context("t", parquet, audience="public", min_count=5))
    assert all(c.figure is not None or c.note for c in built)
    assert any(c.data.hidden.values.any() for c in built if c.figure is not None)   # some count was hidden


def test_a_title_whose_share_is_hidden_still_reads_as_a_sentence(parquet):
    everything = 10**9   # every count is under k: every share quoted in a title is hidden
    titles = {c.name: c.title for c in _charts(Context("t", parquet, audience="public", min_count=everything))}
    below = f"< {everything:,}".replace(",", "")
    assert not [t for t in titles.values() if re.search(rf"{below} instances (of|skip|were|run)\b", t)], titles
    assert titles["license_share"].startswith("CE: a hidden share of active instances, week of ")
    assert "(a hidden share skip a line)" in titles["upgrade_paths"]
    assert titles["retention"].startswith("a hidden share of the instances first seen in ")


def test_a_top_licence_withheld_to_protect_the_small_ones_is_hidden_in_every_title_legend_and_csv(parquet):
    week = marts.read("breakdown_weekly", parquet)
    week = week[(week["dimension"] == "license_type") & (week["week"] == Context("t", parquet).scope.week)]
    top = week[week["category"] == "CE"].iloc[0]
    assert dict(zip(week["category"], week["instances"])) == {"CE": 29, "EE": 5, "TRIAL": 1}   # the fleet's last week
    k = 5   # TRIAL (1) is alone under k, so EE (5) is withheld with it; 1 + 5 is their least sum (1 + k), so CE too
    built = {c.name: c for c in _charts(Context("t", parquet, audience="public", min_count=k))}
    assert built["license_share"].title.startswith("CE: a hidden share of active instances, week of ")
    assert built["license_counts"].title.startswith("CE: a hidden number of instances, week of ")
    for name in ("license_share", "license_counts"):
        csv = built[name].data.for_csv()
        cell = csv[(csv["week"] == top["week"]) & (csv["category"] == "CE")]
        assert cell[["instances", "share"]].values.tolist() == [["hidden", "hidden"]]
        assert "hidden (would give one away)" in {t.name for t in built[name].figure.data}
    names = {t.name for t in built["feature_by_license"].figure.data}
    assert "CE (active: hidden)" in names and not [n for n in names if n.startswith("CE (") and n != "CE (active: hidden)"]
    ce = built["feature_by_license"].data.for_csv()
    ce = ce[ce["license_type"] == "CE"]
    assert (ce["instances"] == "hidden").all() and ce["share"].isin(["hidden", f"< {k}"]).all()


def _plant(folder: Path, mart: str, sql: str) -> None:
    """Rewrite a mart of a parquet set through a DuckDB select over it (`t`)."""
    path, out = folder / f"{mart}.parquet", folder / f"{mart}.new"
    duckdb.sql(f"copy (with t as (select * from '{path}') {sql}) to '{out}' (format parquet)")
    shutil.move(out, path)


def test_no_day_hidden_from_the_public_can_be_worked_out_from_its_weeks_bar(parquet, tmp_path):
    planted = tmp_path / "parquet"
    shutil.copytree(parquet, planted)
    # the week of 23 Feb 2026: added 3 (its bar) as 1 + 1 + 1 by day; removed 6 as 2 + 4
    _plant(planted, "fleet_changes_daily", """
        select * replace (
            case when day between '2026-02-23' and '2026-03-01' then (day <= '2026-02-25')::int else added end as added,
            case when day = '2026-02-23' then 2 when day = '2026-03-01' then 4
                 when day between '2026-02-23' and '2026-03-01' then 0 else removed end as removed)
        from t""")
    _plant(planted, "fleet_weekly", "select * replace (case when week = '2026-02-23' then 6 else removed end as removed) "
                                    "from t")
    built = {c.name: c for c in _charts(Context("t", planted, audience="public", min_count=3))}
    days, weeks = built["fleet_changes"].data.for_csv(), built["added_and_removed"].data.for_csv()
    week = days[days["day"].between(pd.Timestamp("2026-02-23"), pd.Timestamp("2026-03-01"))]
    bar = weeks[weeks["week"] == pd.Timestamp("2026-02-23")]
    assert week["added"].tolist() == ["< 3"] * 3 + [0] * 4                 # 1 + 1 + 1 = 3 pins each day: nothing is
    assert bar["added"].tolist() == ["hidden"]                              # left to withhold beside them, so the bar
    assert week["removed"].tolist() == ["< 3"] + [0] * 5 + ["hidden"]       # 2 alone would be 6 - 4: 4 is withheld,
    assert bar["removed"].tolist() == [6]                                   # and the bar stays
    assert (days[["added", "removed"]] == "< 3").any().all()                # of all the days hidden,
    assert pinned_days(days, weeks, 3) == []                                # none can be worked out


def test_a_range_that_ends_before_the_data_reads_whole_weeks_and_months_and_shows_nothing_in_progress(parquet):
    end = "2026-02-11"   # a Wednesday in mid-February; the data runs to 31 Mar 2026
    ctx = Context("t", parquet, end=end)
    assert ctx.scope.cut_short and ctx.as_of == pd.Timestamp(end)
    assert not Context("t", parquet).scope.cut_short and not Context("t", parquet, end="2026-03-31").scope.cut_short
    for mart, column, last, partial in (("fleet_totals_weekly", "week", "2026-02-02", "2026-02-09"),
                                        ("upgrade_paths_12m", "month", "2026-01-01", "2026-02-01"),
                                        ("retention_cohorts", "cohort_month", "2026-01-01", "2026-02-01")):
        assert ctx.mart(mart)[column].max() == pd.Timestamp(last), mart                 # whole periods only
        assert marts.read(mart, parquet, None, end)[column].max() == pd.Timestamp(partial), mart   # not whole=
    for chart in _charts(ctx):
        fig = chart.figure
        axes = [] if fig is None else [fig.layout.xaxis.title.text or ""]
        text = " ".join([chart.title, chart.subtitle, chart.note or "", *chart.extra, *axes]).lower()
        assert "in progress" not in text and "counted to" not in text, (chart.name, text)
        assert "<i>" not in str([] if fig is None else [t.text for t in fig.data if t.text is not None]), chart.name
    assert "after this range's end too" in " ".join(retention.retention(ctx).extra)


def test_the_upgrade_paths_cells_add_up_to_the_changes_the_chart_states(parquet):
    ctx = Context("t", parquet)
    assert ctx.as_of == pd.Timestamp("2026-03-31") and ctx.scope.month == pd.Timestamp("2026-03-01")   # complete
    chart = retention.upgrade_paths(ctx)
    cells = int(np.nansum(np.array(chart.figure.data[0].z, dtype=float)))
    ups, downs = (int(n.replace(",", "")) for n in
                  re.search(r"([\d,]+) upgrades .* and ([\d,]+) downgrades", chart.title).groups())
    said = re.search(r"their cells add up to ([\d,]+) changes", " ".join(chart.extra))   # older lines not drawn
    assert cells == (int(said.group(1).replace(",", "")) if said else ups + downs) > 0


def _plot_values(outputs: list, html: bool) -> list:
    """Return the y values of every chart's traces, from plotly JSON (JupyterLab) or a report's HTML."""
    found = []
    for o in outputs:
        data = o.get("data", {})
        if not html and PLOTLY_JSON in data:
            found.append([t.get("y") for t in data[PLOTLY_JSON]["data"]])
        elif html and "Plotly.newPlot(" in data.get("text/html", ""):
            text = data["text/html"]
            start = text.index("[", text.index("Plotly.newPlot("))
            traces, _ = json.JSONDecoder().raw_decode(text[start:])
            found.append([t.get("y") for t in traces])
    return found


def test_jupyterlab_and_the_report_show_the_same_numbers_for_the_same_audience(parquet, tmp_path, monkeypatch):
    path = report.NOTEBOOKS_DIR / "04_license_types.py"
    monkeypatch.setenv("PINGS_AUDIENCE", "public")           # the setting JupyterLab's kernel reads
    lab = report.execute(path, {"parquet_dir": str(parquet)}, timeout=300)
    built = report.execute(path, {"parquet_dir": str(parquet), "audience": "public", "min_count": 5,
                                  "chart_dir": str(tmp_path)}, timeout=300)
    cells = lambda nb: [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]  # noqa: E731
    in_lab, in_report = _plot_values(cells(lab), html=False), _plot_values(cells(built), html=True)
    assert in_lab and json.dumps(in_lab) == json.dumps(in_report)
    assert any(t.get("name") == "fewer than 5 (hidden)" for o in cells(lab) for t in
               o.get("data", {}).get(PLOTLY_JSON, {}).get("data", []))     # the public rule applied in both


def _as_jupyterlab_saves(root: Path, relative: str) -> bytes:
    """Open a notebook with jupytext's contents manager (JupyterLab's), set the kernel JupyterLab would set,
    save it, and return the file's bytes."""
    from jupytext import TextFileContentsManager

    manager = TextFileContentsManager(root_dir=str(root))
    model = manager.get(relative)
    spec = json.loads((Path(sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json").read_text())
    model["content"]["metadata"]["kernelspec"] = {"display_name": spec["display_name"],
                                                  "language": spec["language"], "name": KERNEL}
    model["content"]["metadata"]["language_info"] = {
        "name": "python", "version": sys.version.split()[0], "mimetype": "text/x-python",
        "codemirror_mode": {"name": "ipython", "version": 3}, "pygments_lexer": "ipython3",
        "nbconvert_exporter": "python", "file_extension": ".py"}
    manager.save(model, relative)
    return (root / relative).read_bytes()


@pytest.mark.parametrize("served", ["notebooks", "project root"])
def test_opening_and_saving_every_notebook_in_jupyterlab_changes_no_byte(tmp_path, served):
    if not (Path(sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json").exists():
        require("the project's Jupyter kernel", "run `make setup`")
    copy = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / "notebooks", copy / "notebooks")
    for path in report.notebooks():
        root = copy / "notebooks" if served == "notebooks" else copy
        relative = path.name if served == "notebooks" else f"notebooks/{path.name}"
        assert _as_jupyterlab_saves(root, relative) == path.read_bytes(), path.name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyterlab_opens_notebooks_with_the_project_kernel_and_settings(tmp_path):
    lab_settings = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    kernel = Path(sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json"
    if not (lab_settings.exists() and kernel.exists()):
        require("the project's Jupyter kernel and JupyterLab settings", "run `make setup`")
    assert json.loads(lab_settings.read_text()) == json.loads((PROJECT_ROOT / "jupyter" / "overrides.json").read_text())
    port, token = _free_port(), "test-token"
    # an empty user config: what a plain `jupyter lab` on a fresh machine sees comes from the project
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "user-settings")}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={PROJECT_ROOT}", "--allow-root"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=PROJECT_ROOT,
    )
    base = f"http://127.0.0.1:{port}"

    def get(path: str) -> dict:
        req = urllib.request.Request(f"{base}/{path}", headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)

    try:
        for _ in range(120):
            try:
                listing = get("api/contents/notebooks?content=1")
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer: " + server.stderr.read1().decode(errors="replace"))
        listed = {item["name"]: item["type"] for item in listing["content"]}
        for path in report.notebooks():
            assert listed.get(path.name) == "notebook", path.name
            opened = get(f"api/contents/notebooks/{path.name}?content=1")
            assert opened["type"] == "notebook" and opened["format"] == "json"
            assert opened["content"]["metadata"]["kernelspec"]["name"] == KERNEL   # no kernel dialog
        assert KERNEL in get("api/kernelspecs")["kernelspecs"]
        # the project's overrides become the settings' defaults (the user has set nothing)
        viewers = get("lab/api/settings/@jupyterlab/docmanager-extension:plugin")["schema"]["properties"]
        assert viewers["defaultViewers"]["default"]["python"] == "Jupytext Notebook"   # double-click opens it
        news = get("lab/api/settings/@jupyterlab/apputils-extension:notification")["schema"]["properties"]
        assert news["fetchNews"]["default"] == "false"                                   # no news prompt
    finally:
        server.terminate()
        server.wait(timeout=30)


def _captions(nb, html: bool) -> list[str]:
    """Return each chart's caption lines (finding, what is drawn, notes), from the report's HTML or JupyterLab's Markdown."""
    found = []
    for o in (o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])):
        data = o.get("data", {})
        if html and "<figcaption>" in data.get("text/html", ""):
            found += [unescape(t) for t in re.findall(r'<p class="(?:finding|what)">(.*?)</p>', data["text/html"])]
        elif not html and data.get("text/markdown", "").startswith("**"):
            title, *rest = data["text/markdown"].split("  \n")
            found += [title.strip("*"), *rest]
    return found


def test_jupyterlab_shows_every_caption_line_of_the_report_notes_included(tmp_path):
    # nine instances on nine patch versions of 2.33 in one week: the patch chart draws 7 and 'other', with a note
    lines = [ping_line(f"i-{n}", at=f"2026-03-0{d}T10:00:00Z", env={"flowforge": f"2.33.{n}"})
             for n in range(9) for d in (2, 3)]
    cfg = settings_mod.Settings(data_dir=tmp_path / "data", ip_hash_key=TEST_KEY)
    refresh(cfg, [str(write_lines(tmp_path / "p.jsonl", lines))], progress=lambda m: None)
    path = report.NOTEBOOKS_DIR / "02_version_adoption.py"
    lab = report.execute(path, {"parquet_dir": str(cfg.parquet_dir)}, timeout=300)
    built = report.execute(path, {"parquet_dir": str(cfg.parquet_dir), "chart_dir": str(tmp_path / "csv")}, timeout=300)
    assert _captions(lab, html=False) == _captions(built, html=True)
    assert [line for line in _captions(lab, html=False) if line.startswith("'other': the rest, 2 more patch versions")]


def _kernel(base: Path, name: str, shell: str) -> None:
    """Write a kernelspec `name` under base/kernels whose start is this shell line ($0: the connection file)."""
    spec = base / "kernels" / name
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": ["sh", "-c", shell, "{connection_file}"],
                                                  "display_name": name, "language": "python"}))


def test_a_kernel_that_dies_at_start_is_started_again_and_one_that_never_starts_fails_in_one_line(tmp_path,
                                                                                                  monkeypatch):
    script = tmp_path / "tiny.py"
    script.write_text('# %% tags=["parameters"]\nx = 1\n\n# %%\nprint(x + 1)\n')
    first, starts = tmp_path / "first-start", tmp_path / "starts"
    # dies at its first start, as a kernel whose port another process took; a real kernel after that
    _kernel(tmp_path, "flaky", f'if [ -e {first} ]; then exec {sys.executable} -m ipykernel_launcher -f "$0"; '
                               f'else touch {first}; exit 1; fi')
    _kernel(tmp_path, "dead", f"echo start >> {starts}; exit 1")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    run = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from pipelines.publish import "
                          "report; nb = report.execute(Path(sys.argv[1]), {'x': 41}, timeout=120, kernel='flaky'); "
                          "print(nb.cells[-1].outputs[0]['text'], end='')", str(script)],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "JUPYTER_PATH": str(tmp_path)})
    assert first.exists() and run.returncode == 0 and run.stdout == "42\n", run.stderr
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr, run.stderr   # nothing at exit
    with pytest.raises(RuntimeError, match=r"^tiny.py: Kernel died before replying to kernel_info \(3 kernel starts\)$"):
        report.execute(script, {"x": 41}, timeout=120, kernel="dead")
    assert starts.read_text().split() == ["start"] * report.KERNEL_STARTS
    dies = tmp_path / "dies.py"   # a kernel that dies in a cell was started once: no count of starts
    dies.write_text('# %% tags=["parameters"]\nx = 1\n\n# %%\nimport os\nos._exit(1)\n')
    with pytest.raises(RuntimeError, match=r"^dies.py: Kernel died[^(]*$"):
        report.execute(dies, {"x": 41}, timeout=120)

