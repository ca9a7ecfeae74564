"""Command line: python -m pipelines {refresh,status,simulate,collect,report,bench} --help."""

from __future__ import annotations

import argparse
import importlib
import sys
from datetime import date
from pathlib import Path

from . import settings as settings_mod

EPILOG = """Settings come from the command line, then PINGS_* environment variables, then pings.toml
at the project root (see README.md), then defaults under data/."""


def _settings(args) -> settings_mod.Settings:
    """Resolve settings with the options this command was given."""
    return settings_mod.load(
        warehouse=getattr(args, "warehouse", None),
        parquet_dir=getattr(args, "parquet_dir", None),
        sources=getattr(args, "source", None),
    )


def cmd_refresh(args) -> int:
    """Load what is new, rebuild marts, write parquet; exit 1 when any source item failed."""
    from .locking import Busy
    from .flow import refresh, resolve_sources

    cfg = _settings(args)
    try:
        result = refresh(cfg, resolve_sources(cfg))
    except Busy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 75
    for path in result.written:
        print(path)
    if result.errors:
        print(f"{len(result.errors)} source item(s) failed; see the ERROR lines above", file=sys.stderr)
        return 1
    return 0


def cmd_status(args) -> int:
    """Print the per-source status table."""
    from .publish.status import render, table

    cfg = _settings(args)
    if not Path(cfg.warehouse).exists():
        print(f"no warehouse at {cfg.warehouse} yet: run `make refresh`", file=sys.stderr)
        return 1
    print(render(table(cfg.warehouse), files=args.files))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with one sub-command per stage."""
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__, epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "refresh",
        help="load new ping rows, rebuild the marts, write parquet",
        description="Load every stored ping row not loaded yet (CSV exports, the collector's PostgreSQL"
        " table, ping-log JSONL), dedupe, rebuild the marts and write them as parquet atomically.",
        epilog=EPILOG,
    )
    p.add_argument("--source", action="append", metavar="SRC",
                   help="a .csv/.csv.gz export, a .jsonl/.jsonl.gz file or folder of them, or"
                   " postgresql://user@host:port/db[?table=NAME]; repeat for several"
                   " (default: PINGS_SOURCES, pings.toml, else the demo fleet)")
    p.add_argument("--warehouse", metavar="FILE", help="DuckDB file (default: PINGS_WAREHOUSE or data/warehouse.duckdb)")
    p.add_argument("--parquet-dir", metavar="DIR", help="where marts go (default: PINGS_PARQUET_DIR or data/parquet)")
    p.set_defaults(func=cmd_refresh)

    p = sub.add_parser("status", help="rows read/loaded/duplicates/quarantined/pending per source",
                       description="Show, per source and file or table, what the warehouse has read and done with it.")
    p.add_argument("--warehouse", metavar="FILE", help="DuckDB file (default: PINGS_WAREHOUSE or data/warehouse.duckdb)")
    p.add_argument("--files", action="store_true", help="one row per file or table instead of per source")
    p.set_defaults(func=cmd_status)

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


def _date(text: str) -> str:
    """Validate a YYYY-MM-DD argument."""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text}") from None


def _add_simulate(sub) -> None:
    p = sub.add_parser(
        "simulate", help="write a realistic demo fleet's ping rows and their ground truth",
        description="Simulate a FlowForge fleet and write OUT/collector.csv.gz (a collector-table export),"
        " OUT/exports/*.csv.gz (half-year exports with each era's columns, overlapping by a week),"
        " OUT/pinglog/pings-YYYY-MM-DD.jsonl (the same pings as ping-log lines, a few malformed) and"
        " OUT/truth/<mart>.parquet (every mart computed in plain pandas).",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write (replaced when it exists)")
    p.add_argument("--instances", type=int, default=settings_mod.DEMO_INSTANCES, metavar="N",
                   help=f"instances installed over the period (default {settings_mod.DEMO_INSTANCES})")
    p.add_argument("--start", type=_date, default=settings_mod.DEMO_START,
                   help=f"first UTC day (default {settings_mod.DEMO_START})")
    p.add_argument("--end", type=_date, default=None, help="last UTC day (default: yesterday)")
    p.add_argument("--seed", type=int, default=1, help="random seed; same seed and options, same bytes (default 1)")
    p.add_argument("--formats", default="csv,exports,pinglog",
                   help="what to write, comma-separated from csv,exports,pinglog (default all)")
    p.add_argument("--no-truth", action="store_true", help="skip the ground truth (for benchmark-sized fleets)")
    p.add_argument("--send", metavar="URL", help="then POST every simulated ping to a running collector at URL")
    p.set_defaults(func=_lazy("tools.simulate", "cmd_simulate"))


def _add_collect(sub) -> None:
    p = sub.add_parser(
        "collect", help="run the ping collector (POST /ping)",
        description="Accept FlowForge pings on POST /ping (and POST /) and append them, with a keyed hash of"
        " the sender's address (never the address), to one JSON-lines file per UTC day. A 200 is sent"
        " only once the line is on disk.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8787, help="port (default 8787; 0 picks a free one)")
    p.add_argument("--log-dir", metavar="DIR", help="where ping-log files go (default data/raw/pinglog)")
    p.add_argument("--trusted-proxy", action="append", metavar="CIDR",
                   help="honour X-Forwarded-For from this proxy address or network (repeat; default:"
                   " PINGS_TRUSTED_PROXIES, else none)")
    p.add_argument("--quiet", action="store_true", help="no line per request on stderr")
    p.set_defaults(func=_lazy("collector.server", "cmd_collect"))


def _add_report(sub) -> None:
    p = sub.add_parser(
        "report", help="refresh, then export the notebooks as an offline HTML report",
        description="Refresh the marts, execute every notebook with its parameters and export each as a"
        " self-contained HTML page (code hidden, plotly.js inlined) with its charts' data as CSV.",
        epilog="Writes REPORTS/YYYY-MM-DD/{index.html, NN_*.html, data/*.csv}, points REPORTS/latest at it,"
        " and keeps a log per run in REPORTS/logs/. Exit status: 0 done, 1 failed, 75 another run holds the lock.",
    )
    p.add_argument("--out", metavar="DIR", help="reports folder (default: PINGS_REPORTS_DIR or reports/)")
    p.add_argument("--start", type=_date, help="first UTC day in the charts (default: all)")
    p.add_argument("--end", type=_date, help="last UTC day in the charts (default: all)")
    p.add_argument("--keep", type=int, metavar="N", help="dated reports to keep (default: PINGS_REPORTS_KEEP or 12)")
    p.add_argument("--min-count", type=int, metavar="K",
                   help="fold categories under K instances into 'other' (default: PINGS_REPORT_MIN_COUNT or 5)")
    p.set_defaults(func=_lazy("flow", "cmd_report"))


def _add_bench(sub) -> None:
    p = sub.add_parser(
        "bench", help="measure refresh speed and memory against DuckDB alone and pandas",
        description="Generate fleets of several sizes with the simulator and measure, in one run: a full"
        " refresh, an incremental refresh of one more day, DuckDB alone copying the same files to parquet,"
        " the pandas way, and the collector on loopback.",
    )
    p.add_argument("--rows", type=int, action="append", metavar="N",
                   help="approximate pings per fleet (repeat; default 1000000, 4000000, 16000000)")
    p.add_argument("--out", metavar="FILE.json", default="bench-results/bench.json",
                   help="results file; a markdown table is written beside it (default bench-results/bench.json)")
    p.add_argument("--work-dir", metavar="DIR", help="where fleets and warehouses go (default: a temp folder)")
    p.add_argument("--pandas-max", type=int, default=1_000_000, metavar="N",
                   help="largest size the pandas way is run at (default 1000000: it needs ~10 GB a million pings)")
    p.add_argument("--skip-collector", action="store_true", help="do not load-test the collector")
    p.set_defaults(func=_lazy("tools.bench", "cmd_bench"))


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
