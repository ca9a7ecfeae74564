"""What file-based loaders share: per-file state, fingerprints, torn tails and byte ranges."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import duckdb

from ..landing import Counts

HEAD = 64 * 1024
TAIL = 4 * 1024


@dataclass
class FileState:
    """How much of one file the warehouse has consumed."""

    bytes_done: int = 0
    rows_done: int = 0
    size: int | None = None
    mtime: float | None = None
    head_sha: str | None = None
    pending: int = 0
    status: str = "ok"


def get_state(con: duckdb.DuckDBPyConnection, source: str, item: str) -> FileState | None:
    """Return the stored state of one file, or None when never loaded."""
    row = con.execute(
        "select bytes_done, rows_done, size, mtime, head_sha, pending, status"
        " from source_state where source = $1 and item = $2",
        [source, item],
    ).fetchone()
    return FileState(*row) if row else None


def put_state(con, source: str, item: str, st: FileState, message: str | None = None) -> None:
    """Insert or replace the state of one file."""
    con.execute(
        """insert or replace into source_state
           (source, item, bytes_done, rows_done, size, mtime, head_sha, pending, status, message, last_loaded_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now()::timestamp)""",
        [source, item, st.bytes_done, st.rows_done, st.size, st.mtime, st.head_sha, st.pending,
         st.status, message],
    )


def fingerprint(path: Path, upto: int) -> str:
    """Return a SHA-256 over the first 64 KiB and the last 4 KiB of the file's first `upto` bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(min(upto, HEAD)))
        if upto > HEAD:
            fh.seek(max(HEAD, upto - TAIL))
            h.update(fh.read(upto - max(HEAD, upto - TAIL)))
    h.update(str(upto).encode())
    return h.hexdigest()


def complete_end(path: Path, size: int) -> int:
    """Return the byte offset just past the last newline before `size` (0 when there is none)."""
    with open(path, "rb") as fh:
        pos = size
        while pos > 0:
            step = min(65536, pos)
            fh.seek(pos - step)
            chunk = fh.read(step)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                return pos - step + idx + 1
            pos -= step
    return 0


def copy_range(path: Path, start: int, end: int, prefix: bytes = b"") -> Path:
    """Copy bytes [start, end) of a file (after `prefix`) into a temp file and return its path."""
    fd, tmp = tempfile.mkstemp(suffix=path.suffix or ".txt", prefix="pings-range-")
    with os.fdopen(fd, "wb") as out, open(path, "rb") as fh:
        out.write(prefix)
        fh.seek(start)
        remaining = end - start
        while remaining > 0:
            chunk = fh.read(min(1 << 20, remaining))
            if not chunk:
                break
            out.write(chunk)
            remaining -= len(chunk)
    return Path(tmp)


def warn(message: str) -> None:
    """Print a loud warning on stderr."""
    bar = "!" * 78
    print(f"{bar}\nWARNING: {message}\n{bar}", file=sys.stderr, flush=True)


def new_load(con, source: str, item: str) -> int:
    """Open a load_log row and return its load_id."""
    load_id = con.execute("select nextval('load_id_seq')").fetchone()[0]
    con.execute(
        "insert into load_log (load_id, source, item, started_at) values ($1, $2, $3, now()::timestamp)",
        [load_id, source, item],
    )
    return load_id


def close_load(con, load_id: int, counts: Counts, note: str | None = None) -> None:
    """Write the counts of a finished load."""
    con.execute(
        """update load_log set finished_at = now()::timestamp, rows_read = $2, loaded = $3,
           duplicates = $4, quarantined = $5, note = $6 where load_id = $1""",
        [load_id, counts.read, counts.loaded, counts.duplicates, counts.quarantined, note],
    )


# land_range(con, path_to_read, first_line_number, load_id) lands the rows of path_to_read
RangeLoader = Callable[[duckdb.DuckDBPyConnection, Path, int, int], Counts]


def load_file(con, source: str, path: Path, land_range: RangeLoader, header_bytes: bool = False) -> tuple[Counts, int]:
    """Load what is new in one file; return (counts, pending torn lines).

    Plain files are read from the last consumed byte up to their last newline; a torn final
    line is left pending. Gzip files are read whole, once. A file whose consumed part changed
    is reported loudly and not read.
    """
    item = str(path)
    st = os.stat(path)
    prev = get_state(con, source, item)
    if prev and prev.size == st.st_size and prev.mtime == st.st_mtime and prev.status == "ok":
        return Counts(), prev.pending
    gz = path.name.lower().endswith(".gz")
    state = prev or FileState()
    if prev and prev.bytes_done > 0:
        changed = (
            gz
            or st.st_size < prev.bytes_done
            or fingerprint(path, prev.bytes_done) != prev.head_sha
        )
        if changed:
            msg = (f"{item} changed after it was loaded (its loaded part differs); it is NOT re-read,"
                   " so nothing is counted twice. Restore the file or move new data to a new file.")
            warn(msg)
            state.status = "changed"
            put_state(con, source, item, state, msg)
            return Counts(), state.pending
    end = st.st_size if gz else complete_end(path, st.st_size)
    start = state.bytes_done
    pending = 0 if gz or end == st.st_size else 1
    counts = Counts()
    if end > start:
        header = b""
        if header_bytes and start > 0:
            with open(path, "rb") as fh:
                header = fh.readline()
        direct = start == 0 and end == st.st_size
        to_read = path if direct else copy_range(path, start, end, header)
        try:
            load_id = new_load(con, source, item)
            first_line = state.rows_done + 1 + (1 if header_bytes else 0)
            counts = land_range(con, to_read, first_line, load_id)
            close_load(con, load_id, counts)
        finally:
            if not direct:
                to_read.unlink(missing_ok=True)
        if direct and os.stat(path).st_size != st.st_size:
            raise RuntimeError(f"{item} grew while it was read; the load is rolled back and retried next time")
        state.rows_done += counts.read
        state.bytes_done = end
        state.head_sha = fingerprint(path, end) if not gz else None
    state.size, state.mtime, state.pending, state.status = st.st_size, st.st_mtime, pending, "ok"
    put_state(con, source, item, state)
    return counts, pending
