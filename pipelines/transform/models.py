"""Model discovery: every SQL file of every layer -> a Model (rendered SQL, declaration, what it reads), in build order.

A model is one file in `sql/<layer>/`: `<name>.sql`, or `<name>.sql.j2` (a Jinja2 template rendered with
the field list of pipelines/fields.py; `each` in its header makes several models from one file). The
file name is the table name and the parquet name. Its declaration is the `-- model:` header
(declare.py), parsed and checked against its SQL here, once, before anything is built. What a model
reads comes from its parsed SQL (sqlglot, DuckDB dialect): every table that is not one of its CTEs,
so a table named in a comment is never a dependency; graphlib orders the models across layers.
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import jinja2
import sqlglot
from sqlglot import exp

from .. import fields as fields_mod
from ..settings import SQL_DIR
from .declare import HEADER, ByDate, ByKey, Fold, Kind, ModelError, declaration, header

LAYERS = ["staging", "intermediate", "marts"]
DIALECT = "duckdb"


@dataclass
class Model:
    """One SQL model: where it lives, its rendered DuckDB SQL and its declaration."""

    name: str
    layer: str
    path: Path
    sql: str
    kind: Kind

    @property
    def relation(self) -> str:
        """Return the table name `layer.name`."""
        return f"{self.layer}.{self.name}"

    @property
    def tree(self) -> exp.Expression:
        """Return the parsed SQL (a fresh copy each call)."""
        return parse(self.sql, str(self.path)).copy()

    @cached_property
    def reads(self) -> list[str]:
        """Return the relations (`schema.table`) the model reads, CTE names excluded."""
        return reads(self.sql, str(self.path))

    @cached_property
    def ctes(self) -> list[str]:
        """Return the names of the model's CTEs."""
        return [cte.alias_or_name for cte in parse(self.sql, str(self.path)).find_all(exp.CTE)]

    @cached_property
    def columns(self) -> list[tuple[str, str]] | None:
        """Return the model's output columns with their comments, or None when a `*` hides them."""
        return outputs(parse(self.sql, str(self.path)))

    @property
    def description(self) -> str:
        """Return the leading comment lines (what one row is, units, time zones), the header left out."""
        lines = []
        for line in self.path.read_text().splitlines():
            if not line.startswith("--"):
                break
            if not line.startswith(HEADER):
                lines.append(line[2:].strip())
        return " ".join(lines).removeprefix(f"{self.name}: ")

    @property
    def spark_path(self) -> Path:
        """Return the path of the model's Spark form (`<name>.spark.sql` beside it; may not exist)."""
        return self.path.parent / f"{self.name}.spark.sql"


@lru_cache(maxsize=256)
def parse(sql: str, where: str) -> exp.Expression:
    """Parse one model's DuckDB SQL (cached; callers copy before changing it)."""
    try:
        return sqlglot.parse_one(sql, read=DIALECT)
    except sqlglot.errors.ParseError as exc:
        raise ModelError(f"{where}: cannot parse the SQL: {str(exc).splitlines()[0]}") from None


def reads(sql: str, where: str = "<sql>") -> list[str]:
    """Return the relations a statement reads (`schema.table`, `main` when unqualified), CTEs excluded."""
    tree = parse(sql, where)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    found = set()
    for table in tree.find_all(exp.Table):
        if not table.name or (not table.db and table.name in ctes):
            continue
        found.add(f"{table.db or 'main'}.{table.name}")
    return sorted(found)


def outputs(tree: exp.Expression) -> list[tuple[str, str]] | None:
    """Return (column, comment) of a query's result, following `select * from <cte>`; None when unknown."""
    ctes = {cte.alias_or_name: cte.this for cte in tree.find_all(exp.CTE)}

    def columns(query: exp.Expression, seen: frozenset) -> list[tuple[str, str]] | None:
        if isinstance(query, exp.Union):   # a union's columns are its first query's
            return columns(query.this, seen)
        if not isinstance(query, exp.Select):
            return None
        out: list[tuple[str, str]] = []
        for projection in query.expressions:
            if isinstance(projection, exp.Star) and not projection.args.get("except") and not projection.args.get("replace"):
                source = query.args.get("from_") or query.args.get("from")
                table = source.this if source is not None else None
                if not isinstance(table, exp.Table) or table.db or table.name not in ctes or table.name in seen \
                        or query.args.get("joins"):
                    return None
                inner = columns(ctes[table.name], seen | {table.name})
                if inner is None:
                    return None
                out.extend(inner)
            elif projection.alias_or_name and not isinstance(projection, exp.Star):
                out.append((projection.alias_or_name, " ".join(c.strip() for c in projection.comments or [])))
            else:
                return None
        return out

    return columns(tree, frozenset())


