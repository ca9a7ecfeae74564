"""Small-count suppression for exported reports: categories under k instances in a period become 'other'."""

from __future__ import annotations

import pandas as pd

OTHER = "other"

#: coarser periods tried, in order, when nothing reaches k at the finer one (name, pandas period code)
COARSER = (("month", "M"), ("quarter", "Q"), ("year", "Y"))


def fold_small(df: pd.DataFrame, period: str, category: str | list[str], k: int,
               count: str = "instances") -> pd.DataFrame:
    """Return df with every (period, category) row of fewer than k `count` folded into 'other' rows.

    Shares (column `share`) are recomputed from the counts, so they still add up per period. The
    'other' row is itself left out when it holds fewer than k, so no small number is shown.
    """
    if k <= 1 or df.empty:
        return df
    cats = [category] if isinstance(category, str) else list(category)
    df = df.copy()
    totals = df.groupby(period)[count].transform("sum")
    small = df[count] < k
    for c in cats:
        df[c] = df[c].astype(object)
        df.loc[small, c] = OTHER
    keep = [period, *cats]
    out = df.groupby(keep, as_index=False, sort=True)[count].sum()
    out = out[~((out[cats[0]] == OTHER) & (out[count] < k))]
    if "share" in df:
        out["share"] = out[count] / out[period].map(df.assign(t=totals).groupby(period)["t"].first())
    return out.reset_index(drop=True)


def fold_coarsening(df: pd.DataFrame, period: str, category: str | list[str], k: int,
                    count: str = "instances") -> tuple[pd.DataFrame, str]:
    """Fold small categories per month, else per quarter, else per year; return (rows, period name).

    `period` holds month starts (UTC). The finest period at which a category reaches k by name wins,
    else the finest at which the folded 'other' does; the rows come back empty (with 'year') when
    nothing reaches k even per year.
    """
    cats = [category] if isinstance(category, str) else list(category)
    levels = []
    for name, code in COARSER:
        coarse = df.assign(**{period: pd.to_datetime(df[period]).dt.to_period(code).dt.start_time})
        coarse = coarse.groupby([period, *cats], as_index=False)[count].sum()
        levels.append((fold_small(coarse, period, category, k, count).reset_index(drop=True), name))
    # the finest period where a category shows by name, else the finest where 'other' reaches k
    for folded, name in levels:
        if (folded[cats[0]] != OTHER).any():
            return folded, name
    return next(((f, n) for f, n in levels if not f.empty), levels[-1])


def hide_small(values: pd.Series, k: int) -> pd.Series:
    """Return counts with every value under k (but above 0) replaced by NA (heatmap cells, table cells)."""
    if k <= 1:
        return values
    return values.where(~((values > 0) & (values < k)))
