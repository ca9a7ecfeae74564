"""An exclusive, non-blocking lock file that stops overlapping runs, and waiting out DuckDB's file lock."""

from __future__ import annotations

import fcntl
import os
import re
import time
from contextlib import contextmanager
from pathlib import Path


class Busy(RuntimeError):
    """Another run holds the lock."""


class WarehouseBusy(Busy):
    """Another process has the warehouse file open (DuckDB's own lock); usually a refresh."""


@contextmanager
def exclusive(path: Path, what: str):
    """Hold an flock on `path` for the block, or raise Busy naming the holder's pid."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(f"another {what} is running (pid {holder(path)}; lock {path})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def holder(path: Path) -> str:
    """Return the pid last written into a lock file ('?' when unknown); never takes the lock."""
    try:
        return Path(path).read_text(errors="replace").strip()[:16] or "?"
    except OSError:
        return "?"


def is_file_locked(exc: BaseException) -> bool:
    """Return whether a DuckDB error says another process holds the database file's lock."""
    return "could not set lock on file" in str(exc).lower()


def open_waiting(open_fn, what: str, lock_path: Path, attempts: int = 20, pause_s: float = 0.25):
    """Call open_fn() until DuckDB's file lock is free (a short reader such as `status` ends),
    else raise WarehouseBusy naming the holder."""
    for attempt in range(attempts):
        try:
            return open_fn()
        except Exception as exc:
            if not is_file_locked(exc):
                raise
            if attempt == attempts - 1:
                found = re.search(r"PID (\d+)", str(exc))
                pid = found.group(1) if found else holder(lock_path)
                raise WarehouseBusy(f"{what}: the warehouse is open in another process (pid {pid}),"
                                    " usually a refresh; try again when it ends") from None
            time.sleep(pause_s)
