"""Reports end to end: notebooks executed, offline pages drawn by headless Chromium with the network
blocked, the simulated banner, open alerts (--fail-on-alert exits 3), figures.json against every page,
the public audience, lock, failure, retention."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import TEST_KEY, ping_line, write_lines
from pipelines import flow
from pipelines import settings as settings_mod
from pipelines.locking import Busy, exclusive
from pipelines.publish import export, marts, report
from pipelines.tools.simulate import write_fleet
from reporting import (WITHHELD, Browser, assert_figures_consistent, environment, pinned_breakdown_cells, pinned_days,
                       render, report_cli, visible_text)

LAST_DAY = "2026-05-31"
NEW_KEY = "platform.counts.brandNewThing"
MAX_REPORT_BYTES = 8 * 1024 * 1024


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A simulated demo fleet plus, on its last day, one ping carrying a payload key never seen before
    (beside the fleet, so it is simulated too)."""
    base = tmp_path_factory.mktemp("report")
    write_fleet(base / "demo", instances=60, start="2025-06-01", end=LAST_DAY, seed=5, key=TEST_KEY.encode())
    write_lines(base / "demo" / "late" / f"pings-{LAST_DAY}.jsonl", [ping_line(
        "late-instance", f"{LAST_DAY}T12:00:00.000Z", env={"flowforge": "2.33.0"},
        platform={"counts": {"users": 1, "brandNewThing": 3}})])
    return base


def _env(base: Path) -> dict:
    """The PINGS_* environment of the demo: its data folder, key, sources and reports folder."""
    return environment(base, [base / "demo" / "collector.csv.gz", base / "demo" / "pinglog", base / "demo" / "late"])


@pytest.fixture(scope="module")
def run(demo):
    """One report from the command line with --fail-on-alert: (exit status, report folder, settings)."""
    code = report_cli(_env(demo), "--fail-on-alert")
    with pytest.MonkeyPatch.context() as mp:
        for var, value in _env(demo).items():
            mp.setenv(var, value)
        cfg = settings_mod.load()
    return code, (demo / "reports" / "latest").resolve(), cfg


@pytest.fixture(scope="module")
def built(run):
    """The report folder of that run."""
    return run[1]


MARKS = [
    r'<path class="js-line" d="M[\d.\-]+,[\d.\-]+L',            # a line of two points or more
    r'<path class="js-fill" d="M[\d.\-]+,[\d.\-]+L',            # a filled area
    r'<g class="point"><path d="M[\d.\-]+,[\d.\-]+[VHA]',       # a bar or a marker
    r'<path class="point" transform="translate\([\d.\-]+,[\d.\-]+\)" d="M',   # a scatter marker (dots)
    r'<image[^>]+href="data:image/png;base64,',                 # a heatmap
]


def chart_places(dom: str) -> dict[str, str]:
    """Return each chart's place in the DOM by name: its figure element with the plot or its sentence."""
    places = {}
    for m in re.finditer(r'<figure class="chart"[^>]*data-chart="([^"]+)"', dom):
        end = dom.find("</figure>", m.end())
        places[m.group(1)] = dom[m.start(): end]
    return places


def axis_ticks(place: str) -> list[list[str]]:
    """Return the tick labels each drawn y axis of a chart shows, bottom to top."""
    return [re.findall(r'data-unformatted="([^"]*)"', axis)
            for axis in re.findall(r'<g class="yaxislayer-above">(.*?)</g></g>', place)]


def _shows(page: Path) -> int:
    """Return how many charts the page's notebook shows (ctx.show calls)."""
    return (report.NOTEBOOKS_DIR / f"{page.stem}.py").read_text().count("ctx.show(")


