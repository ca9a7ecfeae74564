"""Reports end to end: notebooks executed, offline HTML rendered by headless Chromium, lock, failure, retention."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from conftest import require
from pipelines import flow
from pipelines.publish import report
from pipelines import settings as settings_mod
from pipelines.locking import Busy, exclusive
from pipelines.tools.simulate import write_fleet
from pipelines.publish.suppress import fold_small

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # the network is blocked: every host resolves to nothing and every proxy request fails
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
    "--virtual-time-budget=20000",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Settings whose sources are a small simulated demo fleet; nothing refreshed yet."""
    base = tmp_path_factory.mktemp("report")
    write_fleet(base / "demo", instances=60, start="2025-06-01", end="2026-05-31", seed=5, key=b"k")
    return settings_mod.Settings(
        data_dir=base / "data", reports_dir=base / "reports", ip_hash_key="k",
        sources=[str(base / "demo" / "collector.csv.gz"), str(base / "demo" / "pinglog")],
    )


@pytest.fixture(scope="module")
def built(demo):
    """One full report of the demo fleet."""
    return flow.report(demo, log=lambda m: None)


def test_report_has_every_page_chart_data_index_and_latest(demo, built):
    pages = {p.name for p in built.glob("*.html")}
    assert pages == {"index.html"} | {f"{p.stem}.html" for p in report.notebooks()}
    index = (built / "index.html").read_text()
    assert "2025-06-01" in index and "2026-05-31" in index and "Generated" in index
    assert all(f'href="{p}"' in index for p in pages if p != "index.html")
    assert (Path(demo.reports_dir) / "latest").resolve() == built.resolve()
    csvs = list((built / "data").glob("*.csv"))
    assert len(csvs) >= 15 and all(len(pd.read_csv(c).columns) > 0 for c in csvs)


def test_pages_are_offline_and_hide_the_code(built):
    for page in built.glob("0*.html"):
        text = page.read_text()
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"https?://", text), page.name
        assert "from pipelines import" not in text        # code cells are hidden
        assert text.count("Plotly.newPlot") >= 1
        assert text.count("/*! For license information please see plotly") <= 1  # plotly.js once a page


def test_every_chart_renders_in_headless_chromium_with_the_network_blocked(built, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        require("Chromium", "Debian package chromium")
    for page in sorted(built.glob("0*.html")):
        dom = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / page.stem}", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120,
        ).stdout
        graphs = len(re.findall(r'class="plotly-graph-div', dom))
        rendered = len(re.findall(r'class="main-svg"', dom))
        assert graphs >= 3, page.name
        assert rendered >= 2 * graphs, f"{page.name}: {graphs} charts but {rendered} rendered svg layers"


def test_a_running_report_holds_the_lock(demo):
    with exclusive(Path(demo.reports_dir) / ".report.lock", "report"):
        with pytest.raises(Busy):
            flow.report(demo, log=lambda m: None)


def test_a_failing_notebook_exits_nonzero_and_keeps_the_last_good_report(demo, built, tmp_path, monkeypatch):
    broken = tmp_path / "09_broken.py"
    broken.write_text('# %% tags=["parameters"]\nx = 1\n\n# %%\nraise RuntimeError("boom in a cell")\n')
    before = {p.name: p.read_bytes() for p in built.glob("*.html")}
    with pytest.raises(Exception, match="boom in a cell"):
        flow.report(demo, log=lambda m: None, pages=[broken])
    assert {p.name: p.read_bytes() for p in built.glob("*.html")} == before
    assert not [p for p in Path(demo.reports_dir).iterdir() if p.name.startswith(".building")]

    # the command line reports it with a log file and exit status 1
    monkeypatch.setenv("PINGS_DATA_DIR", str(demo.data_dir))
    monkeypatch.setenv("PINGS_IP_HASH_KEY", "k")
    monkeypatch.setenv("PINGS_SOURCES", ",".join(demo.sources))
    monkeypatch.setenv("PINGS_REPORTS_DIR", str(demo.reports_dir))
    monkeypatch.setattr(report, "notebooks", lambda: [broken])
    from pipelines.__main__ import main

    assert main(["report"]) == 1
    logs = sorted((Path(demo.reports_dir) / "logs").glob("report-*.log"))
    assert "REPORT FAILED" in logs[-1].read_text() and "boom in a cell" in logs[-1].read_text()


def test_old_reports_are_pruned_to_the_configured_count(tmp_path):
    for day in ("2026-01-01", "2026-01-08", "2026-01-15"):
        (tmp_path / day).mkdir()
    (tmp_path / "logs").mkdir()
    assert report._prune(tmp_path, 2) == ["2026-01-01"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-01-08", "2026-01-15", "logs"]


def test_small_categories_are_folded_into_other_and_shares_still_add_up():
    df = pd.DataFrame({
        "week": ["w1"] * 4 + ["w2"] * 2,
        "driver": ["docker", "localfs", "kubernetes", "stub", "docker", "localfs"],
        "instances": [20, 3, 4, 1, 6, 2],
    })
    df["share"] = df["instances"] / df.groupby("week")["instances"].transform("sum")
    out = fold_small(df, "week", "driver", k=5)
    assert out.values.tolist() == [
        ["w1", "docker", 20, 20 / 28], ["w1", "other", 8, 8 / 28], ["w2", "docker", 6, 6 / 8]]
    assert fold_small(df, "week", "driver", k=0).equals(df)


def test_exported_csvs_hold_no_small_categories(built):
    for csv in built.glob("data/*share*.csv"):
        df = pd.read_csv(csv)
        assert (df["instances"] >= 5).all(), csv.name
