"""Change detection: each model's fingerprint, what the warehouse last built, and what a refresh will do.

A model's fingerprint covers its SQL (parsed, comments left out), its declaration, the macros and the
reference data it uses, the engine's version and its parents' fingerprints. So an edit anywhere
upstream changes the fingerprint of everything downstream, and a changed fingerprint rebuilds the model
whole. `main.model_builds` keeps, per model, the fingerprint and its parts as built, the last load built
and the landing tables' state: a warehouse built by an earlier version of the project has no such row,
so a plain refresh rebuilds it.

The plan, one Step per model in build order (also `refresh --plan`):
- rebuild: `--full`, never built (by this version), its table is gone, its fingerprint changed (own SQL,
  declaration, macros, reference data, engine, or a parent), or a `table`/incremental model whose
  input changed in a way its kind cannot follow (a parent table was rebuilt; for a table, any input);
- incremental: an incremental kind (by_key, by_date, fold) with loads newer than the last it built;
- unchanged: nothing it reads has changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from ..settings import REFERENCE_DIR, SQL_DIR
from .models import DIALECT, Model

#: the engine's version: bump it when a kind builds differently, and every model is rebuilt once
ENGINE = "kinds-1"

STATE = """
create table if not exists main.model_builds (
    model        varchar primary key,   -- layer.name
    fingerprint  varchar not null,      -- sha256 over the parts below
    parts        varchar not null,      -- json: sql, kind, macros, reference, engine, parent:<relation> -> digest
    last_load_id bigint,                -- pings of loads up to this one are in the table
    landing      varchar,               -- the landing tables' state when it was last built or updated
    rebuilt_at   timestamp,             -- utc: when it was last built whole
    updated_at   timestamp              -- utc: when its rows last changed (rebuilt or updated for new rows)
)
"""


@dataclass(frozen=True)
class Fingerprint:
    """A model's fingerprint and the digests it is made of (to say why it changed)."""

    value: str
    parts: dict[str, str]


@dataclass(frozen=True)
class Built:
    """What the warehouse recorded when it last built a model."""

    fingerprint: str
    parts: dict[str, str]
    last_load_id: int
    landing: str | None


@dataclass
class Step:
    """What a refresh does with one model: rebuild, incremental or unchanged, and why."""

    model: Model
    action: str
    reasons: list[str] = field(default_factory=list)
    #: whether the model's rows may differ after this step (read by the steps of its dependants)
    changed: bool = False


def _sha(text: str | bytes) -> str:
    """Return the sha256 hex digest of a text."""
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


@lru_cache(maxsize=4)
def _macros(text: str) -> dict[str, tuple[str, frozenset]]:
    """Return each macro of macros.sql: its definition and the macros it calls."""
    out = {}
    for statement in sqlglot.parse(text, read=DIALECT):
        if isinstance(statement, exp.Create) and str(statement.args.get("kind")).upper() == "MACRO":
            out[statement.this.this.name.lower()] = (statement.sql(DIALECT), frozenset(_calls(statement.expression)))
    return out


def macros(sql_dir: Path = SQL_DIR) -> dict[str, tuple[str, frozenset]]:
    """Return the macros of <sql_dir>/macros.sql (name -> definition, macros it calls)."""
    return _macros((sql_dir / "macros.sql").read_text())


def _calls(tree: exp.Expression) -> set[str]:
    """Return the names of the user functions (macros) a tree calls."""
    return {str(node.this).lower() for node in tree.find_all(exp.Anonymous)}


def macros_used(model: Model, defined: dict | None = None) -> list[str]:
    """Return the macros a model calls, directly or through another macro, sorted."""
    defined = macros() if defined is None else defined
    todo, used = [n for n in _calls(model.tree) if n in defined], set()
    while todo:
        name = todo.pop()
        if name not in used:
            used.add(name)
            todo.extend(n for n in defined[name][1] if n in defined)
    return sorted(used)


def reference_path(relation: str, reference_dir: Path = REFERENCE_DIR) -> Path | None:
    """Return the CSV behind a `reference.<name>` relation (None for any other relation)."""
    schema, _, name = relation.partition(".")
    return reference_dir / f"{name}.csv" if schema == "reference" else None


