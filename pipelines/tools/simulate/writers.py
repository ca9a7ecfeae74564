"""Writers of the simulated pings: the collector-table CSV exports and the ping-log JSONL files."""

from __future__ import annotations

import gzip
import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from .fleet import MS_DAY
from .payload import csv_select, line_sql

BAD_KINDS = [
    "not_json", "not_object", "instance_id_missing", "instance_id_not_string",
    "instance_id_empty", "instance_id_too_long", "received_at_unparseable", "received_at_missing",
]


def _iso(day: int) -> str:
    """Return the ISO date of days since 1970-01-01."""
    return (date(1970, 1, 1) + timedelta(days=int(day))).isoformat()


def bad_line(kind: str, day: int, n: int) -> str:
    """Return one malformed ping-log line of a kind, deterministic in (day, n)."""
    at = f"{_iso(day)}T12:{n % 60:02d}:00.000Z"
    good = {"received_at": at, "ip_hash": "0" * 64, "payload": {"instanceId": f"bad-{day}-{n}"}}
    if kind == "not_json":
        return json.dumps(good)[:40]
    if kind == "not_object":
        return json.dumps({**good, "payload": "not an object"}) if n % 2 else json.dumps([at, "x"])
    if kind == "instance_id_missing":
        return json.dumps({**good, "payload": {"env": {"flowforge": "2.0.0"}}})
    if kind == "instance_id_not_string":
        return json.dumps({**good, "payload": {"instanceId": 12345 + n}})
    if kind == "instance_id_empty":
        return json.dumps({**good, "payload": {"instanceId": "  "}})
    if kind == "instance_id_too_long":
        return json.dumps({**good, "payload": {"instanceId": "x" * 257}})
    if kind == "received_at_unparseable":
        return json.dumps({**good, "received_at": "yesterday"})
    if kind == "received_at_missing":
        return json.dumps({k: v for k, v in good.items() if k != "received_at"})
    raise ValueError(kind)


#: broken lines written on the day after the outage, as a share of that day's good lines
STORM_SHARE = 0.05


class PingLogWriter:
    """Appends ping-log lines to one file per UTC day, inserting malformed lines, tracking line numbers."""

    def __init__(self, folder: Path, rng: np.random.Generator, bad_rate: float, storm_day: int | None = None):
        self.folder = Path(folder)
        self.storm_day = storm_day      # the day the recovering collector wrote STORM_SHARE broken lines
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rng = rng
        self.bad_rate = bad_rate
        self.lines_in: dict[int, int] = {}
        self.quarantined: list[dict] = []
        self.every_kind_pending = bad_rate > 0

    def write(self, con: duckdb.DuckDBPyConnection) -> None:
        """Write the lines of the `sim` table (with flags) to their day files, in time order."""
        con.execute(f"create or replace temp table sim_lines as select ts // {MS_DAY} as d, ts, {line_sql()} as line from sim")
        days = [r[0] for r in con.execute("select distinct d from sim_lines order by d").fetchall()]
        for d in days:
            lines = [r[0] for r in con.execute("select line from sim_lines where d = $1 order by ts", [d]).fetchall()]
            self._append(d, lines)
        con.execute("drop table sim_lines")

    def _append(self, d: int, lines: list[str]) -> None:
        """Append lines (plus malformed ones) to the file of day d."""
        n_bad = int(self.rng.binomial(len(lines), self.bad_rate)) if self.bad_rate else 0
        kinds = list(self.rng.choice(BAD_KINDS, n_bad)) if n_bad else []
        if d == self.storm_day:
            kinds += ["instance_id_missing"] * (1 + int(len(lines) * STORM_SHARE))
        if self.every_kind_pending:
            kinds += BAD_KINDS
            self.every_kind_pending = False
        positions = sorted(self.rng.integers(0, len(lines) + 1, len(kinds)).tolist())
        name = f"pings-{_iso(d)}.jsonl"
        start = self.lines_in.get(d, 0)
        out: list[str] = []
        cursor = 0
        for i, (pos, kind) in enumerate(zip(positions, kinds)):
            out.extend(lines[cursor:pos])
            cursor = pos
            text = bad_line(str(kind), d, start + len(out))
            out.append(text)
            self.quarantined.append({"source": "pinglog", "location": f"{name}:{start + len(out)}",
                                     "reason": str(kind), "raw": text})
        out.extend(lines[cursor:])
        with open(self.folder / name, "a", encoding="utf-8") as fh:
            fh.write("\n".join(out) + "\n")
        self.lines_in[d] = start + len(out)


def write_csv(con: duckdb.DuckDBPyConnection, path: Path, on_day: str, where: str = "true") -> None:
    """Append the `sim` pings matching `where` to a gzipped collector-table CSV as of `on_day`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.csv")
    con.execute(
        f"copy (select {csv_select(on_day)} from sim where {where} order by ts, uid) to '{tmp}'"
        " (format csv, header true, delimiter ',', quote '\"')"
    )
    data = tmp.read_bytes()
    tmp.unlink()
    if path.exists():  # a later chunk: drop its header and add a gzip member
        data = data.split(b"\n", 1)[1]
    with gzip.GzipFile(path, "ab", mtime=0) as gz:
        gz.write(data)


def era_exports(start: int, end: int) -> list[tuple[str, int, int]]:
    """Return (name, first day, last day) of half-year exports, each overlapping the previous by 7 days."""
    out = []
    y, m = date.fromordinal(date(1970, 1, 1).toordinal() + start).year, 1
    cur = date(y, m, 1)
    last = date(1970, 1, 1) + timedelta(days=end)
    while cur <= last:
        nxt = date(cur.year + (cur.month + 6 > 12), (cur.month + 5) % 12 + 1, 1)
        lo = (cur - date(1970, 1, 1)).days - 7
        hi = (nxt - date(1970, 1, 1)).days - 1
        if hi >= start:
            out.append((f"pings-{cur.isoformat()}.csv.gz", max(lo, start), min(hi, end)))
        cur = nxt
    return out


def frame_for_sql(pings: pd.DataFrame, flags: dict[str, np.ndarray]) -> pd.DataFrame:
    """Return the pings with one boolean column per payload-key flag of their version."""
    out = pings.copy()
    for key, per_release in flags.items():
        out[f"has_{key}"] = per_release[out["vidx"].to_numpy()]
    return out
