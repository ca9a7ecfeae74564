"""Checks beside the models (dbt schema-test style): one `_checks.toml` per layer, run after every build.

A layer's file has one table per model of that layer:

    [instance_days]
    unique = ["instance_id", "day"]                 # these columns together are unique (a list of lists: several keys)
    not_null = ["instance_id", "day"]               # never null
    accepted_values.reason = "pipelines.ingest.landing:REASONS"   # a list of values, or module:NAME of one in the code
    relationships.instance_id = "marts.instances.instance_id"     # every non-null value exists there

Each check is one count of failing rows in DuckDB; the results of the latest run are kept in
main.check_results (run_at, layer, model, check, status, failing_rows, detail).
"""

from __future__ import annotations

import hashlib
import importlib
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import duckdb
import sqlglot
from sqlglot import exp

from ..fields import quoted
from ..ingest import warehouse
from ..settings import SQL_DIR
from .groups import CHUNK_ROWS, groups
from .models import LAYERS
from .replaced import Nothing, Replaced

KINDS = {"unique", "not_null", "accepted_values", "relationships"}
FILE = "_checks.toml"

RESULTS = """
create table if not exists main.check_results (
    run_at       timestamp,   -- utc, when the checks ran
    layer        varchar,
    model        varchar,
    "check"      varchar,     -- unique | not_null | accepted_values | relationships
    status       varchar,     -- pass | fail
    failing_rows bigint,
    detail       varchar      -- the columns (and values or target) checked
)
"""


@dataclass
class Check:
    """One declared check: a query counting the rows that break it, with its bound parameters."""

    layer: str
    model: str
    kind: str
    detail: str
    sql: str
    params: list
    where: str | None = None   # row-wise kinds (not_null, accepted_values): a failing row's condition
    key: list[str] | None = None   # unique: the key columns


@dataclass
class Outcome:
    """The result of one check."""

    check: Check
    failing_rows: int

    @property
    def status(self) -> str:
        """Return 'pass' or 'fail'."""
        return "fail" if self.failing_rows else "pass"


class ChecksFailed(Exception):
    """A refresh whose checks failed: the build was rolled back and the previous marts kept."""

    def __init__(self, outcomes: list[Outcome]):
        """Keep every outcome; the message names how many failed and the first one."""
        self.outcomes = outcomes
        failed = [o for o in outcomes if o.status == "fail"]
        first = failed[0].check
        super().__init__(
            f"{len(failed)} model check(s) failed, the previous marts are kept; first:"
            f" {first.layer}.{first.model} {first.kind} ({first.detail}): {failed[0].failing_rows} row(s);"
            " all results in the warehouse table main.check_results")


def _values(spec) -> list:
    """Return accepted values: the list itself, or the list a `module:NAME` reference names in the code."""
    if isinstance(spec, list):
        return spec
    module, _, name = str(spec).partition(":")
    if not module.startswith("pipelines.") or not name:
        raise ValueError(f"accepted values must be a list or 'pipelines.module:NAME', not {spec!r}")
    return list(getattr(importlib.import_module(module), name))


def _columns(cols: list[str]) -> str:
    """Return a comma-separated list of quoted column names."""
    return ", ".join(quoted(c) for c in cols)