def _jinja() -> jinja2.Environment:
    """Return the Jinja2 environment model templates render in (strict: an unknown name fails)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, autoescape=False)
    env.filters["quoted"] = fields_mod.quoted
    return env


def _models_of(layer: str, path: Path) -> list[Model]:
    """Return the model(s) one file defines (a template with `each` defines several), checked."""
    text = path.read_text()
    raw = header(text, str(path))
    if raw is None:
        raise ModelError(f"{path}: no `{HEADER}` line among its leading comments: declare the model's kind"
                         ' (for example `-- model: kind = "table"`)')
    each = raw.pop("each", None)
    if not path.name.endswith(".j2"):
        if each is not None:
            raise ModelError(f"{path}: field 'each': only a template (.sql.j2) makes several models")
        found = [Model(path.stem, layer, path, text, declaration(raw, str(path)))]
    else:
        if each is not None and (not isinstance(each, dict) or not all(isinstance(v, dict) for v in each.values())):
            raise ModelError(f"{path}: field 'each': must be a table {{model = {{variables}}}}, not {each!r}")
        template = _jinja().from_string(text)
        context = {"fields": fields_mod.PAYLOAD, "by_kind": fields_mod.by_kind, "key_since": fields_mod.KEY_SINCE,
                   "since_versions": fields_mod.SINCE_VERSIONS, "version_rank": fields_mod.version_rank}
        kind = declaration(raw, str(path))
        found = [Model(name, layer, path, template.render(**context, **variables, this=name), kind)
                 for name, variables in (each or {path.name[: -len(".sql.j2")]: {}}).items()]
    for model in found:
        _check(model)
    return found


def _missing(where: str, name: str, wanted, have, what: str) -> None:
    """Raise ModelError when a declared name is not among what the SQL has."""
    absent = [w for w in wanted if w not in have]
    if absent:
        raise ModelError(f"{where}: field {name!r}: {absent} not {what} (it has {sorted(have)})")


def _check(model: Model) -> None:
    """Check a declaration against the model's SQL: inputs it reads, CTEs it cuts, columns it has."""
    where, kind = str(model.path), model.kind
    if isinstance(kind, ByKey):
        _missing(where, "input", kind.input, model.reads, "read by the SQL")
    if isinstance(kind, ByDate):
        _missing(where, "cut", kind.cut, model.ctes, "CTEs of the SQL")
    if isinstance(kind, Fold):
        changes = kind.changes.rpartition(".")[0]
        _missing(where, "changes", [changes], model.reads, "read by the SQL (a fold reads the relation it folds)")
    columns = model.columns
    if columns is None:
        return
    names = [c for c, _ in columns]
    _missing(where, "key", kind.key_columns, names, "output columns")
    if kind.time_column:
        _missing(where, "time_column", [kind.time_column], names, "an output column")
    if isinstance(kind, Fold):
        merged = dict(kind.merge)
        _missing(where, "merge", merged, names, "output columns")
        unmerged = [c for c in names if c not in kind.key and c not in merged]
        if unmerged:
            raise ModelError(f"{where}: field 'merge': columns {unmerged} are neither key nor merged"
                             " (a fold merges every other column with min, max or sum)")


def _paths(folder: Path) -> list[Path]:
    """Return a layer folder's model files (`.sql`, `.sql.j2`; Spark forms left out), sorted."""
    return sorted(p for p in folder.iterdir()
                  if (p.name.endswith(".sql") and not p.name.endswith(".spark.sql")) or p.name.endswith(".sql.j2"))


def discover(sql_dir: Path = SQL_DIR) -> list[Model]:
    """Return every model of every layer, in file-name order (not yet in build order)."""
    models = []
    for layer in LAYERS:
        for path in _paths(sql_dir / layer):
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
    sorter = graphlib.TopologicalSorter(graph)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        raise ModelError(f"models read each other in a cycle: {' -> '.join(exc.args[1])}") from None
    order, ready = [], []
    rank = lambda r: (LAYERS.index(by_relation[r].layer), r)  # noqa: E731 - layer by layer, then by name
    while sorter.is_active():
        ready = sorted([*ready, *sorter.get_ready()], key=rank)
        relation = ready.pop(0)
        order.append(relation)
        sorter.done(relation)
    return [by_relation[r] for r in order]


@lru_cache(maxsize=4)
def _build_order(sql_dir: Path, stamp: tuple) -> tuple[Model, ...]:
    """Return the models in build order (cached per state of the SQL folder)."""
    return tuple(ordered(discover(sql_dir)))


def build_order(sql_dir: Path = SQL_DIR) -> list[Model]:
    """Return every model in build order (discovered again whenever a model file changed)."""
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size)
                  for layer in LAYERS for p in _paths(sql_dir / layer))
    return list(_build_order(sql_dir, stamp))


def marts() -> list[str]:
    """Return the names of every mart model (= table name = parquet name)."""
    return [m.name for m in build_order() if m.layer == "marts"]


def model(name: str) -> Model:
    """Return one model by name (KeyError when there is none)."""
    for m in build_order():
        if m.name == name:
            return m
    raise KeyError(name)
