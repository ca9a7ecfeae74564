"""One loader per source kind; each finds what is new, builds a `batch` and lands it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...privacy import scrub

#: how many hex digits of the keyed hash tag a label whose addresses were blanked
TAG_DIGITS = 12


@dataclass
class Preview:
    """What a refresh would read now from one source: rows (lines or table rows), items with something new."""

    rows: int = 0
    items: int = 0
    notes: list[str] = field(default_factory=list)


def preview(con, source: str) -> Preview:
    """Return what the next refresh would read from a source, writing nothing; con is read-only or None.

    A source that cannot be read now (missing, unreachable) reads nothing: its one-line error is a note.
    """
    try:
        return loader_for(source).preview(con, source)
    except Exception as exc:   # the refresh would report it as that source's error
        from .postgres import redact

        text = (str(exc).splitlines() or [""])[0]
        return Preview(notes=[scrub(f"{redact(source)}: {type(exc).__name__}: {redact(text)}")])


def label(con, text: str) -> str:
    """Return a source, file or table name as stored and shown: addresses blanked (privacy.scrub) and, when
    any was, a keyed tag (the first TAG_DIGITS of ip_key(text)) so that two names stay two labels."""
    clean = scrub(text)
    if clean == text:
        return text
    return f"{clean} #{keyed_tag(con, text)}"


def keyed_tag(con, text: str) -> str:
    """Return the first TAG_DIGITS hex digits of the keyed hash of a text (the ip_key macro, else the
    settings' key without creating a key file; '?' when there is no key)."""
    if con is not None and con.execute(
            "select count(*) from duckdb_functions() where function_name = 'ip_key'").fetchall()[0][0]:
        return con.execute("select left(ip_key($1), $2)", [text, TAG_DIGITS]).fetchall()[0][0]
    from ... import privacy, settings

    cfg = settings.load()
    if not cfg.ip_hash_key and not cfg.ip_hash_key_file.exists():
        return "?"
    return privacy.ip_key(text, privacy.secret_for(cfg))[:TAG_DIGITS]


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
