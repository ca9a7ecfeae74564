"""Runs the SQL models: macros, reference seeds, then every model in dependency order, one transaction.

A model is one file in `sql/<layer>/`: `<name>.sql`, or `<name>.sql.j2` (a Jinja2 template rendered
with the field list of pipelines/fields.py). Its settings sit in ONE header line among its leading
comments, the body of a TOML inline table:

    -- config: key = ["instance_id", "day"], input = ["staging.stg_pings"], new_rows = "staging.stg_pings.load_id"

keys: materialized ("view" | "table"; default: staging views, later layers tables); key (the columns
one incremental unit is replaced by; a model with a key is incremental); key_sql (a key column's
expression over the input rows, when it is not a plain column of them); input (the relations whose
rows for the touched keys are re-read); new_rows (relation.column of the rows that are new: those
above the load the model was last built with; their keys are the touched keys); each (a template
making several models: {model = {template variables}}); reach (a model keyed by ONE date column, such
as a daily, weekly or monthly mart: {before = days, after = days}, see below); prune (a key column that
is a utc date or month and the input column it is taken from: {day = "received_at"} or {month =
{column = "day", unit = "month"}}; input rows outside the touched periods are never read, and a full
build over more than CHUNK_ROWS input rows runs one group of whole periods at a time); fold (for a
model over an append-only input, its new_rows relation: {column = "min" | "max" | "sum"} for every
column that is not a key; the model is run over the new rows alone and each touched key's old and new
rows are merged by those functions, and a full build over more than CHUNK_ROWS rows folds one group of
loads at a time; fold = {} is a set of distinct keys, to which new keys are added). Dependencies are read from the parsed SQL (sqlglot, DuckDB dialect): every table a model
reads that is not one of its CTEs.

Two incremental forms, both built as sqlglot statements (no SQL text is substituted):
- by key set (no `reach`): the rows of every touched key are deleted, then the model is re-run over
  the `input` relations cut (semi join) to the touched keys;
- by date range (`reach`): the touched dates span [first, last]; the range rebuilt is
  [min(first, the table's last date), last + after days] (the table's last date is redone so days
  that only extend a spine are filled); the model is re-run with every CTE named in `input` cut to
  [range start - before days, range end] and its result cut to the range. A touched date before the
  table's first date rebuilds the model whole. E.g. 28-day windows: before = 27, after = 27; after =
  "all" rebuilds through the table's last date (for walks whose later dates carry earlier values on).
  A full build of a date-range model without `before` or `after = "all"` (its ranges read disjoint
  inputs) over more than CHUNK_ROWS input rows runs one group of consecutive dates at a time.

An incremental build also says which rows it replaced (its scope: the touched keys, or the rebuilt date
range); the checks of that model, and of a view over it alone, look at those rows only. Rows outside
the scope were checked when they were built and have not changed. A view with `key` and `new_rows`
(stg_pings) is scoped the same way: its checks read the rows sharing a key with the new rows.
"""

from __future__ import annotations

import graphlib
import hashlib
import time
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import duckdb
import jinja2
import sqlglot
from sqlglot import exp

from .. import fields as fields_mod
from ..settings import REFERENCE_DIR, SQL_DIR
from . import checks
from .groups import CHUNK_ROWS, groups

LAYERS = ["staging", "intermediate", "marts"]
#: staging models are views over the landed rows; the later layers are materialised tables
MATERIALISE = {"staging": "view", "intermediate": "table", "marts": "table"}
HEADER = "-- config:"
CONFIG_KEYS = {"materialized", "key", "key_sql", "input", "new_rows", "each", "reach", "prune", "fold"}
#: how a `fold` model merges a column of its old rows with the same column computed over the new rows
FOLDS = {"min", "max", "sum"}
DIALECT = "duckdb"

#: landing tables older warehouses may lack (ingest creates them on connect; this keeps a build
#: against a warehouse connected before that working)
LANDING_GUARDS = [
    "create table if not exists main.blanked_values "
    "(load_id integer, source varchar, location varchar, field varchar)",
]


class ModelError(ValueError):
    """A model file that cannot be read: bad header, unparseable SQL, a dependency cycle."""


