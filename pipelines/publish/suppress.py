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
        keep = [c for c in self.hidden.columns if c in columns]
        return Protected(self.rows[columns], self.hidden[keep], self.k,
                         self.withheld[[c for c in self.withheld.columns if c in columns]])

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


def pinned_alone(smalls: pd.Series, total: pd.Series, k: int) -> pd.Series:
    """Return whether a group's small counts alone (how many; their sum) are pinned by the sum: one of them, all 1,
    or all k-1."""
    return (smalls == 1) | (total == smalls) | (total == smalls * (k - 1))


def complements(values: pd.Series, small: pd.Series, groups: list[pd.Series], k: int,
                keep: pd.Series | None = None, preset: pd.Series | None = None) -> pd.Series:
    """Return, per row, whether a shown count is withheld to protect a small one of its group.

    A group's h small counts (each 1 .. k-1) with nothing withheld beside them are pinned by its sum when h is 1,
    or when they sum to h (all 1) or to h·(k-1) (all k-1); a lone `preset` count (withheld already, for a reason
    outside the group) is pinned too. Then counts are withheld, one at least, until the hidden cells sum to more
    than h + m·k (m: the counts withheld): at that least sum every hidden cell would be pinned (each small one 1,
    each withheld one k); above it, none is. The presets count first, then the smallest shown counts above 0
    that are not in `keep`. When those run out a group can stay pinned (`exposed` finds it).
    """
    counts = pd.to_numeric(values, errors="coerce")
    preset = preset if preset is not None else pd.Series(False, index=values.index)
    frame = pd.DataFrame({"value": counts, "order": range(len(values)), "small": small.astype(int),
                          "preset": preset.astype(int),
                          "excess": (counts - 1).where(small, 0) + (counts - k).where(preset & ~small, 0),
                          "small_sum": counts.where(small, 0),
                          "candidate": ~small & ~preset & (counts > 0) & (~keep if keep is not None else True)},
                         index=values.index)
    keys = [f"g{i}" for i in range(len(groups))]
    for key, group in zip(keys, groups):
        frame[key] = group.to_numpy()
    frame = frame[frame[keys].notna().all(axis=1)]                   # a row with a blank key is in no partition
    if frame.empty:
        return preset
    sums = frame.groupby(keys, sort=False)[["excess", "small", "preset", "small_sum"]].transform("sum")
    alone = (sums["preset"].eq(0) & pinned_alone(sums["small"], sums["small_sum"], k)) | \
        (sums["small"].eq(0) & sums["preset"].eq(1))                   # a lone withheld count is the sum less the rest
    taken = frame.assign(slack=sums["excess"], alone=alone)
    taken = taken[taken["candidate"] & (sums["small"] + sums["preset"] > 0)].sort_values([*keys, "value", "order"])
    within = taken.groupby(keys, sort=False)
    after = taken["slack"] + within["value"].cumsum() - k * (within.cumcount() + 1)   # slack once this one is taken
    before = after.groupby([taken[c] for c in keys], sort=False).shift(1).fillna(taken["slack"])
    first = (within.cumcount() == 0) & taken["alone"]                                 # one where they are pinned
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
    from the partition's sum: small counts pinned alone with nothing withheld beside them (nothing was left to
    take), one hidden count alone, or hidden cells summing to their least. Their sum must be hidden where it is
    shown (a week's bar of daily counts)."""
    values = pd.to_numeric(df[column], errors="coerce")
    small, withheld = rows.is_small(column), rows.is_withheld(column)
    frame = df[within].assign(small=small.astype(int), withheld=withheld.astype(int), small_sum=values.where(small, 0),
                              slack=(values - 1).where(small, 0) + (values - rows.k).where(withheld, 0))
    sums = frame.groupby(within)[["small", "withheld", "small_sum", "slack"]].sum()
    alone = (sums["withheld"] == 0) & pinned_alone(sums["small"], sums["small_sum"], rows.k)
    least = (sums["withheld"] > 0) & ((sums["slack"] <= 0) | (sums["small"] + sums["withheld"] == 1))
    return sums[(sums["small"] + sums["withheld"] > 0) & (alone | least)].reset_index()[within]


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
