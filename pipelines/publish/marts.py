"""Reading marts for notebooks and reports: parquet only, optionally cut to a date range."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from .. import settings as settings_mod

#: the date column that places each mart's rows in time (None: not time-based)
TIME_COLUMN = {
    "instance_days": "day", "active_daily": "day", "version_adoption_weekly": "week",
    "driver_mix_weekly": "week", "license_mix_weekly": "week", "fleet_weekly": "week",
    "fleet_size_weekly": "week", "platform_weekly": "week", "transitions_monthly": "month", "source_daily": "day", "quarantine_daily": "day",
    "clones_daily": "day",
}


def parquet_dir(path: str | Path | None = None) -> Path:
    """Return the parquet folder: the given one, else PINGS_PARQUET_DIR / settings."""
    return Path(path) if path else Path(settings_mod.load().parquet_dir)


def read(name: str, folder: str | Path | None = None, start: str | date | None = None,
         end: str | date | None = None) -> pd.DataFrame:
    """Return one mart as a DataFrame, its rows cut to [start, end] (UTC dates) when time-based."""
    path = parquet_dir(folder) / f"{name}.parquet"
    if not path.exists():
        raise FileNotFoundError(f"mart {name} not found at {path}: run `make refresh` (or set PINGS_PARQUET_DIR)")
    df = pd.read_parquet(path)
    col = TIME_COLUMN.get(name)
    if col:
        df[col] = pd.to_datetime(df[col])
        if start:
            df = df[df[col] >= pd.Timestamp(start)]
        if end:
            df = df[df[col] <= pd.Timestamp(end)]
    return df.reset_index(drop=True)


def reference(name: str) -> pd.DataFrame:
    """Return a reference table shipped with the package (flowforge_releases, nodejs_releases)."""
    df = pd.read_csv(settings_mod.REFERENCE_DIR / f"{name}.csv")
    for col in ("released_on", "end_of_life"):
        if col in df:
            df[col] = pd.to_datetime(df[col])
    return df
