"""Complementary suppression: in a partition whose total a reader knows, no hidden count can be worked out.

The truth is plain arithmetic over what a reader sees: the shown counts, which cells read '< k' and which
'hidden', and the partition's total. A hidden cell is pinned when only one of its possible values (1 .. k-1
for '< k', k or more for 'hidden') lets the hidden cells add up to the total less the shown ones.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.publish.suppress import exposed, parts_of_rows, protect
from reporting import WITHHELD, possible_values

K = 5


def partitions_as_read(df: pd.DataFrame, shown: pd.DataFrame, k: int):
    """Yield (group, texts, total) per partition: the published cells and the true total a reader knows."""
    for group, part in df.dropna(subset=["group"]).groupby("group"):
        yield group, shown.loc[part.index, "count"].tolist(), int(part["count"].sum())


#: partitions of (count, withheld elsewhere, in no partition, kept) cells
CELLS = st.lists(st.lists(st.tuples(st.integers(0, 30), st.booleans(), st.booleans(), st.booleans()), min_size=1,
                          max_size=7), min_size=1, max_size=4)


@settings(max_examples=500, deadline=None, database=None)
@given(CELLS, st.integers(3, 7), st.booleans(), st.booleans(), st.booleans())   # k = 2: a '< 2' is 1 by itself
def test_no_hidden_count_of_a_partition_can_be_worked_out_from_its_total(groups, k, elsewhere, outside, kept):
    df = pd.DataFrame([{"group": None if o and outside else g, "count": c, "elsewhere": e and elsewhere,
                        "kept": kp and kept} for g, cells in enumerate(groups) for c, e, o, kp in cells])
    df["share"] = df["count"] / df.groupby("group")["count"].transform("sum").where(lambda s: s > 0)
    shown = protect(df, k, {"count": ["share"]}, within=["group"], keep=df["kept"] & ~df["elsewhere"],
                    withhold={"count": df["elsewhere"]}).for_csv()
    hidden = (f"< {k}", WITHHELD)
    for group, texts, total in partitions_as_read(df, shown, k):
        truth = df[df["group"] == group]
        values, apart = truth["count"].tolist(), (truth["elsewhere"] & (truth["count"] >= k)).tolist()
        for text, value, away in zip(texts, values, apart):          # small: '< k'; withheld: 'hidden', >= k
            assert text == (f"< {k}" if 0 < value < k else value) or (text == WITHHELD and value >= k)
            assert text == WITHHELD or not away                      # withheld elsewhere: withheld here too
        if not (f"< {k}" in texts or any(apart)):                    # nothing to protect: nothing withheld
            assert WITHHELD not in texts
            continue
        pinned = [v for v in possible_values(texts, total, k) if len(v) < 2]
        nothing_left = all(t in hidden or kp for t, v, kp in zip(texts, values, truth["kept"]) if v > 0)
        assert not pinned or nothing_left, (texts, values)           # nothing shown but what is kept
        assert not any(t == WITHHELD and kp and not away for t, kp, away in zip(texts, truth["kept"], apart))
    alone = df["group"].isna()                                       # in no partition: small hidden, nothing more
    expected = [f"< {k}" if 0 < c < k else WITHHELD if e and c >= k else c
                for c, e in zip(df.loc[alone, "count"], df.loc[alone, "elsewhere"])]
    assert shown.loc[alone, "count"].tolist() == expected
    assert (shown["share"].isin(hidden) == shown["count"].isin(hidden)).all()


def test_a_lone_small_count_takes_the_smallest_shown_one_and_more_while_the_sum_would_pin_them():
    df = pd.DataFrame({"week": [1, 1, 1, 1, 2, 2, 2, 3, 3], "count": [100, 3, 20, 8, 50, 1, 5, 9, 9]})
    texts = protect(df, K, ["count"], within=["week"]).for_csv()["count"].tolist()
    # week 1: 3 with 8; week 2: 1 with 5 would sum to 6 (1 + 5: both pinned), so 50 too; week 3: nothing small
    assert texts == [100, "< 5", 20, WITHHELD, WITHHELD, "< 5", WITHHELD, 9, 9]


def test_small_counts_their_sum_does_not_pin_stand_without_a_withheld_one():
    df = pd.DataFrame({"week": [1, 1, 1, 2, 2, 2, 3, 3, 3], "count": [2, 3, 40, 1, 1, 40, 4, 4, 40]})
    texts = protect(df, K, ["count"], within=["week"]).for_csv()["count"].tolist()
    # week 1: 2 + 3 = 5 could be 1 + 4, 2 + 3 ...; weeks 2 and 3: all 1 (sum 2) or all 4 (sum 8), so pinned
    assert texts == ["< 5", "< 5", 40, "< 5", "< 5", WITHHELD, "< 5", "< 5", WITHHELD]


def test_a_partition_with_nothing_left_to_withhold_is_exposed_so_its_sum_can_be_hidden_where_shown():
    df = pd.DataFrame({"week": [1, 1, 1, 1, 2, 2, 2, 3, 3], "count": [1, 1, 5, 0, 2, 3, 0, 1, 0]})
    rows = protect(df, K, ["count"], within=["week"])
    assert rows.for_csv()["count"].tolist() == ["< 5", "< 5", WITHHELD, 0, "< 5", "< 5", 0, "< 5", 0]
    # week 1: 1 + 1 + 5 is the least sum (each small 1, the withheld k); week 3: a lone small; week 2 stands
    assert exposed(df, rows, "count", ["week"])["week"].tolist() == [1, 3]


def test_a_count_withheld_elsewhere_is_never_the_only_hidden_one_of_its_partition():
    df = pd.DataFrame({"week": [1, 1, 1, 2, 2, 2], "count": [8, 20, 30, 8, 9, 30]})
    elsewhere = pd.Series([True, False, False, True, True, False])
    texts = protect(df, K, ["count"], within=["week"], withhold={"count": elsewhere}).for_csv()["count"].tolist()
    # week 1: 8 alone would be the sum less 50, so 20 too; week 2: 8 and 9 sum above 2·k, neither is pinned
    assert texts == [WITHHELD, WITHHELD, 30, WITHHELD, WITHHELD, 30]


def test_kept_counts_are_never_withheld_and_without_a_partition_or_for_the_team_nothing_is():
    df = pd.DataFrame({"week": [1, 1, 1], "count": [2, 6, 40]})
    keep = pd.Series([False, True, False])
    assert protect(df, K, ["count"], within=["week"], keep=keep).for_csv()["count"].tolist() == ["< 5", 6, WITHHELD]
    assert protect(df, K, ["count"]).for_csv()["count"].tolist() == ["< 5", 6, 40]
    assert protect(df, 0, ["count"], within=["week"]).for_csv()["count"].tolist() == [2, 6, 40]


def test_marks_survive_selecting_rows_after_the_partition_is_decided():
    df = pd.DataFrame({"week": [1, 1, 1], "category": ["a", "b", "dev"], "count": [2, 40, 6]})
    rows = protect(df, K, ["count"], within=["week"])
    dev = rows.where(df["category"] == "dev")
    assert dev.for_csv()["count"].tolist() == [WITHHELD]            # withheld here as on the whole week's chart
    assert dev.is_withheld("count").tolist() == [True] and not dev.is_small("count").any()


def test_no_small_part_of_a_row_can_be_worked_out_from_the_rows_total():
    parts = ["loaded", "duplicates", "quarantined", "pending"]
    df = pd.DataFrame({"rows_read": [1000, 50, 20, 3], "loaded": [990, 40, 16, 3], "duplicates": [7, 10, 0, 0],
                       "quarantined": [3, 0, 2, 0], "pending": [0, 0, 2, 0]}, index=[10, 11, 12, 13])
    shown = protect(df, K, ["rows_read", *parts], withhold=parts_of_rows(df, parts, K)).for_csv()
    assert shown.loc[10, parts].tolist() == [990, WITHHELD, "< 5", 0]       # 3 alone would be 1000 - 997
    assert shown.loc[11, parts].tolist() == [40, 10, 0, 0]                  # nothing small
    for row in (10, 12):                                                    # 2 + 2 = 4: both 2, or 1 and 3 ...
        texts = [t if t in ("< 5", WITHHELD) else int(t) for t in shown.loc[row, parts]]
        assert all(len(v) > 1 for v in possible_values(texts, int(df.loc[row, "rows_read"]), K))
