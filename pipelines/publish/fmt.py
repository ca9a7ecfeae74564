"""How numbers, dates and hidden counts are written on every page, the index and figures.json (one way each)."""

from __future__ import annotations

import pandas as pd


def missing(value) -> bool:
    """True for None, NaN and NA."""
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def hidden(value, k: int) -> bool:
    """True when a count is small enough to be hidden from a public report (1 .. k-1)."""
    return k > 1 and not missing(value) and 0 < float(value) < k


def below(k: int) -> str:
    """Return the text standing in for a hidden count: '< 5'."""
    return f"< {k}"


#: the text standing in for a count hidden only so that a smaller one cannot be worked out (it is not small)
WITHHELD = "hidden"


def count(value, k: int = 0) -> str:
    """Format a count: '1,234'; '< 5' when hidden; '–' when unknown."""
    if missing(value):
        return "–"
    return below(k) if hidden(value, k) else f"{float(value):,.0f}"


def amount(value) -> str:
    """Format a measure that may have a fraction (a median): '8', '7.5', '1,234.5' ('–' when unknown)."""
    if missing(value):
        return "–"
    value = float(value)
    if value.is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}" if abs(value) >= 1 else f"{value:.3g}"


def share(value, digits: int = 1) -> str:
    """Format a fraction as a percentage: 0.742 -> '74.2 %' ('–' when unknown)."""
    return "–" if missing(value) else f"{float(value) * 100:.{digits}f} %"


def change(value) -> str:
    """Format a relative change: 0.031 -> '+3.1 %' ('–' when unknown)."""
    return "–" if missing(value) else f"{float(value) * 100:+.1f} %"


def points(value) -> str:
    """Format a change of a share in percentage points: 0.011 -> '+1.1 pts' ('–' when unknown)."""
    return "–" if missing(value) else f"{float(value) * 100:+.1f} pts"


def day(value) -> str:
    """Format a UTC day for prose: '23 Nov 2026', '5 Dec 2026' (as `days`)."""
    if missing(value):
        return "–"
    value = pd.Timestamp(value)
    return f"{value.day} {value:%b %Y}"


def days(first, last) -> str:
    """Format a run of UTC days for prose: '3–10 Dec 2025', '28 Nov – 3 Dec 2025', '5 Dec 2025'."""
    a, b = pd.Timestamp(first), pd.Timestamp(last)
    if a == b:
        return f"{a.day} {a:%b %Y}"
    if (a.year, a.month) == (b.year, b.month):
        return f"{a.day}–{b.day} {b:%b %Y}"
    return f"{a.day} {a:%b}{'' if a.year == b.year else f' {a.year}'} – {b.day} {b:%b %Y}"


def month(value) -> str:
    """Format a month for prose: 'Nov 2026'."""
    return "–" if missing(value) else f"{pd.Timestamp(value):%b %Y}"


def listing(items: list) -> str:
    """Join names for prose: ['a', 'b', 'c'] -> 'a, b and c'."""
    names = [str(i) for i in items]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def sentence(text: str) -> str:
    """Return text with its first letter capitalised, to open a sentence."""
    return text[:1].upper() + text[1:]


def iso(value) -> str | None:
    """Return a day as YYYY-MM-DD (None when unknown): the as_of of figures.json."""
    return None if missing(value) else f"{pd.Timestamp(value):%Y-%m-%d}"


def number(value):
    """Return a plain JSON number (int when whole, else float; None when unknown)."""
    if missing(value):
        return None
    value = float(value)
    return int(value) if value.is_integer() else value
