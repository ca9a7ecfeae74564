"""What the kinds share: the build result, the new rows of a load range, touched keys, group writes."""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from .. import sqltree
from ..declare import Kind
from ..models import Model
from ..replaced import Replaced


@dataclass
class Result:
    """How a model was built ('full', 'full in 3 period groups', 'incremental', ...) and the rows it replaced.

    replaced None: the whole table is new, so its checks read all of it.
    """

    how: str
    replaced: Replaced | None = None


def changes_column(kind: Kind) -> exp.Column:
    """Return the kind's `changes` setting parsed: the load-id column (`schema.table.column`) of new rows."""
    return sqlglot.parse_one(kind.changes, read=sqltree.DIALECT)


def changes_relation(kind: Kind) -> str:
    """Return the relation (`schema.table`) holding the kind's new rows."""
    column = changes_column(kind)
    return f"{column.db or 'main'}.{column.table}"


def new_rows(kind: Kind, since: int) -> exp.Select:
    """Return `select n.* from <changes relation> n where n.<load id> > since`."""
    column = changes_column(kind)
    load = exp.column(column.name, table="n", quoted=True)
    return sqltree.rows_of(changes_relation(kind), "n").where(exp.GT(this=load, expression=exp.Literal.number(int(since))))


def scope_table(model: Model) -> str:
    """Return the temp table holding an incremental build's touched keys (kept for its checks)."""
    return f"scope__{model.name}"


def delta_view(model: Model, relation: str) -> str:
    """Return the temp view name standing for an input's rows of one build step."""
    return "__".join(["delta", model.name, *relation.split(".")])


def touched_keys(con, model: Model, keys: dict[str, exp.Expression], since: int) -> str | None:
    """Gather the distinct keys of the rows new since load `since` into the model's scope table; its name (None: none)."""
    touched = (exp.select(*[sqltree.qualify(e, "n").as_(k, quoted=True) for k, e in keys.items()]).distinct()
               .from_(sqltree.aliased(new_rows(model.kind, since), "n")))
    table = scope_table(model)
    con.execute(sqltree.sql(sqltree.create(table, touched, temporary=True)))
    return table if con.execute(f"select count(*) from {table}").fetchall()[0][0] else None


def plain_keys(kind: Kind) -> dict[str, exp.Expression]:
    """Return each key column as itself (a column of the input rows and of the new rows)."""
    return {k: exp.column(k, quoted=True) for k in kind.key_columns}


def create_or_append(con, model: Model, group: int, body: exp.Expression) -> None:
    """Write one group of a grouped full build: the first group creates the table, later ones append."""
    if group == 0:
        con.execute(sqltree.sql(sqltree.create(model.relation, body)))
    else:
        con.execute(f"insert into {model.relation} by name {sqltree.sql(body)}")


def exists(con, relation: str, kind: str = "BASE TABLE") -> bool:
    """Return whether a table (or, with kind='VIEW', a view) exists."""
    schema, name = relation.split(".")
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = $1 and table_name = $2"
        " and table_type = $3", [schema, name, kind]).fetchall()[0][0])


def make_room(con, model: Model) -> None:
    """Drop a relation of the other sort (a table where a view goes, a view where a table goes)."""
    other = "BASE TABLE" if model.kind.name == "view" else "VIEW"
    if exists(con, model.relation, other):
        con.execute(f"drop {'table' if other == 'BASE TABLE' else 'view'} {model.relation}")


def whole(con, model: Model) -> Result:
    """Build a table model whole, in one pass."""
    con.execute(f"create or replace table {model.relation} as\n{model.sql}")
    return Result("full")


def grouped(how: str, count: int) -> str:
    """Return how a full build went: 'full', or 'full in N <how> groups'."""
    return f"full in {count} {how} groups" if count > 1 else "full"
