"""Per-statement timings of a refresh: with PINGS_PROFILE=FILE every DuckDB statement appends a line to FILE.

Each line is JSON: {"step": "landing" | "model <relation>" | "checks" | "parquet" | "other",
"statement": the statement's first words (SQL text only: parameters, hence values, are never written),
"seconds": wall seconds of execute}. `summary(FILE)` ranks them; the bench prints that ranking.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

ENV = "PINGS_PROFILE"
_STEP: contextvars.ContextVar[str] = contextvars.ContextVar("pings_profile_step", default="other")


@contextmanager
def step(name: str):
    """Label every statement run inside the block with a step name (landing, model x, checks, parquet)."""
    token = _STEP.set(name)
    try:
        yield
    finally:
        _STEP.reset(token)


def statement(sql: str, words: int = 8) -> str:
    """Return a statement's first words, comments and layout removed: 'create temp table classified as select ...'."""
    text = re.sub(r"--[^\n]*", " ", sql)
    text = re.sub(r"\s+", " ", text).strip().lower()
    return " ".join(text.split(" ")[:words])


class Timed:
    """A DuckDB connection that times each execute and appends {step, statement, seconds} to a JSONL file."""

    def __init__(self, con, path: str) -> None:
        """Wrap con; lines go to path (appended)."""
        self._con = con
        self._out = open(path, "a", encoding="utf-8")

    def _timed(self, method: str, query, *args, **kwargs):
        """Run one of the connection's execute methods and log its seconds."""
        started = time.perf_counter()
        try:
            return getattr(self._con, method)(query, *args, **kwargs)
        finally:
            line = {"step": _STEP.get(), "statement": statement(str(query)),
                    "seconds": round(time.perf_counter() - started, 4)}
            self._out.write(json.dumps(line) + "\n")

    def execute(self, query, *args, **kwargs):
        """Execute and time a statement (as DuckDBPyConnection.execute)."""
        return self._timed("execute", query, *args, **kwargs)

    def executemany(self, query, *args, **kwargs):
        """Execute and time a statement over many parameter sets (as DuckDBPyConnection.executemany)."""
        return self._timed("executemany", query, *args, **kwargs)

    def close(self) -> None:
        """Close the connection and the profile file."""
        self._con.close()
        self._out.close()

    def __getattr__(self, name: str):
        """Everything else is the connection's own."""
        return getattr(self._con, name)


def wrap(con):
    """Return con timed statement by statement when PINGS_PROFILE names a file, else con itself."""
    path = os.environ.get(ENV)
    return Timed(con, path) if path else con


def summary(path: Path | str, top: int = 15) -> dict:
    """Return a profile file ranked: {"steps": [[step, seconds]...], "statements": [[step, statement, count, seconds]...]}."""
    by_step: dict[str, float] = defaultdict(float)
    by_statement: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0.0])
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            kind = row["step"].split(" ")[0]
            by_step[kind] += row["seconds"]
            entry = by_statement[(row["step"], row["statement"])]
            entry[0] += 1
            entry[1] += row["seconds"]
    steps = sorted(([k, round(v, 2)] for k, v in by_step.items()), key=lambda r: -r[1])
    ranked = sorted(([s, st, n, round(sec, 2)] for (s, st), (n, sec) in by_statement.items()), key=lambda r: -r[3])
    return {"steps": steps, "statements": ranked[:top]}
