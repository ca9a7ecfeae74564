"""The parquet set: versioned folders switched atomically by a symlink; a kill never shows a mixed set."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.publish import export

MARTS = ["alpha", "beta", "gamma"]


def _marts_con(generation: int, rows: int = 1000) -> duckdb.DuckDBPyConnection:
    """Return an in-memory DuckDB whose marts all carry one generation number."""
    con = duckdb.connect()
    con.execute("create schema marts")
    for name in MARTS:
        con.execute(f"create table marts.{name} as select {generation} as gen, range as n from range({rows})")
    return con


def _generation(folder: Path) -> set[int]:
    """Return the generations found across every mart of a set folder."""
    return {g for name in MARTS for g in pq.read_table(folder / f"{name}.parquet", columns=["gen"])["gen"].to_pylist()}


def test_a_set_is_a_versioned_folder_behind_a_symlink_with_its_description(tmp_path):
    parquet = tmp_path / "parquet"
    written = export.export(_marts_con(1), parquet, MARTS, info={"state_digest": "s1"})
    assert written == [parquet / f"{m}.parquet" for m in MARTS]
    assert parquet.is_symlink() and not os.readlink(parquet).startswith("/")   # relative: the folder can move
    current = export.current_set(parquet)
    assert current.parent == tmp_path / "parquet.sets" and current.is_dir()
    info = export.set_info(parquet)
    assert set(info) >= {"set_id", "built_at", "simulated", "models_digest", "marts", "state_digest"}
    assert info["set_id"] == current.name and info["marts"] == MARTS and info["simulated"] is False
    assert info["models_digest"] == export.models_digest()
    assert _generation(parquet) == {1}
    assert export.set_info(tmp_path / "nowhere") == {}


def test_older_sets_are_kept_three_deep_and_a_real_folder_is_migrated(tmp_path):
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    (parquet / "alpha.parquet").write_bytes(b"from an older version")
    for generation in range(1, 6):
        export.export(_marts_con(generation), parquet, MARTS)
    sets = sorted(p.name for p in (tmp_path / "parquet.sets").iterdir())
    assert len(sets) == export.KEEP and export.current_set(parquet).name == sets[-1]
    assert _generation(parquet) == {5}


def test_a_failed_export_leaves_the_previous_set_current_and_no_partial_set(tmp_path):
    parquet = tmp_path / "parquet"
    export.export(_marts_con(1), parquet, MARTS)
    before = export.current_set(parquet)
    with pytest.raises(duckdb.Error):
        export.export(_marts_con(2), parquet, MARTS + ["missing_mart"])
    assert export.current_set(parquet) == before and _generation(parquet) == {1}
    assert [p.name for p in (tmp_path / "parquet.sets").iterdir()] == [before.name]


WRITER = textwrap.dedent("""
    import sys
    import duckdb
    from pipelines.publish import export
    parquet, start = sys.argv[1], int(sys.argv[2])
    generation = start
    while True:
        con = duckdb.connect()
        con.execute("create schema marts")
        for name in ("alpha", "beta", "gamma"):
            con.execute(f"create table marts.{name} as select {generation} as gen, range as n from range(200000)")
        export.export(con, parquet, ["alpha", "beta", "gamma"], info={"gen": generation})
        con.close()
        print(generation, flush=True)
        generation += 1
""")


def _read_once(parquet: Path) -> int | None:
    """Read every mart of the current set once; return its one generation, None when the set was pruned."""
    folder = export.current_set(parquet)
    try:
        gens = _generation(folder)
        info = json.loads((folder / export.SET_FILE).read_text())
    except FileNotFoundError:
        assert not folder.exists(), f"set {folder.name} is half there"   # pruned whole, never half
        return None
    assert len(gens) == 1 and info["gen"] in gens, f"mixed set {folder.name}: {gens}, {info}"
    return gens.pop()


def test_a_kill_during_export_never_leaves_a_mixed_set_visible(tmp_path):
    parquet = tmp_path / "parquet"
    export.export(_marts_con(0), parquet, MARTS, info={"gen": 0})
    rng = random.Random(10)
    env = {**os.environ, "PYTHONPATH": str(Path(export.__file__).parents[2])}
    seen: set[int] = set()
    killed_mid_export = 0
    for round_ in range(1, 7):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(parquet), str(round_ * 1000)],
                                  stdout=subprocess.PIPE, text=True, env=env)
        stop = threading.Event()
        errors: list[BaseException] = []

        def read_until_stopped() -> None:
            while not stop.is_set():
                try:
                    gen = _read_once(parquet)
                except BaseException as exc:  # handed to the test thread
                    errors.append(exc)
                    return
                if gen is not None:
                    seen.add(gen)

        reader = threading.Thread(target=read_until_stopped)
        reader.start()
        assert writer.stdout.readline().strip() == str(round_ * 1000)   # one set published, then kill later
        stop.wait(rng.uniform(0.0, 0.6))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        stop.set()
        reader.join()
        if errors:
            raise errors[0]
        assert _read_once(parquet) is not None                          # after the kill: one whole set
        killed_mid_export += any(n.endswith(export.PARTIAL) for n in os.listdir(tmp_path / "parquet.sets"))
        assert all(n.startswith(".") or (tmp_path / "parquet.sets" / n / export.SET_FILE).exists()
                   for n in os.listdir(tmp_path / "parquet.sets"))      # finished sets are whole
    export.export(_marts_con(99), parquet, MARTS, info={"gen": 99})
    assert _read_once(parquet) == 99
    assert not [n for n in os.listdir(tmp_path / "parquet.sets") if n.startswith(".")]   # debris cleared
    assert len(seen) > 6   # the readers saw many sets come and go
    print(f"{killed_mid_export} of 6 kills landed while a set was being written")
