"""Command line: python -m pipelines {refresh,status,simulate,collect,report,bench} --help."""

from __future__ import annotations

import argparse
import sys
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


def resolve_sources(cfg: settings_mod.Settings) -> list[str]:
    """Return the configured sources, or the demo fleet's (simulating it first when missing)."""
    if cfg.sources:
        return cfg.sources
    if not (cfg.demo_dir / "collector.csv.gz").exists():
        from .simulate import write_fleet

        print(f"no sources configured: writing the demo fleet to {cfg.demo_dir} first", file=sys.stderr)
        write_fleet(cfg.demo_dir)
    print(f"no sources configured: using the demo fleet in {cfg.demo_dir}", file=sys.stderr)
    return cfg.demo_sources


def cmd_refresh(args) -> int:
    """Load what is new, rebuild marts, write parquet; exit 1 when any source item failed."""
    from .locking import Busy
    from .refresh import refresh

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
    from .status import render, table

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

    for register in _optional_commands():
        register(sub)
    return parser


def _optional_commands():
    """Yield the register(sub) functions of the stages that add their own sub-commands."""
    from . import simulate

    yield simulate.register
    for name in ("collect", "report", "bench"):
        try:
            module = __import__(f"pipelines.{name}", fromlist=["register"])
        except ModuleNotFoundError:
            continue
        yield module.register


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