@dataclass
class Model:
    """One SQL model: where it lives, its rendered DuckDB SQL, its parsed header and what it reads."""

    name: str
    layer: str
    path: Path
    sql: str
    config: dict = field(default_factory=dict)

    @property
    def relation(self) -> str:
        """Return the table name `layer.name`."""
        return f"{self.layer}.{self.name}"

    @property
    def materialized(self) -> str:
        """Return 'view' or 'table'."""
        return self.config.get("materialized", MATERIALISE[self.layer])

    @property
    def incremental(self) -> bool:
        """Return whether the model is updated per touched key instead of rebuilt whole."""
        return "key" in self.config and self.materialized == "table"

    @property
    def tree(self) -> exp.Expression:
        """Return the parsed SQL (a fresh copy each call)."""
        return _parse(self.sql, str(self.path)).copy()

    @property
    def reads(self) -> list[str]:
        """Return the relations (`schema.table`) the model reads, CTE names excluded."""
        return reads(self.sql, str(self.path))

    @property
    def spark_path(self) -> Path:
        """Return the path of the model's Spark form (`<name>.spark.sql` beside it; may not exist)."""
        return self.path.parent / f"{self.name}.spark.sql"


@lru_cache(maxsize=256)
def _parse(sql: str, where: str) -> exp.Expression:
    """Parse one model's DuckDB SQL (cached; callers copy before changing it)."""
    try:
        return sqlglot.parse_one(sql, read=DIALECT)
    except sqlglot.errors.ParseError as exc:
        raise ModelError(f"{where}: cannot parse the SQL: {str(exc).splitlines()[0]}") from None


def reads(sql: str, where: str = "<sql>") -> list[str]:
    """Return the relations a statement reads (`schema.table`, `main` when unqualified), CTEs excluded."""
    tree = _parse(sql, where)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    found = set()
    for table in tree.find_all(exp.Table):
        if not table.name or (not table.db and table.name in ctes):
            continue
        found.add(f"{table.db or 'main'}.{table.name}")
    return sorted(found)


def parse_header(text: str, where: str = "<sql>") -> dict:
    """Return the settings of the `-- config:` line among a file's leading comments ({} when none)."""
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        if line.startswith(HEADER):
            try:
                config = tomllib.loads("config = {" + line[len(HEADER):].strip() + "}")["config"]
            except tomllib.TOMLDecodeError as exc:
                raise ModelError(f"{where}: bad config header: {exc}") from None
            unknown = set(config) - CONFIG_KEYS
            if unknown:
                raise ModelError(f"{where}: unknown config keys {sorted(unknown)}; known: {sorted(CONFIG_KEYS)}")
            if "reach" in config and len(config.get("key", [])) != 1:
                raise ModelError(f"{where}: reach needs exactly one key column (a date)")
            return config
    return {}


def _jinja() -> jinja2.Environment:
    """Return the Jinja2 environment model templates render in (strict: an unknown name fails)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, autoescape=False)
    env.filters["quoted"] = fields_mod.quoted
    return env


def _models_of(layer: str, path: Path) -> list[Model]:
    """Return the model(s) one file defines (a template with `each` defines several)."""
    text = path.read_text()
    config = parse_header(text, str(path))
    if not path.name.endswith(".j2"):
        return [Model(path.stem, layer, path, text, config)]
    template = _jinja().from_string(text)
    context = {"fields": fields_mod.PAYLOAD, "by_kind": fields_mod.by_kind}
    each = config.pop("each", None) or {path.name[: -len(".sql.j2")]: {}}
    return [Model(name, layer, path, template.render(**context, **variables, this=name), dict(config))
            for name, variables in each.items()]


def discover(sql_dir: Path = SQL_DIR) -> list[Model]:
    """Return every model of every layer, in file-name order (not yet in build order)."""
    models = []
    for layer in LAYERS:
        folder = sql_dir / layer
        paths = sorted(p for p in folder.iterdir()
                       if (p.name.endswith(".sql") and not p.name.endswith(".spark.sql")) or p.name.endswith(".sql.j2"))
        for path in paths:
            models.extend(_models_of(layer, path))
    names = [m.name for m in models]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ModelError(f"model names defined twice: {duplicated}")
    return models


def ordered(models: list[Model]) -> list[Model]:
    """Return the models in build order: each after every model it reads (graphlib, across layers)."""
    by_relation = {m.relation: m for m in models}
    graph = {m.relation: {r for r in m.reads if r in by_relation} for m in models}
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise ModelError(f"models read each other in a cycle: {' -> '.join(exc.args[1])}") from None
    return [by_relation[r] for r in order]


def build_order(sql_dir: Path = SQL_DIR) -> list[Model]:
    """Return every model in build order."""
    return ordered(discover(sql_dir))


def marts() -> list[str]:
    """Return the names of every mart model (= table name = parquet name)."""
    return [m.name for m in build_order() if m.layer == "marts"]


def model_sql(name: str) -> str:
    """Return the rendered DuckDB SQL of one model (e.g. to run source_status on a read-only warehouse)."""
    for m in discover():
        if m.name == name:
            return m.sql
    raise KeyError(name)


def models_digest() -> str:
    """Return a hash of every model's SQL (and Spark form), the macros, every layer's checks and the reference data."""
    h = hashlib.sha256()
    h.update((SQL_DIR / "macros.sql").read_bytes())
    for m in build_order():
        h.update(f"\0{m.relation}\0{m.sql}".encode())
        if m.spark_path.exists():
            h.update(m.spark_path.read_bytes())
    h.update(checks.digest().encode())
    h.update(reference_digest().encode())
    return h.hexdigest()


def describe(models: list[Model]) -> list[str]:
    """Return one line per model in build order: relation, how it is built, what it reads."""
    lines = []
    for m in models:
        how = "incremental" if m.incremental else m.materialized
        lines.append(f"{m.relation:<40} {how:<12} <- {', '.join(m.reads) or '-'}")
    return lines


def cmd_models(args) -> int:
    """Print the models in build order with their inputs (python -m pipelines models)."""
    for line in describe(build_order()):
        print(line)
    return 0


def load_reference(con: duckdb.DuckDBPyConnection) -> None:
    """Load the reference CSVs (releases) as tables in schema `reference`."""
    con.execute("create schema if not exists reference")
    for path in sorted(REFERENCE_DIR.glob("*.csv")):
        con.execute(
            f"create or replace table reference.{path.stem} as "
            "select * from read_csv($1, header = true, all_varchar = true)",
            [str(path)],
        )


STATE = """
create table if not exists main.model_state (
    model varchar primary key,
    sql_hash varchar,          -- the model's SQL when built: a change forces a full rebuild
    last_load_id bigint        -- pings of loads up to this one are in the table
)
"""


def _qualify(expression: exp.Expression, alias: str) -> exp.Expression:
    """Return a copy of an expression with its unqualified columns read from table `alias`."""
    def visit(node):
        if isinstance(node, exp.Column) and not node.table:
            return exp.column(node.this.copy(), table=alias)
        return node
    return expression.copy().transform(visit)


def _key_exprs(model: Model) -> dict[str, exp.Expression]:
    """Return each key column's expression over input rows (the column itself unless key_sql says)."""
    key_sql = model.config.get("key_sql", {})
    return {k: (sqlglot.parse_one(key_sql[k], read=DIALECT) if k in key_sql else exp.column(k, quoted=True))
            for k in model.config["key"]}


