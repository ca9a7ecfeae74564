"""The report index: headline figures (all and core) as of the range's end, open alerts grouped, the pages."""

from __future__ import annotations

import pandas as pd

from . import figures, fmt, marts
from .pages.quality import COUNT_CHECKS, as_runs

#: alert subjects the index names per check before 'and N more'
ALERTS_NAMED = 5
ACTIVE = ((1, "Active instances, 1 day"), (7, "Active instances, 7 days"), (28, "Active instances, 28 days"))
WEEKLY = (("hosted_instances", "Hosted instances (projects), summed"),
          ("remote_instances", "Remote instances (devices), summed"))


def _cell(found: dict, name: str) -> dict:
    """Return one table cell: the figure's text and its change's text and direction (css class)."""
    figure, change = found.get(name), found.get(f"{name}_change")
    return {"text": figure.text if figure else "–", "change": change.text if change else "",
            "dir": _direction(change.value if change else None)}


def _direction(value) -> str:
    """Return the CSS class of a change's direction."""
    return "" if fmt.missing(value) or value == 0 else ("up" if value > 0 else "down")


def headline(scope: figures.Scope) -> tuple[list[dict], list[figures.Figure], dict]:
    """Return the headline rows (figure, all, core, note), every figure they quote, and what the text under
    them needs: as_of_week (the last complete week) and changes_unknown (a daily change is not known)."""
    daily, weekly = figures.daily(scope), figures.weekly(scope)
    row = figures.week_row(scope)
    rows = [{"figure": label + (figures.only_in_data(daily[f"active_{n}d_days"].text)
                                if f"active_{n}d_days" in daily else ""),
             "all": _cell(daily, f"active_{n}d"), "core": _cell(daily, f"active_{n}d_core"), "note": ""}
            for n, label in ACTIVE if daily]
    if weekly:
        growth = {"weekly_active": weekly["weekly_active"], "weekly_active_change": weekly["weekly_active_growth"],
                  "weekly_active_core": weekly["weekly_active_core"],
                  "weekly_active_core_change": weekly["weekly_active_growth_core"]}
        bands = " / core: ".join(dict.fromkeys(b for b in (row["band"], row["band_core"]) if not fmt.missing(b)))
        rows.append({"figure": "Weekly active instances", "all": _cell(growth, "weekly_active"),
                     "core": _cell(growth, "weekly_active_core"), "note": bands})
        rows += [{"figure": label, "all": _cell(weekly, name), "core": _cell(weekly, f"{name}_core"), "note": ""}
                 for name, label in WEEKLY]
        newest = {"newest": weekly["newest_line_share"], "newest_change": weekly["newest_line_share_change"]}
        rows.append({"figure": f"Instances on the newest line, {weekly['newest_line'].text} (or newer)",
                     "all": _cell(newest, "newest"), "core": None, "note": ""})
    quoted = [*daily.values(), *weekly.values(), *figures.seen(scope).values()]
    under = {"as_of_week": fmt.iso(row["week"]) if row is not None else None,
             "changes_unknown": _changes_unknown(daily)}
    return rows, quoted, under


def _changes_unknown(daily: dict) -> bool:
    """Return whether a shown active count has no change beside it (the mart has none: not a hidden one)."""
    counts = [f"active_{n}d{part}" for n, _ in ACTIVE for part in ("", "_core")]
    return any(daily[c].value is not None and daily[f"{c}_change"].value is None for c in counts if c in daily)


def open_alerts(scope: figures.Scope) -> list[dict] | None:
    """Return the alerts open on the as-of day, grouped per check: the worst subjects by name, the rest counted.

    They are the alerts mart's rows of that day, each with where its run stood then (its first day, days so
    far, worst severity so far, rank): a range ending before the data quotes nothing from after its end.
    None: this parquet set has no such mart (or one written before the alerts carried their runs).
    """
    runs = as_runs(marts.read_optional("alerts", scope.folder))
    if runs is None:
        return None
    day = runs[runs["last_day"] == scope.as_of]
    groups = []
    for check, part in day.sort_values(["check", "rank_on_day"]).groupby("check", sort=True):
        named = part.head(ALERTS_NAMED)
        groups.append({"check": check, "subjects": [_alert_text(r, scope.k) for r in named.itertuples()],
                       "more": len(part) - len(named), "severity": named["severity"].iloc[0]})
    return groups


def _alert_text(run, k: int = 0) -> str:
    """Return one open alert as a line: subject, since when, its value (a count hidden under k) and range."""
    since = f"since {run.first_day:%Y-%m-%d} ({run.days} days)" if run.days > 1 else f"on {run.last_day:%Y-%m-%d}"
    expected = ""
    if not (fmt.missing(run.expected_low) and fmt.missing(run.expected_high)):
        expected = f", expected {fmt.amount(run.expected_low)} to {fmt.amount(run.expected_high)}" \
            if not fmt.missing(run.expected_high) else f", expected at least {fmt.amount(run.expected_low)}"
    value = fmt.count(run.value, k) if run.check in COUNT_CHECKS else fmt.amount(run.value)
    return f"{run.subject}: {value} {since}{expected}"


def source_names(folder) -> list[str]:
    """Return the names of the sources the parquet set was loaded from (largest first)."""
    if not marts.exists("source_summary", folder):
        return []
    return marts.read("source_summary", folder)["source"].tolist()


def freshness_rows(scope: figures.Scope) -> pd.DataFrame:
    """Return the last load of each source (UTC), newest first: how fresh the data is."""
    if not marts.exists("source_summary", scope.folder):
        return pd.DataFrame(columns=["source", "last_loaded_at"])
    return marts.read("source_summary", scope.folder).sort_values("last_loaded_at", ascending=False)
