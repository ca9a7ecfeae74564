"""Command line: python -m pipelines {refresh,status,simulate,collect,report,bench} --help.

Every error a user can cause ends as ONE line on stderr and a non-zero exit: 2 for a bad setting or
argument, 75 when another run holds the warehouse, 1 otherwise. An unexpected error prints one line
naming a log file that holds the traceback; a traceback never reaches the terminal.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from . import settings as settings_mod

EPILOG = """Settings come from the command line, then PINGS_* environment variables, then pings.toml
at the project root (or the file PINGS_SETTINGS names; see README.md), then defaults under data/.
A bad setting or argument: one line on stderr, exit 2."""

#: the settings each command reads (shown by --help)
READS = {
    "refresh": ["sources", "data_dir", "warehouse", "parquet_dir", "ip_hash_key", "ip_hash_key_file",
                "memory_limit", "received_at_min", "received_at_max_ahead_days", "pg_reread_minutes",
                "pg_time_zone", "csv_time_zone"],
    "status": ["data_dir", "warehouse"],
    "simulate": [],
    "collect": ["data_dir", "ip_hash_key", "ip_hash_key_file", "trusted_proxies"],
    "report": ["sources", "data_dir", "warehouse", "parquet_dir", "ip_hash_key", "ip_hash_key_file",
               "memory_limit", "reports_dir", "reports_keep", "audience", "report_min_count", "cell_timeout_s"],
    "use": ["sources"],
    "bench": ["memory_limit"],
    "models": [],
    "docs": [],
}


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit 2), usage left to --help."""

    def error(self, message: str):
        """Print `prog: error: message` on one line and exit 2."""
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def _epilog(command: str, extra: str = "") -> str:
    """Return a command's --help epilog: what it adds, then the settings it reads and what is allowed."""
    known = set(settings_mod.Settings.__dataclass_fields__)
    names = [n for n in READS.get(command, []) if n in known]
    table = settings_mod.help_table(names) if names else ""
    return "\n\n".join(part for part in (extra, EPILOG, table) if part)


