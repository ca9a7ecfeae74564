"""Small builders of sqlglot syntax trees the kinds share: literals, ranges, key matches, swapped inputs.

Every statement the engine runs is built as a tree and rendered with `sql()`; no SQL text is substituted.
"""

from __future__ import annotations

from datetime import date

from sqlglot import exp

DIALECT = "duckdb"


def sql(tree: exp.Expression) -> str:
    """Return a tree as DuckDB SQL."""
    return tree.sql(DIALECT)


def day(value: date) -> exp.Expression:
    """Return a date literal (`cast('2024-07-01' as date)`) for a Python date."""
    return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("date"))


def between(column: str, low: date, high: date, table: str | None = None) -> exp.Expression:
    """Return `column between low and high` for two Python dates."""
    return exp.Between(this=exp.column(column, table=table, quoted=True), low=day(low), high=day(high))


def aliased(query: exp.Expression, alias: str) -> exp.Subquery:
    """Return `(query) as alias`."""
    return exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier(alias)))


def qualify(expression: exp.Expression, alias: str) -> exp.Expression:
    """Return a copy of an expression with its unqualified columns read from table `alias`."""
    def visit(node):
        if isinstance(node, exp.Column) and not node.table:
            return exp.column(node.this.copy(), table=alias)
        return node
    return expression.copy().transform(visit)


def same(columns: list[str] | tuple[str, ...], a: str, b: str) -> exp.Expression:
    """Return `a.c1 = b.c1 and ...` over columns of two aliased relations."""
    return exp.and_(*[exp.EQ(this=exp.column(c, table=a, quoted=True), expression=exp.column(c, table=b, quoted=True))
                      for c in columns])


def rows_of(relation: str, alias: str) -> exp.Select:
    """Return `select <alias>.* from <relation> <alias>`."""
    schema, _, name = relation.rpartition(".")
    return exp.select(f"{alias}.*").from_(exp.table_(name, db=schema or "main", alias=alias))


def semi(relation: str, table: str, columns: list[str] | tuple[str, ...]) -> exp.Select:
    """Return `select t.* from <relation> t semi join <table> s on <columns>`."""
    return rows_of(relation, "t").join(exp.to_table(table).as_("s"), join_type="semi", on=same(columns, "t", "s"))


def create(table: str, query: exp.Expression, temporary: bool = False) -> exp.Create:
    """Return `create or replace [temp] table <table> as <query>`."""
    properties = exp.Properties(expressions=[exp.TemporaryProperty()]) if temporary else None
    return exp.Create(this=exp.to_table(table), kind="TABLE", replace=True, properties=properties, expression=query)


def swapped(tree: exp.Expression, views: dict[str, str]) -> exp.Expression:
    """Return the tree with every relation named in views read from the named temp view instead."""
    def swap(node):
        if isinstance(node, exp.Table) and f"{node.db or 'main'}.{node.name}" in views:
            replaced = exp.to_table(views[f"{node.db or 'main'}.{node.name}"])
            if node.args.get("alias"):
                replaced.set("alias", node.args["alias"].copy())
            return replaced
        return node
    return tree.transform(swap)


def cut_ctes(tree: exp.Expression, names: tuple[str, ...], where: exp.Expression) -> exp.Expression:
    """Return the tree with every CTE named in names reading only its rows that match where."""
    for cte in tree.find_all(exp.CTE):
        if cte.alias_or_name in names:
            cte.set("this", exp.select("*").from_(aliased(cte.this.copy(), f"__{cte.alias_or_name}"))
                    .where(where.copy()))
    return tree


def bounds(column: str, relation: str) -> exp.Select:
    """Return `select min(column), max(column) from relation`."""
    col = exp.column(column, quoted=True)
    return exp.select(exp.func("min", col), exp.func("max", col.copy())).from_(exp.to_table(relation))


def counts_by(expression: exp.Expression, source: exp.Expression) -> exp.Select:
    """Return `select <expression> as g, count(*) from <source> group by g order by g`."""
    return (exp.select(expression.as_("g"), exp.func("count", exp.Star())).from_(source)
            .group_by("g").order_by("g"))
