"""Runs the SQL models: macros, reference seeds, then each model's planned step in build order, one transaction.

Discovery and declarations: models.py and declare.py. What each model needs (rebuild, incremental,
unchanged) and why: changes.py. How each kind builds: kinds/. The checks beside the models: checks.py.
An incremental build says which rows it replaced (replaced.py); that model's checks, and those of a view
over it alone, read only those rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from .. import profile
from ..settings import REFERENCE_DIR, SQL_DIR
from . import changes, checks, kinds
from .changes import Step
from .declare import compact
from .groups import CHUNK_ROWS
from .models import LAYERS, Model, build_order
from .replaced import Nothing, Replaced

#: landing tables older warehouses may lack (ingest creates them on connect; this keeps a build
#: against a warehouse connected before that working)
LANDING_GUARDS = [
    "create table if not exists main.blanked_values "
    "(load_id integer, source varchar, location varchar, field varchar)",
]


def load_reference(con: duckdb.DuckDBPyConnection) -> None:
    """Load the reference CSVs (releases) as tables in schema `reference`."""
    con.execute("create schema if not exists reference")
    for path in sorted(REFERENCE_DIR.glob("*.csv")):
        con.execute(
            f"create or replace table reference.{path.stem} as "
            "select * from read_csv($1, header = true, all_varchar = true)",
            [str(path)],
        )


def _prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Create what models read besides the landing tables: macros, schemas, reference tables, the build state."""
    con.execute((SQL_DIR / "macros.sql").read_text())
    for guard in LANDING_GUARDS:
        con.execute(guard)
    con.execute("drop table if exists main.model_state")   # the state of the engine before declared kinds
    con.execute(changes.STATE)
    load_reference(con)
    for layer in LAYERS:
        con.execute(f"create schema if not exists {layer}")


def _view_scope(con, model: Model, step: Step, scopes: dict[str, Replaced | None]) -> Replaced | None:
    """Return the rows to check of a view not rebuilt: its one parent's replaced rows when it keeps their columns."""
    if not step.changed:
        return Nothing()
    parents = [r for r in model.reads if r in scopes]
    if len(model.reads) != 1 or not parents or scopes[parents[0]] is None:
        return None
    replaced = scopes[parents[0]]
    columns = {r[0] for r in con.execute(f"describe {model.relation}").fetchall()}
    return replaced if set(replaced.columns) <= columns else None


@dataclass
class Build:
    """What a build did: how each model was built (relation -> 'full', 'full in 3 period groups',
    'incremental', 'unchanged', 'view', ...) and the outcome of every check."""

    how: dict[str, str]
    outcomes: list[checks.Outcome]


def run(con: duckdb.DuckDBPyConnection, progress=None, full: bool = False,
        chunk_rows: int = CHUNK_ROWS) -> Build:
    """Build every model in one transaction, then run the checks; commit only when every check passes.

    Each model gets the step the plan gives it (changes.plan): rebuilt whole, updated for the new rows,
    or left as it is. A failing check rolls the whole build back (the previous tables stay), records the
    results in main.check_results and raises checks.ChecksFailed.
    """
    models = build_order()
    prints = changes.fingerprints(models)
    con.execute("begin transaction")
    try:
        _prepare(con)
        wh = changes.observe(con)
        scopes: dict[str, Replaced | None] = {}
        how: dict[str, str] = {}
        steps = changes.plan(models, prints, wh, full)
        for step in steps:
            started = time.monotonic()
            built = wh.built.get(step.model.relation)
            with profile.step(f"model {step.model.relation}"):
                result = kinds.build(con, step, built.last_load_id if built else 0, chunk_rows)
            if step.model.kind.name == "view" and step.action == "unchanged":
                result.replaced = _view_scope(con, step.model, step, scopes)
            scopes[step.model.relation] = result.replaced
            how[step.model.relation] = result.how
            if progress:
                why = f": {', '.join(step.reasons)}" if step.reasons and step.action == "rebuild" else ""
                progress(f"model {step.model.relation} ({result.how}{why}, {time.monotonic() - started:.1f}s)")
        started = time.monotonic()
        scoped = {r: s for r, s in scopes.items() if s is not None}
        with profile.step("checks"):
            outcomes = checks.evaluate(con, [m.name for m in models], scoped, chunk_rows)
        for m in models:
            con.execute(f"drop table if exists {kinds.common.scope_table(m)}")
        landing = changes.landing(con)
        for step in steps:
            changes.record(con, step, prints[step.model.relation], wh.last_load, landing)
        if progress:
            skipped = sum(isinstance(s, Nothing) for s in scoped.values())
            progress(f"{len(outcomes)} checks ({len(scoped) - skipped} models checked on the rows they replaced"
                     f" only, {skipped} unchanged, {time.monotonic() - started:.1f}s)")
    except Exception:
        con.execute("rollback")
        raise
    if any(o.status == "fail" for o in outcomes):
        con.execute("rollback")
        checks.record(con, outcomes)
        raise checks.ChecksFailed(outcomes)
    checks.record(con, outcomes)
    con.execute("commit")
    return Build(how, outcomes)


def models_digest() -> str:
    """Return one digest of every model's fingerprint and every layer's checks (the parquet set records it)."""
    return changes.digest(changes.fingerprints(build_order()), checks.digest())


def marts() -> list[str]:
    """Return the names of every mart model (= table name = parquet name)."""
    return [m.name for m in build_order() if m.layer == "marts"]


def model_sql(name: str) -> str:
    """Return the rendered DuckDB SQL of one model (e.g. to run source_status on a read-only warehouse)."""
    from .models import model

    return model(name).sql


def fingerprints() -> dict[str, str]:
    """Return each model's fingerprint by relation."""
    return {r: f.value for r, f in changes.fingerprints(build_order()).items()}


def describe(models: list[Model]) -> list[str]:
    """Return one line per model in build order: relation, kind=<name> and its fields, what it reads."""
    lines = []
    for m in models:
        declared = m.kind.shown()
        name = declared.pop("kind")
        shown = " ".join(f"{k}={compact(v)}" for k, v in declared.items())
        lines.append(f"{m.relation:<40} kind={name:<8} {shown + ' ' if shown else ''}<- {', '.join(m.reads) or '-'}")
    return lines


def cmd_models(args) -> int:
    """Print the models in build order: kind and fields, inputs (python -m pipelines models)."""
    for line in describe(build_order()):
        print(line)
    return 0
