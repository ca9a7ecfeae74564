"""The same models on Apache Spark: each model's DuckDB SQL translated to Spark SQL with sqlglot.

The translation works on the parsed SQL, never on its text: the macros of macros.sql are expanded
in place, every `schema.table` becomes a temp view `schema__table`, and the few DuckDB forms Spark
reads differently are rewritten (a full-match regexp, quantile_cont, a cast of an unnested series).
A model that cannot mean the same on both engines gets a Spark form beside it, `<name>.spark.sql`
(Spark SQL reading the same `schema.table` names); the comparison with DuckDB proves it. Incremental
models run whole. pyspark is imported by the caller (tests, a cluster job), not by this module.
"""

from __future__ import annotations

from pathlib import Path

import sqlglot
from sqlglot import exp

from ..settings import SQL_DIR
from . import models as models_mod

#: date_diff units whose boundaries-crossed count Spark can compute from truncated times
TRUNCATABLE = {"SECOND", "MINUTE", "HOUR", "DAY", "MONTH", "QUARTER", "YEAR"}


def sources(models: list[models_mod.Model] | None = None) -> list[str]:
    """Return the relations the models read that no model builds (landing and reference tables)."""
    models = models or models_mod.build_order()
    built = {m.relation for m in models}
    return sorted({r for m in models for r in m.reads} - built)


def view_name(relation: str) -> str:
    """Return the Spark temp view standing for a DuckDB `schema.table`."""
    schema, _, name = relation.rpartition(".")
    return f"{schema or 'main'}__{name}"


def macros(path: Path = SQL_DIR / "macros.sql") -> dict[str, tuple[list[str], exp.Expression]]:
    """Return each macro of macros.sql as (parameter names, parsed body)."""
    out = {}
    for statement in sqlglot.parse(path.read_text(), read=models_mod.DIALECT):
        if isinstance(statement, exp.Create) and str(statement.args.get("kind")).upper() == "MACRO":
            fn = statement.this
            out[fn.this.name.lower()] = ([p.name for p in fn.expressions], statement.expression)
    return out


def expand(tree: exp.Expression, defined: dict) -> exp.Expression:
    """Return the tree with every macro call replaced by its body (arguments put in; nested calls too)."""
    def visit(node):
        if isinstance(node, exp.Anonymous) and str(node.this).lower() in defined:
            params, body = defined[str(node.this).lower()]
            args = dict(zip(params, node.expressions))
            inlined = body.copy().transform(
                lambda n: args[n.name].copy() if isinstance(n, exp.Column) and not n.table and n.name in args else n)
            return expand(inlined, defined)
        return node
    return tree.transform(visit)


def _spark_forms(node: exp.Expression) -> exp.Expression:
    """Rewrite one DuckDB node Spark reads differently into a form that means the same there."""
    if isinstance(node, exp.RegexpFullMatch) and isinstance(node.expression, exp.Literal):
        # regexp_full_match: the whole text must match; Spark's RLIKE searches, so anchor it
        return exp.RegexpLike(this=node.this, expression=exp.Literal.string(f"^(?:{node.expression.this})$"))
    if isinstance(node, (exp.Quantile, exp.PercentileCont)) and not isinstance(node.parent, exp.WithinGroup):
        # quantile_cont(x, q): linear interpolation between the closest ranks = Spark's percentile(x, q)
        return exp.Anonymous(this="percentile", expressions=[node.this, node.args.get("quantile") or node.expression])
    if isinstance(node, exp.DateDiff):
        # duckdb date_diff(unit, a, b) counts unit boundaries crossed (day: 23:59 -> 00:01 is 1); Spark's
        # datediff/timestampdiff count whole units (0). The same meaning on Spark: whole units between
        # both times truncated to the unit
        unit = str(node.args.get("unit") or "day").upper()
        if unit not in TRUNCATABLE:
            raise ValueError(f"date_diff with unit {unit!r} has no Spark form here: give the model a .spark.sql")
        trunc = lambda e: exp.Anonymous(this="date_trunc", expressions=[exp.Literal.string(unit), e])  # noqa: E731
        return exp.Anonymous(this="timestampdiff", expressions=[exp.var(unit), trunc(node.expression), trunc(node.this)])
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        # `as [not] materialized`: a DuckDB planner hint with no Spark syntax; the rows are the same without it
        node.set("materialized", None)   # in place, so its body is still visited (transform works on a copy)
        return node
    if isinstance(node, exp.Cast) and isinstance(node.this, (exp.Unnest, exp.Explode)):
        # cast(unnest(series) as t): Spark cannot cast a generator; cast each element, then explode
        x = exp.to_identifier("x")
        series = node.this.expressions[0] if isinstance(node.this, exp.Unnest) else node.this.this
        each = exp.Lambda(this=exp.Cast(this=exp.column("x"), to=node.to.copy()), expressions=[x])
        return exp.Explode(this=exp.Anonymous(this="transform", expressions=[series, each]))
    return node


def _renamed(node: exp.Expression) -> exp.Expression:
    """Return a `schema.table` node as its Spark temp view (other nodes unchanged)."""
    if isinstance(node, exp.Table) and node.name:
        renamed = exp.to_table(view_name(f"{node.db or 'main'}.{node.name}"))
        if node.args.get("alias"):
            renamed.set("alias", node.args["alias"].copy())
        return renamed
    return node


def translate(model: models_mod.Model, defined: dict | None = None) -> str:
    """Return a model's Spark SQL: its Spark form when it has one, else its DuckDB SQL translated."""
    own_form = model.spark_path.exists()
    if own_form:
        tree = sqlglot.parse_one(model.spark_path.read_text(), read="spark")
    else:
        tree = expand(model.tree, defined if defined is not None else macros())
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}

    def visit(node):
        if isinstance(node, exp.Table) and not node.db and node.name in ctes:
            return node
        return _renamed(node if own_form else _spark_forms(node))

    return tree.transform(visit).sql(dialect="spark")


def export_sources(con, folder: Path) -> dict[str, Path]:
    """Write every landing and reference table the models read to folder/<view>.parquet; return the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for relation in sources():
        path = folder / f"{view_name(relation)}.parquet"
        con.execute(f"copy (select * from {relation}) to '{path}' (format parquet)")
        out[relation] = path
    return out


def run(spark, landed: dict[str, Path], models: list[models_mod.Model] | None = None) -> dict[str, object]:
    """Register the landed tables, then every model in build order as a temp view; return {mart: DataFrame}."""
    for relation, path in landed.items():
        spark.read.parquet(str(path)).createOrReplaceTempView(view_name(relation))
    defined = macros()
    marts = {}
    for model in models or models_mod.build_order():
        df = spark.sql(translate(model, defined))
        if model.kind.name != "view":
            # tables are read by several later models: computed once, like DuckDB, and their lineage cut
            # (a mart reading marts would otherwise carry every plan under it)
            df = df.localCheckpoint()
        df.createOrReplaceTempView(view_name(model.relation))
        if model.layer == "marts":
            marts[model.name] = df
    return marts