def test_report_has_every_page_chart_data_figures_index_and_latest(demo, built):
    pages = {p.name for p in built.glob("*.html")}
    assert pages == {"index.html"} | {f"{p.stem}.html" for p in report.notebooks()}
    index = (built / "index.html").read_text()
    assert "2025-06-01" in index and LAST_DAY in index and "generated" in index
    assert all(f'href="{p}"' in index for p in pages if p != "index.html")
    assert (demo / "reports" / "latest").resolve() == built.resolve()
    csvs = list((built / "data").glob("*.csv"))
    assert len(csvs) >= 25 and all(len(pd.read_csv(c).columns) > 0 for c in csvs)
    assert not list((built / "data").glob("*.json"))          # the pages' hand-over files are gone
    assert (built / "figures.json").exists()


def test_chart_csvs_write_counts_as_whole_numbers_and_no_float_noise(built):
    # a count column holding a blank (removals not known yet) is a float column in pandas: 16, not 16.0
    weekly = pd.read_csv(built / "data" / "01_fleet_overview__added_and_removed.csv", dtype=str, keep_default_na=False)
    assert (weekly["removed"] == "").any() and weekly["removed"].str.fullmatch(r"\d*").all()
    for csv in (built / "data").glob("*.csv"):
        cells = pd.read_csv(csv, dtype=str, keep_default_na=False).to_numpy().ravel()
        noisy = [c for c in cells if re.fullmatch(r"-?\d+\.\d*", c) and (c.endswith(".0") or len(c.strip("-.0")) > 13)]
        assert not noisy, (csv.name, noisy[:3])


def test_every_page_links_its_neighbours_lists_its_sections_and_states_range_and_freshness(built):
    listed = sorted(p.name for p in built.glob("0*.html"))
    for i, name in enumerate(listed):
        text = (built / name).read_text()
        if i:
            assert f'href="{listed[i - 1]}" rel="prev"' in text, name
        if i + 1 < len(listed):
            assert f'href="{listed[i + 1]}" rel="next"' in text, name
        assert 'class="contents"' in text and re.search(r'<li><a href="#[^"]+">', text), name
        shown = visible_text(built / name)
        assert "Data from 2025-06-01 to 2026-05-31" in shown and "Last ping received" in shown, name
        assert "print" in (built / "report.css").read_text() and "prefers-color-scheme: dark" in (
            built / "report.css").read_text()


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


def test_every_chart_drew_marks_or_explains_itself_and_links_its_own_csv_offline_in_chromium(built, tmp_path):
    for page in sorted(built.glob("*.html")):
        dom, requests = render(page, tmp_path / page.stem)
        assert requests == [], f"{page.name} requested {requests}"
        if page.name == "index.html":
            continue
        places = chart_places(dom)
        assert len(places) == _shows(page), f"{page.name}: {sorted(places)}"
        for name, place in places.items():
            link = re.search(r'<a href="data/([^"]+\.csv)">', place)
            assert link and (built / "data" / link.group(1)).exists(), f"{page.name} {name}: no CSV link"
            assert link.group(1) == f"{page.stem}__{name}.csv"
            assert re.search(r'<p class="finding">[^<]{10,}</p>', place), f"{page.name} {name}: no finding"
            if 'class="chart-empty"' in place:
                sentence = re.sub(r"<[^>]+>", "", place.split('class="chart-empty">')[1].split("</p>")[0]).strip()
                assert len(sentence) > 30 and sentence.endswith("."), f"{page.name} {name}: {sentence!r}"
            else:
                assert 'class="main-svg"' in place, f"{page.name} {name}: not rendered"
                assert any(re.search(mark, place) for mark in MARKS), f"{page.name} {name}: no visible marks"
                assert len(re.findall(r'class="legendtext"', place)) <= 9, f"{page.name} {name}: over 8 series"
                for ticks in axis_ticks(place):   # a short count axis reads 0, 1, 2, never 0, 1, 1, 2, 2
                    assert all(a != b for a, b in zip(ticks, ticks[1:])), f"{page.name} {name}: ticks {ticks}"


