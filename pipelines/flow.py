"""The whole run, stage by stage: ingest every source, transform (models), publish (parquet, report)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from . import privacy, profile
from . import settings as settings_mod
from .ingest import landing, warehouse
from .ingest.landing import Counts
from .ingest.sources import loader_for
from .ingest.sources.postgres import redact
from .locking import Busy, exclusive, is_file_locked as is_locked, open_waiting
from .publish import export
from .transform import runner
from .transform.declare import ModelError


@dataclass
class Result:
    """What a refresh did: totals, per-item problems, the parquet files written, whether it was a no-op."""

    counts: Counts = field(default_factory=Counts)
    pending: int = 0
    errors: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    skipped: bool = False


#: errors that stop the whole refresh rather than one source: the disk or the warehouse itself failed
FATAL_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO}
FATAL_TEXTS = ("no space left on device", "read-only file system", "disk quota exceeded",
               "input/output error", "database has been invalidated")


def scrub(text: str) -> str:
    """Return text with addresses blanked (privacy.scrub), on one line."""
    return privacy.scrub(" ".join(str(text).split()))


def _say(message: str) -> None:
    """Print a progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def _is_fatal_one(exc: BaseException) -> bool:
    """Return whether this one error (not its causes) is the disk's or the warehouse's."""
    if isinstance(exc, OSError) and exc.errno in FATAL_ERRNOS:
        return True
    if isinstance(exc, duckdb.FatalException):
        return True
    text = str(exc).lower()
    return any(t in text for t in FATAL_TEXTS)


def fatal_cause(exc: BaseException) -> BaseException | None:
    """Return the first disk or warehouse failure in exc's chain (a failed rollback hides the real one)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if _is_fatal_one(exc):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def is_fatal(exc: BaseException) -> bool:
    """Return whether an error, or one it was raised while handling, is the disk's or the warehouse's."""
    return fatal_cause(exc) is not None


def _no_ping_files(source: str) -> bool:
    """Return whether a source is a local folder without any ping file (.jsonl, .csv, gzipped or not)."""
    path = Path(source)
    if "://" in source or not path.is_dir():
        return False
    patterns = ("*.jsonl", "*.jsonl.gz", "*.csv", "*.csv.gz")
    return not any(any(path.rglob(p)) for p in patterns)


def load_sources(con, sources: list[str], progress=_say) -> Result:
    """Load every source; one source's errors are collected and reported, never stop the others."""
    result = Result()
    for source in sources:
        label = scrub(redact(source))   # no address, no password in a printed line
        started = time.monotonic()
        if _no_ping_files(source):
            progress(f"WARNING {label}: no ping files (.jsonl, .jsonl.gz, .csv, .csv.gz) in this folder yet")
        try:
            outcome = loader_for(source).load(con, source, progress)
        except Exception as exc:  # a missing or unknown source must not stop the others
            if is_fatal(exc):
                raise fatal_cause(exc) from None
            result.errors.append(scrub(f"{label}: {exc}"))
            progress(f"ERROR {result.errors[-1]}")
            continue
        fatal = [e for e in outcome.errors if any(t in e.lower() for t in FATAL_TEXTS)]
        if fatal:
            raise OSError(errno.EIO, scrub(fatal[0]))
        for error in outcome.errors:
            progress(f"ERROR {scrub(error)}")
        result.errors.extend(scrub(e) for e in outcome.errors)
        result.counts += outcome.counts
        result.pending += outcome.pending
        c = outcome.counts
        progress(f"{label}: read {c.read:,}, loaded {c.loaded:,}, duplicates {c.duplicates:,},"
                 f" quarantined {c.quarantined:,}, pending {outcome.pending} ({time.monotonic() - started:.1f}s)")
    return result


def state_digest(con) -> str:
    """Return a digest of what the warehouse has read: per-item state (not its time) and the last load."""
    from .transform.changes import landing

    return landing(con)


def nothing_new(result: Result, parquet_dir: Path, digest: str) -> bool:
    """Return whether the current parquet set already shows this warehouse state under the same models."""
    info = export.set_info(parquet_dir)
    current = export.models_digest()
    return (result.counts.read == 0 and bool(info) and current is not None
            and info.get("models_digest") == current and info.get("state_digest") == digest
            and info.get("marts") == runner.marts()
            and all((Path(parquet_dir) / f"{m}.parquet").exists() for m in info["marts"]))


