"""figures.json against the pages and against independent truth, on a fleet no other test uses; a
report of a range beside the whole report; the demo kept apart from configured sources."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import TEST_KEY, ping_line, write_lines
from pipelines import flow
from pipelines import settings as settings_mod
from pipelines.publish import export, figures, marts, report
from pipelines.publish.context import Context
from pipelines.publish.pages import fleet as fleet_page
from pipelines.tools.simulate import write_fleet
from reporting import (assert_equal_truth, assert_figures_consistent, environment, figures_of, report_cli,
                       truth_figures, visible_text)

START, END = "2024-09-01", "2025-06-30"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """A fleet of its own (seed, size and span no other test uses), with its truth; one whole-data report."""
    base = tmp_path_factory.mktemp("figures")
    write_fleet(base / "fleet", instances=90, start="2024-03-01", end="2025-10-15", seed=23, key=TEST_KEY.encode())
    env = environment(base, [base / "fleet" / "pinglog"])
    assert report_cli(env) == 0
    return base, env, (base / "reports" / "latest").resolve()


def test_one_calendar_rule_says_when_a_week_or_month_is_over():
    # truth: a week (Monday to Sunday) is over on its Sunday, a month on its last day; nothing of pandas' calendar
    for day in pd.date_range("2024-02-20", "2024-03-12"):
        monday = day - pd.Timedelta(days=day.weekday())
        first = day.replace(day=1)
        assert marts.period_start(day, "week") == monday and marts.period_start(day, "month") == first
        assert marts.over_by(monday, "week", day) == (day.weekday() == 6), day
        assert marts.over_by(first, "month", day) == ((day + pd.Timedelta(days=1)).day == 1), day
    starts = pd.Series(pd.to_datetime(["2024-02-01", "2024-03-01"]))
    assert marts.over_by(starts, "month", "2024-02-29").tolist() == [True, False]   # leap day ends February
    days = pd.Series(pd.date_range("2024-02-20", "2024-03-12"))                      # a column: day by day
    for period in ("week", "month"):
        assert marts.period_start(days, period).tolist() == [marts.period_start(d, period) for d in days]


def test_every_figure_is_on_its_page_once_and_equals_independent_truth(fleet):
    base, _, folder = fleet
    found = assert_figures_consistent(folder)
    as_of = next(e["as_of"] for e in figures_of(folder) if e["id"] == "active_1d")
    assert as_of == "2025-10-15"
    assert_equal_truth(found, truth_figures(base / "fleet" / "truth", as_of))


def test_a_ranged_report_states_its_range_everywhere_keeps_the_whole_report_and_describes_its_end(fleet):
    base, env, whole = fleet
    before = {p.name: p.read_bytes() for p in whole.glob("*.html")}
    assert report_cli(env, "--start", START, "--end", END) == 0
    ranged = next(p for p in (base / "reports").iterdir() if p.name.endswith(f"_{START}_to_{END}"))
    assert (base / "reports" / "latest").resolve() == whole                        # latest: the whole data
    assert {p.name: p.read_bytes() for p in whole.glob("*.html")} == before        # nothing replaced
    for page in ranged.glob("*.html"):
        assert f"Range shown: {START} to {END}" in visible_text(page), page.name
    found = assert_figures_consistent(ranged)
    entries = {e["id"]: e for e in figures_of(ranged) if e["page"] == "index.html"}
    assert entries["active_1d"]["as_of"] == END and entries["weekly_active"]["as_of"] == "2025-06-23"
    assert_equal_truth(found, truth_figures(base / "fleet" / "truth", END))
    assert_no_period_runs_past(ranged / "data", pd.Timestamp(END))
    cohorts = pd.read_parquet(base / "fleet" / "truth" / "retention_day28.parquet")
    whole = cohorts[(pd.to_datetime(cohorts["whole_from"]) <= pd.Timestamp(END)) & (cohorts["eligible"] > 0)]
    quoted = next(e for e in figures_of(ranged) if e["id"] == "retained_day_28_share")
    assert quoted["as_of"] == str(whole["cohort_month"].max())[:10]   # a cohort every member of which was 28 days old


def test_a_range_ending_inside_an_alert_run_quotes_the_run_as_it_stood_on_its_last_day(fleet):
    base, env, _ = fleet
    truth = pd.read_parquet(base / "fleet" / "truth" / "alerts.parquet")
    truth["checked_day"] = pd.to_datetime(truth["checked_day"])
    last = truth.sort_values("checked_day").groupby(["check", "subject", "run_first_day"]).tail(1)
    crossing = truth[(truth["run_days"] >= 2) & truth.set_index(["check", "subject", "run_first_day"]).index.isin(
        last[last["run_days"] > 3].set_index(["check", "subject", "run_first_day"]).index)]
    at = crossing.sort_values("checked_day").iloc[0]   # the 2nd day of a run that goes on 2 or more days after it
    end = f"{at['checked_day']:%Y-%m-%d}"
    assert report_cli(env, "--start", START, "--end", end) == 0
    ranged = next(p for p in (base / "reports").iterdir() if p.name.endswith(f"_{START}_to_{end}"))
    index = visible_text(ranged / "index.html")
    assert f"all: {at['value']:,.0f} since {at['run_first_day']:%Y-%m-%d} ({at['run_days']} days)" in index, index
    table = pd.read_csv(ranged / "data" / "05_data_quality__alerts.csv")
    assert (pd.to_datetime(table["last_day"]) <= pd.Timestamp(end)).all()
    opened = table[table["state"] == "open"]
    on_end = truth[truth["checked_day"] == pd.Timestamp(end)]
    assert sorted(zip(opened["check"], opened["subject"], opened["days"])) == \
        sorted(zip(on_end["check"], on_end["subject"], on_end["run_days"]))


def test_a_week_the_data_starts_inside_is_never_quoted_as_the_last_complete_week(fleet):
    base, env, _ = fleet
    # the fleet's data starts on friday 2024-03-01: the week of 2024-02-26 holds 3 of its days
    truth = pd.read_parquet(base / "fleet" / "truth" / "headline_weekly.parquet").set_index("week")
    assert not truth["complete"].iloc[0] and truth["complete"].iloc[1] and pd.isna(truth["wow_growth"].iloc[1])
    folder = marts.resolve(base / "data" / "parquet")
    assert figures.Scope(folder, end="2024-03-08").week is None
    assert figures.weekly(figures.Scope(folder, end="2024-03-08")) == {}
    assert figures.Scope(folder, end="2024-03-10").week == pd.Timestamp(truth.index[1])
    assert report_cli(env, "--start", "2024-03-01", "--end", "2024-03-08") == 0
    ranged = next(p for p in (base / "reports").iterdir() if p.name.endswith("_2024-03-01_to_2024-03-08"))
    index = visible_text(ranged / "index.html")
    assert "No weekly figures: no week (Monday to Sunday) lies wholly within the data by 2024-03-08." in index
    # the 7 days to friday 2024-03-08 lie in the data; the 28 days reach before it: their count covers 8 days
    assert "Active instances, 7 days (only" not in index
    assert "Active instances, 28 days (only 8 days in the data)" in index
    covered = {e["id"]: e["value"] for e in figures_of(ranged) if e["id"] in ("active_7d_days", "active_28d_days")}
    assert covered == {"active_28d_days": 8}
    assert "A change shown as – is not known: that earlier window reaches before the first day with data" in index
    # on day 4 the 7 days reach before the data too: page 1's title says so, as the index does
    early = Context("t", folder, end="2024-03-04")
    assert fleet_page.active_title(early).endswith(" instances seen in the 7 days to 4 Mar 2024 (only 4 days in the data)")
    assert figures.daily(early.scope)["active_28d_days"].text == "4 days"
    assert {e["id"] for e in figures_of(ranged)}.isdisjoint({"weekly_active", "weekly_active_growth", "newest_line"})
    growth = visible_text(ranged / "06_growth_and_adoption.html")   # 8 days from a friday: no whole week to draw
    assert "No whole week (Monday to Sunday) lies in this date range: this chart draws whole weeks." in growth
    assert "No instance was active" not in growth and "week of –" not in growth


def assert_no_period_runs_past(data: Path, end: pd.Timestamp) -> None:
    """Assert no chart CSV of a range ending before the data holds a week or month that runs past its end (its
    count would take in days after it): every week's Sunday, month's and retention cell's last day by the end."""
    checked = set()
    for path in data.glob("*.csv"):
        df = pd.read_csv(path)
        for column, last in (("week", lambda d: d + pd.Timedelta(days=6)),
                             ("month", lambda d: d + pd.offsets.MonthEnd(0))):
            if column in df and len(df):
                assert last(pd.to_datetime(df[column])).max() <= end, (path.name, column)
                checked.add(path.name)
        if {"cohort_month", "months_since"} <= set(df.columns) and len(df):
            cells = [pd.Timestamp(m) + pd.DateOffset(months=int(n)) + pd.offsets.MonthEnd(0)
                     for m, n in zip(df["cohort_month"], df["months_since"])]
            assert max(cells) <= end, path.name
            checked.add(path.name)
    assert {"06_growth_and_adoption__growth_bands.csv", "07_retention_and_upgrades__retention.csv",
            "02_version_adoption__version_lines.csv", "04_license_types__trials_ended.csv"} <= checked, checked


