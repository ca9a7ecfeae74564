"""The command line under bad settings, bad arguments and failing disks: one line, a non-zero exit, no loss.

Every case runs `python -m pipelines` as a real subprocess on real files, a real DuckDB warehouse and,
for a full or read-only disk, a real small tmpfs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import duckdb

from conftest import ping_line, require, write_lines
from pipelines import locking, settings as settings_mod
from pipelines.__main__ import build_parser
from pipelines.publish import export

KEY = "a-test-key-of-32-bytes-for-the-cli"
COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)


def cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    """Run `python -m pipelines ARGS` with extra environment variables; return the finished process."""
    full = {**os.environ, "PINGS_IP_HASH_KEY": KEY, **env}
    full["PYTHONPATH"] = str(settings_mod.PROJECT_ROOT)
    return subprocess.run([sys.executable, "-m", "pipelines", *args], capture_output=True, text=True,
                          env=full, cwd=cwd, timeout=300)


def one_line(proc: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """Assert the process exited `code` with exactly one error line on stderr (no traceback); return it."""
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "error:" in line.lower()]
    assert len(lines) == 1, proc.stderr
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]
    return lines[0]


def _catalogue(tmp: Path) -> list[tuple[list[str], dict, int, str]]:
    """Return the bad invocations: (args, environment, exit status, a word the one line must hold)."""
    (tmp / "a-file").write_text("x")
    (tmp / "a-dir").mkdir()
    bad_toml = tmp / "bad.toml"
    bad_toml.write_text("sources = [\n")
    typo_toml = tmp / "typo.toml"
    typo_toml.write_text('warehous = "w.duckdb"\n')
    type_toml = tmp / "type.toml"
    type_toml.write_text('reports_keep = "12"\n')
    empty_toml = tmp / "empty.toml"
    empty_toml.write_text("sources = []\n")
    cases = [
        (["refresh"], {"PINGS_MEMORY_LIMIT": "lots"}, 2, "PINGS_MEMORY_LIMIT"),
        (["refresh"], {"PINGS_SOURCES": ",,"}, 2, "PINGS_SOURCES"),
        (["refresh"], {"PINGS_REPORT_MIN_COUNT": "many"}, 2, "PINGS_REPORT_MIN_COUNT"),
        (["refresh"], {"PINGS_SETTINGS": str(bad_toml)}, 2, "not valid TOML"),
        (["refresh"], {"PINGS_SETTINGS": str(typo_toml)}, 2, "unknown key"),
        (["refresh"], {"PINGS_SETTINGS": str(type_toml)}, 2, "reports_keep"),
        (["refresh"], {"PINGS_SETTINGS": str(empty_toml)}, 2, "sources"),
        (["refresh"], {"PINGS_SETTINGS": str(tmp / "a-dir")}, 2, "PINGS_SETTINGS"),
        (["refresh"], {"PINGS_SETTINGS": str(tmp / "missing.toml")}, 2, "missing.toml"),
        (["refresh"], {"PINGS_PG_TIME_ZONE": "Mars/Olympus_Mons"}, 2, "PINGS_PG_TIME_ZONE"),
        (["refresh"], {"PINGS_CSV_TIME_ZONE": "not a zone"}, 2, "PINGS_CSV_TIME_ZONE"),
        (["refresh"], {"PINGS_WAREHOUSE": str(tmp / "a-dir")}, 2, "PINGS_WAREHOUSE"),
        (["refresh"], {"PINGS_IP_HASH_KEY_FILE": str(tmp / "a-dir"), "PINGS_IP_HASH_KEY": ""}, 2,
         "PINGS_IP_HASH_KEY_FILE"),
        (["refresh"], {"PINGS_PARQUET_DIR": str(tmp / "a-file")}, 2, "PINGS_PARQUET_DIR"),
        (["refresh"], {"PINGS_RECEIVED_AT_MIN": "2021-13-01"}, 2, "PINGS_RECEIVED_AT_MIN"),
        (["refresh", "--warehouse", str(tmp / "a-dir")], {}, 2, "--warehouse"),
        (["refresh", "--source", ""], {}, 2, "--source"),
        (["status", "--warehouse", str(tmp / "a-dir")], {}, 2, "--warehouse"),
        (["status"], {"PINGS_REPORTS_KEEP": "-1"}, 2, "PINGS_REPORTS_KEEP"),
        (["collect", "--port", "70000"], {}, 2, "--port"),
        (["collect", "--port", "http"], {}, 2, "--port"),
        (["collect", "--trusted-proxy", "10.0.0.300"], {}, 2, "--trusted-proxy"),
        (["collect"], {"PINGS_TRUSTED_PROXIES": "proxy.example"}, 2, "PINGS_TRUSTED_PROXIES"),
        (["collect", "--log-dir", str(tmp / "a-file")], {}, 2, "--log-dir"),
        (["simulate", "--out", str(tmp / "s"), "--instances", "-5"], {}, 2, "--instances"),
        (["simulate", "--out", str(tmp / "s"), "--seed", "x"], {}, 2, "--seed"),
        (["simulate", "--out", str(tmp / "s"), "--start", "2024-02-30"], {}, 2, "--start"),
        (["simulate", "--out", str(tmp / "s"), "--start", "2024-05-01", "--end", "2024-01-01"], {}, 2, "--start"),
        (["simulate", "--out", str(tmp / "a-file")], {}, 2, "--out"),
        (["report", "--keep", "-1"], {}, 2, "--keep"),
        (["report", "--min-count", "0"], {}, 2, "--min-count"),
        (["report", "--min-count", "2"], {}, 2, "--min-count"),   # '< 2' could only mean 1
        (["report", "--end", "yesterday"], {}, 2, "--end"),
        (["report"], {"PINGS_CELL_TIMEOUT": "soon"}, 2, "PINGS_CELL_TIMEOUT"),
        (["bench", "--rows", "-1"], {}, 2, "--rows"),
        (["bench", "--out", str(tmp / "a-dir")], {}, 2, "--out"),
        (["nonsense"], {}, 2, "invalid choice"),
        ([], {}, 2, "required"),
    ]
    for command in COMMANDS:   # every command, including any added later
        cases.append(([command, "--no-such-option"], {}, 2, "error"))
        cases.append(([command], {"PINGS_MEMORY_LIMIT": "12 parsecs"}, 2, "error"))
    return cases


def test_every_bad_setting_or_argument_is_one_line_and_exit_2_never_a_traceback(tmp_path):
    cases = _catalogue(tmp_path)
    with ThreadPoolExecutor(4) as pool:
        procs = list(pool.map(lambda c: cli(*c[0], cwd=tmp_path, **c[1]), cases))
    for (args, env, code, word), proc in zip(cases, procs):
        line = one_line(proc, code, word)
        assert len(proc.stderr.strip().splitlines()) == 1, (args, env, proc.stderr)
        assert line.startswith(("error:", "python -m pipelines")), line


def test_every_command_explains_its_settings_in_help():
    for command in COMMANDS:
        proc = cli(command, "--help")
        assert proc.returncode == 0 and "PINGS_" in proc.stdout, command
    assert "PINGS_MEMORY_LIMIT" in cli("refresh", "--help").stdout


def test_a_missing_source_fails_that_source_in_one_line_without_a_traceback(tmp_path):
    proc = cli("refresh", "--source", str(tmp_path / "nowhere.jsonl"))
    assert "Traceback" not in proc.stderr and proc.returncode == 1
    assert "source not found" in proc.stderr


def test_an_unexpected_error_is_one_line_naming_a_log_that_holds_the_traceback(tmp_path):
    not_a_warehouse = tmp_path / "other.duckdb"
    duckdb.connect(str(not_a_warehouse)).close()   # a DuckDB file without the warehouse's tables
    proc = cli("status", "--warehouse", str(not_a_warehouse))
    line = one_line(proc, 1, "CatalogException", "details:")
    log = Path(line.rsplit("details: ", 1)[1].rstrip(")"))
    assert log.is_relative_to(Path(os.environ["PINGS_DATA_DIR"]) / "logs")
    assert "Traceback" in log.read_text()


# --- sources: never a silent demo ---

def test_an_empty_source_folder_is_a_warning_and_never_the_demo(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = cli("refresh", "--source", str(tmp_path / "empty"))
    assert "Traceback" not in proc.stderr
    assert "WARNING" in proc.stderr and "no ping files" in proc.stderr
    assert "demo" not in proc.stderr
    assert not (Path(os.environ["PINGS_DATA_DIR"]) / "demo").exists()


# --- the lock belongs to the warehouse ---

def _sources(tmp_path: Path, n: int = 3, name: str = "a.jsonl") -> Path:
    """Write n pings into tmp_path/src/name and return the folder."""
    lines = [ping_line(f"i-{name}-{i}", at=f"2024-07-{1 + i % 28:02d}T12:00:00.{i % 1000:03d}Z") for i in range(n)]
    write_lines(tmp_path / "src" / name, lines)
    return tmp_path / "src"


def test_status_while_a_refresh_holds_the_warehouse_says_so_and_exits_75(tmp_path, monkeypatch):
    src = _sources(tmp_path)
    monkeypatch.setenv("PINGS_SOURCES", str(src))     # configured: status shows their warehouse, not the demo's
    assert cli("refresh", "--source", str(src)).returncode == 0
    cfg = settings_mod.load()
    with locking.exclusive(cfg.lock_file, "refresh"):
        con = duckdb.connect(str(cfg.warehouse))   # a refresh has the file open for writing
        try:
            one_line(cli("status"), 75, "refresh")
            one_line(cli("refresh", "--source", str(src)), 75, "another refresh is running")
        finally:
            con.close()
    assert cli("status").returncode == 0


def test_one_warehouse_has_one_writer_whichever_settings_point_at_it(tmp_path):
    cfg = settings_mod.load(sources=[str(tmp_path / "src")])
    alias = tmp_path / "alias"
    Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
    alias.symlink_to(cfg.data_dir)
    with locking.exclusive(cfg.lock_file, "refresh"):
        proc = cli("refresh", "--source", str(_sources(tmp_path)),
                   PINGS_DATA_DIR=str(tmp_path / "elsewhere"), PINGS_WAREHOUSE=str(alias / "warehouse.duckdb"))
    one_line(proc, 75, "another refresh is running")


# --- key safety ---

def test_a_different_or_short_key_is_refused_in_one_line_with_exit_2(tmp_path):
    src = _sources(tmp_path)
    assert cli("refresh", "--source", str(src)).returncode == 0
    one_line(cli("refresh", "--source", str(src), PINGS_IP_HASH_KEY="another-key-of-enough-bytes"), 2, "key")
    one_line(cli("refresh", "--source", str(src), PINGS_IP_HASH_KEY="short"), 2, "key")


# --- failing checks, corrupt, read-only and full warehouses: one line, nothing lost ---

def _snapshot(parquet: Path) -> dict[str, bytes]:
    """Return the current set's name and every file's bytes."""
    folder = export.current_set(parquet)
    return {"set": folder.name.encode(),
            **{str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}}


def test_a_failing_model_check_fails_the_refresh_and_keeps_the_previous_set(tmp_path, monkeypatch):
    src = _sources(tmp_path)
    monkeypatch.setenv("PINGS_SOURCES", str(src))
    assert cli("refresh", "--source", str(src)).returncode == 0
    cfg = settings_mod.load()
    before = _snapshot(cfg.parquet_dir)
    con = duckdb.connect(str(cfg.warehouse))
    # a landing bug: every ping landed again, under a later load (the checks of an incremental build read
    # the rows of the new loads and every row sharing a key with them)
    con.execute("insert into raw_pings select * replace (load_id + 1000 as load_id) from raw_pings")
    con.close()
    _sources(tmp_path, 2, "b.jsonl")
    one_line(cli("refresh", "--source", str(src)), 1, "checks failed")
    assert _snapshot(cfg.parquet_dir) == before
    assert "FAIL" in cli("status").stdout


def test_a_corrupt_warehouse_is_one_line_and_left_as_it_is(tmp_path, monkeypatch):
    src = _sources(tmp_path)
    monkeypatch.setenv("PINGS_SOURCES", str(src))
    assert cli("refresh", "--source", str(src)).returncode == 0
    cfg = settings_mod.load()
    before = _snapshot(cfg.parquet_dir)
    Path(cfg.warehouse).write_bytes(b"not a database\n" * 4096)
    one_line(cli("refresh", "--source", str(src)), 1, "warehouse")
    one_line(cli("status"), 1, "warehouse")
    assert Path(cfg.warehouse).read_bytes() == b"not a database\n" * 4096
    assert _snapshot(cfg.parquet_dir) == before


@contextmanager
def tmpfs(folder: Path, size: str):
    """Mount a small tmpfs on folder for the block (root only), unmounting it afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        require("mount -t tmpfs (root)", mounted.stderr.strip() or "mount refused")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _count(cfg) -> int:
    """Return the rows landed in the warehouse."""
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        return con.execute("select count(*) from raw_pings").fetchall()[0][0]
    finally:
        con.close()


