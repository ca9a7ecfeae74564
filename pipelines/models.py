"""Runs the SQL models: macros, reference seeds, then staging -> intermediate -> marts in dependency order."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from .settings import REFERENCE_DIR, SQL_DIR

LAYERS = ["staging", "intermediate", "marts"]
#: staging models are views over the landed rows; the later layers are materialised tables
MATERIALISE = {"staging": "view", "intermediate": "table", "marts": "table"}


def model_files(layer: str) -> list[Path]:
    """Return the SQL files of a layer, each after the models of that layer it reads."""
    files = {p.stem: p for p in sorted((SQL_DIR / layer).glob("*.sql"))}
    deps = {
        name: {other for other in files if other != name and re.search(rf"\b{layer}\.{other}\b", p.read_text())}
        for name, p in files.items()
    }
    ordered: list[Path] = []
    done: set[str] = set()
    while len(done) < len(files):
        ready = [n for n in files if n not in done and deps[n] <= done]
        if not ready:
            raise RuntimeError(f"cyclic model references in {layer}: {sorted(set(files) - done)}")
        for name in ready:
            ordered.append(files[name])
            done.add(name)
    return ordered


def marts() -> list[str]:
    """Return the names of every mart model (= table name = parquet name)."""
    return [p.stem for p in model_files("marts")]


def load_reference(con: duckdb.DuckDBPyConnection) -> None:
    """Load the reference CSVs (releases) as tables in schema `reference`."""
    con.execute("create schema if not exists reference")
    for path in sorted(REFERENCE_DIR.glob("*.csv")):
        con.execute(
            f"create or replace table reference.{path.stem} as "
            "select * from read_csv($1, header = true, all_varchar = true)",
            [str(path)],
        )


def run(con: duckdb.DuckDBPyConnection, progress=None) -> None:
    """Build every model, in one transaction, so readers never see half a build."""
    con.execute("begin transaction")
    try:
        con.execute((SQL_DIR / "macros.sql").read_text())
        load_reference(con)
        for layer in LAYERS:
            con.execute(f"create schema if not exists {layer}")
            for path in model_files(layer):
                kind = MATERIALISE[layer]
                con.execute(f"create or replace {kind} {layer}.{path.stem} as\n{path.read_text()}")
                if progress:
                    progress(f"model {layer}.{path.stem}")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
