"""Small-count suppression for exported reports: categories under k instances in a period become 'other'."""

from __future__ import annotations

import pandas as pd

OTHER = "other"


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
