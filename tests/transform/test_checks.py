"""Checks beside the models: each kind counts the rows that break it, the files name real models, and a
failing check fails the refresh, keeps the previous marts and records its results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import ping_line, query, run, write_lines
from pipelines.ingest.landing import REASONS
from pipelines import settings as settings_mod
from pipelines.transform import checks, models
from pipelines.transform.replaced import Keys


@pytest.fixture
def con():
    """An in-memory DuckDB with marts.instances (a, b) and marts.days (a duplicate, an orphan, a null)."""
    c = duckdb.connect()
    c.execute("create schema marts")
    c.execute("create table marts.instances as select * from (values ('a'), ('b')) v(instance_id)")
    c.execute("create table marts.days as select * from (values ('a', 1, 'x'), ('a', 1, 'y'), ('c', 2, 'z'),"
              " (null, 3, null)) v(instance_id, \"day\", kind)")
    yield c
    c.close()


def _failing(con, spec) -> dict[str, int]:
    """Return {check: failing rows} for checks declared on marts.days."""
    return {f"{c.kind} {c.detail}": con.execute(c.sql, c.params).fetchall()[0][0]
            for c in checks._checks_of("marts", "days", spec)}


def test_each_kind_of_check_counts_the_rows_that_break_it(con):
    got = _failing(con, {
        "unique": ["instance_id", "day"],
        "not_null": ["instance_id", "day"],
        "accepted_values": {"kind": ["x", "y"]},
        "relationships": {"instance_id": "marts.instances.instance_id"},
    })
    assert got == {
        "unique instance_id, day": 1,                            # (a, 1) twice: one key broken
        "not_null instance_id": 1, "not_null day": 0,
        "accepted_values kind in ['x', 'y']": 1,                 # z; a null is not checked
        "relationships instance_id -> marts.instances.instance_id": 1,   # c
    }
    assert _failing(con, {"unique": [["day", "kind"], ["kind"]]}) == {"unique day, kind": 0, "unique kind": 0}


def test_an_incremental_build_checks_the_rows_it_replaced_in_one_scan_per_model(con):
    spec = {"unique": ["instance_id", "day"], "not_null": ["instance_id", "day"],
            "accepted_values": {"kind": ["x", "y"]}, "relationships": {"instance_id": "marts.instances.instance_id"}}
    declared = checks._checks_of("marts", "days", spec)
    whole = {f"{o.check.kind} {o.check.detail}": o.failing_rows for o in checks.run(con, declared)}
    assert whole == _failing(con, spec)
    # the rows of day 1 were replaced: the duplicate among them still fails; the rest is not re-read
    con.execute('create temp table replaced_keys as select distinct instance_id, "day" from marts.days where "day" = 1')
    replaced = Keys("replaced_keys", ("instance_id", "day"))
    scoped = {f"{o.check.kind} {o.check.detail}": o.failing_rows
              for o in checks.run(con, declared, {"marts.days": replaced})}
    assert scoped == {"unique instance_id, day": 1, "not_null instance_id": 0, "not_null day": 0,
                      "accepted_values kind in ['x', 'y']": 0,
                      "relationships instance_id -> marts.instances.instance_id": 0}
    assert not con.execute("select * from duckdb_tables() where table_name like 'check_rows%'").fetchall()


def test_a_large_unique_check_runs_one_group_of_days_at_a_time_and_finds_every_duplicate():
    c = duckdb.connect()
    c.execute("create schema marts")
    # 40 days x 5 rows; duplicates on the first day, across no group boundary, and among NULL days
    c.execute("""create table marts.pings as
        select 'i' || (r % 5) as instance_id, timestamp '2024-07-01 10:00' + to_days(cast(r // 5 as integer)) as received_at
        from range(200) t(r)
        union all select 'i0', timestamp '2024-07-01 10:00'
        union all select 'i3', timestamp '2024-07-20 10:00'
        union all select 'i1', timestamp '2024-08-09 10:00'
        union all select 'x', null union all select 'x', null""")
    unique, = checks._checks_of("marts", "pings", {"unique": ["instance_id", "received_at"]})
    column, ranges = checks._day_groups(c, unique, "marts.pings", chunk_rows=30)
    assert column == "received_at" and len(ranges) > 5 and ranges[0][0] is None
    one_pass = c.execute(unique.sql).fetchall()[0][0]
    assert one_pass == 4
    assert checks._unique_in_groups(c, unique, column, ranges) == one_pass
    outcome, = checks.run(c, [unique], chunk_rows=30)
    assert outcome.failing_rows == 4
    c.close()


def test_accepted_values_can_be_read_from_the_code():
    quarantine = [c for c in checks.load() if c.model == "quarantine" and c.kind == "accepted_values"]
    assert quarantine and quarantine[0].params == [list(REASONS)]
    with pytest.raises(ValueError):
        checks._values("os:sep")


def test_the_checks_files_name_only_real_models():
    names = [m.name for m in models.discover()]
    declared = checks.load(names)
    assert {c.layer for c in declared} == set(models.LAYERS)
    with pytest.raises(ValueError, match="unknown"):
        checks._checks_of("marts", "x", {"uniq": ["a"]})
    with pytest.raises(ValueError, match="unknown model"):
        checks.load(names[:1])


def _files(folder: Path) -> dict[str, bytes]:
    """Return the bytes of every parquet file of the current set (partition folders walked)."""
    root = Path(folder).resolve()
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.parquet")) if p.is_file()}


def test_a_failing_check_keeps_the_previous_marts(tmp_path, monkeypatch):
    monkeypatch.setenv("PINGS_SOURCES", str(tmp_path / "in"))   # configured: the command line uses this warehouse
    cfg = settings_mod.load()
    run(cfg, write_lines(tmp_path / "in" / "a.jsonl", [ping_line("a", at="2024-07-01T10:00:00Z")]))
    before = _files(cfg.parquet_dir)
    assert "instances.parquet" in before
    # corrupt the landing: a quarantine reason the code does not know
    con = duckdb.connect(str(cfg.warehouse))
    con.execute("insert into quarantine (load_id, source, location, reason, raw)"
                " values (1, 'x', 'x:1', 'no_such_reason', '')")
    con.close()
    write_lines(tmp_path / "in" / "b.jsonl", [ping_line("b", at="2024-07-02T10:00:00Z")])
    with pytest.raises(checks.ChecksFailed, match=r"marts.quarantine accepted_values"):
        run(cfg, tmp_path / "in")
    assert _files(cfg.parquet_dir) == before
    assert query(cfg, "select count(*) from marts.instances") == [(1,)]          # the build was rolled back
    failed = query(cfg, "select model, \"check\", failing_rows from main.check_results where status = 'fail'")
    assert ("quarantine", "accepted_values", 1) in failed

    # the command line: one line on stderr, a non-zero exit, no traceback
    write_lines(tmp_path / "in" / "c.jsonl", [ping_line("c", at="2024-07-03T10:00:00Z")])
    out = subprocess.run([sys.executable, "-m", "pipelines", "refresh", "--source", str(tmp_path / "in")],
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "check(s) failed" in out.stderr and "Traceback" not in out.stderr
    assert _files(cfg.parquet_dir) == before
