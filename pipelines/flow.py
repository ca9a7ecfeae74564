"""The whole run, stage by stage: ingest every source, transform (models), publish (parquet, report)."""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import privacy
from . import settings as settings_mod
from .ingest import warehouse
from .ingest.landing import Counts
from .ingest.sources import loader_for
from .ingest.sources.postgres import redact
from .locking import Busy, exclusive
from .publish import export
from .transform import runner as models


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


def resolve_sources(cfg: settings_mod.Settings) -> list[str]:
    """Return the configured sources, or the demo fleet's (simulating it first when missing)."""
    if cfg.sources:
        return cfg.sources
    if not (cfg.demo_dir / "collector.csv.gz").exists():
        from .tools.simulate import write_fleet

        print(f"no sources configured: writing the demo fleet to {cfg.demo_dir} first", file=sys.stderr)
        write_fleet(cfg.demo_dir)
    print(f"no sources configured: using the demo fleet in {cfg.demo_dir}", file=sys.stderr)
    return cfg.demo_sources


def report(cfg, start: str | None = None, end: str | None = None, out: Path | None = None, log=print,
           pages: list[Path] | None = None) -> Path:
    """Refresh, then write the report pages, under the report lock; return the report folder."""
    from .publish import report as report_pages   # notebook machinery: only for reports

    reports = Path(out or cfg.reports_dir)
    reports.mkdir(parents=True, exist_ok=True)
    with exclusive(reports / ".report.lock", "report"):
        result = refresh(cfg, resolve_sources(cfg), progress=log)
        if result.errors:
            raise RuntimeError("refresh failed for: " + "; ".join(result.errors))
        return report_pages.write(cfg, reports, start, end, log, pages)


def cmd_report(args) -> int:
    """Run the report from the command line; exit 0 with the index path, else 1 with a log file."""
    overrides = {"reports_dir": args.out} if args.out else {}
    cfg = settings_mod.load(**overrides)
    if args.keep is not None:
        cfg.reports_keep = args.keep
    if args.min_count is not None:
        cfg.report_min_count = args.min_count
    reports = Path(cfg.reports_dir)
    logs = reports / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"report-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.log"
    with log_path.open("w") as log_file:
        def log(message: str) -> None:
            print(message, file=sys.stderr, flush=True)
            print(message, file=log_file, flush=True)

        try:
            folder = report(cfg, args.start, args.end, reports, log)
        except Busy as exc:
            log(f"error: {exc}")
            return 75
        except Exception as exc:  # the log must say what failed, then the run exits non-zero
            log(f"REPORT FAILED: {type(exc).__name__}: {exc}")
            log(traceback.format_exc())
            log(f"the last good report is untouched: {reports / 'latest'}")
            log(f"log: {log_path}")
            return 1
    print(folder / "index.html")
    return 0