def _checks_of(layer: str, model: str, spec: dict) -> list[Check]:
    """Return the checks one model's table declares."""
    unknown = set(spec) - KINDS
    if unknown:
        raise ValueError(f"{layer}/{FILE} [{model}]: unknown checks {sorted(unknown)}; known: {sorted(KINDS)}")
    table = f"{layer}.{model}"
    out = []
    unique = spec.get("unique", [])
    for key in (unique if unique and isinstance(unique[0], list) else [unique] if unique else []):
        out.append(Check(layer, model, "unique", ", ".join(key),
                         f"select count(*) from (select {_columns(key)} from {table}"
                         f" group by all having count(*) > 1)", [], key=list(key)))
    for col in spec.get("not_null", []):
        where = f"{quoted(col)} is null"
        out.append(Check(layer, model, "not_null", col, f"select count(*) from {table} where {where}", [], where))
    for col, values in spec.get("accepted_values", {}).items():
        accepted = [str(v) for v in _values(values)]
        named = values if isinstance(values, str) else accepted   # a reference to the code reads shorter
        where = f"{quoted(col)} is not null and not list_contains(?::varchar[], cast({quoted(col)} as varchar))"
        out.append(Check(layer, model, "accepted_values", f"{col} in {named}",
                         f"select count(*) from {table} where {where}", [accepted], where))
    for col, target in spec.get("relationships", {}).items():
        schema, other, other_col = target.split(".")
        out.append(Check(layer, model, "relationships", f"{col} -> {target}",
                         f"select count(*) from {table} t anti join {schema}.{other} r"
                         f" on r.{quoted(other_col)} = t.{quoted(col)} where t.{quoted(col)} is not null", []))
    return out


def declared(layer: str) -> dict:
    """Return the parsed checks file of a layer ({} when it has none)."""
    path = SQL_DIR / layer / FILE
    return tomllib.loads(path.read_text()) if path.exists() else {}


def load(models: list[str] | None = None) -> list[Check]:
    """Return every declared check of every layer; a check on a model not in `models` is an error."""
    out = []
    for layer in LAYERS:
        for model, spec in declared(layer).items():
            if models is not None and model not in models:
                raise ValueError(f"{layer}/{FILE}: checks for an unknown model {model!r}")
            out.extend(_checks_of(layer, model, spec))
    return out


def digest() -> str:
    """Return a hash of every layer's checks, accepted values read from the code included."""
    return hashlib.sha256(repr([(c.layer, c.model, c.kind, c.detail) for c in load()]).encode()).hexdigest()


def scoped(check: Check, rows: str | None) -> str:
    """Return a check's SQL reading the table `rows` in place of its model (the model itself when None)."""
    if rows is None:
        return check.sql

    def swap(node):
        if isinstance(node, exp.Table) and node.db == check.layer and node.name == check.model:
            return exp.to_table(rows).as_(node.alias or check.model)
        return node
    return sqlglot.parse_one(check.sql, read="duckdb").transform(swap).sql("duckdb")


def evaluate(con: duckdb.DuckDBPyConnection, models: list[str] | None = None,
             scopes: dict[str, Replaced] | None = None, chunk_rows: int = CHUNK_ROWS) -> list[Outcome]:
    """Run every check on the built tables; return one outcome per check.

    scopes: `layer.model` -> the rows an incremental build replaced; they are gathered once into a temp
    table and that model's checks read only those (the rest was checked when built and is unchanged: a
    duplicate key or a missing value can only be among the replaced rows). Nothing replaced: no check runs.
    """
    return run(con, load(models), scopes, chunk_rows)


def _day_groups(con: duckdb.DuckDBPyConnection, check: Check, relation: str, chunk_rows: int) -> tuple[str, list]:
    """Return a unique check's date or timestamp key column and its day ranges holding chunk_rows rows each.

    ("", []) when the key has no such column or the table fits one pass. Rows sharing a key share its
    day, so the ranges' duplicates add up to the whole table's.
    """
    schema, name = relation.split(".")
    types = dict(con.execute("select column_name, data_type from information_schema.columns"
                             " where table_schema = $1 and table_name = $2", [schema, name]).fetchall())
    column = next((c for c in check.key or [] if types.get(c, "").startswith(("DATE", "TIMESTAMP"))), None)
    if column is None:
        return "", []
    days = con.execute(f"select cast({quoted(column)} as date) as d, count(*) from {relation}"
                       " group by d order by d nulls first").fetchall()
    return column, groups(days, chunk_rows)


