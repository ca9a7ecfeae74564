"""Status: per source and file/table, rows read, loaded, duplicates, quarantined, pending, last load, and
the time zone a PostgreSQL created_at without zone was read in."""

from __future__ import annotations

import pandas as pd

from ..ingest import warehouse
from ..locking import open_waiting


def query() -> str:
    """Return the source_status model's SQL as the transform builds it (runs on a read-only connection)."""
    from ..transform import runner   # the model parser: only for the status command

    return runner.model_sql("source_status")


# the zone each source's created_at without time zone was read in (PostgreSQL: the server's or the setting's)
ZONES = """
select source, item, time_zone from main.source_state
"""

CHECKS = """
select run_at, layer, model, "check", status, failing_rows, detail
from main.check_results
order by status = 'pass', layer, model, "check"
"""


def snapshot(cfg) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Return (status table, last check results or None) read in one read-only connection.

    DuckDB allows no reader while a refresh has the file open: after a short wait this raises
    locking.WarehouseBusy, whose message says a refresh is running.
    """
    con = open_waiting(lambda: warehouse.connect(cfg.warehouse, read_only=True),
                       f"status of {cfg.warehouse}", cfg.lock_file, attempts=4)
    try:
        con.execute("begin transaction")   # one consistent view for both reads
        df = con.execute(query()).df().merge(con.execute(ZONES).df(), on=["source", "item"], how="left")
        has_checks = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'main'"
            " and table_name = 'check_results'").fetchall()[0][0]
        checks = con.execute(CHECKS).df() if has_checks else None
        con.execute("commit")
        return df, checks
    finally:
        con.close()


def render_checks(checks: pd.DataFrame | None) -> str:
    """Return the last model checks as text: a summary line, then one line per check not passed."""
    if checks is None or checks.empty:
        return ""
    failed = checks[checks["status"] != "pass"]
    run_at = str(checks["run_at"].max())[:19]
    text = f"\n\nchecks (last run {run_at} UTC): {len(checks) - len(failed)} passed, {len(failed)} not passed"
    for _, row in failed.iterrows():
        text += (f"\n{str(row.status).upper()}: {row.layer}.{row.model} {row.check}:"
                 f" {row.failing_rows} row(s){f' ({row.detail})' if row.detail else ''}")
    return text


COUNTS = ["rows_read", "loaded", "duplicates", "quarantined", "pending"]


def in_trouble(df: pd.DataFrame) -> pd.Series:
    """Return which status rows are in trouble: changed or failed, or waiting on a torn final line."""
    return (df["status"] != "ok") | (df["pending"] > 0)


def by_source(df: pd.DataFrame) -> pd.DataFrame:
    """Return one row per source: summed counts, items, items in trouble, last load (UTC), and the time
    zone of a PostgreSQL source when the table has it (the status command's does; the mart has none)."""
    zone = {"time_zone": ("time_zone", "max")} if "time_zone" in df.columns else {}
    out = df.assign(trouble=in_trouble(df)).groupby("source", as_index=False).agg(
        rows_read=("rows_read", "sum"), loaded=("loaded", "sum"), duplicates=("duplicates", "sum"),
        quarantined=("quarantined", "sum"), pending=("pending", "sum"), items=("item", "count"),
        items_in_trouble=("trouble", "sum"), last_loaded_at=("last_loaded_at", "max"), **zone)
    return out


def render(df: pd.DataFrame, files: bool = False, checks: pd.DataFrame | None = None) -> str:
    """Return the status as text: per source (per file with files=True), problems, totals, then checks."""
    if df.empty:
        return "nothing loaded yet" + render_checks(checks)
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
    attention = df[in_trouble(df)]
    for _, row in attention.iterrows():
        what = row.status.upper() if row.status != "ok" else "PENDING"
        detail = row.message if row.status != "ok" else f"{row.pending} torn final line(s) wait for the writer"
        text += f"\n{what}: {row['item']}: {detail}"
    return text + render_checks(checks)