def _sub(sub, name: str, extra_epilog: str = "", **kwargs) -> argparse.ArgumentParser:
    """Add a sub-command whose --help keeps line breaks and lists its settings."""
    extra_epilog = " ".join(part for part in (kwargs.pop("epilog", ""), extra_epilog) if part)
    return sub.add_parser(name, epilog=_epilog(name, extra_epilog),
                          formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


def _settings(args) -> settings_mod.Settings:
    """Resolve settings with the options this command was given."""
    return settings_mod.load(
        warehouse=(getattr(args, "warehouse", None), "--warehouse"),
        parquet_dir=(getattr(args, "parquet_dir", None), "--parquet-dir"),
        sources=(getattr(args, "source", None) or [], "--source"),
    )


def cmd_refresh(args) -> int:
    """Load what is new, rebuild marts, write parquet; exit 1 when any source item failed."""
    from .flow import plan, refresh, resolve_sources

    cfg = _settings(args)
    if getattr(args, "plan", False):
        for line in plan(cfg, cfg.sources or cfg.demo_sources, full=args.full):
            print(line)
        return 0
    result = refresh(cfg, resolve_sources(cfg), full=getattr(args, "full", False))
    for path in result.written:
        print(path)
    if result.errors:
        print(f"error: {len(result.errors)} source item(s) failed; see the ERROR lines above", file=sys.stderr)
        return 1
    return 0


def cmd_status(args) -> int:
    """Print the per-source status table and the last model checks."""
    from .publish.status import render, snapshot

    cfg = _settings(args)
    if not Path(cfg.warehouse).exists():
        print(f"error: no warehouse at {cfg.warehouse} yet: run `make refresh`", file=sys.stderr)
        return 1
    df, checks = snapshot(cfg)
    print(render(df, files=args.files, checks=checks))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with one sub-command per stage."""
    parser = Parser(prog="python -m pipelines", description=__doc__, epilog=EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _sub(
        sub, "refresh",
        "Exit status: 0 done, 1 a source item or the build failed (the previous parquet set stays),"
        " 2 bad setting, 75 another refresh holds the warehouse lock (<warehouse>.lock).",
        help="load new ping rows, rebuild the marts, write parquet",
        description="Load every stored ping row not loaded yet (CSV exports, the collector's PostgreSQL"
        " table, ping-log JSONL), dedupe, rebuild the marts and publish them as one new parquet set,"
        " switched atomically. With nothing new, models and export are skipped.",
    )
    p.add_argument("--source", action="append", metavar="SRC", type=settings_mod.source,
                   help="a .csv/.csv.gz export, a .jsonl/.jsonl.gz file or folder of them, or"
                   " postgresql://user@host:port/db[?table=NAME]; repeat for several"
                   " (default: PINGS_SOURCES, pings.toml, else the demo fleet)")
    p.add_argument("--warehouse", metavar="FILE", type=settings_mod.file,
                   help="DuckDB file (default: PINGS_WAREHOUSE or data/warehouse.duckdb)")
    p.add_argument("--parquet-dir", metavar="DIR", type=settings_mod.folder,
                   help="where marts go (default: PINGS_PARQUET_DIR or data/parquet)")
    p.add_argument("--full", action="store_true",
                   help="rebuild every model whole and rewrite every parquet file (default: only what new pings"
                   " or changed models touch)")
    p.add_argument("--plan", action="store_true",
                   help="print what a refresh would do and change nothing: new rows per source, then each model's"
                   " action (rebuild, incremental, unchanged), kind and why (own SQL, parent X changed, new rows)")
    p.set_defaults(func=cmd_refresh)

    p = _sub(sub, "status",
             "Exit status: 0 shown, 1 no or unreadable warehouse, 75 a refresh has the warehouse open"
             " (DuckDB allows no reader beside a writer): try again when it ends.",
             help="rows read/loaded/duplicates/quarantined/pending per source",
             description="Show, per source and file or table, what the warehouse has read and done with it,"
             " then the last model checks.")
    p.add_argument("--warehouse", metavar="FILE", type=settings_mod.file,
                   help="DuckDB file (default: PINGS_WAREHOUSE or data/warehouse.duckdb)")
    p.add_argument("--files", action="store_true", help="one row per file or table instead of per source")
    p.set_defaults(func=cmd_status)

    p = _sub(sub, "models", help="list the SQL models in build order: kind, declared fields, inputs",
                       description="List every SQL model (staging, intermediate, marts) in build order, one line"
                       " each: its kind (kind=view, table, by_key, by_date, fold), the fields its `-- model:`"
                       " header declares, and the tables it reads. A header error is one line naming the file"
                       " and the field, exit 2.")
    p.set_defaults(func=_lazy("transform.runner", "cmd_models"))

    p = _sub(sub, "docs", help="write the model and mart reference (docs/models.md) from the models",
             description="Write docs/models.md from every model's `-- model:` header, leading comments,"
             " column comments and checks (like `dbt docs`, as Markdown).")
    p.add_argument("--out", metavar="FILE", type=settings_mod.file, help="where to write (default docs/models.md)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file differs from what"
                   " the command would write")
    p.set_defaults(func=_lazy("transform.docs", "cmd_docs"))

    _add_use(sub)
    _add_simulate(sub)
    _add_collect(sub)
    _add_report(sub)
    _add_bench(sub)
    return parser


def _lazy(module: str, name: str):
    """Return a command function that imports its stage module only when it runs (fast --help)."""
    def run(args):
        return getattr(importlib.import_module(f"pipelines.{module}"), name)(args)
    return run


USE = ("Write `sources` into the settings file (pings.toml, or the file PINGS_SETTINGS names): from then on"
       " refresh, report and JupyterLab show your data, in data/warehouse.duckdb and data/parquet. `use --demo`"
       " removes it: the demo fleet again, in data/demo/ (its own warehouse, parquet and reports/demo/). The two"
       " never mix.")


def _add_use(sub) -> None:
    p = _sub(sub, "use", help="switch every command to your sources, or back to the simulated demo fleet",
             description=USE, epilog="Example: python -m pipelines use /srv/pings/export.csv.gz /srv/pings/pinglog/")
    p.add_argument("source", nargs="*", metavar="SRC", type=settings_mod.source,
                   help="a .csv/.csv.gz export, a .jsonl/.jsonl.gz file or folder, or postgresql://...")
    p.add_argument("--demo", action="store_true", help="back to the simulated demo fleet")
    p.set_defaults(func=_lazy("flow", "cmd_use"))


def _add_simulate(sub) -> None:
    p = _sub(
        sub, "simulate", help="write a realistic demo fleet's ping rows and their ground truth",
        description="Simulate a FlowForge fleet and write OUT/collector.csv.gz (a collector-table export),"
        " OUT/exports/*.csv.gz (half-year exports with each era's columns, overlapping by a week),"
        " OUT/pinglog/pings-YYYY-MM-DD.jsonl (the same pings as ping-log lines, a few malformed) and"
        " OUT/truth/<mart>.parquet (every mart computed in plain pandas).",
    )
    p.add_argument("--out", required=True, metavar="DIR", type=settings_mod.folder,
                   help="folder to write (replaced when it exists)")
    p.add_argument("--instances", type=settings_mod.count(1), default=settings_mod.DEMO_INSTANCES, metavar="N",
                   help=f"instances installed over the period (default {settings_mod.DEMO_INSTANCES})")
    p.add_argument("--start", type=settings_mod.day, default=settings_mod.DEMO_START,
                   help=f"first UTC day (default {settings_mod.DEMO_START})")
    p.add_argument("--end", type=settings_mod.day, default=None, help="last UTC day (default: yesterday)")
    p.add_argument("--seed", type=settings_mod.count(0), default=1, help="random seed; same seed and options, same bytes (default 1)")
    p.add_argument("--formats", default="csv,exports,pinglog",
                   help="what to write, comma-separated from csv,exports,pinglog (default all)")
    p.add_argument("--no-truth", action="store_true", help="skip the ground truth (for benchmark-sized fleets)")
    p.add_argument("--send", metavar="URL", help="then POST every simulated ping to a running collector at URL")
    p.set_defaults(func=_lazy("tools.simulate", "cmd_simulate"))


def _add_collect(sub) -> None:
    p = _sub(
        sub, "collect", help="run the ping collector (POST /ping)",
        description="Accept FlowForge pings on POST /ping (and POST /) and append them, with a keyed hash of"
        " the sender's address (never the address), to one JSON-lines file per UTC day. A 200 is sent"
        " only once the line is on disk.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=settings_mod.port, default=8787, help="port (default 8787; 0 picks a free one)")
    p.add_argument("--log-dir", metavar="DIR", type=settings_mod.folder, help="where ping-log files go (default data/raw/pinglog)")
    p.add_argument("--trusted-proxy", action="append", metavar="CIDR", type=settings_mod.network,
                   help="honour X-Forwarded-For from this proxy address or network (repeat; default:"
                   " PINGS_TRUSTED_PROXIES, else none)")
    p.add_argument("--quiet", action="store_true", help="no line per request on stderr")
    p.add_argument("--read-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="a whole request, head and body, must arrive within this time of connecting or of the"
                   " previous reply, else 408 (default 10)")
    p.set_defaults(func=_lazy("collector.server", "cmd_collect"))


def _add_report(sub) -> None:
    p = _sub(
        sub, "report", help="refresh, then export the notebooks as an offline HTML report",
        description="Refresh the marts, execute every notebook with its parameters and export each as an"
        " offline HTML page (code hidden) with each chart's data as CSV and every quoted figure in"
        " figures.json. The default audience is the team that owns the fleet: every count is shown."
        " --public hides counts under K (PINGS_REPORT_MIN_COUNT, default 5) on charts, CSVs, titles and"
        " figures.json, shown as '< K'.",
        epilog="Writes REPORTS/YYYY-MM-DD/{index.html, NN_*.html, figures.json, data/*.csv} (a range:"
        " REPORTS/YYYY-MM-DD_START_to_END/, never replacing another report; the demo: REPORTS/demo/),"
        " points REPORTS/latest at the newest whole-data report, and keeps a log per run in REPORTS/logs/."
        " Exit status: 0 done, 1 failed, 2 bad setting or argument, 3 done but alerts open (with"
        " --fail-on-alert), 75 another run holds the lock.",
    )
    p.add_argument("--out", metavar="DIR", type=settings_mod.folder, help="reports folder (default: PINGS_REPORTS_DIR or reports/)")
    p.add_argument("--start", type=settings_mod.day, help="first UTC day in the charts (default: all)")
    p.add_argument("--end", type=settings_mod.day,
                   help="last UTC day in the charts; every figure, on the pages and the index, describes it"
                   " (default: the last day with data)")
    p.add_argument("--public", action="store_true",
                   help="the public audience: hide counts under K (default: PINGS_AUDIENCE, else the team)")
    p.add_argument("--keep", type=settings_mod.count(1), metavar="N", help="dated reports to keep (default: PINGS_REPORTS_KEEP or 12)")
    p.add_argument("--min-count", type=settings_mod.min_count, metavar="K",
                   help="with --public, hide counts under K, 1 (none) or 3 and more (default: PINGS_REPORT_MIN_COUNT"
                   " or 5)")
    p.add_argument("--fail-on-alert", action="store_true",
                   help="exit 3 when any alert is open (raised on the last day with data), so cron mails someone")
    p.set_defaults(func=_lazy("flow", "cmd_report"))


def _add_bench(sub) -> None:
    p = _sub(
        sub, "bench", help="measure refresh speed and memory against DuckDB alone and pandas",
        description="Generate fleets of several sizes with the simulator and measure, in one run: a full"
        " refresh, an incremental refresh of one more day, DuckDB alone copying the same files to parquet,"
        " the pandas way, and the collector on loopback.",
    )
    p.add_argument("--rows", type=settings_mod.count(1), action="append", metavar="N",
                   help="approximate pings per fleet (repeat; default 1000000, 4000000, 16000000)")
    p.add_argument("--out", metavar="FILE.json", type=settings_mod.file, default="bench-results/bench.json",
                   help="results file; a markdown table is written beside it (default bench-results/bench.json)")
    p.add_argument("--work-dir", metavar="DIR", type=settings_mod.folder, help="where fleets and warehouses go (default: a temp folder)")
    p.add_argument("--pandas-max", type=settings_mod.count(0), default=1_000_000, metavar="N",
                   help="largest size the pandas way is run at (default 1000000: it needs ~10 GB a million pings)")
    p.add_argument("--profile-rows", type=settings_mod.count(0), default=4_000_000, metavar="N",
                   help="time every statement of the full refresh at this --rows size (PINGS_PROFILE) and rank"
                        " them in the table (default 4000000; 0: none)")
    p.add_argument("--keep-fleets", action="store_true",
                   help="keep each simulated fleet in --work-dir and reuse it on the next run (saves the simulation;"
                        " a 64M fleet is about 43 GB)")
    p.add_argument("--skip-collector", action="store_true", help="do not load-test the collector")
    p.add_argument("--skip-report", action="store_true",
                   help="do not time the demo report (simulate the demo fleet, refresh, write every page)")
    p.set_defaults(func=_lazy("tools.bench", "cmd_bench"))


def _fail(exc: BaseException) -> int:
    """Print one line for an error and return the exit status; unexpected ones leave a log file."""
    if isinstance(exc, settings_mod.SettingsError):
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from .flow import describe, log_unexpected, scrub

    code, line = describe(exc)
    if line is None:
        try:
            logs = settings_mod.load().logs_dir
        except settings_mod.SettingsError:
            logs = Path("/nonexistent")
        log = log_unexpected(exc, logs)
        line = f"{type(exc).__name__}: {scrub(exc)} (details: {log})"
    print(f"error: {line}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, check every setting, run the chosen command; errors end as one line."""
    try:
        args = build_parser().parse_args(argv)
        settings_mod.load()
        settings_mod.date_range(getattr(args, "start", None), getattr(args, "end", None))
        return args.func(args)
    except SystemExit:
        raise
    except BrokenPipeError:   # e.g. `status | head`: the reader left; nothing to say
        sys.stderr.close()
        return 1
    except BaseException as exc:  # noqa: BLE001 - the one place every error becomes one line
        sys.stdout.flush()
        return _fail(exc)


if __name__ == "__main__":
    sys.exit(main())
