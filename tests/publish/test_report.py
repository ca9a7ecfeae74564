"""Reports end to end: notebooks executed, offline pages drawn by headless Chromium with the network
blocked, the simulated banner, open alerts (--fail-on-alert exits 3), lock, failure, retention."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from conftest import TEST_KEY, ping_line, require, write_lines
from pipelines import flow
from pipelines import settings as settings_mod
from pipelines.locking import Busy, exclusive
from pipelines.publish import charts, export, marts, report
from pipelines.publish.suppress import fold_coarsening, fold_small
from pipelines.tools.simulate import write_fleet

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # the network is blocked: every host resolves to nothing and every proxy request fails
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
    "--virtual-time-budget=20000",
]
LAST_DAY = "2026-05-31"
NEW_KEY = "platform.counts.brandNewThing"
MAX_REPORT_BYTES = 8 * 1024 * 1024


def _env(base: Path) -> dict:
    """The PINGS_* environment of the demo: its data folder, key, sources and reports folder."""
    return {"PINGS_SETTINGS": os.devnull, "PINGS_DATA_DIR": str(base / "data"),
            "PINGS_IP_HASH_KEY": TEST_KEY, "PINGS_REPORTS_DIR": str(base / "reports"),
            "PINGS_SOURCES": ",".join([str(base / "demo" / "collector.csv.gz"), str(base / "demo" / "pinglog"),
                                       str(base / "late")])}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A simulated demo fleet plus, on its last day, one ping carrying a payload key never seen before."""
    base = tmp_path_factory.mktemp("report")
    write_fleet(base / "demo", instances=60, start="2025-06-01", end=LAST_DAY, seed=5, key=TEST_KEY.encode())
    write_lines(base / "late" / f"pings-{LAST_DAY}.jsonl", [ping_line(
        "late-instance", f"{LAST_DAY}T12:00:00.000Z", env={"flowforge": "2.33.0"},
        platform={"counts": {"users": 1, "brandNewThing": 3}})])
    return base


@pytest.fixture(scope="module")
def run(demo):
    """One report from the command line with --fail-on-alert: (exit status, report folder, settings)."""
    from pipelines.__main__ import main

    with pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith("PINGS_") and v != "PINGS_REQUIRE_ALL"]:
            mp.delenv(var)
        for var, value in _env(demo).items():
            mp.setenv(var, value)
        code = main(["report", "--fail-on-alert"])
        cfg = settings_mod.load()
    return code, (demo / "reports" / "latest").resolve(), cfg


@pytest.fixture(scope="module")
def built(run):
    """The report folder of that run."""
    return run[1]


def _chromium() -> str:
    """Return the Chromium binary (Debian's /usr/bin/chromium), or skip/fail via require()."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        require("Chromium", "Debian package chromium")
    return found


def render(page: Path, profile: Path) -> tuple[str, list[str]]:
    """Open a page in headless Chromium with the network blocked; return (DOM after scripts, page requests).

    Page requests are the net-log's URL requests that a page initiated (Chromium's own background
    requests carry the initiator 'not an origin') to anything but file: and data: URLs.
    """
    netlog = profile / "net.json"
    dom = subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--log-net-log={netlog}", "--dump-dom",
         page.as_uri()], capture_output=True, text=True, timeout=180,
    ).stdout
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    starts = [e.get("params", {}) for e in log["events"] if e["type"] == start_job]
    requests = [p["url"] for p in starts if "url" in p and p.get("initiator") != "not an origin"
                and not p["url"].startswith(("file:", "data:"))]
    return dom, requests


MARKS = [
    r'<path class="js-line" d="M[\d.\-]+,[\d.\-]+L',            # a line of two points or more
    r'<path class="js-fill" d="M[\d.\-]+,[\d.\-]+L',            # a filled area
    r'<g class="point"><path d="M[\d.\-]+,[\d.\-]+[VHA]',       # a bar or a marker
    r'<image[^>]+href="data:image/png;base64,',                 # a heatmap
]


def chart_places(dom: str) -> dict[str, str]:
    """Return each chart's place in the DOM by name: its rendered div, or its explanatory sentence."""
    places = {}
    for m in re.finditer(r'<(div|p) class="(chart|chart-empty)" data-chart="([^"]+)"', dom):
        nxt = dom.find('data-chart="', m.end())
        places[m.group(3)] = dom[m.start(): nxt if nxt > 0 else len(dom)]
    return places