def test_a_read_only_disk_is_one_line_naming_it_and_nothing_is_lost(tmp_path, monkeypatch):
    with tmpfs(tmp_path / f"ro-{uuid.uuid4().hex[:6]}", "64m") as disk:
        monkeypatch.setenv("PINGS_DATA_DIR", str(disk / "data"))
        src = _sources(tmp_path)
        monkeypatch.setenv("PINGS_SOURCES", str(src))
        cfg = settings_mod.load()
        assert cli("refresh", "--source", str(src)).returncode == 0
        before, rows = _snapshot(cfg.parquet_dir), _count(cfg)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        _sources(tmp_path, 5, "b.jsonl")
        one_line(cli("refresh", "--source", str(src)), 1, "Read-only file system")
        assert cli("status").returncode == 0   # status still reads it
        assert _snapshot(cfg.parquet_dir) == before and _count(cfg) == rows
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
        assert cli("refresh", "--source", str(src)).returncode == 0
        assert _count(cfg) == rows + 5


def test_a_full_disk_is_one_line_naming_it_and_nothing_is_lost(tmp_path, monkeypatch):
    with tmpfs(tmp_path / f"full-{uuid.uuid4().hex[:6]}", "32m") as disk:
        monkeypatch.setenv("PINGS_DATA_DIR", str(disk / "data"))
        src = _sources(tmp_path)
        monkeypatch.setenv("PINGS_SOURCES", str(src))
        cfg = settings_mod.load()
        assert cli("refresh", "--source", str(src)).returncode == 0
        before, rows = _snapshot(cfg.parquet_dir), _count(cfg)
        _sources(tmp_path, 8000, "b.jsonl")   # a few MB to land: more than the disk has left
        filler = disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\1" * 65536):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        os.truncate(filler, max(0, filler.stat().st_size - 256 * 1024))   # room for the lock, not the load
        proc = cli("refresh", "--source", str(src))
        one_line(proc, 1, "No space left on device")
        assert _snapshot(cfg.parquet_dir) == before
        filler.unlink()
        assert _count(cfg) == rows
        assert not (disk / "data" / "logs").exists()   # an expected failure: no traceback log either
        assert cli("refresh", "--source", str(src)).returncode == 0
        assert _count(cfg) == rows + 8000