PHONE = 390
#: at the emulated width: the page's own width, each table's overflow, each table cell's label against its column's
#: header, and every chart text that lies outside the screen (a clipped axis title, label or legend entry)
AT_PHONE_WIDTH = """({
  page: document.documentElement.scrollWidth,
  tables: Array.from(document.querySelectorAll('.table-wrap')).map(w => ({
    name: w.dataset.table || w.querySelector('table').className, overflow: w.scrollWidth - w.clientWidth,
    cards: !!w.querySelector('table.data-table'),
    labels: Array.from(w.querySelectorAll('tbody tr:first-child td')).map(td =>
      getComputedStyle(td, '::before').content.replace(/^"|"$/g, '')),
    headers: Array.from(w.querySelectorAll('thead th')).map(th => th.textContent)})),
  clipped: Array.from(document.querySelectorAll('figure.chart')).flatMap(f =>
    Array.from(f.querySelectorAll('.main-svg text')).filter(t => t.textContent.trim() && (
      t.getBoundingClientRect().left < 0 || t.getBoundingClientRect().right > innerWidth)).map(t =>
      f.dataset.chart + ': ' + t.textContent)),
  cell_text: Array.from(document.querySelectorAll('figure.chart')).flatMap(f => {
    const plot = f.querySelector('.js-plotly-plot');
    return plot ? plot.data.filter(t => t.meta === 'cell-text').map(t => [f.dataset.chart, t.visible !== false]) : [];
  })
})"""


def test_on_a_phone_every_page_fits_its_tables_read_as_labelled_cards_and_no_chart_text_is_cut(built, tmp_path):
    browser = Browser(tmp_path / "phone")
    heatmaps = set()   # charts whose cell numbers are left to the hover on a phone
    try:
        for page in sorted(built.glob("*.html")):
            browser.open(page, PHONE)
            found = browser.evaluate(AT_PHONE_WIDTH)
            assert found["page"] <= PHONE, f"{page.name}: {found['page']} px wide"
            assert found["clipped"] == [], f"{page.name}: cut at {PHONE} px: {found['clipped']}"
            heatmaps.update(name for name, _ in found["cell_text"])
            assert not [name for name, shown in found["cell_text"] if shown], f"{page.name}: cell numbers overlap"
            for table in found["tables"]:
                assert table["overflow"] <= 0, f"{page.name} {table['name']}: scrolls {table['overflow']} px sideways"
                if table["cards"]:
                    assert table["labels"] == table["headers"], f"{page.name} {table['name']}: {table['labels']}"
                assert not any("_" in h for h in table["headers"]), f"{page.name} {table['name']}: {table['headers']}"
    finally:
        browser.close()
    assert any(p.name.startswith("05_") for p in built.glob("*.html"))
    assert {"retention", "upgrade_paths"} <= heatmaps


#: every drawn trace's name and colour (an area's fill, else its line's, else its marker's) by chart
TRACE_COLOURS = """Object.fromEntries(Array.from(document.querySelectorAll('figure.chart')).map(f => {
  const plot = f.querySelector('.js-plotly-plot');
  return [f.dataset.chart, plot ? plot.data.map(t => [t.name, t.fillcolor || (t.line && t.line.color) ||
    (t.marker && typeof t.marker.color === 'string' ? t.marker.color : null)]) : []];
}))"""


def _colours(browser: Browser, page: Path) -> dict[str, dict[str, str]]:
    """Return {chart: {trace name: colour}} as Chromium draws a page."""
    browser.open(page, 1400)
    return {chart: dict(traces) for chart, traces in browser.evaluate(TRACE_COLOURS).items()}