def _keys_match(keys: dict[str, exp.Expression], rows: str, touched: str) -> exp.Expression:
    """Return `key(rows) = touched.key and ...` for every key column."""
    return exp.and_(*[exp.EQ(this=_qualify(e, rows), expression=exp.column(k, table=touched, quoted=True))
                      for k, e in keys.items()])


def _delta_name(model: Model, relation: str) -> str:
    """Return the temp view name standing for an input's touched rows."""
    return "__".join(["delta", model.name, *relation.split(".")])


def _new_rows_column(model: Model) -> exp.Column:
    """Return the model's `new_rows` setting parsed: the load column (`schema.table.column`) new rows are found by."""
    return sqlglot.parse_one(model.config["new_rows"], read=DIALECT)


def _appended(model: Model) -> str:
    """Return the relation (`schema.table`) holding a fold model's new_rows column."""
    new = _new_rows_column(model)
    return f"{new.db or 'main'}.{new.table}"


def _over_new_rows(con, model: Model, since: int, until: int | None) -> tuple[str, exp.Subquery]:
    """Point a temp view at the rows of loads (since, until]; return its name and the model over it, aliased m."""
    appended = _appended(model)
    view = _delta_name(model, appended)
    con.execute(f"create or replace temp view {view} as {_new_rows(model, since, until).sql(DIALECT)}")
    return view, exp.Subquery(this=_swapped(model, {appended: view}), alias=exp.TableAlias(this=exp.to_identifier("m")))


def _new_rows(model: Model, since: int, until: int | None = None) -> exp.Select:
    """Return `select * from <new_rows relation> n where n.<column> > since [and n.<column> <= until]`."""
    new = _new_rows_column(model)
    rows = (exp.select("n.*").from_(exp.table_(new.table, db=new.db or "main", alias="n"))
            .where(exp.GT(this=exp.column(new.name, table="n"), expression=exp.Literal.number(int(since)))))
    if until is not None:
        rows = rows.where(exp.LTE(this=exp.column(new.name, table="n"), expression=exp.Literal.number(int(until))))
    return rows


def _load_chunks(con, model: Model, chunk_rows: int) -> list[int]:
    """Return the last load of each group a full build of a fold model folds in one at a time ([] for one pass)."""
    new = _new_rows_column(model)
    loads = con.execute(exp.select(exp.column(new.name, quoted=True), exp.func("count", exp.Star()))
                        .from_(exp.table_(new.table, db=new.db or "main")).group_by(exp.column(new.name, quoted=True))
                        .order_by(exp.column(new.name, quoted=True)).sql(DIALECT)).fetchall()
    return [last for _, last in groups(loads, chunk_rows)]


