"""Status: per source and file/table, rows read, loaded, duplicates, quarantined, pending, last load."""

from __future__ import annotations

import pandas as pd

from . import warehouse

QUERY = """
with loads as (
    select source, item,
           sum(rows_read) as rows_read, sum(loaded) as loaded,
           sum(duplicates) as duplicates, sum(quarantined) as quarantined,
           max(finished_at) as last_loaded_at
    from load_log group by source, item
),
final as (
    select
        coalesce(l.source, s.source) as source,
        coalesce(l.item, s.item) as item,
        coalesce(l.rows_read, 0) + coalesce(s.pending, 0) as rows_read,
        coalesce(l.loaded, 0) as loaded,
        coalesce(l.duplicates, 0) as duplicates,
        coalesce(l.quarantined, 0) as quarantined,
        coalesce(s.pending, 0) as pending,
        coalesce(l.last_loaded_at, s.last_loaded_at) as last_loaded_at,  -- utc
        coalesce(s.status, 'ok') as status,
        s.message
    from loads l
    full join source_state s on s.source = l.source and s.item = l.item
)
select * from final order by source, item
"""


def table(warehouse_path) -> pd.DataFrame:
    """Return the status table of a warehouse (one row per source item; small)."""
    con = warehouse.connect(warehouse_path, read_only=True)
    try:
        return con.execute(QUERY).df()
    finally:
        con.close()


def render(df: pd.DataFrame) -> str:
    """Return the status table as aligned text with a totals line."""
    if df.empty:
        return "nothing loaded yet"
    shown = df.drop(columns=["message"]).copy()
    shown["item"] = shown["item"].map(lambda s: s if len(s) <= 48 else "..." + s[-45:])
    totals = shown[["rows_read", "loaded", "duplicates", "quarantined", "pending"]].sum()
    text = shown.to_string(index=False)
    text += (
        f"\n\ntotal: read {totals.rows_read:,} = loaded {totals.loaded:,} + duplicates {totals.duplicates:,}"
        f" + quarantined {totals.quarantined:,} + pending {totals.pending:,}"
    )
    problems = df[df["status"] != "ok"]
    for _, row in problems.iterrows():
        text += f"\n{row.status.upper()}: {row['item']}: {row.message}"
    return text
