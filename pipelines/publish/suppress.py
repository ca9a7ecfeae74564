"""Small-count suppression for the public audience: counts of 1 .. k-1 are hidden, drawn and written as '< k'.

The team that owns the fleet sees every count (k = 0). A public report hides every count under k, and
every share or figure that would give one away, in the same way on charts, CSVs, titles and
figures.json: the cell is kept, marked hidden, and shown as '< k' (never blank, never a number).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from . import fmt


@dataclass
class Protected:
    """A chart's rows with the hidden cells blanked, and which cells they were (for '< k' in CSVs and charts)."""

    rows: pd.DataFrame
    hidden: pd.DataFrame = field(default_factory=pd.DataFrame)
    k: int = 0

    def any_hidden(self, column: str) -> pd.Series:
        """Return, per row, whether the column's cell is hidden."""
        if column in self.hidden:
            return self.hidden[column]
        return pd.Series(False, index=self.rows.index)

    def only(self, columns: list[str]) -> "Protected":
        """Return the same rows with only these columns (and their hidden marks)."""
        return Protected(self.rows[columns], self.hidden[[c for c in self.hidden.columns if c in columns]], self.k)

    def for_csv(self) -> pd.DataFrame:
        """Return the rows with every hidden cell written as '< k'."""
        out = self.rows.copy()
        for column in self.hidden:
            if self.hidden[column].any():
                out[column] = out[column].astype(object).where(~self.hidden[column], fmt.below(self.k))
        return out


def protect(df: pd.DataFrame, k: int, counts: dict[str, list[str]] | list[str],
            rows: pd.Series | None = None) -> Protected:
    """Hide every count under k and the cells that reveal it.

    `counts` names the count columns, or maps each count column to the columns it gives away (its
    share, a rate): {"instances": ["share"]}; `rows` limits it to the rows whose cells are counts (an
    alert's value is a count for some checks only). With k <= 1 nothing is hidden.
    """
    reveals = counts if isinstance(counts, dict) else {c: [] for c in counts}
    if k <= 1 or df.empty:
        return Protected(df, pd.DataFrame(index=df.index), k)
    hidden = pd.DataFrame(index=df.index)
    for column, derived in reveals.items():
        small = df[column].map(lambda v: fmt.hidden(v, k)).astype(bool)
        if rows is not None:
            small = small & rows
        for name in [column, *derived]:
            hidden[name] = hidden[name] | small if name in hidden else small
    shown = df.copy()
    for name in hidden:   # counts stay whole numbers (nullable), shares stay fractions
        kind = "Int64" if pd.api.types.is_integer_dtype(shown[name]) else "float64"
        shown[name] = shown[name].astype(kind).where(~hidden[name])
    return Protected(shown, hidden, k)
