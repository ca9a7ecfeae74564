"""Reading marts for notebooks and reports: parquet only, from ONE resolved parquet set, cut to a date range.

`<parquet_dir>` may be a symlink that a refresh switches atomically to a new set folder; a reader
resolves it once (`resolve`) and reads every mart from that folder, so a switch mid-read never
mixes two sets. Headline figures and open alerts for the report index are computed here too, in
DuckDB over the parquet files (never by pulling instance-days into pandas).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from .. import settings as settings_mod

def time_column(name: str) -> str | None:
    """Return the date column a mart declares its rows are placed in time by (None: not time-based)."""
    from ..transform.models import build_order

    return next((m.kind.time_column for m in build_order() if m.name == name), None)


#: other date columns to parse (not used to cut the range)
DATE_COLUMNS = {"payload_keys": ("first_day", "last_day"), "alerts": ("checked_day",),
                "release_uptake": ("released_on", "first_seen")}


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
    col = time_column(name)
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


# ---- report index: data range, headline figures, open alerts ----------------------------------

def data_range(folder: str | Path) -> dict:
    """Return first and last UTC day of data, instances seen, and those active in the last 28 days."""
    folder = Path(folder)
    active = pd.read_parquet(folder / "active_daily.parquet")
    instances = pd.read_parquet(folder / "instances.parquet", columns=["instance_id"])
    if active.empty:
        return {"first": "-", "last": "-", "instances": "0", "active": "0"}
    return {"first": str(active["day"].min())[:10], "last": str(active["day"].max())[:10],
            "instances": f"{len(instances):,}", "active": f"{int(active['active_28d'].iloc[-1]):,}"}


DAYS_SQL = """
-- one row per instance-day (utc) with the instance's excluded flag (null when the marts have none)
create temp table days as
select d.instance_id, cast(d."day" as date) as "day", d.last_seen, d.projects, d.devices,
       d.version_minor, d.is_dev_build, f.excluded
from read_parquet($days) d
left join flags f using (instance_id)
"""

ACTIVE_SQL = """
-- distinct instances seen in the 1/7/28 utc days ending at the last day with data (back = 0)
-- and in the same windows 7 days earlier (back = 7); all, and without excluded instances (core)
with bounds as (
    select max("day") as last_day from days
),

windows as (
    select n, back from (values (1), (7), (28)) w(n), (values (0), (7)) b(back)
),

final as (
    select w.n, w.back,
           count(distinct d.instance_id) as all_count,
           count(distinct d.instance_id) filter (where not coalesce(d.excluded, false)) as core_count
    from windows w, bounds b, days d
    where d."day" between b.last_day - w.back - (w.n - 1) and b.last_day - w.back
    group by all
)

select * from final order by n, back
"""

WEEKLY_SQL = """
-- the last complete week (monday start, utc) and the week before: active instances, summed hosted
-- (projects) and remote (devices) instances of each instance's latest state that week, and the
-- instances on the newest minor line of the last complete week; all, and without excluded instances
with bounds as (
    select max("day") as last_day from days
),

last_week as (
    -- the monday of the last complete week (the week of the last day when that day is a sunday)
    select cast(date_trunc('week', last_day + 1) as date) - 7 as monday from bounds
),

week_state as (
    select cast(date_trunc('week', d."day") as date) as week, d.instance_id,
           arg_max(d.projects, d.last_seen) as projects, arg_max(d.devices, d.last_seen) as devices,
           arg_max(d.version_minor, d.last_seen) as version_minor,
           arg_max(d.is_dev_build, d.last_seen) as is_dev_build,
           bool_or(coalesce(d.excluded, false)) as excluded
    from days d, last_week l
    where d."day" >= l.monday - 7 and d."day" < l.monday + 7
    group by all
),

newest as (
    select arg_max(version_minor, [try_cast(split_part(version_minor, '.', 1) as integer),
                                   try_cast(split_part(version_minor, '.', 2) as integer)]) as line
    from week_state, last_week l
    where week = l.monday and not is_dev_build
      and try_cast(split_part(version_minor, '.', 2) as integer) is not null
),

final as (
    select s.week, l.monday, n.line,
           count(*) as active_all, count(*) filter (where not excluded) as active_core,
           sum(projects) as hosted_all, sum(projects) filter (where not excluded) as hosted_core,
           sum(devices) as remote_all, sum(devices) filter (where not excluded) as remote_core,
           count(*) filter (where version_minor = n.line and not is_dev_build) as newest_all,
           count(*) filter (where version_minor = n.line and not is_dev_build and not excluded) as newest_core
    from week_state s, newest n, last_week l
    group by all
)

select * from final order by week
"""


def _connect_with_flags(folder: Path) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB with a `flags(instance_id, excluded)` table (empty when marts lack the flag)."""
    con = duckdb.connect()
    path = str(folder / "instances.parquet")
    cols = {r[0] for r in con.execute("select name from parquet_schema($1)", [path]).fetchall()}
    if "excluded" in cols:
        con.execute("create temp table flags as select instance_id, excluded from read_parquet($1)", [path])
    else:
        con.execute("create temp table flags (instance_id varchar, excluded boolean)")
    return con


