"""flow.refresh: a refresh with nothing new does no model work and writes no parquet; the set records its origin."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from conftest import mart, ping_line, query, run, write_lines
from pipelines import flow
from pipelines.publish import export
from pipelines.publish.status import render, snapshot
from pipelines.transform import runner


def _files(parquet: Path) -> dict[str, bytes]:
    """Return every file of the current set (partition folders walked) with its bytes."""
    folder = export.current_set(parquet)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_refresh_with_nothing_new_skips_models_and_export(cfg, tmp_path):
    src = write_lines(tmp_path / "src" / "a.jsonl", [ping_line("i-1"), ping_line("i-2", at="2024-07-02T08:00:00.000Z")])
    first = run(cfg, src.parent)
    assert not first.skipped and first.written
    info, before = export.set_info(cfg.parquet_dir), _files(cfg.parquet_dir)
    assert info["models_digest"] == runner.models_digest()

    said: list[str] = []
    again = flow.refresh(cfg, [str(src.parent)], progress=said.append)
    assert again.skipped and again.written == [] and again.counts.read == 0
    assert any(line.startswith("nothing new") for line in said)
    assert _files(cfg.parquet_dir) == before                       # same set, byte-identical

    write_lines(src, [ping_line("i-1"), ping_line("i-2", at="2024-07-02T08:00:00.000Z"), ping_line("i-3")])
    third = run(cfg, src.parent)
    assert not third.skipped and third.counts.loaded == 1
    assert export.set_info(cfg.parquet_dir)["set_id"] != info["set_id"]


def test_a_torn_line_completed_later_is_new_work(cfg, tmp_path):
    src = write_lines(tmp_path / "src" / "a.jsonl", [ping_line("i-1")], torn=ping_line("i-2")[:20])
    run(cfg, src.parent)
    assert run(cfg, src.parent).skipped
    src.write_text(ping_line("i-1") + "\n" + ping_line("i-2") + "\n")
    assert not run(cfg, src.parent).skipped


def test_the_set_says_when_its_pings_were_simulated(cfg, tmp_path):
    src = write_lines(tmp_path / "fleet" / "pinglog" / "a.jsonl", [ping_line("i-1")])
    (tmp_path / "fleet" / "SIMULATED").write_text("written by the simulator\n")
    run(cfg, src.parent)
    assert export.set_info(cfg.parquet_dir)["simulated"] is True


def test_status_shows_the_last_check_results_below_the_sources(cfg, tmp_path):
    run(cfg, write_lines(tmp_path / "src" / "a.jsonl", [ping_line("i-1")]).parent)
    df, checks = snapshot(cfg)
    text = render(df, checks=checks)
    assert text.index("total: read 1") < text.index("checks (last run")
    assert f"{len(checks)} passed, 0 not passed" in text


def _months(parquet: Path) -> dict[str, int]:
    """Return each instance_days file of the current set with its inode."""
    return {p.name: p.stat().st_ino for p in (export.current_set(parquet) / "instance_days.parquet").iterdir()}


def test_instance_days_is_one_file_per_month_and_one_more_day_adds_one_file(cfg, tmp_path):
    src = tmp_path / "src"
    lines = [ping_line("i-1", at="2024-06-30T23:59:59.000Z"), ping_line("i-2", at="2024-07-01T00:00:00.000Z"),
             ping_line("i-1", at="2024-07-02T08:00:00.000Z")]
    write_lines(src / "a.jsonl", lines)
    run(cfg, src)
    first = _months(cfg.parquet_dir)
    assert sorted(first) == ["2024-06.parquet", "2024-07.parquet"]

    write_lines(src / "b.jsonl", [ping_line("i-3", at="2024-07-03T10:00:00.000Z")])
    said: list[str] = []
    flow.refresh(cfg, [str(src)], progress=said.append)
    second = _months(cfg.parquet_dir)
    assert sorted(second) == ["2024-06.parquet", "2024-07-03.parquet", "2024-07.parquet"]
    assert second["2024-06.parquet"] == first["2024-06.parquet"]       # linked from the previous set
    assert second["2024-07.parquet"] == first["2024-07.parquet"]       # linked: the new day is a file of its own
    assert any(line.strip().startswith("model marts.active_daily (incremental") for line in said)

    # every reader sees the folder as the one table, with no partition column added
    folder = Path(cfg.parquet_dir) / "instance_days.parquet"
    warehouse_rows = query(cfg, "select instance_id, \"day\", pings from marts.instance_days order by 1, 2")
    df = mart(cfg, "instance_days")
    assert list(df.columns) == [c for (c,) in query(cfg, "select column_name from information_schema.columns"
                                                        " where table_name = 'instance_days' order by ordinal_position")]
    assert sorted(zip(df.instance_id, pd.to_datetime(df.day).dt.date, df.pings)) == warehouse_rows
    assert duckdb.sql(f"select instance_id, \"day\", pings from read_parquet('{folder}') order by 1, 2").fetchall() \
        == warehouse_rows

    full = flow.refresh(cfg, [str(src)], progress=lambda m: None, full=True)
    assert not full.skipped and not set(_months(cfg.parquet_dir).values()) & set(second.values())
    assert mart(cfg, "instance_days").sort_values(["instance_id", "day"]).reset_index(drop=True).equals(
        df.sort_values(["instance_id", "day"]).reset_index(drop=True))


def _readers_see_the_warehouse(cfg) -> None:
    """Assert pandas and DuckDB read the instance_days folder as exactly the warehouse's rows."""
    rows = query(cfg, "select instance_id, \"day\", pings from marts.instance_days order by 1, 2")
    df = mart(cfg, "instance_days")
    assert sorted(zip(df.instance_id, pd.to_datetime(df.day).dt.date, df.pings)) == rows
    folder = Path(cfg.parquet_dir) / "instance_days.parquet"
    assert duckdb.sql(f"select instance_id, \"day\", pings from read_parquet('{folder}') order by 1, 2").fetchall() == rows


