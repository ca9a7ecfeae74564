"""Refresh: load what is new from every source, rebuild the models, export the marts to parquet."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import export, models, privacy, warehouse
from .landing import Counts
from .locking import exclusive
from .sources import loader_for
from .sources.postgres import redact


@dataclass
class Result:
    """What a refresh did: totals, per-item problems, and the parquet files written."""

    counts: Counts = field(default_factory=Counts)
    pending: int = 0
    errors: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def _say(message: str) -> None:
    """Print a progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def load_sources(con, sources: list[str], progress=_say) -> Result:
    """Load every source; one source's errors are collected and reported, never stop the others."""
    result = Result()
    for source in sources:
        label = redact(source)
        started = time.monotonic()
        try:
            outcome = loader_for(source).load(con, source, progress)
        except Exception as exc:  # a missing or unknown source must not stop the others
            result.errors.append(f"{label}: {exc}")
            progress(f"ERROR {label}: {exc}")
            continue
        for error in outcome.errors:
            progress(f"ERROR {error}")
        result.errors.extend(outcome.errors)
        result.counts += outcome.counts
        result.pending += outcome.pending
        c = outcome.counts
        progress(f"{label}: read {c.read:,}, loaded {c.loaded:,}, duplicates {c.duplicates:,},"
                 f" quarantined {c.quarantined:,}, pending {outcome.pending} ({time.monotonic() - started:.1f}s)")
    return result


def refresh(settings, sources: list[str], progress=_say) -> Result:
    """Run a whole refresh under the lock and return what it did."""
    with exclusive(settings.lock_file, "refresh"):
        con = warehouse.connect(settings.warehouse, memory_limit=settings.memory_limit)
        try:
            con.execute(privacy.sql_macro(privacy.secret_for(settings)))
            t0 = time.monotonic()
            result = load_sources(con, sources, progress)
            progress(
                f"loaded {result.counts.loaded:,} of {result.counts.read:,} rows read"
                f" ({result.counts.duplicates:,} duplicates, {result.counts.quarantined:,} quarantined,"
                f" {result.pending} pending) in {time.monotonic() - t0:.1f}s"
            )
            t1 = time.monotonic()
            models.run(con, progress=lambda m: None)
            result.written = export.export(con, settings.parquet_dir)
            progress(f"built {len(result.written)} marts into {settings.parquet_dir} in {time.monotonic() - t1:.1f}s")
        finally:
            con.close()
    return result