def test_a_minor_line_a_licence_type_and_a_driver_keep_one_colour_on_every_chart(built, tmp_path):
    browser = Browser(tmp_path / "colours")
    try:
        versions = _colours(browser, built / "02_version_adoption.html")
        lag = _colours(browser, built / "07_retention_and_upgrades.html")["version_lag"]
        licences = _colours(browser, built / "04_license_types.html")
        drivers = _colours(browser, built / "03_driver_mix.html")
    finally:
        browser.close()
    lines = {n: c for n, c in versions["version_lines"].items() if re.fullmatch(r"\d+\.\d+", n)}
    newest = max(lines, key=lambda n: tuple(map(int, n.split("."))))
    assert lag["newest line"] == lines[newest]                       # page 07 draws the newest line as page 02
    patches = {n: c for n, c in versions["patch_mix"].items() if re.fullmatch(r"\d+\.\d+\.\d+", n)}
    assert len(patches) >= 3 and {n: lines[n.rsplit(".", 1)[0]] for n in patches} == patches
    if "dev builds" in versions["version_lines"]:
        assert versions["dev_builds"]["development builds"] == versions["version_lines"]["dev builds"] == \
            lag["dev builds"]
    share = licences["license_share"]
    assert share and all(licences["license_counts"][t] == c for t, c in share.items())
    became = {n.removeprefix("became "): c for n, c in licences["trials_ended"].items() if n.startswith("became ")}
    assert became and all(share[t] == c for t, c in became.items() if t in share)
    assert set(licences["ce_to_ee"].values()) - {None} <= {share["EE"]}
    went_to = {n: n.split(" → ")[1] for n in drivers["driver_changes"] if " → " in n}
    assert went_to and all(drivers["driver_changes"][n] == drivers["driver_share"][d] for n, d in went_to.items()
                           if d in drivers["driver_share"])


def test_tables_right_align_their_number_columns(built):
    page = (built / "05_data_quality.html").read_text()
    sources = page[page.index('data-table="sources"'):]
    sources = sources[:sources.index("</table>")]
    heads = {h: bool(k) for k, h in re.findall(r'<th( class="num")?>([^<]+)</th>', sources)}
    assert heads == {"source": False, "items": True, "items in trouble": True, "rows read": True, "loaded": True,
                     "duplicates": True, "quarantined": True, "pending": True, "last loaded utc": False}


def test_the_growth_bands_caption_says_which_band_holds_each_bound(built):
    text = visible_text(built / "06_growth_and_adoption.html")
    assert ("bands: ≥ 6 % exceptional, 4 to under 6 % strong, 2 to under 4 % sustainable, over 1 to under 2 % okay, "
            "≤ 1 % not acceptable") in text


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
    real_cfg = settings_mod.Settings(data_dir=tmp_path / "data", parquet_dir=real, reports_dir=tmp_path / "reports",
                                     sources=["x.jsonl"])
    folder = report.write(real_cfg, tmp_path / "reports", log=lambda m: None,
                          pages=[report.NOTEBOOKS_DIR / "03_driver_mix.py"])
    for page in folder.glob("*.html"):
        dom, _ = render(page, tmp_path / f"real-{page.stem}")
        assert "simulated-banner" not in dom and "Simulated demo data" not in dom, page.name


def test_fail_on_alert_exits_3_and_the_index_lists_the_open_alert(run, built):
    code, _, cfg = run
    assert code == 3
    runs = marts.read("alert_runs", cfg.parquet_dir)
    opened = runs[runs["is_open"]]
    assert NEW_KEY in set(opened.loc[opened["check"] == "new_payload_key", "subject"])
    index = (built / "index.html").read_text()
    assert "Open alerts" in index and NEW_KEY in index


def test_every_quoted_figure_is_on_its_page_and_each_id_has_one_value(built, run):
    found = assert_figures_consistent(built)
    daily = marts.read("headline_daily", run[2].parquet_dir).iloc[-1]
    assert found["active_7d"] == daily["active_7d"] and found["active_1d"] == daily["active_1d"]
    pages = {e["page"] for e in json.loads((built / "figures.json").read_text())}
    assert {"index.html", "01_fleet_overview.html", "02_version_adoption.html", "06_growth_and_adoption.html",
            "07_retention_and_upgrades.html"} <= pages
    index = visible_text(built / "index.html")
    for figure in ("Active instances, 1 day", "Active instances, 28 days", "Weekly active instances",
                   "Hosted instances", "Remote instances", "Instances on the newest line"):
        assert figure in index, figure
    assert "(only" not in index and "A change shown as – is not known" not in index   # whole windows, known changes