def _swapped(model: Model, views: dict[str, str]) -> exp.Expression:
    """Return the model's tree with every input relation in views read from its named temp view instead."""
    def swap(node):
        if isinstance(node, exp.Table) and f"{node.db or 'main'}.{node.name}" in views:
            swapped = exp.to_table(views[f"{node.db or 'main'}.{node.name}"])
            if node.args.get("alias"):
                swapped.set("alias", node.args["alias"].copy())
            return swapped
        return node
    return model.tree.transform(swap)


def _touched_ranges(con, model: Model, table: str) -> dict[str, tuple]:
    """Return {prune key column: (first, last)} over the touched keys in `table`."""
    return {key: con.execute(f'select min("{key}"), max("{key}") from {table}').fetchall()[0]
            for key in model.config.get("prune", {})}


def _prune_spec(model: Model, spec) -> tuple[str, str]:
    """Return (input column, unit) of one `prune` entry: "received_at" -> ("received_at", "day")."""
    column, unit = (spec, "day") if isinstance(spec, str) else (spec["column"], spec.get("unit", "day"))
    if unit not in ("day", "week", "month"):
        raise ModelError(f"{model.path}: prune unit must be day, week or month, not {unit!r}")
    return column, unit


def _period_end(last, unit: str):
    """Return the first date after the period (a utc day, monday week or first-of-month) starting at `last`."""
    return {"day": last + timedelta(days=1), "week": last + timedelta(days=7),
            "month": (last.replace(day=28) + timedelta(days=4)).replace(day=1)}[unit]


def _pruned(model: Model, rows: exp.Select, ranges: dict[str, tuple]) -> exp.Select:
    """Return input rows cut to the touched periods of each `prune` key column: [first, last + 1 unit), utc.

    prune = {day = "received_at"} (a utc date key, unit day) or {month = {column = "day", unit = "month"}}
    (units: day, week (a monday key), month (a first-of-month key)).
    """
    for key, spec in model.config.get("prune", {}).items():
        column, unit = _prune_spec(model, spec)
        first, last = ranges[key]
        low = exp.cast(_date(first), exp.DataType.build("timestamp"))
        high = exp.cast(_date(_period_end(last, unit)), exp.DataType.build("timestamp"))
        rows = rows.where(exp.and_(exp.GTE(this=exp.column(column, table="i", quoted=True), expression=low),
                                   exp.LT(this=exp.column(column, table="i", quoted=True), expression=high)))
    return rows


def _chunks(con, model: Model, chunk_rows: int) -> list[dict[str, tuple]]:
    """Return the period ranges a full build of a pruned model reads one at a time ([] when one pass will do).

    Consecutive whole periods (days, weeks or months of the prune key) are grouped until a group holds
    at least chunk_rows input rows; each key's rows lie in one group, so the groups' results are disjoint.
    """
    prune, inputs = model.config.get("prune", {}), model.config.get("input", [])
    if len(prune) != 1 or len(inputs) != 1:
        return []
    (key, spec), = prune.items()
    column, unit = _prune_spec(model, spec)
    periods = con.execute(exp.select(exp.cast(exp.func("date_trunc", exp.Literal.string(unit), exp.column(
        column, quoted=True)), exp.DataType.build("date")).as_("p"), exp.func("count", exp.Star()))
        .from_(exp.to_table(inputs[0])).group_by("p").order_by("p").sql(DIALECT)).fetchall()
    return [{key: group} for group in groups(periods, chunk_rows)]


def _touched_keys(con, model: Model, since: int) -> str | None:
    """Gather the distinct keys of the rows new since load `since` into the model's scope table; its name (None: no key)."""
    keys = _key_exprs(model)
    touched = (exp.select(*[_qualify(e, "n").as_(k, quoted=True) for k, e in keys.items()]).distinct()
               .from_(exp.Subquery(this=_new_rows(model, since), alias=exp.TableAlias(this=exp.to_identifier("n")))))
    table = _scope_table(model)
    con.execute(exp.Create(this=exp.to_table(table), kind="TABLE", replace=True,
                           properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
                           expression=touched).sql(DIALECT))
    return table if con.execute(f"select count(*) from {table}").fetchall()[0][0] else None


def _touched_keys_scope(con, model: Model, since: int) -> exp.Select:
    """Return the rows of a keyed view sharing a key with the rows new since load `since` (none when nothing is new)."""
    table = _touched_keys(con, model, since)
    if table is None:
        return exp.select("*").from_(exp.to_table(model.relation)).where(exp.false())
    return _key_scope(model.relation, model.config["key"], table)


