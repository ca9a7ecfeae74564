"""The report side of hostile input, on the real report and its real CSV files: floods of distinct values
stay readable and bounded, and no cell a spreadsheet would evaluate reaches a CSV as it came."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from conftest import TEST_KEY, ping_line, write_lines
from pipelines.publish.safe_csv import TRIGGERS
from pipelines.tools.simulate import write_fleet
from reporting import environment, report_cli, visible_text

FLOOD = 3000
LAST = "2025-06-30"
#: what anyone can POST: values a spreadsheet would run as formulas
INJECTED = {"driver": "=cmd|' /C calc'!A0", "license": "+SUM(1,2)", "os": "@SUM(1)", "arch": "-2+3"}


def _hostile(i: int) -> str:
    """One flood ping: its own version, driver, licence type, OS and payload key."""
    return ping_line(f"flood-{i}", at=f"{LAST}T{i % 24:02d}:{i % 60:02d}:00.{i % 1000:03d}Z",
                     env={"flowforge": f"9.{i}.0"}, os={"type": f"os{i}", "arch": "x64"},
                     platform={"config": {"driver": f"drv{i}"}, "license": {"type": f"lic{i}"},
                               "counts": {f"flood{i}": 1}})


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A small real (not simulated) fleet, a flood of 3,000 distinct values on its last day, formula cells."""
    base = tmp_path_factory.mktemp("hostile")
    write_fleet(base / "fleet", instances=40, start="2025-01-01", end=LAST, seed=41, key=TEST_KEY.encode(),
                formats=("pinglog",), with_truth=False)
    (base / "fleet" / "SIMULATED").unlink()                       # as real data arrives
    lines = [_hostile(i) for i in range(FLOOD)]
    lines += [ping_line(f"formula-{i}", at=f"{LAST}T23:00:0{i}.000Z", env={"flowforge": "2.20.0"},
                        os={"type": INJECTED["os"], "arch": INJECTED["arch"]},
                        platform={"config": {"driver": INJECTED["driver"]}, "license": {"type": INJECTED["license"]}})
              for i in range(6)]
    write_lines(base / "hostile" / f"pings-{LAST}.jsonl", lines)
    assert report_cli(environment(base, [base / "fleet" / "pinglog", base / "hostile"])) == 0
    return (base / "reports" / "latest").resolve()


def _cells(folder: Path):
    """Yield (csv name, column, raw cell) of every CSV the report wrote."""
    for path in sorted((folder / "data").glob("*.csv")):
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
        for row in rows[1:]:
            for column, cell in zip(rows[0], row):
                yield path.name, column, cell


def _number(cell: str) -> bool:
    """True when a cell is a number (a negative number is not a formula)."""
    try:
        float(cell)
        return True
    except ValueError:
        return False


def test_no_csv_cell_would_be_evaluated_by_a_spreadsheet_and_numbers_stay_numbers(hostile):
    cells = list(_cells(hostile))
    risky = [(n, c, v) for n, c, v in cells if v.startswith(TRIGGERS) and not _number(v)]
    assert risky == []
    neutralised = {v for _, _, v in cells if v.startswith("'")}
    for value in ("'=cmd|' /c calc'!a0", "'+SUM(1,2)", "'@SUM(1)/-2+3"):   # drivers lower case, licences upper
        assert value in neutralised, value
    assert any(_number(v) and v.startswith("-") for _, _, v in cells)       # negative growth stays a number


def test_floods_of_distinct_values_are_named_at_most_eight_per_chart_and_the_rest_counted(hostile):
    for name in ("03_driver_mix__driver_share", "04_license_types__license_share",
                 "01_fleet_overview__platform_os_arch", "02_version_adoption__version_lines"):
        df = pd.read_csv(hostile / "data" / f"{name}.csv")
        assert df.groupby("week")["category"].nunique().max() <= 8, name
    drivers = visible_text(hostile / "03_driver_mix.html")
    assert f"'other': the rest, {FLOOD - 3:,} more values in the week of 30 Jun 2025" in drivers   # 4 real names, 3 floods
    index = visible_text(hostile / "index.html")
    assert f"and {FLOOD - 5:,} more" in index                      # new payload keys: 5 named, the rest counted
    assert sum(index.count(f"flood{i}:") for i in range(FLOOD)) <= 5
    keys = visible_text(hostile / "05_data_quality.html")
    assert "more keys, not listed" in keys


def test_a_flood_keeps_the_report_small(hostile):
    size = sum(p.stat().st_size for p in hostile.rglob("*") if p.is_file())
    assert size < 8 * 1024 * 1024, f"{size / 1e6:.1f} MB"
    assert (hostile / "index.html").stat().st_size < 100_000
    for page in hostile.glob("0*.html"):
        assert page.stat().st_size < 2_000_000, page.name