def headlines(folder: str | Path) -> dict:
    """Return the index's headline figures: rows of (figure, all, core, change_all, change_core) and the week."""
    folder = Path(folder)
    con = _connect_with_flags(folder)
    try:
        con.execute(DAYS_SQL, {"days": str(folder / "instance_days.parquet")})
        active = con.execute(ACTIVE_SQL).df()
        weekly = con.execute(WEEKLY_SQL).df()
        core_known = con.execute("select count(*) from flags").fetchone()[0] > 0
    finally:
        con.close()
    line = weekly["line"].iloc[0] if len(weekly) else None
    monday = weekly["monday"].iloc[0] if len(weekly) else None
    return _headline_rows(active, weekly, line, monday, core_known)


def _change(now, before):
    """Return (now - before) / before, or None when before is 0 or missing."""
    if now is None or before is None or pd.isna(now) or pd.isna(before) or before == 0:
        return None
    return float(now) / float(before) - 1


def _headline_rows(active: pd.DataFrame, weekly: pd.DataFrame, line, monday, core_known: bool) -> dict:
    """Shape the headline query results into rows for the index table."""
    rows = []
    for n in (1, 7, 28):
        now = active[(active["n"] == n) & (active["back"] == 0)]
        before = active[(active["n"] == n) & (active["back"] == 7)]
        if now.empty:
            continue
        a, c = int(now["all_count"].iloc[0]), int(now["core_count"].iloc[0])
        pa = before["all_count"].iloc[0] if len(before) else None
        pc = before["core_count"].iloc[0] if len(before) else None
        rows.append({"figure": f"Active instances, {n} day{'s' if n > 1 else ''}", "all": a,
                     "core": c if core_known else None, "change_all": _change(a, pa),
                     "change_core": _change(c, pc) if core_known else None, "kind": "active", "n": n})
    if len(weekly) >= 1 and monday is not None:
        cur = weekly[pd.to_datetime(weekly["week"]) == pd.Timestamp(monday)]
        prev = weekly[pd.to_datetime(weekly["week"]) == pd.Timestamp(monday) - pd.Timedelta(days=7)]
        for key, label in (("hosted", "Hosted instances (projects), summed"),
                           ("remote", "Remote instances (devices), summed"),
                           ("newest", f"Instances on the newest line {line or ''}".rstrip())):
            if cur.empty:
                continue
            vals = {}
            for part in ("all", "core"):
                now = cur[f"{key}_{part}"].iloc[0]
                before = prev[f"{key}_{part}"].iloc[0] if len(prev) else None
                if key == "newest":   # as a share of the week's active instances
                    now = now / cur[f"active_{part}"].iloc[0] if cur[f"active_{part}"].iloc[0] else None
                    before = (before / prev[f"active_{part}"].iloc[0]
                              if len(prev) and prev[f"active_{part}"].iloc[0] else None)
                vals[part] = (now, before)
            row = {"figure": label, "kind": key, "all": _num(vals["all"][0]),
                   "core": _num(vals["core"][0]) if core_known else None,
                   "instances_all": int(cur[f"{key}_all"].iloc[0]) if key == "newest" else None,
                   "instances_core": int(cur[f"{key}_core"].iloc[0]) if key == "newest" else None}
            if key == "newest":   # change in percentage points
                row["change_all"] = _diff(*vals["all"])
                row["change_core"] = _diff(*vals["core"]) if core_known else None
            else:
                row["change_all"] = _change(*vals["all"])
                row["change_core"] = _change(*vals["core"]) if core_known else None
            rows.append(row)
    return {"rows": rows, "week": pd.Timestamp(monday).date() if monday is not None else None,
            "newest_line": line, "core_known": core_known}


def _num(value):
    """Return a plain Python number (None for missing)."""
    if value is None or pd.isna(value):
        return None
    return float(value) if isinstance(value, float) else int(value)


def _diff(now, before):
    """Return now - before (shares, so percentage points), or None."""
    if now is None or before is None or pd.isna(now) or pd.isna(before):
        return None
    return float(now) - float(before)


def growth_latest(folder: str | Path) -> dict | None:
    """Return the growth_weekly row of the last week with a week-on-week figure, or None."""
    df = read_optional("growth_weekly", folder)
    if df is None or df.empty or "wow_growth" not in df:
        return None
    known = df[df["wow_growth"].notna()].sort_values("week")
    return known.iloc[-1].to_dict() if len(known) else None


def last_data_day(folder: str | Path):
    """Return the last UTC day with data (active_daily), or None."""
    active = read_optional("active_daily", folder)
    return active["day"].max() if active is not None and len(active) else None


def open_alerts(folder: str | Path | None = None) -> pd.DataFrame:
    """Return the open alerts: rows of the alerts mart checked on (or after) the last day with data.

    Empty when the alerts mart is absent. The latest checked_day stands in when no active_daily exists.
    """
    folder = resolve(folder)
    alerts = read_optional("alerts", folder)
    if alerts is None or alerts.empty:
        return pd.DataFrame(columns=["checked_day", "check", "subject", "value", "expected_low",
                                     "expected_high", "severity"])
    latest = last_data_day(folder)
    if latest is None or pd.isna(latest):
        latest = alerts["checked_day"].max()
    return alerts[alerts["checked_day"] >= pd.Timestamp(latest)].reset_index(drop=True)
