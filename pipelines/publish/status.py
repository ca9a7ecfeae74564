"""Status: per source and file/table, rows read, loaded, duplicates, quarantined, pending, last load."""

from __future__ import annotations

import pandas as pd

from ..ingest import warehouse
from ..settings import SQL_DIR

QUERY = (SQL_DIR / "marts" / "source_status.sql").read_text().replace("main.", "")


def table(warehouse_path) -> pd.DataFrame:
    """Return the status table of a warehouse (one row per source item; small)."""
    con = warehouse.connect(warehouse_path, read_only=True)
    try:
        return con.execute(QUERY).df()
    finally:
        con.close()


COUNTS = ["rows_read", "loaded", "duplicates", "quarantined", "pending"]


def by_source(df: pd.DataFrame) -> pd.DataFrame:
    """Return one row per source: summed counts, files, files with problems, last load (UTC)."""
    g = df.groupby("source", sort=True)
    out = g[COUNTS].sum()
    out.insert(0, "items", g.size())
    out["not_ok"] = g["status"].apply(lambda s: int((s != "ok").sum()))
    out["last_loaded_at"] = g["last_loaded_at"].max()
    return out.reset_index()


def render(df: pd.DataFrame, files: bool = False) -> str:
    """Return the status as text: per source (per file with files=True), problems and totals."""
    if df.empty:
        return "nothing loaded yet"
    if files:
        shown = df.drop(columns=["message"]).copy()
        shown["item"] = shown["item"].map(lambda s: s if len(s) <= 60 else "..." + s[-57:])
    else:
        shown = by_source(df)
    shown["last_loaded_at"] = shown["last_loaded_at"].astype(str).str[:19]
    text = shown.to_string(index=False)
    totals = df[COUNTS].sum()
    text += (
        f"\n\ntotal: read {totals.rows_read:,} = loaded {totals.loaded:,} + duplicates {totals.duplicates:,}"
        f" + quarantined {totals.quarantined:,} + pending {totals.pending:,}"
    )
    attention = df[(df["status"] != "ok") | (df["pending"] > 0)]
    for _, row in attention.iterrows():
        what = row.status.upper() if row.status != "ok" else "PENDING"
        detail = row.message if row.status != "ok" else f"{row.pending} torn final line(s) wait for the writer"
        text += f"\n{what}: {row['item']}: {detail}"
    return text