def _shows(page: Path) -> int:
    """Return how many charts the page's notebook shows (ctx.show calls)."""
    return (report.NOTEBOOKS_DIR / f"{page.stem}.py").read_text().count("ctx.show(")


def test_report_has_every_page_chart_data_index_and_latest(demo, built):
    pages = {p.name for p in built.glob("*.html")}
    assert pages == {"index.html"} | {f"{p.stem}.html" for p in report.notebooks()}
    assert {"06_growth_and_adoption.html", "07_retention_and_upgrades.html"} <= pages
    index = (built / "index.html").read_text()
    assert "2025-06-01" in index and LAST_DAY in index and "Generated" in index
    assert all(f'href="{p}"' in index for p in pages if p != "index.html")
    assert (demo / "reports" / "latest").resolve() == built.resolve()
    csvs = list((built / "data").glob("*.csv"))
    assert len(csvs) >= 25 and all(len(pd.read_csv(c).columns) > 0 for c in csvs)


def test_plotly_js_is_written_once_and_loaded_by_relative_path(built):
    assert (built / report.PLOTLY_JS).stat().st_size > 1_000_000
    for page in built.glob("0*.html"):
        text = page.read_text()
        assert f'<script src="{report.PLOTLY_JS}"></script>' in text, page.name
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(https?:)?//", text), page.name
        assert "/*! For license information please see plotly" not in text     # not inlined again
        assert "from pipelines" not in text                                     # code cells are hidden
        assert "displaylogo" in text and "sendChartToCloud" in text            # no logo, no cloud share


def test_report_folder_is_under_8_mb(built):
    size = sum(p.stat().st_size for p in built.rglob("*") if p.is_file())
    assert size < MAX_REPORT_BYTES, f"{size / 1e6:.1f} MB"


def test_every_chart_drew_marks_or_explains_itself_offline_in_chromium(built, tmp_path):
    for page in sorted(built.glob("*.html")):
        dom, requests = render(page, tmp_path / page.stem)
        assert requests == [], f"{page.name} requested {requests}"
        if page.name == "index.html":
            continue
        places = chart_places(dom)
        assert len(places) == _shows(page), f"{page.name}: {sorted(places)}"
        for name, place in places.items():
            if 'class="chart-empty"' in place[:60]:
                sentence = re.sub(r"<[^>]+>", "", place.split("</p>")[0]).strip()
                assert len(sentence) > 30 and sentence.endswith("."), f"{page.name} {name}: {sentence!r}"
            else:
                assert 'class="main-svg"' in place, f"{page.name} {name}: not rendered"
                assert any(re.search(mark, place) for mark in MARKS), f"{page.name} {name}: no visible marks"


def test_the_request_detector_catches_a_page_that_reaches_out(tmp_path):
    page = tmp_path / "leaky.html"
    page.write_text('<html><body><img src="http://example.invalid/pixel.png"></body></html>')
    _, requests = render(page, tmp_path / "profile")
    assert requests == ["http://example.invalid/pixel.png"]


def test_simulated_banner_on_every_page_exactly_when_the_set_is_simulated(built, run, tmp_path):
    cfg = run[2]
    assert marts.is_simulated(cfg.parquet_dir) is True      # the demo fleet carries its SIMULATED marker
    for page in built.glob("*.html"):
        dom, _ = render(page, tmp_path / page.stem)
        assert dom.count('id="simulated-banner"') == 1, page.name
        assert "Simulated demo data" in dom

    # the same marts flagged as real data: no banner anywhere
    real = tmp_path / "real-set"
    shutil.copytree(export.current_set(cfg.parquet_dir), real)
    info = json.loads((real / "_set.json").read_text())
    (real / "_set.json").write_text(json.dumps({**info, "simulated": False}))
    real_cfg = settings_mod.Settings(data_dir=tmp_path / "data", parquet_dir=real, reports_dir=tmp_path / "reports")
    folder = report.write(real_cfg, tmp_path / "reports", log=lambda m: None,
                          pages=[report.NOTEBOOKS_DIR / "03_driver_mix.py"])
    for page in folder.glob("*.html"):
        dom, _ = render(page, tmp_path / f"real-{page.stem}")
        assert "simulated-banner" not in dom and "Simulated demo data" not in dom, page.name