def _incremental(con, model: Model, since: int) -> exp.Select | None:
    """Replace the rows of the keys touched by new rows since load `since`; return the scope (None: none were)."""
    if "fold" in model.config:
        return _incremental_fold(con, model, since)
    keys = _key_exprs(model)
    table = _touched_keys(con, model, since)
    if table is None:
        return None
    ranges = _touched_ranges(con, model, table)
    views = {}
    for relation in model.config["input"]:
        schema, _, name = relation.rpartition(".")
        rows = (exp.select("i.*").from_(exp.table_(name, db=schema or "main", alias="i"))
                .join(exp.to_table(table).as_("d"), on=_keys_match(keys, "i", "d"), join_type="semi"))
        views[relation] = _delta_name(model, relation)
        con.execute(f"create or replace temp view {views[relation]} as {_pruned(model, rows, ranges).sql(DIALECT)}")
    target = exp.to_table(model.relation).as_("t")
    delete = exp.Delete(this=target, using=[exp.to_table(table).as_("d")],
                        where=exp.Where(this=exp.and_(*[
                            exp.EQ(this=exp.column(k, table="t", quoted=True), expression=exp.column(k, table="d", quoted=True))
                            for k in keys])))
    con.execute(delete.sql(DIALECT))
    con.execute(f"insert into {model.relation} by name {_swapped(model, views).sql(DIALECT)}")
    for view in views.values():
        con.execute(f"drop view {view}")
    scope = _key_scope(model.relation, model.config["key"], table)
    for key, (first, last) in ranges.items():   # the touched dates first: a cheap test before the join
        scope = scope.where(_between(key, first, last, table="t"))
    return scope


def _incremental_fold(con, model: Model, since: int, until: int | None = None) -> exp.Select | None:
    """Fold the model's rows over the rows new since load `since` (up to `until`) into its old rows (see `fold`).

    Returns the scope (None: no key was touched).
    """
    keys, folds = list(_key_exprs(model)), model.config["fold"]
    appended = _appended(model)
    columns = [r[0] for r in con.execute(f"describe {model.relation}").fetchall()]
    unfolded = [c for c in columns if c not in keys and c not in folds]
    if appended not in model.config["input"] or unfolded or not set(folds.values()) <= FOLDS:
        raise ModelError(f"{model.path}: a fold model reads its new_rows relation and folds every other column"
                         f" with one of {sorted(FOLDS)} (unfolded: {unfolded})")
    view, computed = _over_new_rows(con, model, since, until)
    match = lambda a, b: _same_keys(keys, a, b)  # noqa: E731
    table = _scope_table(model)
    if not folds:   # distinct keys: add the new ones
        rows = _lacking(model, computed)
    else:
        con.execute(f"create or replace temp table {table}__new as {exp.select('m.*').from_(computed).sql(DIALECT)}")
        old = exp.select("t.*").from_(exp.to_table(model.relation).as_("t")).join(
            exp.to_table(f"{table}__new").as_("m"), join_type="semi", on=match("t", "m"))
        both = exp.union(old, exp.select("*").from_(f"{table}__new"), distinct=False, by_name=True)
        rows = exp.select(*[exp.column(k, quoted=True) for k in keys],
                          *[exp.func(fn, exp.column(c, quoted=True)).as_(c, quoted=True) for c, fn in folds.items()]) \
            .from_(exp.Subquery(this=both, alias=exp.TableAlias(this=exp.to_identifier("b")))).group_by(
                *[exp.column(k, quoted=True) for k in keys])
    con.execute(exp.Create(this=exp.to_table(table), kind="TABLE", replace=True,
                           properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
                           expression=rows).sql(DIALECT))
    con.execute(f"drop view {view}; drop table if exists {table}__new")
    if not con.execute(f"select count(*) from {table}").fetchall()[0][0]:
        return None
    if folds:
        delete = exp.Delete(this=exp.to_table(model.relation).as_("t"), using=[exp.to_table(table).as_("s")],
                            where=exp.Where(this=match("t", "s")))
        con.execute(delete.sql(DIALECT))
    con.execute(f"insert into {model.relation} by name select * from {table}")
    return _key_scope(model.relation, model.config["key"], table)


def _scope_table(model: Model) -> str:
    """Return the temp table holding an incremental build's touched keys (kept for its checks)."""
    return f"scope__{model.name}"