def test_the_team_report_hides_nothing_and_the_public_one_hides_every_small_count(demo, run, built, tmp_path):
    for csv in (built / "data").glob("*.csv"):
        assert "< " not in csv.read_text(), csv.name                           # the team sees every count
    assert not [e for e in json.loads((built / "figures.json").read_text()) if e["value"] is None]
    before = {p.name: p.read_bytes() for p in built.glob("*.html")}
    assert report_cli(_env(demo), "--public") == 0
    folder = built.with_name(built.name + "_public")                         # its own folder, beside the team's
    assert {p.name: p.read_bytes() for p in built.glob("*.html")} == before
    assert (built.parent / "latest").resolve() == built
    hidden = withheld = 0
    for csv in (folder / "data").glob("*.csv"):
        df = pd.read_csv(csv, dtype=str, keep_default_na=False)
        for column in set(df.columns) & COUNTS:
            cells = df[column]
            assert cells.str.fullmatch(rf"\d*|< 5|{WITHHELD}").all(), f"{csv.name}.{column}"   # 16, never 16.0
            hidden += int((cells == "< 5").sum())
            withheld += int((cells == WITHHELD).sum())
            numbers = pd.to_numeric(cells[~cells.isin(["< 5", WITHHELD])], errors="coerce").dropna()
            assert not ((numbers > 0) & (numbers < 5)).any(), f"{csv.name}.{column}"
    assert hidden > 0                                                          # suppressed cells are marked
    assert withheld > 0 and pinned_breakdown_cells(folder, 5) == []            # none can be worked out from
    assert pinned_days(*[pd.read_csv(folder / "data" / f"{name}.csv", dtype=str, keep_default_na=False) for name in
                         ("06_growth_and_adoption__fleet_changes", "01_fleet_overview__added_and_removed")], 5) == []
    blank = [f"{page.name} {name} {text}" for page in sorted(folder.glob("0*.html"))   # ... and drawn, never as
             for name, place in chart_places(page.read_text()).items()                 # nothing
             for text, marks in (("< 5", ("fewer than 5 (hidden)", "\\u003c 5", "< 5")),
                                 (f",{WITHHELD}", ("hidden (would give one away)",)))
             if text in (folder / "data" / f"{page.stem}__{name}.csv").read_text()
             and 'class="chart-empty"' not in place and not any(m in place for m in marks)]
    assert blank == []
    for entry in json.loads((folder / "figures.json").read_text()):
        if isinstance(entry["value"], (int, float)) and entry["id"] in COUNT_IDS:
            assert not 0 < entry["value"] < 5, entry
    assert "counts under 5 are hidden" in visible_text(folder / "index.html")
    assert_figures_consistent(folder)


#: the count columns of the report's CSVs (how many instances, rows, pings or changes)
COUNTS = {"instances", "active_1d", "active_7d", "active_28d", "added", "removed", "active", "active_core",
          "adopters", "total", "retained", "cohort_size", "changes", "rows", "pings", "instance_days",
          "several_ip_hashes", "rows_read", "loaded", "duplicates", "quarantined", "pending"}
COUNT_IDS = {"active_1d", "active_7d", "active_28d", "weekly_active", "hosted_instances", "remote_instances",
             "added", "removed", "dev_build_instances", "trials_ended_12m", "conversions_12m", "downgrades_12m"}


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
    monkeypatch.setattr(report, "notebooks", lambda: [broken])
    assert report_cli(_env(demo)) == 1
    logs = sorted((demo / "reports" / "logs").glob("report-*.log"))
    assert "boom in a cell" in logs[-1].read_text()


def test_old_reports_are_pruned_to_the_configured_count(tmp_path):
    for day in ("2026-01-01", "2026-01-08", "2026-01-08_2025-01-01_to_2025-06-30", "2026-01-15"):
        (tmp_path / day).mkdir()
    (tmp_path / "logs").mkdir()
    assert report._prune(tmp_path, 2) == ["2026-01-01", "2026-01-08"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-01-08_2025-01-01_to_2025-06-30", "2026-01-15",
                                                          "logs"]
