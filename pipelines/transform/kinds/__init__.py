"""One module per kind: its full build, its incremental build, and the rows an incremental build replaced.

`build(con, step, since, chunk_rows)` is the one dispatch: it runs the step the plan chose (rebuild,
incremental or unchanged) with the module of the model's kind. A full build over a large input reads one
group of about chunk_rows rows at a time (periods for by_key, dates for by_date), so each statement's hash
table fits DuckDB's memory cap; grouping is part of each kind's full build, not a mode. A fold's full build
is one pass (its result has one row per key: see fold.py).
"""

from __future__ import annotations

from ..changes import Step
from ..replaced import Nothing
from . import by_date, by_key, fold, table, view
from .common import Result, make_room

BUILDERS = {"view": view, "table": table, "by_key": by_key, "by_date": by_date, "fold": fold}


def build(con, step: Step, since: int, chunk_rows: int) -> Result:
    """Run one model's step: its kind's full build, incremental build from load `since`, or nothing."""
    module = BUILDERS[step.model.kind.name]
    if step.action == "rebuild":
        make_room(con, step.model)
        return module.full(con, step.model, chunk_rows)
    if step.action == "incremental":
        return module.incremental(con, step.model, since, chunk_rows)
    return Result("unchanged", Nothing())