def _key_scope(relation: str, keys: list[str], table: str) -> exp.Select:
    """Return `select t.* from <relation> t semi join <table> s on <keys>`: the rows an incremental build replaced."""
    return (exp.select("t.*").from_(exp.to_table(relation).as_("t"))
            .join(exp.to_table(table).as_("s"), join_type="semi", on=exp.and_(*[
                exp.EQ(this=exp.column(k, table="t", quoted=True), expression=exp.column(k, table="s", quoted=True))
                for k in keys])))


def _date(value) -> exp.Expression:
    """Return a date literal (`cast('2024-07-01' as date)`) for a Python date."""
    return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("date"))


def _between(column: str, low, high, table: str | None = None) -> exp.Expression:
    """Return `column between low and high` for two Python dates."""
    return exp.Between(this=exp.column(column, table=table, quoted=True), low=_date(low), high=_date(high))


def _cut_ctes(tree: exp.Expression, names: list[str], where: exp.Expression) -> exp.Expression:
    """Return the tree with every CTE named in names reading only its rows that match where."""
    for cte in tree.find_all(exp.CTE):
        if cte.alias_or_name in names:
            body = cte.this
            cte.set("this", exp.select("*").from_(exp.Subquery(this=body.copy(), alias=exp.TableAlias(
                this=exp.to_identifier(f"__{cte.alias_or_name}")))).where(where.copy()))
    return tree


def _touched_range(con, model: Model, since: int):
    """Return (first, last) key date of the rows new since load `since`, or (None, None)."""
    (column, key), = _key_exprs(model).items()
    query = (exp.select(exp.func("min", _qualify(key, "n")), exp.func("max", _qualify(key, "n")))
             .from_(exp.Subquery(this=_new_rows(model, since), alias=exp.TableAlias(this=exp.to_identifier("n")))))
    return con.execute(query.sql(DIALECT)).fetchall()[0]


def _incremental_range(con, model: Model, since: int) -> tuple[str, exp.Select | None]:
    """Rebuild the date range the new rows reach (see the module doc); return how and the scope rebuilt."""
    column = model.config["key"][0]
    first, last = _touched_range(con, model, since)
    if first is None:
        return "incremental", None
    low, high = con.execute(exp.select(exp.func("min", exp.column(column, quoted=True)),
                                       exp.func("max", exp.column(column, quoted=True)))
                            .from_(exp.to_table(model.relation)).sql(DIALECT)).fetchall()[0]
    if low is None or first < low:
        _full(con, model)
        return "full", None
    reach = model.config["reach"]
    after = reach.get("after", 0)
    # after = "all": every later date depends on the earlier ones (a walk carried forward), so the rebuild
    # runs through the table's last date
    start = min(first, high)
    end = max(last, high) if after == "all" else last + timedelta(days=after)
    delete = exp.Delete(this=exp.to_table(model.relation), where=exp.Where(this=_between(column, start, end)))
    con.execute(delete.sql(DIALECT))
    con.execute(f"insert into {model.relation} by name {_range_rows(model, start, end).sql(DIALECT)}")
    return "incremental", exp.select("*").from_(exp.to_table(model.relation)).where(_between(column, start, end))


def _range_rows(model: Model, start, end) -> exp.Select:
    """Return a reach model's rows for key dates [start, end]: its `input` CTEs cut to [start - before days, end]."""
    column = model.config["key"][0]
    inputs = _between(column, start - timedelta(days=model.config["reach"].get("before", 0)), end)
    tree = _cut_ctes(model.tree, model.config.get("input", []), inputs)
    return exp.select("*").from_(exp.Subquery(this=tree, alias=exp.TableAlias(this=exp.to_identifier("__new")))) \
        .where(_between(column, start, end))


def _range_groups(con, model: Model, chunk_rows: int) -> list[tuple]:
    """Return the key-date ranges a full build of a reach model builds one at a time ([] when one pass will do).

    Only models whose ranges read disjoint inputs are grouped: no lookback (`before`) and no walk
    (`after = "all"`). Consecutive key dates of the first `input` CTE are grouped until a group holds
    chunk_rows of its rows, so a holistic aggregate (fleet_size_weekly's quantiles) holds one group at a time.
    """
    reach = model.config.get("reach")
    if reach is None or reach.get("before", 0) or reach.get("after", 0) == "all":
        return []
    column = model.config["key"][0]
    cte = next((c for c in model.tree.find_all(exp.CTE) if c.alias_or_name in model.config.get("input", [])), None)
    if cte is None:
        return []
    counts = con.execute(exp.select(exp.column(column, quoted=True), exp.func("count", exp.Star()))
                         .from_(exp.Subquery(this=cte.this.copy(), alias=exp.TableAlias(this=exp.to_identifier("i"))))
                         .group_by(exp.column(column, quoted=True)).order_by(exp.column(column, quoted=True))
                         .sql(DIALECT)).fetchall()
    found = groups([(day, n) for day, n in counts if day is not None], chunk_rows)
    # each range runs up to the day before the next one starts, so a day without input rows lies in one
    return [(first, found[i + 1][0] - timedelta(days=1) if i + 1 < len(found) else last)
            for i, (first, last) in enumerate(found)]