def _own_parts(model: Model, defined: dict, reference_dir: Path) -> dict[str, str]:
    """Return the digests of what a model is made of, parents aside."""
    references = [p for p in (reference_path(r, reference_dir) for r in model.reads) if p is not None]
    return {
        "sql": _sha(model.tree.sql(DIALECT, comments=False)),
        "kind": _sha(json.dumps(model.kind.fields(), sort_keys=True)),
        "macros": _sha("\0".join(defined[name][0] for name in macros_used(model, defined))),
        "reference": _sha(b"\0".join(p.name.encode() + b"\0" + p.read_bytes() for p in references if p.exists())),
        "engine": ENGINE,
    }


def fingerprints(models: list[Model], sql_dir: Path = SQL_DIR, reference_dir: Path = REFERENCE_DIR
                 ) -> dict[str, Fingerprint]:
    """Return every model's fingerprint (models in build order: parents come first); computed once per state
    of the models, macros and reference files."""
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                  for p in [sql_dir / "macros.sql", *sorted(reference_dir.glob("*.csv"))])
    key = (tuple((m.relation, m.sql, json.dumps(m.kind.fields(), sort_keys=True)) for m in models), sql_dir,
           reference_dir, stamp)
    if key not in _PRINTS:
        _PRINTS.clear()   # one state of the project at a time
        _PRINTS[key] = _fingerprints(models, sql_dir, reference_dir)
    return dict(_PRINTS[key])


#: the fingerprints of the last state of the models, macros and reference files asked for
_PRINTS: dict[tuple, dict[str, Fingerprint]] = {}


def _fingerprints(models: list[Model], sql_dir: Path, reference_dir: Path) -> dict[str, Fingerprint]:
    """Return the fingerprints of models in build order (each parent's before its children's)."""
    defined = macros(sql_dir)
    out: dict[str, Fingerprint] = {}
    for m in models:
        parts = _own_parts(m, defined, reference_dir)
        parts.update({f"parent:{r}": out[r].value for r in m.reads if r in out})
        out[m.relation] = Fingerprint(_sha(json.dumps(parts, sort_keys=True)), parts)
    return out


def digest(prints: dict[str, Fingerprint], *extra: str) -> str:
    """Return one digest of every model's fingerprint and any extra texts (the parquet set records it)."""
    return _sha(json.dumps([{r: f.value for r, f in prints.items()}, *extra], sort_keys=True))


def built(con: duckdb.DuckDBPyConnection) -> dict[str, Built]:
    """Return what the warehouse recorded for each model it built ({} before any build)."""
    exists = con.execute("select count(*) from information_schema.tables where table_schema = 'main'"
                         " and table_name = 'model_builds'").fetchall()[0][0]
    if not exists:
        return {}
    rows = con.execute("select model, fingerprint, parts, last_load_id, landing from main.model_builds").fetchall()
    return {m: Built(f, json.loads(p), n or 0, landing) for m, f, p, n, landing in rows}


def record(con: duckdb.DuckDBPyConnection, step: Step, fingerprint: Fingerprint, last: int, landing: str) -> None:
    """Record that a model now holds the loads up to `last` under this fingerprint, and when it last changed."""
    con.execute(
        """insert into main.model_builds values ($1, $2, $3, $4, $5,
               case when $6 then now()::timestamp end, case when $7 then now()::timestamp end)
           on conflict (model) do update set fingerprint = excluded.fingerprint, parts = excluded.parts,
               last_load_id = excluded.last_load_id, landing = excluded.landing,
               rebuilt_at = coalesce(excluded.rebuilt_at, model_builds.rebuilt_at),
               updated_at = coalesce(excluded.updated_at, model_builds.updated_at)""",
        [step.model.relation, fingerprint.value, json.dumps(fingerprint.parts, sort_keys=True), last, landing,
         step.action == "rebuild", step.changed])


#: how a changed part of a model's own fingerprint is named in the plan
OWN = {"sql": "own SQL changed", "kind": "declaration changed", "macros": "macros changed",
       "reference": "reference data changed", "engine": "engine changed"}