def test_a_configured_source_after_the_demo_leaves_the_demo_alone_and_shows_no_banner(tmp_path, monkeypatch):
    env = environment(tmp_path, None)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    demo = settings_mod.load()
    # a small demo fleet where the demo is written (the default one is 2,000 instances)
    write_fleet(demo.demo_dir, instances=30, start="2025-01-01", end="2025-04-30", seed=31, key=TEST_KEY.encode(),
                formats=("pinglog",), with_truth=False)
    page = [report.NOTEBOOKS_DIR / "03_driver_mix.py"]
    first = flow.report(demo, log=lambda m: None, pages=page)
    assert first.parent == Path(demo.reports_dir) / "demo"
    demo_set = export.set_info(demo.parquet_dir)["set_id"]
    demo_figures = figures_of(first)

    src = write_lines(tmp_path / "mine" / "pings.jsonl", [ping_line(f"mine-{i}", at="2025-05-02T10:00:00Z")
                                                          for i in range(3)])
    monkeypatch.setenv("PINGS_SOURCES", str(src))
    real = settings_mod.load()
    folder = flow.report(real, log=lambda m: None, pages=page)
    assert folder.parent == Path(real.reports_dir)
    text = (folder / "03_driver_mix.html").read_text() + (folder / "index.html").read_text()
    assert "simulated-banner" not in text and "Simulated demo data" not in text
    assert "1 source: " in visible_text(folder / "index.html")
    assert figures.seen(figures.Scope(marts.resolve(real.parquet_dir)))["instances_seen"].value == 3

    assert export.set_info(demo.parquet_dir)["set_id"] == demo_set                   # the demo untouched
    monkeypatch.delenv("PINGS_SOURCES")
    again = flow.report(settings_mod.load(), log=lambda m: None, pages=page)
    assert [(e["id"], e["value"]) for e in figures_of(again)] == [(e["id"], e["value"]) for e in demo_figures]
    assert json.loads((again / "figures.json").read_text())