# --- the demo and real data apart ---

def test_simulated_and_real_pings_never_share_a_warehouse(tmp_path):
    sim = write_lines(tmp_path / "fleet" / "pinglog" / "a.jsonl", [ping_line("sim-1")]).parent
    (tmp_path / "fleet" / "SIMULATED").write_text("written by the simulator\n")
    real = _sources(tmp_path)
    old = tmp_path / "warehouse.duckdb"    # as older versions kept the demo: in the one default warehouse
    assert cli("refresh", "--source", str(sim), "--warehouse", str(old)).returncode == 0
    one_line(cli("refresh", "--source", str(real), "--warehouse", str(old)), 2, "never mixed")
    demo = Path(os.environ["PINGS_DATA_DIR"]) / "demo" / "warehouse.duckdb"
    one_line(cli("refresh", "--source", str(real), PINGS_WAREHOUSE=str(demo)), 2, "demo")


def test_use_switches_every_command_to_the_sources_and_back_to_the_demo(tmp_path, monkeypatch):
    src = _sources(tmp_path)
    one_line(cli("use", str(src)), 2, "PINGS_SETTINGS")     # /dev/null (no settings file) is never written
    assert Path(os.devnull).is_char_device()
    toml = tmp_path / "pings.toml"
    monkeypatch.setenv("PINGS_SETTINGS", str(toml))
    toml.write_text("")
    proc = cli("use", str(src))
    assert proc.returncode == 0 and "using 1 source" in proc.stdout
    assert str(src) in toml.read_text()
    assert cli("refresh").returncode == 0
    data = Path(os.environ["PINGS_DATA_DIR"])
    assert (data / "warehouse.duckdb").exists() and not (data / "demo").exists()
    assert "total: read 3 = loaded 3" in cli("status").stdout       # status reads the sources' warehouse
    assert cli("use", "--demo").returncode == 0 and "sources" not in toml.read_text()
    one_line(cli("use"), 2, "use")
    one_line(cli("use", str(tmp_path / "missing.csv")), 2, "not found")
