"""One loader per source kind; each finds what is new, builds a `batch` and lands it."""

from __future__ import annotations

from pathlib import Path


def kind_of(source: str) -> str:
    """Return 'postgres', 'csv' or 'pinglog' for a source string, or raise ValueError saying why."""
    if source.startswith(("postgresql://", "postgres://")):
        return "postgres"
    path = Path(source)
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".jsonl", ".jsonl.gz")):
        return "pinglog"
    if path.is_dir():
        if any(path.rglob("*.jsonl")) or any(path.rglob("*.jsonl.gz")):
            return "pinglog"
        if any(path.rglob("*.csv")) or any(path.rglob("*.csv.gz")):
            return "csv"
        return "pinglog"  # an empty folder the collector will fill
    if not path.exists():
        raise ValueError(f"source not found: {source}")
    raise ValueError(
        f"unknown source kind: {source} (expected .csv/.csv.gz, .jsonl/.jsonl.gz, a folder of"
        " ping logs, or postgresql://user@host:port/db)"
    )


def is_simulated(source: str) -> bool:
    """Return True when the source path, or a parent folder up to two levels, holds a SIMULATED file."""
    if kind_of_uri(source):
        return False
    path = Path(source).absolute()
    for candidate in [path, *list(path.parents)[:2]]:
        if (candidate / "SIMULATED").is_file():
            return True
    return False


def kind_of_uri(source: str) -> bool:
    """Return True for a PostgreSQL URI (not a path)."""
    return source.startswith(("postgresql://", "postgres://"))


def loader_for(source: str):
    """Return the loader module for a source string."""
    kind = kind_of(source)
    if kind == "postgres":
        from . import postgres as mod
    elif kind == "csv":
        from . import csv_export as mod
    else:
        from . import pinglog as mod
    return mod
