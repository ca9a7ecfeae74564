"""The benchmark script runs end to end at a tiny size and reports every measure (no timing asserted)."""

from __future__ import annotations

import json
import shutil
import sys

import duckdb

from conftest import ping_line, require, write_lines
from pipelines.ingest.sources import files
from pipelines.tools import bench
from pipelines.__main__ import main


def test_bench_runs_every_step_and_writes_json_and_table(tmp_path):
    out = tmp_path / "bench.json"
    status = main(["bench", "--rows", "20000", "--out", str(out), "--work-dir", str(tmp_path / "work"),
                   "--skip-collector", "--skip-report", "--profile-rows", "20000"])
    assert status == 0
    results = json.loads(out.read_text())
    size = results["sizes"][0]
    for key in ("rows", "full_refresh_s", "incremental_s", "nothing_new_s", "duckdb_copy_s", "landing_floor_s", "pandas_s",
                "peak_rss_mb"):
        assert size[key] is not None and size[key] > 0, key
    assert size["failed"] == []
    assert size["nothing_new_wrote_parquet"] is False      # the third refresh found nothing new and skipped export
    assert set(size["full_stages"]) == {"landing_s", "models_s", "export_s"}   # the profile of a full refresh
    table = out.with_suffix(".md").read_text()
    for target in ("landing/copy (≤1.5)", "| floor/copy |", "full/copy (≤2.5)", "pandas/full (≥8)", "day/full (≤0.03)",
                   "nothing new s (<2)", "(≤1024)"):
        assert target in table
    assert f"{size['rows']:,}" in table and results["machine"] in table
    steps = dict(size["profile"]["steps"])                  # every statement of the full refresh, by step
    assert {"landing", "model", "checks", "parquet"} <= set(steps)
    ranked = size["profile"]["statements"]
    assert [r[3] for r in ranked] == sorted((r[3] for r in ranked), reverse=True)
    assert any(step == "landing" and "raw_pings" in text for step, text, _, _ in ranked)
    assert "Per statement, the full refresh" in table


def test_a_run_that_would_fill_the_disk_stops_before_its_first_step_with_one_line(tmp_path, capsys):
    out, work = tmp_path / "bench.json", tmp_path / "work"
    status = main(["bench", "--rows", "20000", "--rows", "10000000000000", "--out", str(out), "--work-dir",
                   str(work), "--keep-fleets", "--skip-collector", "--skip-report", "--profile-rows", "0"])
    said = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(said) == 1 and "GB free" in said[0] and "--keep-fleets" in said[0], said
    assert not out.exists() and list(work.iterdir()) == []          # nothing simulated, nothing written
    kept = bench.disk_needed([20000, 40000], work, keep=True)       # fleets kept already need no room
    (work / "fleet-40000").mkdir()
    (work / "fleet-40000" / bench.FLEET_FILE).write_text("{}")
    assert bench.disk_needed([20000, 40000], work, keep=True) == kept - 40000 * bench.FLEET_BYTES
    assert bench.disk_needed([20000, 40000], work, keep=False) == 40000 * (bench.FLEET_BYTES + bench.WORK_BYTES)


def test_a_kept_fleet_is_reused_by_the_next_run(tmp_path):
    work, said = tmp_path / "work", []
    first = bench.bench_size(20000, work, _env(tmp_path), 0, said.append, keep=True)
    kept = work / "fleet-20000"
    assert (kept / bench.FLEET_FILE).exists() and any((kept / "pinglog").glob("*.jsonl"))
    second = bench.bench_size(20000, work, _env(tmp_path), 0, said.append, keep=True)
    assert any("reusing the fleet kept in" in line for line in said)
    assert second["rows"] == first["rows"] > 0 and second["pings"] == first["pings"] and second["failed"] == []
    assert main(["bench", "--rows", "20000", "--keep-fleets", "--skip-collector", "--skip-report",
                 "--out", str(tmp_path / "b.json")]) == 2     # nowhere to keep them: one line, exit 2


def _env(tmp_path) -> dict:
    """Return the environment a benchmark step runs in (a keyed hash, a data folder of its own)."""
    import os

    return {**os.environ, "PINGS_IP_HASH_KEY": bench.BENCH_KEY, "PINGS_DATA_DIR": str(tmp_path / "data"),
            "PINGS_SETTINGS": os.devnull}


