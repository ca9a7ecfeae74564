"""The figures a reader sees: each one a cell of a mart, selected for the report's as-of day and formatted.

Nothing here computes a metric: the marts hold every number (headline_daily, headline_weekly,
fleet_changes_daily, ...). A `Scope` says which parquet set, which range end and which audience; the
functions below pick the row that describes the as-of day (the last day with data in the range, the
last complete week, the last complete month) and turn cells into `Figure`s, whose `text` is exactly
what a page prints and whose `id` is the same on every page and in every report (figures.json).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from . import fmt, marts


#: the text of a share whose count a public report hides
HIDDEN_SHARE = "a hidden share"
#: the text of a count hidden only so that a smaller one cannot be worked out: 'a hidden number of instances'
HIDDEN_COUNT = "a hidden number of"


@dataclass(frozen=True)
class Figure:
    """One quoted figure: a stable id, its value (a number, a version string, None when hidden), its text."""

    id: str
    value: object
    text: str
    as_of: str | None

    def entry(self, page: str) -> dict:
        """Return the figures.json entry of this figure as quoted on a page."""
        return {"id": self.id, "page": page, "value": self.value, "text": self.text, "as_of": self.as_of}


def count(id_: str, value, as_of, k: int = 0, withheld: bool = False) -> Figure:
    """A count: '1,234', or '< k' (value None) when a public report hides it; 'a hidden number of' when it is
    withheld to protect a smaller count (suppress.complements)."""
    if withheld and k > 1:
        return Figure(id_, None, HIDDEN_COUNT, fmt.iso(as_of))
    shown = not fmt.hidden(value, k)
    return Figure(id_, fmt.number(value) if shown else None, fmt.count(value, k), fmt.iso(as_of))


def amount(id_: str, value, as_of) -> Figure:
    """A measure such as a median: '8' or '7.5' ('–' when hidden or unknown)."""
    return Figure(id_, fmt.number(value), fmt.amount(value), fmt.iso(as_of))


def share(id_: str, value, as_of, of_count=None, k: int = 0, digits: int = 1, withheld: bool = False) -> Figure:
    """A share: '74.2 %'; 'a hidden share' when the count it is a share of is hidden, small or withheld (it reads
    in every title: 'CE: a hidden share of active instances', '(a hidden share skip a line)')."""
    if fmt.hidden(of_count, k) or (withheld and k > 1):
        return Figure(id_, None, HIDDEN_SHARE, fmt.iso(as_of))
    return Figure(id_, fmt.number(value), fmt.share(value, digits), fmt.iso(as_of))


def change(id_: str, value, as_of, of_count=None, k: int = 0, points: bool = False) -> Figure:
    """A change on the period before: '+3.1 %' (or '+1.1 pts' for a share); '–' when hidden or unknown."""
    if fmt.hidden(of_count, k) or fmt.missing(value):
        return Figure(id_, None, "–", fmt.iso(as_of))
    return Figure(id_, fmt.number(value), fmt.points(value) if points else fmt.change(value), fmt.iso(as_of))


def label(id_: str, value, as_of) -> Figure:
    """A version or other name quoted as a figure ('2.33')."""
    return Figure(id_, None if fmt.missing(value) else str(value), "–" if fmt.missing(value) else str(value),
                  fmt.iso(as_of))


def days(id_: str, value, as_of) -> Figure:
    """A number of days: '45 days', '1 day'."""
    text = "–" if fmt.missing(value) else f"{int(value):,} day{'' if int(value) == 1 else 's'}"
    return Figure(id_, fmt.number(value), text, fmt.iso(as_of))


@dataclass
class Scope:
    """Which figures: a resolved parquet set, the range's last day (None: all data), and k (0: team audience)."""

    folder: Path
    end: str | None = None
    k: int = 0

    def read(self, name: str) -> pd.DataFrame:
        """Return a mart's rows up to the range's end (a figure describes the end, whatever the start)."""
        return marts.read(name, self.folder, None, self.end, whole=self.cut_short)

    @cached_property
    def freshness(self) -> dict:
        """Return data_freshness's one row (first_day, last_day, last_ping_at, instances)."""
        df = marts.read("data_freshness", self.folder)
        return df.iloc[0].to_dict() if len(df) else {}

    @cached_property
    def cut_short(self) -> bool:
        """True when the range ends before the data's last day: no week or month is in progress at its end."""
        if not self.end:
            return False
        last = self.freshness.get("last_day")
        return not fmt.missing(last) and pd.Timestamp(self.end) < pd.Timestamp(last)

    @cached_property
    def as_of(self) -> pd.Timestamp | None:
        """Return the day figures describe: the last day with data, or the range's end when earlier."""
        last = self.freshness.get("last_day")
        if fmt.missing(last):
            return None
        return min(pd.Timestamp(last), pd.Timestamp(self.end)) if self.end else pd.Timestamp(last)

    def row(self, name: str, column: str, last: pd.Timestamp | None, needed: str | None = None) -> pd.Series | None:
        """Return a mart's last row whose `column` is on or before `last` (and whose `needed` cell is known)."""
        if last is None:
            return None
        df = self.read(name)
        df = df[df[column] <= last]
        if needed:
            df = df[df[needed].notna()]
        return df.sort_values(column).iloc[-1] if len(df) else None

    @cached_property
    def week(self) -> pd.Timestamp | None:
        """Return the Monday of the last complete week: headline_weekly's last `complete` week (all its days in
        the data) whose Sunday is on or before the as-of day; None without one."""
        if self.as_of is None:
            return None
        weeks = self.read("headline_weekly")
        weeks = weeks.loc[weeks["complete"] & marts.over_by(weeks["week"], "week", self.as_of), "week"]
        return pd.Timestamp(weeks.max()) if len(weeks) else None

    @cached_property
    def month(self) -> pd.Timestamp | None:
        """Return the first day of the last complete month: calendar_months's last `complete` month (all its days
        in the data) whose last day is on or before the as-of day; None without one."""
        if self.as_of is None:
            return None
        months = self.read("calendar_months")
        months = months.loc[months["complete"] & marts.over_by(months["month"], "month", self.as_of), "month"]
        return pd.Timestamp(months.max()) if len(months) else None


