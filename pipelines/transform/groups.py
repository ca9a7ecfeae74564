"""Groups of consecutive values for the work that reads a large table a part at a time (builds, checks).

A full build or a check over more than CHUNK_ROWS rows reads one group of consecutive periods or
loads at a time, so each statement's hash table fits in DuckDB's memory cap.
"""

from __future__ import annotations

#: rows one grouped statement reads, at least (the last group may hold fewer)
CHUNK_ROWS = 500_000


def groups(counts: list[tuple], chunk_rows: int = CHUNK_ROWS) -> list[tuple]:
    """Group consecutive (value, rows) counts until each group holds chunk_rows rows; its (first, last) values.

    [] when every row fits one group (one pass will do).
    """
    if sum(n for _, n in counts) <= chunk_rows:
        return []
    found, start, rows = [], 0, 0
    for i, (value, n) in enumerate(counts):
        rows += n
        if rows >= chunk_rows or i == len(counts) - 1:
            found.append((counts[start][0], value))
            start, rows = i + 1, 0
    return found if len(found) > 1 else []