def why_changed(before: dict[str, str], now: dict[str, str]) -> list[str]:
    """Return why a fingerprint changed: its own parts, then each parent whose fingerprint changed."""
    reasons = [text for part, text in OWN.items() if before.get(part) != now.get(part)]
    reasons += [f"parent {k.removeprefix('parent:')} changed" for k in sorted(now)
                if k.startswith("parent:") and before.get(k) != now[k]]
    dropped = [k.removeprefix("parent:") for k in before if k.startswith("parent:") and k not in now]
    return reasons + [f"no longer reads {r}" for r in dropped] or ["fingerprint changed"]


@dataclass(frozen=True)
class Warehouse:
    """What the plan needs to know of the warehouse: what it built, what exists, its loads and landing state."""

    built: dict[str, Built]
    existing: set[str]
    last_load: int
    landing: str


def plan(models: list[Model], prints: dict[str, Fingerprint], wh: Warehouse, full: bool = False) -> list[Step]:
    """Return what a refresh does with each model, in build order (see the module doc)."""
    steps: dict[str, Step] = {}
    for m in models:
        step = _step(m, prints[m.relation], wh, full, steps)
        step.changed = step.action != "unchanged" or (
            m.kind.name == "view" and (any(steps[r].changed for r in m.reads if r in steps) or _landing_moved(m, wh, steps)))
        steps[m.relation] = step
    return list(steps.values())


def _landing_moved(m: Model, wh: Warehouse, steps: dict[str, Step]) -> bool:
    """Return whether a model reads landing tables (not models) whose state moved since it was built."""
    before = wh.built.get(m.relation)
    reads_landing = any(r not in steps and not r.startswith("reference.") for r in m.reads)
    return reads_landing and (before is None or before.landing != wh.landing)


def _step(m: Model, fp: Fingerprint, wh: Warehouse, full: bool, steps: dict[str, Step]) -> Step:
    """Return the step of one model, given the steps of the models before it."""
    before = wh.built.get(m.relation)
    if full:
        return Step(m, "rebuild", ["--full"])
    if before is None:
        return Step(m, "rebuild", ["built by an earlier version of the project" if m.relation in wh.existing
                                   else "not built yet"])
    if m.relation not in wh.existing:
        return Step(m, "rebuild", [f"its {'view' if m.kind.name == 'view' else 'table'} is missing"])
    if before.fingerprint != fp.value:
        return Step(m, "rebuild", why_changed(before.parts, fp.parts))
    parents = [r for r in m.reads if r in steps]
    if m.kind.name == "view":
        if m.kind.key and wh.last_load > before.last_load_id:   # a keyed view: its checks read the new rows
            return Step(m, "incremental", ["new rows"])
        return Step(m, "unchanged")
    if m.kind.incremental:
        rebuilt_tables = [r for r in parents if steps[r].action == "rebuild" and steps[r].model.kind.name == "table"]
        if rebuilt_tables:
            return Step(m, "rebuild", [f"parent {r} (a table) rebuilt" for r in rebuilt_tables])
        if wh.last_load > before.last_load_id:
            return Step(m, "incremental", ["new rows"])
        return Step(m, "unchanged")
    moved = [f"parent {r} {'rebuilt' if steps[r].action == 'rebuild' else 'has new rows'}"
             for r in parents if steps[r].changed]
    if _landing_moved(m, wh, steps):
        moved.insert(0, "new rows")
    return Step(m, "rebuild", moved) if moved else Step(m, "unchanged")


def landing(con: duckdb.DuckDBPyConnection) -> str:
    """Return a digest of what the warehouse has read: each source item's state (not its time) and the last load."""
    rows = con.execute(
        """select source, item, bytes_done, rows_done, size, mtime, head_sha, pending, watermark, status, message
           from source_state order by source, item"""
    ).fetchall()
    last = con.execute("select coalesce(max(load_id), 0) from load_log where rows_read > 0").fetchall()[0][0]
    return _sha(repr((rows, last)))


def observe(con: duckdb.DuckDBPyConnection) -> Warehouse:
    """Return what the plan needs of a warehouse (read-only: nothing is written)."""
    existing = {f"{s}.{n}" for s, n in con.execute(
        "select table_schema, table_name from information_schema.tables").fetchall()}
    last = con.execute("select coalesce(max(load_id), 0) from load_log").fetchall()[0][0]
    return Warehouse(built(con), existing, last, landing(con))
