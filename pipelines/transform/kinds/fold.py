"""Kind `fold`: over an append-only relation, the model runs over the new rows alone and is merged in by key.

Each touched key's old row and the row computed over the new rows are merged by `merge` (min, max or
sum per column); `merge = {}` is a set of distinct keys, to which new keys are added. A full build over
more than chunk_rows rows folds one group of loads at a time, so each statement's distinct keys fit in
memory.
"""

from __future__ import annotations

from sqlglot import exp

from .. import sqltree
from ..declare import Fold
from ..models import Model
from ..replaced import Keys, Nothing
from .common import (Result, changes_relation, delta_view, grouped, load_groups, new_rows, scope_table, whole)


def over_new_rows(con, model: Model, since: int, until: int | None) -> tuple[str, exp.Subquery]:
    """Point a temp view at the new rows of loads (since, until]; return its name and the model over it, aliased m."""
    relation = changes_relation(model.kind)
    view = delta_view(model, relation)
    con.execute(f"create or replace temp view {view} as {sqltree.sql(new_rows(model.kind, since, until))}")
    return view, sqltree.aliased(sqltree.swapped(model.tree, {relation: view}), "m")


def lacking(model: Model, computed: exp.Subquery) -> exp.Select:
    """Return the rows of `computed` (aliased m) whose key the model's table lacks: `m anti join <model> t`."""
    return exp.select("m.*").from_(computed).join(
        exp.to_table(model.relation).as_("t"), join_type="anti", on=sqltree.same(model.kind.key, "m", "t"))


def merged(model: Model, new: str) -> exp.Select:
    """Return the touched keys' old rows and the new rows (table `new`) merged by key with the merge functions."""
    kind: Fold = model.kind
    old = sqltree.rows_of(model.relation, "t").join(exp.to_table(new).as_("m"), join_type="semi",
                                                     on=sqltree.same(kind.key, "t", "m"))
    both = exp.union(old, exp.select("*").from_(new), distinct=False, by_name=True)
    keys = [exp.column(k, quoted=True) for k in kind.key]
    return (exp.select(*keys, *[exp.func(fn, exp.column(c, quoted=True)).as_(c, quoted=True) for c, fn in kind.merge])
            .from_(sqltree.aliased(both, "b")).group_by(*[k.copy() for k in keys]))


def fold_in(con, model: Model, since: int, until: int | None = None) -> Result:
    """Fold the rows new since load `since` (up to `until`) into the table; return the keys it replaced."""
    kind: Fold = model.kind
    view, computed = over_new_rows(con, model, since, until)
    table = scope_table(model)
    if kind.merge:
        con.execute(sqltree.sql(sqltree.create(f"{table}__new", exp.select("m.*").from_(computed), temporary=True)))
        rows = merged(model, f"{table}__new")
    else:   # distinct keys: add the new ones
        rows = lacking(model, computed)
    con.execute(sqltree.sql(sqltree.create(table, rows, temporary=True)))
    con.execute(f"drop view {view}; drop table if exists {table}__new")
    if not con.execute(f"select count(*) from {table}").fetchall()[0][0]:
        return Result("incremental", Nothing())
    if kind.merge:
        delete = exp.Delete(this=exp.to_table(model.relation).as_("t"), using=[exp.to_table(table).as_("s")],
                            where=exp.Where(this=sqltree.same(kind.key, "t", "s")))
        con.execute(sqltree.sql(delete))
    con.execute(f"insert into {model.relation} by name select * from {table}")
    return Result("incremental", Keys(table, kind.key))


def incremental(con, model: Model, since: int, chunk_rows: int) -> Result:
    """Fold the rows new since load `since` into the table."""
    return fold_in(con, model, since)


def add_new_keys(con, model: Model, since: int, until: int) -> None:
    """Add to a set of keys (`merge = {}`) the keys of loads (since, until] it lacks, in one statement.

    No temp table: inside the build's one transaction a dropped temp table keeps its memory until
    commit, and a full build adds about a hundred groups at 64M pings.
    """
    view, computed = over_new_rows(con, model, since, until)
    con.execute(f"insert into {model.relation} by name {sqltree.sql(lacking(model, computed))}")
    con.execute(f"drop view {view}")


def full(con, model: Model, chunk_rows: int) -> Result:
    """Rebuild the table whole: its first group of loads in one pass, then each later group folded in."""
    bounds = load_groups(con, model.kind, chunk_rows)
    if not bounds:
        return whole(con, model)
    view, first = over_new_rows(con, model, -1, bounds[0])
    con.execute(sqltree.sql(sqltree.create(model.relation, first.this)))
    con.execute(f"drop view {view}")
    for since, until in zip(bounds, bounds[1:]):
        if model.kind.merge:
            fold_in(con, model, since, until)
        else:
            add_new_keys(con, model, since, until)
    return Result(grouped("load", len(bounds)))