def daily(scope: Scope) -> dict[str, Figure]:
    """Active instances over 1, 7 and 28 days, all and core, with their change on 7 days before; for a window
    that reaches before the first day with data, the days it covers (active_7d_days, active_28d_days)."""
    row = scope.row("headline_daily", "day", scope.as_of)
    if row is None:
        return {}
    out = {}
    for n in (1, 7, 28):
        for part in ("", "_core"):
            name = f"active_{n}d{part}"
            out[name] = count(name, row[name], row["day"], scope.k)
            out[f"{name}_change"] = change(f"{name}_change", row[f"{name}_change"], row["day"], row[name], scope.k)
        if n > 1 and f"whole_{n}d" in row and not row[f"whole_{n}d"]:
            out[f"active_{n}d_days"] = days(f"active_{n}d_days", row["days_of_data"], row["day"])
    return out


def only_in_data(covered: str) -> str:
    """Return what a window reaching before the first day with data adds to its label: ' (only 4 days in the data)'."""
    return f" (only {covered} in the data)"


def week_row(scope: Scope) -> pd.Series | None:
    """Return headline_weekly's row of the last complete week (None without one)."""
    return scope.row("headline_weekly", "week", scope.week)


def weekly(scope: Scope) -> dict[str, Figure]:
    """Weekly active instances with growth, hosted and remote instances, the newest line's share."""
    row = week_row(scope)
    if row is None:
        return {}
    week, k = row["week"], scope.k
    out = {"newest_line": label("newest_line", row["newest_line"], week),
           "newest_line_share": share("newest_line_share", row["newest_line_share"], week,
                                      row["newest_line_instances"], k),
           "newest_line_share_change": change("newest_line_share_change", row["newest_line_share_change"], week,
                                              row["newest_line_instances"], k, points=True)}
    for part in ("", "_core"):
        active = row[f"weekly_active{part}"]
        out[f"weekly_active{part}"] = count(f"weekly_active{part}", active, week, k)
        out[f"weekly_active_growth{part}"] = change(f"weekly_active_growth{part}", row[f"wow_growth{part}"], week,
                                                    active, k)
        for metric in ("hosted_instances", "remote_instances"):
            name = f"{metric}{part}"
            out[name] = count(name, row[name], week, k)
            out[f"{name}_change"] = change(f"{name}_change", row[f"{name}_change"], week, row[name], k)
    return out


def fleet_changes(scope: Scope) -> dict[str, Figure]:
    """Instances added and removed in the 90 days to the last day whose removals are known."""
    row = scope.row("fleet_changes_daily", "day", scope.as_of, needed="removed_90d")
    if row is None:
        return {}
    return {"added": count("added", row["added_90d"], row["day"], scope.k),
            "removed": count("removed", row["removed_90d"], row["day"], scope.k)}


def seen(scope: Scope) -> dict[str, Figure]:
    """Instances ever seen (all data: the index's first line)."""
    fresh = scope.freshness
    return {"instances_seen": count("instances_seen", fresh.get("instances"), fresh.get("last_day"), scope.k)}