def connect(settings, read_only: bool = False):
    """Open the warehouse, waiting briefly while a short reader (status) has it open."""
    return open_waiting(
        lambda: warehouse.connect(settings.warehouse, read_only=read_only,
                                  memory_limit=None if read_only else settings.memory_limit),
        f"warehouse {settings.warehouse}", settings.lock_file)


def refresh(settings, sources: list[str], progress=_say, full: bool = False) -> Result:
    """Run a whole refresh under the warehouse's lock and return what it did.

    Models are updated incrementally and unchanged parquet partitions linked from the current set;
    full=True rebuilds every model and rewrites every file (and never skips as a no-op).

    A failing model check (ChecksFailed) or a disk/warehouse failure propagates: nothing is exported
    and the previous parquet set stays current.
    """
    runner.build_order()   # every model file read and its declaration checked before anything is loaded or built
    with exclusive(settings.lock_file, "refresh"):
        secret = privacy.secret_for(settings)
        con = connect(settings)
        try:
            warehouse.check_key(con, secret)      # refuse a key other than the warehouse's
            keep_apart(con, settings, sources)    # never simulated and real pings in one warehouse
            con.execute(privacy.sql_macro(secret))
            warehouse.relabel(con)                 # names stored before labels: addresses blanked, once
            landing.configure(con, settings)          # the time window and re-read window of these settings
            t0 = time.monotonic()
            with profile.step("landing"):
                result = load_sources(con, sources, progress)
            progress(
                f"loaded {result.counts.loaded:,} of {result.counts.read:,} rows read"
                f" ({result.counts.duplicates:,} duplicates, {result.counts.quarantined:,} quarantined,"
                f" {result.pending} pending) in {time.monotonic() - t0:.1f}s"
            )
            digest = state_digest(con)
            if not full and nothing_new(result, settings.parquet_dir, digest):
                result.skipped = True
                progress(f"nothing new: models and export skipped; {settings.parquet_dir} is current")
                return result
            t1 = time.monotonic()
            progress("building models")
            runner.run(con, progress=lambda line: progress(f"  {line}"), full=full)
            progress(f"built models in {time.monotonic() - t1:.1f}s; writing parquet")
            t2 = time.monotonic()
            with profile.step("parquet"):
                result.written = export.export(con, settings.parquet_dir, info={"state_digest": digest}, full=full)
            progress(f"wrote {len(result.written)} marts into {settings.parquet_dir} as set"
                     f" {export.current_set(settings.parquet_dir).name} in {time.monotonic() - t2:.1f}s")
        finally:
            con.close()
    return result


def plan(settings, sources: list[str], full: bool = False) -> list[str]:
    """Return what a refresh would do, as lines: new rows per source, each model's step and why.

    Nothing is written: the warehouse is opened read-only (when it exists) and sources are only looked at.
    """
    from .ingest.sources import preview
    from .transform import changes

    found = runner.build_order()
    con = connect(settings, read_only=True) if Path(settings.warehouse).exists() else None
    try:
        lines, pending = [f"sources (warehouse {settings.warehouse}):"], 0
        for source in sources:
            seen = preview(con, source)
            pending += seen.rows
            notes = "".join(f"; {n}" for n in seen.notes)
            lines.append(f"  {scrub(redact(source))}: {seen.rows:,} new rows in {seen.items:,} item(s){notes}")
        wh = changes.observe(con) if con is not None else changes.Warehouse({}, set(), 0, "")
    finally:
        if con is not None:
            con.close()
    if pending:   # what the plan assumes once the new rows are landed: one more load, a new landing state
        wh = changes.Warehouse(wh.built, wh.existing, wh.last_load + 1, "after loading the new rows")
    steps = changes.plan(found, changes.fingerprints(found), wh, full)
    lines.append("models (action, kind, model, why):")
    lines += [f"  {s.action:<11} {s.model.kind.name:<8} {s.model.relation:<40} {', '.join(s.reasons)}".rstrip()
              for s in steps]
    counts = {a: sum(s.action == a for s in steps) for a in ("rebuild", "incremental", "unchanged")}
    lines.append(f"then: {counts['rebuild']} rebuilt, {counts['incremental']} updated for new rows,"
                 f" {counts['unchanged']} unchanged; nothing written by this plan")
    return lines


