"""What file-based loaders share: per-file state, fingerprints, torn tails, byte ranges, grouped loads.

A file is read from the last byte consumed up to its last newline present when it was opened (its
size is taken once; a torn final line stays pending; lines a writer appends meanwhile wait for the
next refresh). Gzip files are read whole, once. A file whose consumed part changed is reported
loudly and not read again. Anything that is not a regular file (a FIFO, socket or device) is
skipped with a warning, never opened. New, complete files are landed in groups, one statement per
group; a group that fails is retried file by file, so one unreadable file fails alone.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import duckdb

from ...privacy import scrub
from .. import warehouse
from ..landing import Counts
from . import Preview, is_simulated, label

HEAD = 64 * 1024
TAIL = 4 * 1024
GROUP_BYTES = 256 * 1024 * 1024   # new complete files landed together, up to this many bytes


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
    message: str | None = None
    simulated: bool | None = None


@dataclass
class Part:
    """One file's range to land: what DuckDB reads, how it is named and numbered, its new state.

    item and name are labels (sources.label): the file's path and display name, addresses blanked.
    """

    item: str
    name: str
    read_path: Path
    first_line: int
    state: FileState
    temp: bool = False
    load_id: int = 0
    counts: Counts = field(default_factory=Counts)
    lines: int | None = None   # complete lines in the range (line-based sources); rows past it are not read
    path: Path | None = None   # the file itself (read_path may be a temp copy of a range of it)


@dataclass
class Outcome:
    """What loading one source did: totals, torn lines pending, item errors."""

    counts: Counts = field(default_factory=Counts)
    pending: int = 0
    errors: list[str] = field(default_factory=list)


# land_parts(con, parts) builds the batch for the parts (each with its load_id), lands it and
# returns the counts per load_id
PartsLoader = Callable[[duckdb.DuckDBPyConnection, list[Part]], dict[int, Counts]]


def states(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, FileState]:
    """Return the stored state of every file of a source."""
    rows = con.execute(
        "select item, bytes_done, rows_done, size, mtime, head_sha, pending, status, message, simulated"
        " from source_state where source = $1",
        [source],
    ).fetchall()
    return {r[0]: FileState(*r[1:]) for r in rows}


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
            idx = fh.read(step).rfind(b"\n")
            if idx >= 0:
                return pos - step + idx + 1
            pos -= step
    return 0


def _chunks(path: Path, start: int, end: int | None):
    """Yield the bytes [start, end) of a file (a gzip file decompressed, whole, when end is None) in 1 MiB chunks."""
    if end is None:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                yield chunk
        return
    with open(path, "rb") as fh:
        fh.seek(start)
        remaining = end - start
        while remaining > 0:
            chunk = fh.read(min(1 << 20, remaining))
            if not chunk:
                break
            yield chunk
            remaining -= len(chunk)


def scan_lines(path: Path, start: int, end: int | None) -> tuple[int, bool]:
    """Return (newlines in bytes [start, end) or in the whole gzip file when end is None, whether a CR occurs)."""
    lines, cr = 0, False
    for chunk in _chunks(path, start, end):
        lines += chunk.count(b"\n")
        cr = cr or b"\r" in chunk
    return lines, cr


def copy_range(path: Path, start: int, end: int | None, prefix: bytes = b"", cr_to_space: bool = False) -> Path:
    """Copy bytes [start, end) of a file (all of a gzip file when end is None) after `prefix` into a temp file.

    With cr_to_space a raw CR becomes a space: JSON whitespace either way, and the reader splits on LF only.
    """
    suffix = ".csv" if path.name.lower().endswith((".csv", ".csv.gz")) else ".jsonl"
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix="pings-range-")
    with os.fdopen(fd, "wb") as out:
        out.write(prefix)
        for chunk in _chunks(path, start, end):
            out.write(chunk.replace(b"\r", b" ") if cr_to_space else chunk)
    return Path(tmp)


def warn(message: str) -> None:
    """Print a loud warning on stderr (addresses scrubbed)."""
    bar = "!" * 78
    print(f"{bar}\nWARNING: {scrub(message)}\n{bar}", file=sys.stderr, flush=True)


def regular(path: Path) -> bool:
    """Return whether the path is a regular file; anything else (FIFO, socket, device) gets a warning."""
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode):
        return True
    if not stat.S_ISDIR(mode):
        warn(f"{path} is not a regular file (a FIFO, socket or device); it is skipped, never opened")
    return False


def _plan(path: Path, item: str, name: str, prev: FileState | None, header: bool,
          quiet: bool = False) -> Part | FileState | None:
    """Decide what to read of one file: a Part, a FileState to record without reading, or None.

    The size is taken once, here: the part ends at the last newline before it, whatever is appended later.
    Line-based (headerless) parts are scanned once to count their lines and spot raw CRs. `item` and
    `name` are the file's labels; quiet=True (a preview) prints no warning and copies nothing.
    """
    st = os.stat(path)
    if prev and prev.size == st.st_size and prev.mtime == st.st_mtime and prev.status == "ok":
        return None
    gz = path.name.lower().endswith(".gz")
    state = FileState(**vars(prev)) if prev else FileState()
    if prev and prev.bytes_done > 0:
        if gz or st.st_size < prev.bytes_done or fingerprint(path, prev.bytes_done) != prev.head_sha:
            if prev.status != "changed" and not quiet:
                warn(f"{path} changed after it was loaded (its loaded part differs); it is NOT re-read,"
                     " so nothing is counted twice. Restore the file, or put new rows in a new file.")
            state.status, state.message = "changed", "changed after it was loaded; not re-read"
            return state
    end = st.st_size if gz else complete_end(path, st.st_size)
    start = state.bytes_done
    state.size, state.mtime, state.status, state.message = st.st_size, st.st_mtime, "ok", None
    state.pending = 0 if gz or end == st.st_size else 1
    if end <= start:
        return state
    first_line = state.rows_done + 1 + (1 if header else 0)
    state.bytes_done = end
    state.head_sha = None if gz else fingerprint(path, end)
    lines, cr = (None, False) if header else scan_lines(path, start, None if gz else end)
    if quiet:   # a preview: what would be read (a CSV range's records: its lines less a header), nothing copied
        if header:
            lines = scan_lines(path, start, None if gz else end)[0] - (1 if start == 0 else 0)
        return Part(item, name, path, first_line, state, lines=lines, path=path)
    if cr:  # a raw CR would split a line in the reader: copy the range with each CR made a space
        return Part(item, name, copy_range(path, start, None if gz else end, cr_to_space=True), first_line,
                    state, temp=True, lines=lines, path=path)
    if start == 0 and (gz or not header):
        # read in place: line-based parts stop at `lines` even when the file grows meanwhile
        return Part(item, name, path, first_line, state, lines=lines, path=path)
    if start == 0 and end == st.st_size:
        return Part(item, name, path, first_line, state, path=path)
    prefix = b""
    if header and start > 0:
        with open(path, "rb") as fh:
            prefix = fh.readline()
    return Part(item, name, copy_range(path, start, end, prefix), first_line, state, temp=True, lines=lines,
                path=path)


def _save(con, source: str, parts: list[Part], started: float) -> None:
    """Write the load_log rows and the new file states of landed parts (source: its label; started: epoch seconds)."""
    began = datetime.fromtimestamp(started, timezone.utc).replace(tzinfo=None)   # UTC, as to_timestamp gave
    warehouse.insert_rows(
        con, "load_log",
        {"load_id": "integer", "source": "varchar", "item": "varchar", "started_at": "timestamp", "rows_read": "bigint",
         "loaded": "bigint", "duplicates": "bigint", "quarantined": "bigint", "ip_placeholders": "bigint"},
        [[p.load_id, source, p.item, began, p.counts.read, p.counts.loaded, p.counts.duplicates, p.counts.quarantined,
          p.counts.ip_placeholders] for p in parts],
        constants={"finished_at": "now()::timestamp"})
    for p in parts:
        p.state.rows_done += p.counts.read
    _put_states(con, source, [(p.item, p.state) for p in parts])


def _put_states(con, source: str, items: list[tuple[str, FileState]]) -> None:
    """Insert or replace file states."""
    if not items:
        return
    warehouse.insert_rows(
        con, "source_state",
        {"source": "varchar", "item": "varchar", "bytes_done": "bigint", "rows_done": "bigint", "size": "bigint",
         "mtime": "double", "head_sha": "varchar", "pending": "bigint", "status": "varchar", "message": "varchar",
         "simulated": "boolean"},
        [[source, item, s.bytes_done, s.rows_done, s.size, s.mtime, s.head_sha, s.pending, s.status, s.message,
          s.simulated] for item, s in items],
        constants={"last_loaded_at": "now()::timestamp"}, replace=True)


def pack(items: list, size: Callable[[object], int], alone: Callable[[object], bool] = lambda _: False) -> list[list]:
    """Split items, in order, into groups of up to GROUP_BYTES of size(item); alone(item) items, and an item over it, alone."""
    groups: list[list] = []
    current: list = []
    total = 0
    for item in items:
        if alone(item):
            groups.append([item])
            continue
        bytes_ = size(item)
        if current and total + bytes_ > GROUP_BYTES:
            groups.append(current)
            current, total = [], 0
        current.append(item)
        total += bytes_
    if current:
        groups.append(current)
    return groups


def _groups(parts: list[Part], together: bool) -> list[list[Part]]:
    """Split parts into groups: whole plain files together up to GROUP_BYTES, every other part alone."""
    return pack(parts, lambda p: p.state.size or 0,
                lambda p: not together or p.temp or p.read_path.name.lower().endswith(".gz"))


def load_files(con, source: str, files: list[tuple[Path, str]], land_parts: PartsLoader,
               header: bool = False, together: bool = True, progress=None) -> Outcome:
    """Load what is new in the files [(path, display name)] of one source; one transaction per group.

    land_parts gets the source's label (sources.label) through the parts' loader; state, logs and
    errors name files by their labels.
    """
    source = label(con, source)
    known = states(con, source)
    simulated = is_simulated(source)
    outcome = Outcome()
    parts, skipped = _plan_all(con, source, files, known, header, outcome, simulated)
    _put_states(con, source, skipped)
    outcome.pending += sum(s.pending for _, s in skipped)
    groups = _groups(parts, together)
    done = 0
    while groups:
        group = groups.pop(0)
        started = time.time()
        con.execute("begin transaction")
        try:
            for p in group:
                p.load_id = con.execute("select nextval('load_id_seq')").fetchall()[0][0]
            per_load = land_parts(con, group)
            for p in group:
                p.counts = per_load.get(p.load_id, Counts())
                _check_lines(p)
            _save(con, source, group, started)
            con.execute("commit")
        except Exception as exc:
            con.execute("rollback")
            if len(group) > 1:   # find the file that fails: each one alone
                groups[:0] = [[p] for p in group]
                continue
            _failed(con, source, group[0].item, known.get(group[0].item), exc, outcome, simulated)
            continue
        finally:
            for p in group:   # a temp part is always alone in its group (see _groups)
                if p.temp:
                    p.read_path.unlink(missing_ok=True)
        for p in group:
            outcome.counts += p.counts
            outcome.pending += p.state.pending
        done += len(group)
        if progress:
            c = sum((p.counts for p in group), Counts())
            progress(f"  {source}: {done}/{len(parts)} files, +{c.read:,} rows read, {c.loaded:,} loaded,"
                     f" {c.duplicates:,} duplicates, {c.quarantined:,} quarantined ({time.time() - started:.1f}s)")
    return outcome


def _plan_all(con, source: str, files: list[tuple[Path, str]], known: dict[str, FileState], header: bool,
              outcome: Outcome, simulated: bool) -> tuple[list[Part], list[tuple[str, FileState]]]:
    """Plan every file of a source: (parts to land, states to record without reading).

    A file that cannot be opened, or whose gzip stream is corrupt or truncated, is an error for that
    file alone (recorded in outcome.errors and its state), never for the others.
    """
    parts: list[Part] = []
    skipped: list[tuple[str, FileState]] = []
    for path, name in files:
        item = label(con, str(path))
        try:
            if not regular(path):
                continue
            planned = _plan(path, item, label(con, name), known.get(item), header)
        except Exception as exc:   # unreadable, not gzip, a corrupt or truncated gzip stream: this file only
            _failed(con, source, item, known.get(item), exc, outcome, simulated)
            continue
        if isinstance(planned, Part):
            planned.state.simulated = simulated
            parts.append(planned)
        elif isinstance(planned, FileState):
            planned.simulated = simulated
            skipped.append((item, planned))
        prev = known.get(item)
        if planned is None and prev:
            outcome.pending += prev.pending
    return parts, skipped


def preview_files(con, source: str, files: list[tuple[Path, str]], header: bool) -> Preview:
    """Return what load_files would read now (rows, files with something new), writing and printing nothing.

    Rows are the complete new lines of line-based files, and the new lines of CSV files less a header
    (a quoted field holding a newline would count twice: the collector's exports hold none).
    """
    known = states(con, label(con, source)) if con is not None else {}
    result = Preview()
    for path, name in files:
        item = label(con, str(path))
        try:
            if not _is_regular_quietly(path):
                continue
            planned = _plan(path, item, name, known.get(item), header, quiet=True)
            if not isinstance(planned, Part):
                continue
            rows = planned.lines
        except Exception as exc:
            result.notes.append(scrub(f"{item}: cannot be read ({type(exc).__name__})"))
            continue
        if rows:
            result.rows += rows
            result.items += 1
    return result


def _is_regular_quietly(path: Path) -> bool:
    """Return whether the path is a regular file (no warning)."""
    return stat.S_ISREG(os.stat(path).st_mode)


def _check_lines(part: Part) -> None:
    """Raise when a line-based part did not account for exactly the lines counted on disk."""
    if part.lines is not None and part.counts.read != part.lines:
        raise RuntimeError(f"read {part.counts.read} rows but the file has {part.lines} new lines; not loaded")


def _failed(con, source: str, item: str, prev: FileState | None, exc: Exception, outcome: Outcome,
            simulated: bool) -> None:
    """Record one file that could not be loaded: an error for it alone, its one-line message scrubbed."""
    message = scrub((f"{type(exc).__name__}: {exc}".splitlines() or [""])[0])[:2000]
    outcome.errors.append(scrub(f"{item}: ") + message)
    state = FileState(**{**vars(prev), "status": "error", "message": message}) if prev else \
        FileState(status="error", message=message)
    state.simulated = simulated
    _put_states(con, source, [(item, state)])
