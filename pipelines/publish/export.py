"""Marts to parquet as one versioned set, switched atomically: readers see the old set or the new one.

Layout: `<parquet_dir>` is a symlink to `<parquet_dir>.sets/<set-id>/`, which holds every
`<mart>.parquet` and `_set.json`. A new set is written to `<parquet_dir>.sets/.<set-id>.partial/`,
each file and the folder are fsynced, the folder is renamed to `<set-id>`, then a temporary symlink
is renamed onto `<parquet_dir>` (rename is atomic) and the parent folder fsynced. The last KEEP sets
stay, so a reader that resolved the link before a switch still finds its files.

`instance_days` (one row per instance and day: the big one) is a folder `instance_days.parquet/`
holding the files of each utc month of `day`: `2024-07.parquet` from the month's first day, then
`2024-07-15.parquet` and so on for days a later refresh added after the month's last (at most
MAX_PIECES files; then the month is rewritten as one). Files without new pings since the previous set
(same models) are hard-linked from it, so one more day writes one small file. Readers
read the folder as one table: `pandas.read_parquet(folder)`, `pyarrow.parquet.read_table(folder)`,
DuckDB `read_parquet('<folder>')` (no partition column is added; rows come in no set order).
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb

SET_FILE = "_set.json"
KEEP = 3
PARTIAL = ".partial"
TRASH = ".trash"


def sets_dir(parquet_dir: Path) -> Path:
    """Return the folder holding every set of a parquet folder: `<parquet_dir>.sets`."""
    parquet_dir = Path(parquet_dir)
    return parquet_dir.with_name(parquet_dir.name + ".sets")


def current_set(parquet_dir: Path) -> Path:
    """Return the folder of the set readers see now, resolving the link once (a real folder: itself)."""
    parquet_dir = Path(parquet_dir)
    if parquet_dir.is_symlink():
        target = Path(os.readlink(parquet_dir))
        return target if target.is_absolute() else parquet_dir.parent / target
    return parquet_dir


def set_info(parquet_dir: Path) -> dict:
    """Return the current set's _set.json as a dict ({} when there is none or it is unreadable)."""
    try:
        return json.loads((current_set(parquet_dir) / SET_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _fsync(path: Path) -> None:
    """Flush a file or folder to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _new_set_id() -> str:
    """Return a sortable, unique set id: UTC time to the microsecond and the writer's pid."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ") + f"-{os.getpid()}"


def _simulated(con) -> bool:
    """Return whether any loaded source was simulated (False for a database without landing tables)."""
    from ..ingest import warehouse

    has_state = con.execute("select count(*) from information_schema.tables"
                            " where table_name = 'source_state'").fetchall()[0][0]
    return bool(warehouse.simulated(con)) if has_state else False


def models_digest() -> str | None:
    """Return the transform's digest of every model's SQL and checks."""
    from ..transform import runner   # the model parser is only needed when writing a set

    return runner.models_digest()



def partitioned() -> dict[str, str]:
    """Return the marts declared `partition = "month"` with their time column (a folder of files per month)."""
    from ..transform.models import build_order

    return {m.name: m.kind.time_column for m in build_order() if m.layer == "marts" and m.kind.partition == "month"}


MONTH = "%Y-%m"
#: most files a month of a partitioned mart is split into before it is rewritten as one
MAX_PIECES = 8


def _has(con, schema: str, name: str) -> bool:
    """Return whether a table or view exists in the database."""
    return bool(con.execute("select count(*) from information_schema.tables where table_schema = $1"
                            " and table_name = $2", [schema, name]).fetchall()[0][0])


def last_load(con) -> str | None:
    """Return the warehouse's newest load as `<load_id>@<its start time>` (None without a load log).

    The start time tells this warehouse's load N from another (rebuilt) warehouse's load N.
    """
    if not _has(con, "main", "load_log"):
        return None
    rows = con.execute("select load_id, cast(started_at as varchar) from main.load_log"
                       " order by load_id desc limit 1").fetchall()
    return f"{rows[0][0]}@{rows[0][1]}" if rows else "0@"


def _same_load(con, mark: str) -> bool:
    """Return whether this warehouse holds the load a `last_load` mark names."""
    load_id, _, started = mark.partition("@")
    if load_id == "0":
        return True
    rows = con.execute("select cast(started_at as varchar) from main.load_log where load_id = $1",
                       [int(load_id)]).fetchall()
    return rows == [(started,)]


def _touched_months(con, since: int) -> dict[str, date] | None:
    """Return each month (YYYY-MM, utc) with pings loaded after load `since` and its first such day (None: unknown)."""
    if not _has(con, "staging", "stg_pings"):
        return None
    rows = con.execute(f"select strftime(\"day\", '{MONTH}'), min(\"day\") from staging.stg_pings where load_id > $1"
                       " group by 1", [since]).fetchall()
    return dict(rows)


def _reusable(con, previous: Path | None, info: dict, name: str) -> tuple[Path | None, dict[str, date]]:
    """Return (previous set folder, the first changed day of each month changed since it) when the files of
    mart `name` in it may be linked: the mart's model is unchanged (same fingerprint) and the set was
    written from this warehouse."""
    try:
        before = json.loads((previous / SET_FILE).read_text()) if previous else {}
    except (OSError, ValueError):
        before = {}
    mark = before.get("load")
    now = info.get("fingerprints", {}).get(name)
    same_model = now is not None and before.get("fingerprints", {}).get(name) == now
    if not same_model or not mark or not _same_load(con, mark):
        return None, {}
    touched = _touched_months(con, int(mark.partition("@")[0]))
    return (previous, touched) if touched is not None else (None, {})


def _piece_start(path: Path, month: date) -> date | None:
    """Return the first day a month's file covers (`2024-07.parquet`: the 1st, `2024-07-15.parquet`: the 15th)."""
    stem = path.name.removesuffix(".parquet")
    if stem == month.strftime(MONTH):
        return month
    try:
        start = date.fromisoformat(stem)
    except ValueError:
        return None
    return start if start.replace(day=1) == month else None


def _pieces(old: Path | None, month: date) -> list[tuple[date, Path]] | None:
    """Return a month's files in the previous set by the first day each covers ([]: none, None: not ours)."""
    paths = sorted(old.glob(f"{month.strftime(MONTH)}*.parquet")) if old and old.is_dir() else []
    pieces = [(_piece_start(p, month), p) for p in paths]
    return None if any(start is None for start, _ in pieces) else sorted(pieces)


def _last_day(con, path: Path, column: str) -> date | None:
    """Return the largest value of a date column in a parquet file, from its footer's statistics."""
    return con.execute("select max(cast(stats_max as date)) from parquet_metadata($1) where path_in_schema = $2",
                       [str(path), column]).fetchall()[0][0]


def _month_plan(con, pieces: list[tuple[date, Path]] | None, month: date, first: date | None,
                column: str) -> tuple[list[Path], date | None]:
    """Return (previous files to link, first day to write from, None: nothing) for one month.

    A month untouched since the previous set is linked whole. New days after the month's last one are
    one more file (up to MAX_PIECES files a month; then the month is rewritten as one). A change to an
    earlier day rewrites the month from the file holding that day on.
    """
    if not pieces:
        return [], month
    if first is None:
        return [p for _, p in pieces], None
    if len(pieces) < MAX_PIECES and (last := _last_day(con, pieces[-1][1], column)) is not None and first > last:
        return [p for _, p in pieces], first
    keep = [p for start, p in pieces if start <= first][:-1] if len(pieces) < MAX_PIECES else []
    return keep, pieces[len(keep)][0] if keep else month


def _write_partitioned(con, name: str, column: str, target: Path, previous: Path | None,
                       touched: dict[str, date]) -> None:
    """Write one mart as target/<month>[-<day>].parquet files, linking what is unchanged since the previous set.

    Each file is one COPY of a utc date range: the rows lie in the table roughly by date (they are built
    and appended period by period), so each COPY reads its days' row groups only and holds one file's
    buffers at a time, whatever the table's size.
    """
    target.mkdir()
    months = [m for (m,) in con.execute(
        f"select distinct cast(date_trunc('month', \"{column}\") as date) from marts.{name} order by 1").fetchall()]
    old = previous / f"{name}.parquet" if previous else None
    for month in months:
        linked, start = _month_plan(con, _pieces(old, month), month, touched.get(month.strftime(MONTH)), column)
        for path in linked:
            os.link(path, target / path.name)
        if start is not None:
            end = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
            label = month.strftime(MONTH) if start == month else start.isoformat()
            con.execute(f"copy (select * from marts.{name} where \"{column}\" >= $1 and \"{column}\" < $2)"
                        f" to '{target / f'{label}.parquet'}' (format parquet, compression zstd)", [start, end])
    if not months:
        con.execute(f"copy (select * from marts.{name} limit 0) to '{target / 'empty.parquet'}' (format parquet)")
    for path in target.iterdir():
        _fsync(path)
    _fsync(target)


def _write_set(con, folder: Path, names: list[str], info: dict, previous: Path | None = None) -> None:
    """Write every mart and _set.json into folder, each file fsynced, then the folder."""
    folder.mkdir(parents=True)
    by_month = partitioned()
    for name in names:
        target = folder / f"{name}.parquet"
        if name in by_month:
            _write_partitioned(con, name, by_month[name], target, *_reusable(con, previous, info, name))
            continue
        con.execute(f"copy (select * from marts.{name}) to '{target}' (format parquet, compression zstd)")
        _fsync(target)
    (folder / SET_FILE).write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    _fsync(folder / SET_FILE)
    _fsync(folder)


def _migrate(parquet_dir: Path, sets: Path) -> None:
    """Move a real parquet folder left by older versions into the sets, so a link can replace it."""
    if parquet_dir.is_dir() and not parquet_dir.is_symlink():
        os.rename(parquet_dir, sets / f"{_new_set_id()}-legacy")


def _switch(parquet_dir: Path, target: Path) -> None:
    """Point parquet_dir at target atomically (tmp symlink renamed onto it), then fsync the parent."""
    link = parquet_dir.with_name(f".{parquet_dir.name}.{os.getpid()}.link")
    link.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, parquet_dir.parent), link)
    os.replace(link, parquet_dir)
    _fsync(parquet_dir.parent)