def resolve_sources(cfg: settings_mod.Settings, progress=_say) -> list[str]:
    """Return the configured sources; only when none is configured anywhere, the demo fleet's.

    The demo's ping log is written on first use (one form only: every ping is read once).
    """
    if cfg.sources:
        return cfg.sources
    if not (cfg.demo_dir / "pinglog").is_dir():
        from .tools.simulate import write_fleet

        progress(f"no sources configured: writing the simulated demo fleet to {cfg.demo_dir} first"
                 f" ({settings_mod.DEMO_INSTANCES:,} instances since {settings_mod.DEMO_START}, 10-20 s)")
        write_fleet(cfg.demo_dir, formats=("pinglog",), with_truth=False,
                    progress=lambda line: progress(f"  demo: {line}"))
    progress(f"no sources configured: showing the simulated demo fleet in {cfg.demo_dir}"
             " (`python -m pipelines use SOURCE` switches to your data)")
    return cfg.demo_sources


def keep_apart(con, cfg: settings_mod.Settings, sources: list[str]) -> None:
    """Refuse (one line, exit 2) to load real pings into a warehouse of simulated ones, or configured sources
    into the demo's warehouse: the demo's figures never change and real figures never carry simulated pings.

    (Simulated sources added to a warehouse of real pings make it simulated: every page then says so.)
    """
    from .ingest.sources import is_simulated

    demo_warehouse = (cfg.demo_dir / "warehouse.duckdb").resolve()
    if cfg.sources and Path(cfg.warehouse).resolve() == demo_warehouse:
        raise settings_mod.SettingsError(f"warehouse: {cfg.warehouse} is the demo's; configured sources never"
                                         " load into it (unset PINGS_WAREHOUSE or choose another file)")
    holds_simulated = con.execute("select coalesce(bool_or(simulated), false) from source_state").fetchall()[0][0]
    real = [s for s in sources if not is_simulated(s)]
    if holds_simulated and real:
        raise settings_mod.SettingsError(
            f"warehouse: {cfg.warehouse} holds the simulated demo fleet; real pings are never mixed into it: move"
            " it away, or give these sources their own warehouse (PINGS_WAREHOUSE, or `python -m pipelines use`)")


def describe(exc: BaseException) -> tuple[int, str | None]:
    """Return (exit code, one line) for an expected error, or (1, None) when it is unexpected."""
    from .transform import checks

    if isinstance(exc, (settings_mod.SettingsError, ModelError)):
        return 2, scrub(exc)
    if isinstance(exc, privacy.BadKey):
        return 2, scrub(exc)
    if isinstance(exc, Busy):
        return 75, scrub(exc)
    if isinstance(exc, checks.ChecksFailed):
        return 1, scrub(f"model checks failed, nothing exported (the previous parquet set stays): {exc}")
    if isinstance(exc, KeyboardInterrupt):
        return 130, "interrupted"
    fatal = fatal_cause(exc)
    if fatal is not None:
        text = " ".join(str(fatal).split())
        for cause in ("No space left on device", "Read-only file system", "Disk quota exceeded"):
            if cause.lower() in text.lower():
                return 1, scrub(f"{cause}: {text}")
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return 1, scrub(f"{exc.strerror or exc}{where}")
    if isinstance(exc, duckdb.Error) and is_locked(exc):
        return 75, scrub(f"the warehouse is open in another process: {exc}")
    if isinstance(exc, (duckdb.IOException, duckdb.FatalException, duckdb.InvalidInputException)):
        text = str(exc)
        for cause in ("No space left on device", "Read-only file system", "Disk quota exceeded"):
            if cause.lower() in text.lower():
                return 1, scrub(f"{cause} (DuckDB: {text})")
        if "not a valid duckdb database" in text.lower() or "corrupt" in text.lower():
            return 1, scrub(f"the warehouse file is not a readable DuckDB database (corrupt or not a"
                            f" warehouse); it was left as it is: {text}")
        return 1, scrub(f"DuckDB: {text}")
    return 1, None