def test_fail_on_alert_exits_3_and_the_index_lists_the_open_alert(run, built):
    code, _, cfg = run
    assert code == 3
    open_ = marts.open_alerts(cfg.parquet_dir)
    assert (open_["check"] == "new_payload_key").any() and NEW_KEY in set(open_["subject"])
    index = (built / "index.html").read_text()
    assert "Open alerts" in index and NEW_KEY in index


def test_index_shows_headline_figures_all_and_core_with_week_on_week_change(built, run):
    index = (built / "index.html").read_text()
    for figure in ("Active instances, 1 day", "Active instances, 7 days", "Active instances, 28 days",
                   "Hosted instances", "Remote instances", "Instances on the newest line"):
        assert figure in index, figure
    head = marts.headlines(marts.resolve(run[2].parquet_dir))
    seven = next(r for r in head["rows"] if r["figure"] == "Active instances, 7 days")
    active = marts.read("active_daily", run[2].parquet_dir)
    assert seven["all"] == active["active_7d"].iloc[-1]          # agrees with the active_daily mart
    assert seven["core"] is not None and seven["core"] <= seven["all"]
    assert re.search(r"[+-]\d+\.\d %", index)


def test_headline_band_agrees_with_the_growth_mart(run):
    growth = marts.read("growth_weekly", run[2].parquet_dir)
    graded = growth[growth["wow_growth"].notna()]
    assert len(graded) > 10
    assert graded["wow_growth"].map(charts.band_of).tolist() == graded["band"].tolist()


def test_a_running_report_holds_the_lock(demo, run):
    cfg = run[2]
    with exclusive(Path(cfg.reports_dir) / ".report.lock", "report"):
        with pytest.raises(Busy):
            flow.report(cfg, log=lambda m: None)


def test_a_failing_notebook_exits_nonzero_and_keeps_the_last_good_report(demo, built, run, tmp_path, monkeypatch):
    cfg = run[2]
    broken = tmp_path / "09_broken.py"
    broken.write_text('# %% tags=["parameters"]\nx = 1\n\n# %%\nraise RuntimeError("boom in a cell")\n')
    before = {p.name: p.read_bytes() for p in built.glob("*.html")}
    with pytest.raises(Exception, match="boom in a cell"):
        flow.report(cfg, log=lambda m: None, pages=[broken])
    assert {p.name: p.read_bytes() for p in built.glob("*.html")} == before
    assert not [p for p in Path(cfg.reports_dir).iterdir() if p.name.startswith(".building")]

    # the command line reports it with a log file and exit status 1
    for var, value in _env(demo).items():
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(report, "notebooks", lambda: [broken])
    from pipelines.__main__ import main

    assert main(["report"]) == 1
    logs = sorted((demo / "reports" / "logs").glob("report-*.log"))
    assert "boom in a cell" in logs[-1].read_text()


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


def test_changes_too_rare_per_month_are_shown_per_quarter_or_year_or_explained():
    months = pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01", "2025-07-01"])
    df = pd.DataFrame({"month": months, "change": ["TRIAL → CE"] * 4, "instances": [2, 2, 2, 1]})
    shown, period = fold_coarsening(df, "month", "change", 5)
    assert period == "quarter" and shown.values.tolist() == [[pd.Timestamp("2025-01-01"), "TRIAL → CE", 6]]
    shown, period = fold_coarsening(df.assign(instances=1), "month", "change", 5)
    assert shown.empty
    ctx = charts.Context.__new__(charts.Context)
    ctx.min_count = 5
    chart = charts.transitions(ctx, df.assign(dimension="driver", from_value="a", to_value="b").iloc[[3]],
                               "driver", "Driver changes", "driver_changes", "changed driver")
    assert chart.empty and chart.note == ("Fewer than 5 instances changed driver in any month, quarter or year:"
                                          " nothing shown, to avoid identifying instances.")


def test_exported_csvs_hold_no_small_categories(built):
    for csv in built.glob("data/*share*.csv"):
        df = pd.read_csv(csv)
        assert (df["instances"] >= 5).all(), csv.name