def test_collector_load_test_with_wrk_is_bounded_and_every_acknowledged_ping_is_on_disk(tmp_path):
    env = {"PINGS_IP_HASH_KEY": "k" * 16, "PINGS_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    if not shutil.which("wrk", path=env["PATH"]):
        require("wrk", "Debian package wrk, the collector's load generator")
    result = bench.bench_collector(tmp_path, env, seconds=2, connections=8, generator="wrk")
    assert result["generator"] == "wrk" and result["statuses"]["non_2xx"] == 0
    assert 0 < result["acknowledged"] <= result["stored"]
    assert result["per_second"] > 0 and result["p99_ms"] >= result["p50_ms"] > 0
    assert result["server_cpu"] > 0 and result["generator_cpu"] > 0
    assert "wrk -t1 -c8 -d2s" in bench.collector_line(result)


def test_collector_load_test_falls_back_to_the_python_client(tmp_path):
    env = {"PINGS_IP_HASH_KEY": "k" * 16, "PINGS_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = bench.bench_collector(tmp_path, env, pings=500, workers=4, generator="python")
    assert result["statuses"] == {"200": 500} and result["stored"] == 500
    assert result["per_second"] > 0 and result["p99_ms"] >= result["p50_ms"] > 0
    assert "Python client" in bench.collector_line(result)


def test_the_table_marks_a_failed_step_and_says_whether_the_largest_size_completed():
    size = {"requested": 64_000_000, "rows": 59_489_602, "full_refresh_s": 1600.0, "incremental_s": 20.0, "nothing_new_s": 0.5,
            "duckdb_copy_s": 170.0, "pandas_s": None, "peak_rss_mb": 850.0, "rows_per_s": 37_000,
            "full_stages": {"landing_s": 1000.0}, "nothing_new_wrote_parquet": False}
    ok = bench.markdown({"machine": "m", "when": "w", "sizes": [{**size, "failed": []}]})
    assert "59,489,602 pings: completes ✓" in ok and "failed" not in ok
    # a full refresh that dies reads fewer rows than asked: the size still counts as the 64M one
    bad = bench.markdown({"machine": "m", "when": "w", "sizes": [{**size, "rows": 58_907, "failed": ["full"]}]})
    assert "| 58,907 ✗ failed: full |" in bad and "58,907 pings: FAILED ✗" in bad
    # nothing is judged from a failed step: no rate, no ratio built on it, its peak memory unmarked
    cells = [c.strip() for c in next(line for line in bad.splitlines() if line.startswith("| 58,907")).split("|")]
    assert cells[3] == "-" and cells[8] == "850.0 (failed)" and cells[9:13] == ["-", "-", "-", "-"], cells
    day = bench.markdown({"machine": "m", "when": "w", "sizes": [{**size, "failed": ["incremental", "nothing_new"]}]})
    cells = [c.strip() for c in next(line for line in day.splitlines() if line.startswith("| 59,489,602")).split("|")]
    assert cells[3] == "37,000 (1.00 ✓)" and cells[5] == "-" and cells[12] == "-" and cells[8] == "850.0 ✓", cells
    copy_only = bench.markdown({"machine": "m", "when": "w", "sizes": [{**size, "failed": ["duckdb_copy"]}]})
    assert "completes ✓" in copy_only and "✗ failed: duckdb_copy" in copy_only


def test_a_missed_target_never_reads_as_its_own_bound():
    small = {"requested": 1_000_000, "rows": 935_675, "full_refresh_s": 17.2, "incremental_s": 0.517, "nothing_new_s": 0.8,
             "duckdb_copy_s": 6.88, "pandas_s": 136.9, "peak_rss_mb": 600.0, "rows_per_s": 54_400,
             "full_stages": {"landing_s": 10.33}, "nothing_new_wrote_parquet": False, "failed": []}
    mid = {**small, "requested": 16_000_000, "rows": 14_896_965, "rows_per_s": 48_791}   # 0.8969 of the 1M rate
    big = {**mid, "requested": 64_000_000, "rows": 59_489_602}
    table = bench.markdown({"machine": "m", "when": "w", "sizes": [small, mid, big]})
    cells = [[c.strip() for c in line.split("|")] for line in table.splitlines() if line.startswith(("| 935", "| 14,", "| 59,"))]
    assert cells[2][3] == "48,791 (0.897 ✗)", cells[2]
    # 1.5015, 2.5000, 7.959 and 0.03006 against 1.5, 2.5, 8 and 0.03: the bound itself is met, the rest say their side
    assert [cells[0][i] for i in (9, 11, 12)] == ["1.501 ✗", "2.50 ✓", "7.96 ✗"], cells[0]
    assert cells[1][13] == "0.0301 ✗", cells[1]
    assert cells[0][10] == "-"        # no floor measured: no floor/copy


def test_a_ratio_is_judged_only_at_the_sizes_its_target_names():
    # the targets: landing/copy at 1M and 16M, full/copy at 1M, 16M and 64M, rows/s at 64M, pandas/full at
    # 1M, day/full at 16M; elsewhere the same ratio is shown with no mark
    one = {"requested": 1_000_000, "rows": 935_675, "full_refresh_s": 20.0, "incremental_s": 1.0, "nothing_new_s": 0.8,
           "duckdb_copy_s": 2.0, "pandas_s": 100.0, "peak_rss_mb": 600.0, "rows_per_s": 50_000,
           "full_stages": {"landing_s": 8.0}, "nothing_new_wrote_parquet": False, "failed": []}
    sizes = [one, {**one, "requested": 4_000_000, "rows": 3_727_859, "rows_per_s": 40_000},
             {**one, "requested": 16_000_000, "rows": 14_896_965, "rows_per_s": 40_000},
             {**one, "requested": 64_000_000, "rows": 59_489_602, "rows_per_s": 40_000}]
    table = bench.markdown({"machine": "m", "when": "w", "sizes": sizes})
    rows = [[c.strip() for c in line.split("|")] for line in table.splitlines() if line.startswith(("| 935", "| 3,", "| 14,", "| 59,"))]
    # columns: 3 rows/s, 9 landing/copy (4.00), 11 full/copy (10.00), 12 pandas/full (5.0), 13 day/full (0.050)
    assert [r[3] for r in rows] == ["50,000 (1.00)", "40,000 (0.80)", "40,000 (0.80)", "40,000 (0.80 ✗)"]
    assert [r[9] for r in rows] == ["4.00 ✗", "4.00", "4.00 ✗", "4.00"]
    assert [r[11] for r in rows] == ["10.00 ✗", "10.00", "10.00 ✗", "10.00 ✗"]
    assert [r[12] for r in rows] == ["5.0 ✗", "5.0", "5.0", "5.0"]
    assert [r[13] for r in rows] == ["0.050", "0.050", "0.050 ✗", "0.050"]
    assert [r[5] for r in rows] == ["0.8 ✓"] * 4 and [r[8] for r in rows] == ["600.0 ✓"] * 4   # bounds at every size
    assert "day/full at 16M" in table and "rows/s (vs the smallest size) at 64M" in table


def _id_and_version(line: str) -> list:
    """Return a ping-log line's [instanceId, env.flowforge] by json.loads; [None, None] for a line that is no JSON."""
    if not line.startswith("{"):
        return [None, None]
    payload = json.loads(line)["payload"]
    return [payload["instanceId"], payload["env"]["flowforge"]]


def test_the_floor_stores_every_line_of_every_group_with_the_landings_paths(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "GROUP_BYTES", 700)      # two files (342 bytes each) a group: groups of 2 and 1
    log = tmp_path / "pinglog"
    lines = {f"pings-2024-07-0{d}.jsonl": [ping_line(f"i-{d}-{k}", env={"flowforge": f"2.{k}.0"}) for k in range(3)]
             + ["not json"] for d in range(1, 4)}
    for name, text in lines.items():
        write_lines(log / name, text)
    assert [len(g) for g in files.pack(sorted(log.glob("*.jsonl")), lambda p: p.stat().st_size)] == [2, 1]
    db = tmp_path / "floor.duckdb"
    monkeypatch.setattr(sys, "argv", ["floor", str(log), str(db), "512MB"])
    exec(bench.LANDING_FLOOR, {})        # in this process, so the floor groups by the GROUP_BYTES set above
    con = duckdb.connect(str(db), read_only=True)
    got = sorted(con.execute("select filename, f4, f5 from landed").fetchall(), key=str)
    want = sorted(((str(log / name), *_id_and_version(t)) for name, ts in lines.items() for t in ts), key=str)
    assert got == want      # every line read, a bad one with NULL values; the instance id and version at their paths
