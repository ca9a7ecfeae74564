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
    """Load every item of every source, one transaction per item; errors are collected, not raised."""
    result = Result()
    for source in sources:
        try:
            loader = loader_for(source)
            items = loader.items(source)
        except Exception as exc:  # a missing or unknown source must not stop the others
            result.errors.append(f"{redact(source)}: {exc}")
            progress(f"ERROR {redact(source)}: {exc}")
            continue
        label = redact(source)
        for i, item in enumerate(items, 1):
            started = time.monotonic()
            con.execute("begin transaction")
            try:
                counts, pending = loader.load_item(con, source, item)
                con.execute("commit")
            except Exception as exc:
                con.execute("rollback")
                message = f"{label} {item}: {type(exc).__name__}: {exc}"
                result.errors.append(message)
                progress(f"ERROR {message}")
                _mark_error(con, label, item, str(exc))
                continue
            result.counts += counts
            result.pending += pending
            if counts.read or pending:
                progress(
                    f"[{i}/{len(items)}] {Path(item).name}: read {counts.read:,}, loaded {counts.loaded:,},"
                    f" duplicates {counts.duplicates:,}, quarantined {counts.quarantined:,},"
                    f" pending {pending} ({time.monotonic() - started:.1f}s)"
                )
    return result


def _mark_error(con, source: str, item: str, message: str) -> None:
    """Record a failed item in source_state without touching what it had consumed."""
    con.execute(
        """insert into source_state (source, item, status, message) values ($1, $2, 'error', $3)
           on conflict (source, item) do update set status = 'error', message = excluded.message""",
        [source, item, message[:2000]],
    )


def refresh(settings, sources: list[str], progress=_say) -> Result:
    """Run a whole refresh under the lock and return what it did."""
    with exclusive(settings.lock_file, "refresh"):
        con = warehouse.connect(settings.warehouse)
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
            models.run(con)
            result.written = export.export(con, settings.parquet_dir)
            progress(f"built {len(result.written)} marts into {settings.parquet_dir} in {time.monotonic() - t1:.1f}s")
        finally:
            con.close()
    return result
