"""Reading marts for notebooks and reports: parquet only, from ONE resolved parquet set, cut to a date range.

`<parquet_dir>` may be a symlink that a refresh switches atomically to a new set folder; a reader
resolves it once (`resolve`) and reads every mart from that folder, so a switch mid-read never
mixes two sets. Every date column arrives as datetime64 (UTC days), so `df[df.day == "2025-03-01"]`
works. Nothing here computes a figure: the marts hold them (see figures.py for the as-of selection).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from .. import settings as settings_mod

#: the date column that places each mart's rows in time (None: not time-based)
TIME_COLUMN = {
    "instance_days": "day", "active_daily": "day", "version_adoption_weekly": "week",
    "driver_mix_weekly": "week", "license_mix_weekly": "week", "fleet_weekly": "week",
    "fleet_size_weekly": "week", "platform_weekly": "week", "transitions_monthly": "month",
    "source_daily": "day", "quarantine_daily": "day", "clones_daily": "day",
    "growth_weekly": "week", "fleet_changes_daily": "day", "fleet_totals_weekly": "week",
    "feature_adoption_weekly": "week", "upgrade_paths_monthly": "month", "version_lag_weekly": "week",
    "retention_cohorts": "cohort_month", "retention_day28": "cohort_month",
    "headline_daily": "day", "headline_weekly": "week", "breakdown_weekly": "week", "changes_monthly": "month",
    "upgrade_paths_12m": "month",
}

#: other date columns to parse (not used to cut the range)
DATE_COLUMNS = {"payload_keys": ("first_day", "last_day"), "alerts": ("checked_day",),
                "release_uptake": ("released_on", "first_seen"), "alert_runs": ("first_day", "last_day"),
                "data_freshness": ("first_day", "last_day"), "changes_monthly": ("window_start",),
                "upgrade_paths_12m": ("window_start",)}


def parquet_dir(path: str | Path | None = None) -> Path:
    """Return the parquet folder as configured (not resolved): the given one, else settings."""
    return Path(path) if path else Path(settings_mod.load().parquet_dir)


def resolve(path: str | Path | None = None) -> Path:
    """Return the one set folder the parquet folder points at now (resolved once: readers never mix sets)."""
    from . import export

    folder = parquet_dir(path)
    try:
        return Path(export.current_set(folder))
    except (OSError, ValueError):
        return folder.resolve()


def set_info(path: str | Path | None = None) -> dict:
    """Return the set's _set.json ({} when absent or unreadable)."""
    from . import export

    try:
        return dict(export.set_info(parquet_dir(path)) or {})
    except (OSError, ValueError):
        return {}


def is_simulated(path: str | Path | None = None) -> bool:
    """True when the parquet set says it was built from simulated data."""
    return bool(set_info(path).get("simulated"))


def exists(name: str, folder: str | Path | None = None) -> bool:
    """True when the mart's parquet file is in the folder."""
    return (parquet_dir(folder) / f"{name}.parquet").exists()


def read(name: str, folder: str | Path | None = None, start: str | date | None = None,
         end: str | date | None = None) -> pd.DataFrame:
    """Return one mart as a DataFrame, its rows cut to [start, end] (UTC dates) when time-based."""
    path = parquet_dir(folder) / f"{name}.parquet"
    if not path.exists():
        raise FileNotFoundError(f"mart {name} not found at {path}: run `make refresh` (or set PINGS_PARQUET_DIR)")
    df = pd.read_parquet(path)
    col = TIME_COLUMN.get(name)
    for other in DATE_COLUMNS.get(name, ()):
        if other in df:
            df[other] = pd.to_datetime(df[other])
    if col and col in df:
        df[col] = pd.to_datetime(df[col])
        if start:
            df = df[df[col] >= pd.Timestamp(start)]
        if end:
            df = df[df[col] <= pd.Timestamp(end)]
    return df.reset_index(drop=True)


def read_optional(name: str, folder: str | Path | None = None, start=None, end=None) -> pd.DataFrame | None:
    """Return the mart like `read`, or None when this parquet set does not have it (older builds)."""
    return read(name, folder, start, end) if exists(name, folder) else None


def reference(name: str) -> pd.DataFrame:
    """Return a reference table shipped with the package (flowforge_releases, nodejs_releases)."""
    df = pd.read_csv(settings_mod.REFERENCE_DIR / f"{name}.csv")
    for col in ("released_on", "end_of_life"):
        if col in df:
            df[col] = pd.to_datetime(df[col])
    return df
