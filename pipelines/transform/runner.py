"""Runs the SQL models: macros, reference seeds, then staging -> intermediate -> marts in dependency order."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..settings import REFERENCE_DIR, SQL_DIR

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


@dataclass
class Incremental:
    """An intermediate model rebuilt only for the keys new pings touch.

    Declared in the model's header: `-- incremental: k1, k2 = expr` (key columns, optionally computed
    from pings) and `-- input: relation` (the one relation the model reads its rows from).
    """

    keys: list[tuple[str, str]]   # (key column, SQL expression over stg_pings and over the input)
    input: str

    @classmethod
    def of(cls, sql: str) -> "Incremental | None":
        """Parse the header of a model, or None when it is always rebuilt whole."""
        keys = re.search(r"^-- incremental: (.+)$", sql, re.M)
        source = re.search(r"^-- input: (\S+)$", sql, re.M)
        if not (keys and source):
            return None
        parsed = []
        for part in _split_top(keys.group(1)):
            name, _, expr = part.partition("=")
            parsed.append((name.strip(), expr.strip() or name.strip()))
        return cls(parsed, source.group(1))

    def on(self, left: str, right: str) -> str:
        """Return the join condition of `left` rows (the input, with expressions) to key rows."""
        return " and ".join(f"{_expr(expr, left)} = {right}.{name}" for name, expr in self.keys)

    def key_select(self, alias: str) -> str:
        """Return the key expressions of `alias` rows, named as the key columns."""
        return ", ".join(f"{_expr(expr, alias)} as {name}" for name, expr in self.keys)


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return parts + [current]


def _expr(expr: str, alias: str) -> str:
    """Qualify the bare column names of a key expression with a table alias."""
    return re.sub(r'(?<![.\w"])("?)(instance_id|day|load_id|ip_hash)\1(?![\w"(])',
                  lambda m: f'{alias}.{m.group(0)}', expr)


STATE = """
create table if not exists main.model_state (
    model varchar primary key,
    sql_hash varchar,          -- the model's SQL when built: a change forces a full rebuild
    last_load_id bigint        -- pings of loads up to this one are in the table
)
"""


def _full(con, layer: str, name: str, sql: str) -> None:
    """Build a table from scratch."""
    con.execute(f"create or replace table {layer}.{name} as\n{sql}")


def _incremental(con, layer: str, name: str, sql: str, inc: Incremental, since: int) -> None:
    """Replace the rows of the keys touched by pings of loads after `since`."""
    con.execute(
        f"create or replace temp table delta_keys as select distinct {inc.key_select('p')}"
        f" from staging.stg_pings p where p.load_id > {int(since)}"
    )
    if not con.execute("select count(*) from delta_keys").fetchall()[0][0]:
        return
    con.execute(f"create or replace temp view delta_input as select i.* from {inc.input} i"
                f" semi join delta_keys d on {inc.on('i', 'd')}")
    target = f"{layer}.{name}"
    con.execute(f"delete from {target} t using delta_keys d where "
                + " and ".join(f"t.{n} = d.{n}" for n, _ in inc.keys))
    con.execute(f"insert into {target} {sql.replace(inc.input, 'delta_input')}")
    con.execute("drop view delta_input; drop table delta_keys")


def run(con: duckdb.DuckDBPyConnection, progress=None, full: bool = False) -> None:
    """Build every model in one transaction, so readers never see half a build.

    Intermediate models that declare themselves incremental are updated for the keys the new
    loads touched; everything else, and any model whose SQL changed, is rebuilt whole.
    """
    con.execute("begin transaction")
    try:
        con.execute((SQL_DIR / "macros.sql").read_text())
        con.execute(STATE)
        load_reference(con)
        last = con.execute("select coalesce(max(load_id), 0) from load_log").fetchall()[0][0]
        state = {m: (h, n) for m, h, n in con.execute("select * from main.model_state").fetchall()}
        for layer in LAYERS:
            con.execute(f"create schema if not exists {layer}")
            for path in model_files(layer):
                sql = path.read_text()
                name, kind = path.stem, MATERIALISE[layer]
                if re.search(r"^-- materialised: view", sql, re.M):
                    kind = "view"
                started = time.monotonic()
                inc = Incremental.of(sql) if kind == "table" else None
                digest = hashlib.sha256(sql.encode()).hexdigest()
                prev = state.get(f"{layer}.{name}")
                how = "full"
                if kind == "view":
                    if _exists(con, layer, name, "BASE TABLE"):
                        con.execute(f"drop table {layer}.{name}")
                    con.execute(f"create or replace view {layer}.{name} as\n{sql}")
                    how = "view"
                elif inc and not full and prev and prev[0] == digest and _exists(con, layer, name):
                    _incremental(con, layer, name, sql, inc, prev[1])
                    how = "incremental"
                else:
                    if _exists(con, layer, name, "VIEW"):
                        con.execute(f"drop view {layer}.{name}")
                    _full(con, layer, name, sql)
                if inc:
                    con.execute("insert or replace into main.model_state values ($1, $2, $3)",
                                [f"{layer}.{name}", digest, last])
                if progress:
                    progress(f"model {layer}.{name} ({how}, {time.monotonic() - started:.1f}s)")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def _exists(con, layer: str, name: str, kind: str = "BASE TABLE") -> bool:
    """Return whether a table (or, with kind='VIEW', a view) exists."""
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = $1 and table_name = $2"
        " and table_type = $3", [layer, name, kind]).fetchall()[0][0])
