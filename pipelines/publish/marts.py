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


def time_column(name: str) -> str | None:
    """Return the date column a mart declares its rows are placed in time by (None: not time-based)."""
    from ..transform.models import build_order

    return next((m.kind.time_column for m in build_order() if m.name == name), None)


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


#: the period a row's time column starts (a day's row is a day: no cut needed)
PERIODS = {"week": pd.DateOffset(weeks=1), "month": pd.DateOffset(months=1), "cohort_month": pd.DateOffset(months=1)}
#: pandas' calendar of each period (weeks run Monday to Sunday, UTC)
CALENDARS = {"week": "W-SUN", "month": "M", "cohort_month": "M"}


def over_by(starts, period: str, day):
    """Whether the week or month starting at `starts` (a timestamp or a Series of them) has ended by the UTC `day`:
    its last day is on or before it. THE rule for a whole period (a range's cut, the period in progress)."""
    return starts + PERIODS[period] <= pd.Timestamp(day) + pd.Timedelta(days=1)


def period_start(day, period: str):
    """Return the first day of the week (Monday) or month holding the UTC `day` (a day, or a Series of days)."""
    if isinstance(day, pd.Series):
        return day.dt.to_period(CALENDARS[period]).dt.start_time
    return pd.Timestamp(day).to_period(CALENDARS[period]).start_time


def read(name: str, folder: str | Path | None = None, start: str | date | None = None,
         end: str | date | None = None, whole: bool = False) -> pd.DataFrame:
    """Return one mart as a DataFrame, its rows cut to [start, end] (UTC dates) when time-based; `whole` also
    drops the weeks and months that run past `end` (a range ending before the data: they count later days)."""
    path = parquet_dir(folder) / f"{name}.parquet"
    if not path.exists():
        raise FileNotFoundError(f"mart {name} not found at {path}: run `make refresh` (or set PINGS_PARQUET_DIR)")
    df = pd.read_parquet(path)
    for column in _date_columns(path):   # utc days as datetime64: a string filter like day == "2025-03-01" works
        df[column] = pd.to_datetime(df[column])
    col = time_column(name)
    if col and col in df:
        if start:
            df = df[df[col] >= pd.Timestamp(start)]
        if end:
            df = df[df[col] <= pd.Timestamp(end)]
            if whole and col in PERIODS:
                df = df[over_by(df[col], col, end)]
    return df.reset_index(drop=True)


def _date_columns(path: Path) -> list[str]:
    """Return the DATE columns of a mart's parquet file or folder."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    return [f.name for f in ds.dataset(path, format="parquet").schema if pa.types.is_date(f.type)]


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
