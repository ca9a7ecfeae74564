"""Fleet simulator: writes stored ping rows as the collectors keep them, plus every mart's truth.

Writes OUT/collector.csv.gz (one collector-table export), OUT/exports/*.csv.gz (half-year exports with
the columns the table had then, overlapping by a week), OUT/pinglog/pings-YYYY-MM-DD.jsonl (the same
pings as ping-log lines, with a few malformed lines), OUT/truth/<mart>.parquet and OUT/SIMULATED (a one-line
marker: loaders flag every source under it as simulated, and reports show a banner).

The fleet has what every answer needs: clones, development builds, downgrades, lapsed and returning
instances, one-day tryouts, devices never connected, a long tail on old minor lines, a payload key only
the ping log carries (from 2.12), and, in spans of 120 days or more, a collector outage two thirds in
(nothing for 38 hours, then 40 % of instances cut off for 8 days, and a burst of broken lines).
"""

from __future__ import annotations

import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ... import privacy
from ... import settings as settings_mod
from . import fleet, truth, writers

DEFAULT_INSTANCES = settings_mod.DEMO_INSTANCES
DEFAULT_START = settings_mod.DEMO_START
#: the marker file's text (INTERFACES.md: loaders flag a source under a folder holding `SIMULATED`)
MARKER = "Simulated FlowForge pings written by `python -m pipelines simulate`: not real telemetry.\n"


def default_end() -> str:
    """Return yesterday's UTC date, the default last simulated day."""
    return (datetime.now(timezone.utc).date() - timedelta(days=1)).isoformat()


def write_fleet(out: Path, instances: int = DEFAULT_INSTANCES, start: str = DEFAULT_START,
                end: str | None = None, seed: int = 1, key: bytes | None = None,
                formats: tuple[str, ...] = ("csv", "exports", "pinglog"), with_truth: bool = True,
                chunk: int = 4000, bad_rate: float = 0.0005, progress=None) -> dict:
    """Simulate `instances` instances from start to end (UTC dates) into `out`; return a summary."""
    end = end or default_end()
    if start > end:
        raise ValueError(f"--start {start} is after --end {end}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    key = key or privacy.secret_for(settings_mod.load())
    releases, node = fleet.Releases.load(), fleet.NodeLines.load()
    d0, d1 = fleet._day(start), fleet._day(end)
    con = duckdb.connect(config={"autoinstall_known_extensions": "false"})
    con.execute("set TimeZone = 'UTC'")
    con.execute(privacy.sql_macro(key))
    (out / "SIMULATED").write_text(MARKER)
    outage = fleet.outage_day(d0, d1)
    log = writers.PingLogWriter(out / "pinglog", np.random.default_rng([seed, 999_999]), bad_rate,
                                storm_day=None if outage is None else outage + 1)
    kept: list[pd.DataFrame] = []
    total = 0
    started = time.monotonic()
    n_chunks = max(1, -(-instances // chunk))
    for ci in range(n_chunks):
        n = min(chunk, instances - ci * chunk)
        rng = np.random.default_rng([seed, ci])
        inst = fleet.instances(rng, n, d0, d1, releases)
        pings = fleet.pings(rng, inst, d0, d1, releases, node, outage)
        if pings.empty:
            continue
        if progress:
            progress(f"chunk {ci + 1}/{n_chunks}: {len(pings):,} pings simulated ({time.monotonic() - started:.0f}s),"
                     f" writing {', '.join(formats)}")
        frame = writers.frame_for_sql(pings, releases.key_flags)
        con.register("sim", frame)
        if "csv" in formats:
            writers.write_csv(con, out / "collector.csv.gz", end)
        if "exports" in formats:
            for name, lo, hi in writers.era_exports(d0, d1):
                where = f"ts >= {lo * fleet.MS_DAY} and ts < {(hi + 1) * fleet.MS_DAY}"
                writers.write_csv(con, out / "exports" / name, writers._iso(hi), where)
        if "pinglog" in formats:
            log.write(con)
        con.unregister("sim")
        total += len(pings)
        if with_truth:
            kept.append(pings)
        if progress:
            progress(f"chunk {ci + 1}/{n_chunks}: {total:,} pings ({time.monotonic() - started:.0f}s)")
    if with_truth and kept:
        truth.write(truth.compute(pd.concat(kept, ignore_index=True), releases, log.quarantined), out / "truth")
        if progress:
            progress(f"truth of every mart written ({time.monotonic() - started:.0f}s)")
    return {"pings": total, "quarantined_lines": len(log.quarantined), "out": str(out)}


def cmd_simulate(args) -> int:
    """Run the simulator from the command line."""
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    summary = write_fleet(Path(args.out), args.instances, args.start, args.end, args.seed,
                          formats=tuple(args.formats.split(",")), with_truth=not args.no_truth,
                          progress=say)
    print(f"wrote {summary['pings']:,} pings ({summary['quarantined_lines']} malformed lines) to {summary['out']}")
    if args.send:
        from .send import send_log

        return send_log(Path(args.out) / "pinglog", args.send)
    return 0