def prune(parquet_dir: Path, keep: int = KEEP) -> None:
    """Remove sets beyond the newest `keep` (never the current one) and partial sets of dead writers.

    A set is first renamed to a hidden `.trash` name (atomic), then deleted, so a kill mid-delete
    never leaves a half set under a set's name.
    """
    sets = sets_dir(parquet_dir)
    current = current_set(parquet_dir).name
    done = sorted((p for p in sets.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)
    for old in done[keep:]:
        if old.name != current:
            trash = sets / f".{old.name}{TRASH}"
            os.rename(old, trash)
    for partial in sets.glob(f".*{PARTIAL}"):
        pid = partial.name.removesuffix(PARTIAL).rsplit("-", 1)[-1]
        if not (pid.isdigit() and Path(f"/proc/{pid}").exists()):
            shutil.rmtree(partial, ignore_errors=True)
    for trash in sets.glob(f".*{TRASH}"):
        shutil.rmtree(trash, ignore_errors=True)


def export(con: duckdb.DuckDBPyConnection, parquet_dir: Path, names: list[str] | None = None,
           info: dict | None = None, full: bool = False) -> list[Path]:
    """Write every mart as a new set and switch parquet_dir to it; return `<parquet_dir>/<mart>.parquet`.

    `info` adds keys to _set.json (simulated, models_digest and load are filled in when not given).
    Unchanged months of a partitioned mart are hard-linked from the current set unless full.
    On any failure the partial set is removed and the previous set stays current.
    """
    parquet_dir = Path(parquet_dir)
    sets = sets_dir(parquet_dir)
    sets.mkdir(parents=True, exist_ok=True)
    from ..transform import runner

    names = names or runner.marts()
    set_id = _new_set_id()
    partial = sets / f".{set_id}{PARTIAL}"
    meta = {"set_id": set_id, "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "marts": names, **(info or {})}
    meta.setdefault("simulated", _simulated(con))
    meta.setdefault("models_digest", models_digest() or "")
    meta.setdefault("fingerprints", {r.partition(".")[2]: f for r, f in runner.fingerprints().items()
                                     if r.startswith("marts.")})
    meta.setdefault("load", last_load(con))
    previous = current_set(parquet_dir) if parquet_dir.is_symlink() and not full else None
    try:
        _write_set(con, partial, names, meta, previous)
        os.rename(partial, sets / set_id)
        _fsync(sets)
        _migrate(parquet_dir, sets)
        _switch(parquet_dir, sets / set_id)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    prune(parquet_dir)
    return [parquet_dir / f"{name}.parquet" for name in names]