def _full(con, model: Model, chunk_rows: int = CHUNK_ROWS) -> int:
    """Rebuild one table model whole; a large input in groups (`_range_groups`, `_chunks`, `_full_folded`).

    Returns how many groups it was built in (1: in one pass).
    """
    if _exists(con, model.relation, "VIEW"):
        con.execute(f"drop view {model.relation}")
    if "fold" in model.config:
        return _full_folded(con, model, chunk_rows)
    ranges = _range_groups(con, model, chunk_rows)
    for i, (start, end) in enumerate(ranges):
        _create_or_append(con, model, i, _range_rows(model, start, end).sql(DIALECT))
    if ranges:
        return len(ranges)
    chunks = _chunks(con, model, chunk_rows)
    if not chunks:
        con.execute(f"create or replace table {model.relation} as\n{model.sql}")
        return 1
    relation = model.config["input"][0]
    schema, _, name = relation.rpartition(".")
    view = _delta_name(model, relation)
    for i, ranges in enumerate(chunks):
        rows = exp.select("i.*").from_(exp.table_(name, db=schema or "main", alias="i"))
        con.execute(f"create or replace temp view {view} as {_pruned(model, rows, ranges).sql(DIALECT)}")
        _create_or_append(con, model, i, _swapped(model, {relation: view}).sql(DIALECT))
    con.execute(f"drop view {view}")
    return len(chunks)


def _create_or_append(con, model: Model, group: int, body: str) -> None:
    """Write one group of a grouped full build: the first group creates the table, later ones append."""
    con.execute(f"create or replace table {model.relation} as\n{body}" if group == 0
                else f"insert into {model.relation} by name {body}")


def _exists(con, relation: str, kind: str = "BASE TABLE") -> bool:
    """Return whether a table (or, with kind='VIEW', a view) exists."""
    schema, name = relation.split(".")
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = $1 and table_name = $2"
        " and table_type = $3", [schema, name, kind]).fetchall()[0][0])


