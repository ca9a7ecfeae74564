"""Kind `by_key`: the rows of the keys the new rows touch are deleted and computed again from `input`.

Each `input` relation is read cut to the touched keys (a semi join on the key columns). With `period`
(a key column that is the utc day, week or month of an input column) the input is also cut to the
touched periods, so a day's update reads only that day's rows of a years-long input; and a full build
over more than chunk_rows input rows runs one group of whole periods at a time (each key's rows lie in
one group, so the groups' results are disjoint).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlglot import exp

from .. import sqltree
from ..declare import ByKey, Period
from ..groups import groups
from ..models import Model
from ..replaced import Keys, Nothing
from .common import Result, create_or_append, delta_view, grouped, touched_keys, whole


def key_exprs(kind: ByKey) -> dict[str, exp.Expression]:
    """Return each key column's expression over a row of the input or of the new rows (a period: its start)."""
    return {k: kind.period.of() if kind.period and kind.period.column == k else exp.column(k, quoted=True)
            for k in kind.key}


def period_end(last: date, grain: str) -> date:
    """Return the first date after the period (a utc day, monday week or first-of-month) starting at `last`."""
    return {"day": last + timedelta(days=1), "week": last + timedelta(days=7),
            "month": (last.replace(day=28) + timedelta(days=4)).replace(day=1)}[grain]


def in_periods(rows: exp.Select, period: Period, first: date, last: date) -> exp.Select:
    """Return input rows (aliased i) cut to the periods [first, last]: source in [first, end of last), utc."""
    source = exp.column(period.source, table="i", quoted=True)
    low = exp.cast(sqltree.day(first), exp.DataType.build("timestamp"))
    high = exp.cast(sqltree.day(period_end(last, period.grain)), exp.DataType.build("timestamp"))
    return rows.where(exp.and_(exp.GTE(this=source, expression=low), exp.LT(this=source.copy(), expression=high)))


def incremental(con, model: Model, since: int, chunk_rows: int) -> Result:
    """Replace the rows of the keys touched by rows new since load `since`; return them as the replaced rows."""
    kind: ByKey = model.kind
    keys = key_exprs(kind)
    table = touched_keys(con, model, keys, since)
    if table is None:
        return Result("incremental", Nothing())
    dates = ()
    if kind.period:
        first, last = con.execute(sqltree.sql(sqltree.bounds(kind.period.column, table))).fetchall()[0]
        dates = ((kind.period.column, first, last),)
    views = {}
    for relation in kind.input:
        match = exp.and_(*[exp.EQ(this=sqltree.qualify(e, "i"), expression=exp.column(k, table="d", quoted=True))
                           for k, e in keys.items()])
        rows = sqltree.rows_of(relation, "i").join(exp.to_table(table).as_("d"), on=match, join_type="semi")
        if kind.period:
            rows = in_periods(rows, kind.period, dates[0][1], dates[0][2])
        views[relation] = delta_view(model, relation)
        con.execute(f"create or replace temp view {views[relation]} as {sqltree.sql(rows)}")
    delete = exp.Delete(this=exp.to_table(model.relation).as_("t"), using=[exp.to_table(table).as_("d")],
                        where=exp.Where(this=sqltree.same(kind.key, "t", "d")))
    con.execute(sqltree.sql(delete))
    con.execute(f"insert into {model.relation} by name {sqltree.sql(sqltree.swapped(model.tree, views))}")
    for view in views.values():
        con.execute(f"drop view {view}")
    return Result("incremental", Keys(table, kind.key, dates))


def period_groups(con, kind: ByKey, chunk_rows: int) -> list[tuple[date, date]]:
    """Return the (first, last) periods of each group a full build reads one at a time ([]: one pass).

    Only a model with a period and one input is grouped: consecutive whole periods until a group holds
    chunk_rows input rows.
    """
    if kind.period is None or len(kind.input) != 1:
        return []
    counts = con.execute(sqltree.sql(sqltree.counts_by(kind.period.of(), exp.to_table(kind.input[0])))).fetchall()
    return groups(counts, chunk_rows)


def full(con, model: Model, chunk_rows: int) -> Result:
    """Rebuild the table whole: in one pass, or one group of whole periods at a time over a large input."""
    kind: ByKey = model.kind
    found = period_groups(con, kind, chunk_rows)
    if not found:
        return whole(con, model)
    relation = kind.input[0]
    view = delta_view(model, relation)
    for i, (first, last) in enumerate(found):
        rows = in_periods(sqltree.rows_of(relation, "i"), kind.period, first, last)
        con.execute(f"create or replace temp view {view} as {sqltree.sql(rows)}")
        create_or_append(con, model, i, sqltree.swapped(model.tree, {relation: view}))
    con.execute(f"drop view {view}")
    return Result(grouped("period", len(found)))