def test_a_changed_earlier_day_rewrites_its_month_from_the_file_holding_it(cfg, tmp_path, monkeypatch):
    src = tmp_path / "src"
    step = iter(range(100))

    def add(*pings) -> dict[str, int]:
        """Land pings (instance, utc time) as one more file, refresh, return the instance_days files."""
        write_lines(src / f"{next(step):02d}.jsonl", [ping_line(i, at=at) for i, at in pings])
        run(cfg, src)
        _readers_see_the_warehouse(cfg)
        return _months(cfg.parquet_dir)

    monkeypatch.setattr(export, "MAX_PIECES", 3)
    first = add(("i-1", "2024-07-01T08:00:00.000Z"), ("i-1", "2024-06-10T08:00:00.000Z"))
    assert sorted(first) == ["2024-06.parquet", "2024-07.parquet"]
    second = add(("i-1", "2024-07-03T08:00:00.000Z"))
    assert second["2024-07.parquet"] == first["2024-07.parquet"] and "2024-07-03.parquet" in second

    # another ping on the last file's day rewrites that file only
    third = add(("i-2", "2024-07-03T09:00:00.000Z"))
    assert sorted(third) == sorted(second) and third["2024-07.parquet"] == first["2024-07.parquet"]
    assert third["2024-07-03.parquet"] != second["2024-07-03.parquet"]

    # a late ping on an earlier day rewrites from the file holding it: here the whole month, as one file
    fourth = add(("i-3", "2024-07-02T08:00:00.000Z"))
    assert sorted(fourth) == ["2024-06.parquet", "2024-07.parquet"]
    assert fourth["2024-07.parquet"] != first["2024-07.parquet"] and fourth["2024-06.parquet"] == first["2024-06.parquet"]

    # new days add files up to MAX_PIECES a month; one more rewrites the month as one file
    fifth = add(("i-1", "2024-07-04T08:00:00.000Z"))
    sixth = add(("i-1", "2024-07-05T08:00:00.000Z"))
    assert sorted(sixth) == ["2024-06.parquet", "2024-07-04.parquet", "2024-07-05.parquet", "2024-07.parquet"]
    assert sixth["2024-07-04.parquet"] == fifth["2024-07-04.parquet"]
    seventh = add(("i-1", "2024-07-06T08:00:00.000Z"))
    assert sorted(seventh) == ["2024-06.parquet", "2024-07.parquet"]
    assert seventh["2024-07.parquet"] != sixth["2024-07.parquet"]


def test_a_change_to_a_middle_file_drops_the_files_after_it(cfg, tmp_path, monkeypatch):
    src = tmp_path / "src"
    monkeypatch.setattr(export, "MAX_PIECES", 4)
    for n, day in enumerate(["2024-07-01", "2024-07-04", "2024-07-05"]):
        write_lines(src / f"{n}.jsonl", [ping_line("i-1", at=f"{day}T08:00:00.000Z")])
        run(cfg, src)
    before = _months(cfg.parquet_dir)
    assert sorted(before) == ["2024-07-04.parquet", "2024-07-05.parquet", "2024-07.parquet"]
    write_lines(src / "3.jsonl", [ping_line("i-2", at="2024-07-04T09:00:00.000Z")])
    run(cfg, src)
    after = _months(cfg.parquet_dir)
    assert sorted(after) == ["2024-07-04.parquet", "2024-07.parquet"]      # 07-05's rows now in the 07-04 file
    assert after["2024-07.parquet"] == before["2024-07.parquet"] and after["2024-07-04.parquet"] != before["2024-07-04.parquet"]
    _readers_see_the_warehouse(cfg)
