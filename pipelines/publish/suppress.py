"""Small-count suppression for the public audience: counts of 1 .. k-1 are hidden, drawn and written as '< k'.

The team that owns the fleet sees every count (k = 0). A public report hides every count under k, and
every share or figure that would give one away, in the same way on charts, CSVs, titles and
figures.json: the cell is kept, marked hidden, and shown as '< k' (never blank, never a number).

Where cells add up to a total the report shows or gives away (a week's instances per licence type add up
to its active instances, and each count with its share gives that total), one hidden count would be the
total less the rest. So in such a group (a partition) a hidden count is never alone: the smallest shown
counts are hidden with it until no hidden cell can be worked out from the group's sum (complementary
suppression). Those cells are not small: they are written 'hidden', never '< k'.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from . import fmt


@dataclass
class Protected:
    """A chart's rows with the hidden cells blanked, which cells they were, and which of them were hidden only
    to protect a smaller count (`withheld`: shown as 'hidden', not '< k')."""

    rows: pd.DataFrame
    hidden: pd.DataFrame = field(default_factory=pd.DataFrame)
    k: int = 0
    withheld: pd.DataFrame = field(default_factory=pd.DataFrame)

    def _mark(self, marks: pd.DataFrame, column: str) -> pd.Series:
        """Return, per row, a column's mark (False where it has none)."""
        return marks[column] if column in marks else pd.Series(False, index=self.rows.index)

    def any_hidden(self, column: str) -> pd.Series:
        """Return, per row, whether the column's cell is hidden (small or withheld)."""
        return self._mark(self.hidden, column)

    def is_withheld(self, column: str) -> pd.Series:
        """Return, per row, whether the column's cell is hidden only to protect a smaller count."""
        return self._mark(self.withheld, column)

    def is_small(self, column: str) -> pd.Series:
        """Return, per row, whether the column's cell is hidden because it is under k."""
        return self.any_hidden(column) & ~self.is_withheld(column)

    def only(self, columns: list[str]) -> "Protected":
        """Return the same rows with only these columns (and their marks)."""
        def marks(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[[c for c in frame.columns if c in columns]]
        return Protected(self.rows[columns], marks(self.hidden), self.k, marks(self.withheld))

    def where(self, mask: pd.Series) -> "Protected":
        """Return the rows the mask selects, with their marks (decided over all the rows first)."""
        return Protected(self.rows[mask], self.hidden[mask], self.k, self.withheld[mask])

    def for_csv(self) -> pd.DataFrame:
        """Return the rows with every hidden cell written as '< k' (or 'hidden' when withheld)."""
        out = self.rows.copy()
        for column in self.hidden:
            if self.hidden[column].any():
                text = pd.Series(fmt.below(self.k), index=out.index).where(~self.is_withheld(column), fmt.WITHHELD)
                out[column] = out[column].astype(object).where(~self.hidden[column], text)
        return out


def _small(df: pd.DataFrame, column: str, k: int, rows: pd.Series | None) -> pd.Series:
    """Return, per row, whether a count cell is under k (and among `rows`, when given)."""
    small = df[column].map(lambda v: fmt.hidden(v, k)).astype(bool)
    return small & rows if rows is not None else small


def _hidden(counts: pd.Series, small: pd.Series, withheld: pd.Series, k: int) -> pd.DataFrame:
    """Return per row what a group's hidden cells sum from: 1 for a small count, its sum, 1 for a withheld one,
    and the slack (how far the cell lies above its least: 1 for a small count, k for a withheld one)."""
    return pd.DataFrame({"small": small.astype(int), "small_sum": counts.where(small, 0),
                         "withheld": (withheld & ~small).astype(int),
                         "slack": (counts - 1).where(small, 0) + (counts - k).where(withheld & ~small, 0)},
                        index=counts.index)


def pinned(sums: pd.DataFrame, k: int) -> pd.Series:
    """Return, per group (the sums of `_hidden`), whether its sum pins its hidden cells: small counts with nothing
    withheld beside them, when there is one of them or they sum to all 1 or all k-1; with counts withheld, one
    hidden cell alone, or cells summing to their least (each small one 1, each withheld one k)."""
    alone = (sums["small"] == 1) | (sums["small_sum"] == sums["small"]) | \
        (sums["small_sum"] == sums["small"] * (k - 1))
    least = (sums["slack"] <= 0) | (sums["small"] + sums["withheld"] == 1)
    return (sums["small"] + sums["withheld"] > 0) & ((sums["withheld"].eq(0) & alone) | (sums["withheld"].gt(0) & least))


def complements(values: pd.Series, small: pd.Series, groups: list[pd.Series], k: int,
                keep: pd.Series | None = None, preset: pd.Series | None = None) -> pd.Series:
    """Return, per row, whether a shown count is withheld to protect a small one of its group.

    Where a group's sum pins its hidden cells (`pinned`; the `preset` counts, withheld already for a reason
    outside the group, count among them), counts are withheld, one at least, until the hidden cells sum to more
    than their least (h + m·k: h small counts, m withheld): above it, no hidden cell is pinned. The smallest shown
    counts above 0 that are not in `keep` are taken. When those run out a group can stay pinned (`exposed`).
    """
    counts = pd.to_numeric(values, errors="coerce")
    preset = preset if preset is not None else pd.Series(False, index=values.index)
    frame = _hidden(counts, small, preset, k).assign(
        value=counts, order=range(len(values)),
        candidate=~small & ~preset & (counts > 0) & (~keep if keep is not None else True))
    keys = [f"g{i}" for i in range(len(groups))]
    for key, group in zip(keys, groups):
        frame[key] = group.to_numpy()
    frame = frame[frame[keys].notna().all(axis=1)]                   # a row with a blank key is in no partition
    if frame.empty:
        return preset
    sums = frame.groupby(keys, sort=False)[["small", "small_sum", "withheld", "slack"]].transform("sum")
    taken = frame.assign(group_slack=sums["slack"], pinned=pinned(sums, k))
    taken = taken[taken["candidate"] & (sums["small"] + sums["withheld"] > 0)].sort_values([*keys, "value", "order"])
    within = taken.groupby(keys, sort=False)
    after = taken["group_slack"] + within["value"].cumsum() - k * (within.cumcount() + 1)   # once this one is taken
    before = after.groupby([taken[c] for c in keys], sort=False).shift(1).fillna(taken["group_slack"])
    first = (within.cumcount() == 0) & taken["pinned"]                                # one where they are pinned
    chosen = first | (before <= 0)                                                    # then until the sum is above
    return preset | chosen.reindex(values.index, fill_value=False).astype(bool)


def protect(df: pd.DataFrame, k: int, counts: dict[str, list[str]] | list[str],
            rows: pd.Series | None = None, within: list[str] | None = None, keep: pd.Series | None = None,
            withhold: dict[str, pd.Series] | None = None) -> Protected:
    """Hide every count under k and the cells that reveal it.

    `counts` names the count columns, or maps each count column to the columns it gives away (its
    share, a rate): {"instances": ["share"]}; `rows` limits it to the rows whose cells are counts (an
    alert's value is a count for some checks only). `within` names the columns whose values form a
    partition (["week"]: a week's counts add up to a total the report gives away; a row whose value is
    blank is in none, its small count is hidden but not protected further): there a small count is
    never hidden alone (see `complements`; `keep` marks the counts quoted elsewhere, never taken).
    `withhold` maps a count column to the rows whose count is withheld because the same count is withheld
    elsewhere (a licence type's instances, withheld on its breakdown). With k <= 1 nothing is hidden.
    """
    reveals = counts if isinstance(counts, dict) else {c: [] for c in counts}
    if k <= 1 or df.empty:
        return Protected(df, pd.DataFrame(index=df.index), k, pd.DataFrame(index=df.index))
    smalls, extras = pd.DataFrame(index=df.index), pd.DataFrame(index=df.index)
    for column, derived in reveals.items():
        small = _small(df, column, k, rows)
        above = pd.to_numeric(df[column], errors="coerce").gt(0).fillna(False)
        preset = (withhold or {}).get(column, pd.Series(False, index=df.index)) & ~small & above
        extra = complements(df[column], small, [df[c] for c in within], k, keep, preset) if within else preset
        for name in [column, *derived]:
            smalls[name] = smalls[name] | small if name in smalls else small
            extras[name] = extras[name] | extra if name in extras else extra
    hidden, withheld = smalls | extras, extras & ~smalls   # a cell small for one count is small
    shown = df.copy()
    for name in hidden:   # counts stay whole numbers (nullable), shares stay fractions
        kind = "Int64" if pd.api.types.is_integer_dtype(shown[name]) else "float64"
        shown[name] = shown[name].astype(kind).where(~hidden[name])
    return Protected(shown, hidden, k, withheld)


def exposed(df: pd.DataFrame, rows: Protected, column: str, within: list[str]) -> pd.DataFrame:
    """Return the partitions (their `within` values) whose hidden counts of a column a reader could still work out
    from the partition's sum (`pinned`: nothing was left beside them to withhold). Their sum must be hidden where
    it is shown (a week's bar of daily counts)."""
    cells = _hidden(pd.to_numeric(df[column], errors="coerce"), rows.is_small(column), rows.is_withheld(column),
                    rows.k)
    sums = cells.groupby([df[c] for c in within]).sum()
    return sums[pinned(sums, rows.k)].reset_index()[within]


def parts_of_rows(df: pd.DataFrame, parts: list[str], k: int) -> dict[str, pd.Series]:
    """Return, per part column, the rows whose part is withheld so that no small part of a row can be worked out
    from the row's total (the parts add up to it: read = loaded + duplicates + quarantined + pending); for
    protect's `withhold`."""
    long = df[parts].reset_index(drop=True).reset_index(names="row").melt(id_vars="row", var_name="part",
                                                                           value_name="count")
    marks = protect(long, k, ["count"], within=["row"])
    taken = long[marks.is_withheld("count")]
    return {part: pd.Series(range(len(df)), index=df.index).isin(taken.loc[taken["part"] == part, "row"])
            for part in parts}
