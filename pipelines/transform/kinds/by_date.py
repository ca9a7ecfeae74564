"""Kind `by_date`: the dates the new rows reach are rebuilt, each from `lookback` days of input before it.

The new rows' utc days, as periods of the model's `grain`, span [first, last]. The rebuilt range is
[min(first, the table's last date), last + restate days] (the table's last date is redone so dates that
only extend a spine are filled), or through the table's last date when restate = "all" (a walk: every
later date carries earlier values on). The model runs with every import CTE named in `cut` reading only
[range start - lookback days, range end], and its result is cut to the range. A touched date before the
table's first date rebuilds the model whole. A full build without lookback or walk (its ranges read
disjoint inputs) over more than chunk_rows input rows runs one group of consecutive dates at a time.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlglot import exp

from .. import sqltree
from ..declare import ByDate
from ..groups import groups
from ..models import Model
from ..replaced import Dates, Nothing
from .common import Result, create_or_append, grouped, new_rows, whole


def touched(con, kind: ByDate, since: int) -> tuple[date | None, date | None]:
    """Return the first and last key date of the rows new since load `since` ((None, None): none)."""
    period = sqltree.qualify(kind.period.of(), "n")
    query = exp.select(exp.func("min", period), exp.func("max", period.copy())).from_(
        sqltree.aliased(new_rows(kind, since), "n"))
    return con.execute(sqltree.sql(query)).fetchall()[0]


def range_rows(model: Model, start: date, end: date) -> exp.Select:
    """Return the model's rows for key dates [start, end]: its `cut` CTEs read [start - lookback, end]."""
    kind: ByDate = model.kind
    inputs = sqltree.between(kind.column, start - timedelta(days=kind.lookback), end)
    tree = sqltree.cut_ctes(model.tree, kind.cut, inputs)
    return exp.select("*").from_(sqltree.aliased(tree, "__new")).where(sqltree.between(kind.column, start, end))


def incremental(con, model: Model, since: int, chunk_rows: int) -> Result:
    """Rebuild the date range the rows new since load `since` reach; return it as the replaced rows."""
    kind: ByDate = model.kind
    first, last = touched(con, kind, since)
    if first is None:
        return Result("incremental", Nothing())
    low, high = con.execute(sqltree.sql(sqltree.bounds(kind.column, model.relation))).fetchall()[0]
    if low is None or first < low:
        result = full(con, model, chunk_rows)
        result.how += " (a date before the table's first)"
        return result
    start = min(first, high)
    end = max(last, high) if kind.walks else last + timedelta(days=kind.restate)
    delete = exp.Delete(this=exp.to_table(model.relation), where=exp.Where(this=sqltree.between(kind.column, start, end)))
    con.execute(sqltree.sql(delete))
    con.execute(f"insert into {model.relation} by name {sqltree.sql(range_rows(model, start, end))}")
    return Result("incremental", Dates(kind.column, start, end))


def date_groups(con, model: Model, chunk_rows: int) -> list[tuple[date, date]]:
    """Return the key-date ranges a full build builds one at a time ([]: one pass).

    Only models whose ranges read disjoint inputs are grouped (no lookback, no walk): consecutive key
    dates of the first `cut` CTE until a group holds chunk_rows of its rows. Each range runs up to the day
    before the next one starts, so a date without input rows still lies in one.
    """
    kind: ByDate = model.kind
    if kind.lookback or kind.walks:
        return []
    cte = next(c for c in model.tree.find_all(exp.CTE) if c.alias_or_name == kind.cut[0])
    column = exp.column(kind.column, quoted=True)
    counts = con.execute(sqltree.sql(sqltree.counts_by(column, sqltree.aliased(cte.this.copy(), "i")))).fetchall()
    found = groups([(d, n) for d, n in counts if d is not None], chunk_rows)
    return [(first, found[i + 1][0] - timedelta(days=1) if i + 1 < len(found) else last)
            for i, (first, last) in enumerate(found)]


def full(con, model: Model, chunk_rows: int) -> Result:
    """Rebuild the table whole: in one pass, or one group of dates at a time over a large input."""
    found = date_groups(con, model, chunk_rows)
    if not found:
        return whole(con, model)
    for i, (start, end) in enumerate(found):
        create_or_append(con, model, i, range_rows(model, start, end))
    return Result(grouped("date", len(found)))