def log_unexpected(exc: BaseException, logs_dir: Path) -> Path:
    """Write exc's traceback (scrubbed) to a new log file under logs_dir (else the temp folder); return it."""
    text = privacy_scrub_lines("".join(traceback.format_exception(exc)))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for folder in (Path(logs_dir), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"error-{stamp}-{os.getpid()}.log"
            path.write_text(text)
            return path
        except OSError:
            continue
    return Path("(no log: nowhere writable)")


def privacy_scrub_lines(text: str) -> str:
    """Return multi-line text with addresses blanked line by line."""
    return "\n".join(privacy.scrub(line) for line in text.split("\n"))


def report(cfg, start: str | None = None, end: str | None = None, out: Path | None = None, log=print,
           pages: list[Path] | None = None) -> Path:
    """Refresh, then write the report pages, under the report lock; return the report folder.

    The demo's reports go to `<reports>/demo/`, apart from the reports of configured sources.
    """
    from .publish import report as report_pages   # notebook machinery: only for reports

    reports = Path(out or cfg.reports_dir)
    if cfg.demo:
        reports = reports / "demo"
    reports.mkdir(parents=True, exist_ok=True)
    with exclusive(reports / ".report.lock", "report"):
        result = refresh(cfg, resolve_sources(cfg, progress=log), progress=log)
        if result.errors:
            raise RuntimeError("refresh failed for: " + "; ".join(result.errors))
        return report_pages.write(cfg, reports, start, end, log, pages)


def cmd_report(args) -> int:
    """Run the report from the command line; end with the headline figures and the page to open."""
    cfg = settings_mod.load(reports_dir=args.out, reports_keep=(args.keep, "--keep"),
                            report_min_count=(args.min_count, "--min-count"),
                            audience=("public" if args.public else None, "--public"))
    settings_mod.date_range(args.start, args.end)
    reports = Path(cfg.reports_dir)
    logs = reports / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"report-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.log"
    with log_path.open("w") as log_file:
        def log(message: str, terminal: bool = True) -> None:
            if terminal:
                print(message, file=sys.stderr, flush=True)
            print(message, file=log_file, flush=True)

        try:
            folder = report(cfg, args.start, args.end, reports, log)
        except Exception as exc:  # one line on the terminal; the traceback only in the log
            code, line = describe(exc)
            log(privacy_scrub_lines("".join(traceback.format_exception(exc))), terminal=False)
            log(f"the last good report is untouched: {reports / 'latest'}", terminal=False)
            if code == 75:
                log(f"error: {line}")
                return 75
            log(f"error: report failed: {line or f'{type(exc).__name__}: {scrub(exc)}'} (details: {log_path})")
            return code
        for line in headline_lines(folder):
            log(line)
    print(f"open: {folder / 'index.html'}")
    return _alert_status(cfg, folder) if getattr(args, "fail_on_alert", False) else 0


#: the figures a report run ends with (figures.json ids), and how each is named
SUMMARY = (("active_7d", "active instances, 7 days"), ("weekly_active", "weekly active instances"),
           ("weekly_active_growth", "week on week"), ("hosted_instances", "hosted instances"),
           ("remote_instances", "remote instances"), ("newest_line", "newest line"),
           ("newest_line_share", "on the newest line"))


def headline_lines(folder: Path) -> list[str]:
    """Return the lines a report run ends with: its headline figures, as the index prints them."""
    from .publish.report import FIGURES

    entries = {e["id"]: e for e in json.loads((folder / FIGURES).read_text()) if e["page"] == "index.html"}
    found = [(label, entries[i]) for i, label in SUMMARY if i in entries]
    if not found:
        return ["no headline figures: the marts hold no instance-days yet"]
    return [f"headline figures (as of {found[0][1]['as_of']}):"] + [f"  {label}: {e['text']}" for label, e in found]


def cmd_use(args) -> int:
    """Switch what every command shows: the sources given (your data), or the simulated demo fleet."""
    if args.demo == bool(args.source):
        raise settings_mod.SettingsError("use: give one or more sources, or --demo (not both)")
    if args.demo:
        path = settings_mod.save_sources(None)
        print(f"using the simulated demo fleet (data/demo/) from now on: `sources` removed from {path}")
    else:
        missing = [s for s in args.source if "://" not in s and not Path(s).exists()]
        if missing:
            raise settings_mod.SettingsError(f"use: source not found: {missing[0]}")
        path = settings_mod.save_sources([str(Path(s).resolve()) if "://" not in s else s for s in args.source])
        cfg = settings_mod.load()
        print(f"using {len(args.source)} source(s) from now on (written to {path}); their warehouse is"
              f" {cfg.warehouse} and their reports go to {cfg.reports_dir}; the demo stays in {cfg.demo_dir}")
    if settings_mod.SPECS["sources"].env in os.environ:
        print(f"note: {settings_mod.SPECS['sources'].env} is set and overrides this", file=sys.stderr)
    return 0


def _alert_status(cfg, folder: Path) -> int:
    """Return 3 (one stderr line per open alert, repeats grouped) when the report's data has open alerts."""
    from .publish import marts

    runs = marts.read_optional("alert_runs", marts.resolve(cfg.parquet_dir))
    if runs is None:
        return 0
    opened = runs[runs["is_open"]]
    for a in opened.itertuples():
        print(f"alert: {a.check} {a.subject}: {a.value:g} since {a.first_day:%Y-%m-%d} ({a.severity})", file=sys.stderr)
    return 3 if len(opened) else 0