def reference_digest() -> str:
    """Return a hash of the reference CSVs (a change rebuilds every incremental model whole)."""
    h = hashlib.sha256()
    for path in sorted(REFERENCE_DIR.glob("*.csv")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _full_folded(con, model: Model, chunk_rows: int) -> int:
    """Rebuild a fold model whole: its first group of loads in one pass, then each later group folded in.

    Each statement reads about chunk_rows input rows, so its distinct keys fit in memory. Returns the groups.
    """
    bounds = _load_chunks(con, model, chunk_rows)
    if not bounds:
        con.execute(f"create or replace table {model.relation} as\n{model.sql}")
        return 1
    view, first = _over_new_rows(con, model, -1, bounds[0])
    con.execute(f"create or replace table {model.relation} as\n{first.this.sql(DIALECT)}")
    con.execute(f"drop view {view}")
    for since, until in zip(bounds, bounds[1:]):
        if model.config["fold"]:
            _incremental_fold(con, model, since, until)
        else:
            _add_new_keys(con, model, since, until)
    return len(bounds)


def _lacking(model: Model, computed: exp.Subquery) -> exp.Select:
    """Return the rows of `computed` (aliased m) whose key the model's table lacks: `m anti join <model> t on keys`."""
    return exp.select("m.*").from_(computed).join(
        exp.to_table(model.relation).as_("t"), join_type="anti", on=_same_keys(list(_key_exprs(model)), "m", "t"))


def _same_keys(keys: list[str], a: str, b: str) -> exp.Expression:
    """Return `a.k1 = b.k1 and ...` over the key columns of two aliased relations."""
    return exp.and_(*[exp.EQ(this=exp.column(k, table=a, quoted=True), expression=exp.column(k, table=b, quoted=True))
                      for k in keys])


def _add_new_keys(con, model: Model, since: int, until: int) -> None:
    """Add to a `fold = {}` model (a set of distinct keys) the keys of loads (since, until] it lacks, in one statement.

    No scope table and no temp table: inside the build's one transaction a dropped temp table keeps its
    memory until commit, and a full build adds about a hundred groups at 64M pings.
    """
    view, computed = _over_new_rows(con, model, since, until)
    con.execute(f"insert into {model.relation} by name {_lacking(model, computed).sql(DIALECT)}")
    con.execute(f"drop view {view}")


def _build(con, model: Model, state: dict, last: int, full: bool, reference: str,
           chunk_rows: int = CHUNK_ROWS) -> tuple[str, exp.Select | None]:
    """Build one model (reference: the reference data's digest); return how and, when incremental, the rows replaced."""
    digest = hashlib.sha256((model.sql + reference).encode()).hexdigest()
    prev = state.get(model.relation)
    if model.materialized == "view":
        if _exists(con, model.relation, "BASE TABLE"):
            con.execute(f"drop table {model.relation}")
        con.execute(f"create or replace view {model.relation} as\n{model.sql}")
        if "key" not in model.config or "new_rows" not in model.config:
            return "view", None
        # a keyed view: its checks read the rows sharing a key with the rows new since its last build
        con.execute("insert or replace into main.model_state values ($1, $2, $3)", [model.relation, digest, last])
        fresh = not full and prev and prev[0] == digest
        return "view", _touched_keys_scope(con, model, prev[1]) if fresh else None
    how, scope = "full", None
    if model.incremental and not full and prev and prev[0] == digest and _exists(con, model.relation):
        if "reach" in model.config:
            how, scope = _incremental_range(con, model, prev[1])
        else:
            how, scope = "incremental", _incremental(con, model, prev[1])
        if how == "incremental" and scope is None:   # nothing touched: nothing to check
            scope = exp.select("*").from_(exp.to_table(model.relation)).where(exp.false())
    else:
        built_in = _full(con, model, chunk_rows)
        how = f"full in {built_in} {'load' if 'fold' in model.config else 'period'} groups" if built_in > 1 else how
    if model.incremental:
        con.execute("insert or replace into main.model_state values ($1, $2, $3)", [model.relation, digest, last])
    return how, scope


def _view_scope(con, model: Model, scopes: dict[str, exp.Select]) -> exp.Select | None:
    """Return the scope of a view over ONE model built by key set when it keeps the key columns, else None."""
    if len(model.reads) != 1 or model.reads[0] not in scopes:
        return None
    inner = scopes[model.reads[0]]
    joins = inner.args.get("joins") or []
    if len(joins) != 1 or not joins[0].this.name.startswith("scope__"):
        return None
    keys = [e.this.name for e in joins[0].args["on"].find_all(exp.EQ)]
    columns = {r[0] for r in con.execute(f"describe {model.relation}").fetchall()}
    if not set(keys) <= columns:
        return None
    scope = _key_scope(model.relation, keys, joins[0].this.name)
    where = inner.args.get("where")
    return scope.where(where.this.copy()) if where is not None else scope


def run(con: duckdb.DuckDBPyConnection, progress=None, full: bool = False,
        chunk_rows: int = CHUNK_ROWS) -> list[checks.Outcome]:
    """Build every model in one transaction, then run the checks; commit only when every check passes.

    Incremental models are updated for the keys the new loads touched; everything else, and any model
    whose SQL changed, is rebuilt whole. A failing check rolls the whole build back (the previous
    tables stay), records the results in main.check_results and raises checks.ChecksFailed.
    """
    models = build_order()
    con.execute("begin transaction")
    try:
        con.execute((SQL_DIR / "macros.sql").read_text())
        for guard in LANDING_GUARDS:
            con.execute(guard)
        con.execute(STATE)
        load_reference(con)
        last = con.execute("select coalesce(max(load_id), 0) from load_log").fetchall()[0][0]
        state = {m: (h, n) for m, h, n in con.execute("select * from main.model_state").fetchall()}
        for layer in LAYERS:
            con.execute(f"create schema if not exists {layer}")
        scopes: dict[str, exp.Select] = {}
        reference = reference_digest()
        for model in models:
            started = time.monotonic()
            how, scope = _build(con, model, state, last, full, reference, chunk_rows)
            scope = scope if scope is not None or how != "view" else _view_scope(con, model, scopes)
            if scope is not None:
                scopes[model.relation] = scope
            if progress:
                progress(f"model {model.relation} ({how}, {time.monotonic() - started:.1f}s)")
        started = time.monotonic()
        outcomes = checks.evaluate(con, [m.name for m in models], scopes, chunk_rows)
        for m in models:
            con.execute(f"drop table if exists {_scope_table(m)}")
        if progress:
            progress(f"{len(outcomes)} checks ({len(scopes)} models checked on the rows they replaced only,"
                     f" {time.monotonic() - started:.1f}s)")
    except Exception:
        con.execute("rollback")
        raise
    if any(o.status == "fail" for o in outcomes):
        con.execute("rollback")
        checks.record(con, outcomes)
        raise checks.ChecksFailed(outcomes)
    checks.record(con, outcomes)
    con.execute("commit")
    return outcomes