def _unique_in_groups(con: duckdb.DuckDBPyConnection, check: Check, column: str, ranges: list) -> int:
    """Count a unique check's duplicate keys one day range [first, last] at a time (NULL days go with the first)."""
    tree = sqlglot.parse_one(check.sql, read="duckdb")
    failing = 0
    for first, last in ranges:
        col = exp.column(column, quoted=True)
        below = exp.LT(this=col.copy(), expression=exp.cast(
            exp.Literal.string((last + timedelta(days=1)).isoformat()), exp.DataType.build("date")))
        above = (exp.Is(this=col.copy(), expression=exp.Null()) if first is None else exp.GTE(
            this=col.copy(), expression=exp.cast(exp.Literal.string(first.isoformat()), exp.DataType.build("date"))))
        query = tree.copy()
        query.find(exp.Subquery).this.where(exp.or_(above, below) if first is None else exp.and_(above, below),
                                            copy=False)
        failing += con.execute(query.sql("duckdb"), check.params).fetchall()[0][0]
    return failing


def run(con: duckdb.DuckDBPyConnection, every: list[Check], scopes: dict[str, Replaced] | None = None,
        chunk_rows: int = CHUNK_ROWS) -> list[Outcome]:
    """Run the given checks (row-wise ones of a model in one scan, on its replaced rows when it has a scope)."""
    scopes = scopes or {}
    failing: dict[int, int] = {}
    for relation in dict.fromkeys(f"{c.layer}.{c.model}" for c in every):
        mine = [(i, c) for i, c in enumerate(every) if f"{c.layer}.{c.model}" == relation]
        if isinstance(scopes.get(relation), Nothing):   # no row replaced: nothing can newly fail
            failing.update({i: 0 for i, _ in mine})
            continue
        rows = None
        if relation in scopes:
            rows = "check_rows__" + relation.replace(".", "__")
            con.execute(f"create or replace temp table {rows} as {scopes[relation].rows(relation).sql('duckdb')}")
        rowwise = [(i, c) for i, c in mine if c.where]
        if rowwise:   # one scan for every row-wise check of the model
            counts = con.execute(
                "select " + ", ".join(f"count(*) filter (where {c.where})" for _, c in rowwise) + f" from {rows or relation}",
                [p for _, c in rowwise for p in c.params]).fetchall()[0]
            failing.update({i: n for (i, _), n in zip(rowwise, counts)})
        for i, c in mine:
            if c.kind == "unique" and rows is None:   # a whole table: one group of days at a time when large
                column, ranges = _day_groups(con, c, relation, chunk_rows)
                if ranges:
                    failing[i] = _unique_in_groups(con, c, column, ranges)
                    continue
            if not c.where:
                failing[i] = con.execute(scoped(c, rows), c.params).fetchall()[0][0]
        if rows:
            con.execute(f"drop table {rows}")
    return [Outcome(c, failing[i]) for i, c in enumerate(every)]


def record(con: duckdb.DuckDBPyConnection, outcomes: list[Outcome]) -> None:
    """Replace main.check_results with this run's outcomes (utc run time)."""
    con.execute(RESULTS)
    con.execute("delete from main.check_results")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    if not outcomes:
        return
    warehouse.insert_rows(
        con, "main.check_results",
        {"run_at": "timestamp", "layer": "varchar", "model": "varchar", '"check"': "varchar", "status": "varchar",
         "failing_rows": "bigint", "detail": "varchar"},
        [[now, o.check.layer, o.check.model, o.check.kind, o.status, o.failing_rows, o.check.detail] for o in outcomes])


def results(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Return the latest check results (layer, model, check, status, failing_rows, detail, run_at); [] before any."""
    exists = con.execute("select count(*) from information_schema.tables where table_schema = 'main'"
                         " and table_name = 'check_results'").fetchall()[0][0]
    if not exists:
        return []
    return con.execute('select layer, model, "check", status, failing_rows, detail, run_at from main.check_results'
                       " order by status = 'pass', layer, model, \"check\", detail").fetchall()
