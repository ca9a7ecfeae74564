"""Marts to parquet: every file written beside its target first, then all renamed into place."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from ..transform import runner as models


def export(con: duckdb.DuckDBPyConnection, parquet_dir: Path, names: list[str] | None = None) -> list[Path]:
    """Write each mart to parquet_dir/<mart>.parquet atomically; return the written paths."""
    parquet_dir = Path(parquet_dir)
    parquet_dir.mkdir(parents=True, exist_ok=True)
    names = names or models.marts()
    staged: list[tuple[Path, Path]] = []
    try:
        for name in names:
            final = parquet_dir / f"{name}.parquet"
            tmp = parquet_dir / f".{name}.parquet.tmp"
            con.execute(f"copy (select * from marts.{name}) to '{tmp}' (format parquet, compression zstd)")
            staged.append((tmp, final))
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return [final for _, final in staged]
