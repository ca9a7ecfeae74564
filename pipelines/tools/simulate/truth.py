"""Ground truth of every mart, computed in plain pandas from the simulated pings (never the pipeline's SQL)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import truth_figures
from .fleet import KEY_FLAG, MS_DAY, UNKNOWN_KEYS, Releases
from .truth_figures import band
from ... import fields


#: count columns the truth derives, with the payload key (and so the version flag) each comes from
COUNTS = {
    "users": ("users", "platform.counts.users"),
    "teams": ("teams", "platform.counts.teams"),
    "projects": ("projects", "platform.counts.projects"),
    "projects_suspended": ("suspended", "platform.counts.projectsByState.suspended"),
    "devices": ("devices", "platform.counts.devices"),
    "devices_seen_day": ("devices_day", "platform.counts.devicesByLastSeen.day"),
    "devices_never_seen": ("devices_never", "platform.counts.devicesByLastSeen.never"),
    "project_snapshots": ("snapshots", "platform.counts.projectSnapshots"),
    "blueprints": ("blueprints", "platform.counts.blueprints"),
    "team_broker_clients": ("team_broker_clients", "platform.counts.teamBrokerClients"),
    "remote_brokers": ("remote_brokers", "platform.counts.remoteBrokers"),
    "library_entries": ("library", "platform.counts.libraryEntries"),
    "shared_library_entries": ("shared_library", "platform.counts.sharedLibraryEntries"),
}


#: flag columns the truth derives, with the simulated value and the payload key each comes from
FLAGS = {
    "broker_enabled": ("broker", "platform.config.broker.enabled"),
    "file_store_enabled": ("file_store", "platform.config.fileStore.enabled"),
    "email_enabled": ("email", "platform.config.email.enabled"),
}


def sends(flags: dict[str, np.ndarray], vidx: np.ndarray, key: str) -> np.ndarray:
    """Return, per ping (by release index), whether its version sends a dotted payload key."""
    flag = KEY_FLAG.get(key)
    return np.ones(len(vidx), dtype=bool) if flag is None else flags[flag][vidx]


def as_sent(pings: pd.DataFrame, flags: dict[str, np.ndarray]) -> pd.DataFrame:
    """Return one row per distinct ping with the values the pipeline's rules should derive from it."""
    p = pings.drop_duplicates(["uid", "ts"]).copy()
    vidx = p["vidx"].to_numpy()
    has_license = sends(flags, vidx, "platform.license.type")
    version = p["version"].str.strip().str.replace(r"^[vV]", "", regex=True)
    core = version.str.split("-", n=1).str[0].str.split(".")
    out = pd.DataFrame({
        "instance_id": p["uid"].to_numpy(),
        "received_at": pd.to_datetime(p["ts"].to_numpy(), unit="ms"),
        "day": pd.to_datetime(p["ts"].to_numpy() // MS_DAY, unit="D"),
        "vidx": vidx,
        "version": version.to_numpy(),
        "version_minor": (core.str[0] + "." + core.str[1]).to_numpy(),
        "is_dev_build": version.str.contains("-").to_numpy(),
        "nodejs_major": p["nodejs"].str[1:].str.split(".").str[0].astype("int32").to_numpy(),
        "os_type": p["os_type"].to_numpy(),
        "os_arch": p["os_arch"].to_numpy(),
        "driver": p["driver"].str.lower().to_numpy(),
        "license_type": np.where(has_license, p["licence"].str.upper(), "unreported"),
        **{column: pd.array(p[sim].to_numpy(), dtype="boolean") for column, (sim, _) in FLAGS.items()},
        "ip": p["ip"].to_numpy(),
    })
    for column, (sim, key) in COUNTS.items():
        out[column] = pd.array(np.where(sends(flags, vidx, key), p[sim].to_numpy(), 0), dtype="Int64")
        out.loc[~sends(flags, vidx, key), column] = pd.NA
    for column, (_, key) in FLAGS.items():   # a flag the sender's version predates is unknown
        out.loc[~sends(flags, vidx, key), column] = pd.NA
    return out


STATE = ["version", "version_minor", "is_dev_build", "nodejs_major", "os_type", "os_arch", "driver",
         "license_type", "broker_enabled", "file_store_enabled", "email_enabled", "users", "teams",
         "projects", "devices"]


def instance_days(s: pd.DataFrame) -> pd.DataFrame:
    """One row per (instance_id, day): the state of the day's latest ping, pings, ip_hashes."""
    s = s.sort_values(["instance_id", "day", "received_at"])
    g = s.groupby(["instance_id", "day"], sort=True)
    latest = g.tail(1).set_index(["instance_id", "day"])
    out = pd.DataFrame({"pings": g.size(), "last_seen": g["received_at"].max()})
    out = out.join(latest[STATE])
    out["ip_hashes"] = g["ip"].nunique()
    return out.reset_index()[["instance_id", "day", "pings", "last_seen", *STATE, "ip_hashes"]]


def instances(s: pd.DataFrame) -> pd.DataFrame:
    """One row per instance over all its pings."""
    s = s.sort_values(["instance_id", "received_at"])
    g = s.groupby("instance_id", sort=True)
    first, last = g.head(1).set_index("instance_id"), g.tail(1).set_index("instance_id")
    return pd.DataFrame({
        "first_seen": g["received_at"].min(),
        "last_seen": g["received_at"].max(),
        "days_seen": g["day"].nunique(),
        "pings": g.size(),
        "first_version": first["version"],
        "latest_version": last["version"],
        "latest_driver": last["driver"],
        "latest_license_type": last["license_type"],
        "ip_hashes": g["ip"].nunique(),
    }).reset_index()


def active_daily(days: pd.DataFrame) -> pd.DataFrame:
    """Distinct instances seen in the 1/7/28 days ending each day, by brute force over sets."""
    seen = days.groupby("day")["instance_id"].apply(set).to_dict()
    spine = pd.date_range(days["day"].min(), days["day"].max(), freq="D")
    rows = []
    for d in spine:
        window = [seen.get(d - pd.Timedelta(days=k), set()) for k in range(28)]
        rows.append({
            "day": d,
            "active_1d": len(window[0]),
            "active_7d": len(set().union(*window[:7])),
            "active_28d": len(set().union(*window)),
        })
    return pd.DataFrame(rows)


def weekly_mix(s: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Instances per week and category (latest ping of the week), with share of the week's instances."""
    s = s.assign(week=s["day"] - pd.to_timedelta(s["day"].dt.day_of_week, unit="D"))
    latest = s.sort_values("received_at").groupby(["instance_id", "week"]).tail(1)
    counts = latest.groupby(["week", *by]).size().rename("instances").reset_index()
    totals = latest.groupby("week").size().rename("active")
    counts = counts.join(totals, on="week")
    counts["share"] = counts["instances"] / counts["active"]
    return counts.drop(columns="active").sort_values(["week", *by]).reset_index(drop=True)


def _week(day: pd.Series) -> pd.Series:
    """Return the Monday starting each day's ISO week."""
    return day - pd.to_timedelta(day.dt.day_of_week, unit="D")


def _month(day: pd.Series) -> pd.Series:
    """Return the first day of each day's month."""
    return day.dt.to_period("M").dt.to_timestamp()


def _latest_per_week(s: pd.DataFrame) -> pd.DataFrame:
    """Return each instance's latest ping of every week it was seen, with a `week` column."""
    s = s.assign(week=_week(s["day"]))
    return s.sort_values("received_at").groupby(["instance_id", "week"]).tail(1)


def flag_instances(s: pd.DataFrame, inst: pd.DataFrame, days: pd.DataFrame) -> pd.DataFrame:
    """Add is_dev_build, is_single_day, is_clone and excluded to the instances table."""
    data_end = days["day"].max()
    dev = s.groupby("instance_id")["is_dev_build"].all()
    last_day = days.groupby("instance_id")["day"].max()
    several = (days["ip_hashes"] > 1).groupby(days["instance_id"]).sum()
    inst = inst.copy()
    ids = inst["instance_id"]
    inst["is_dev_build"] = ids.map(dev).astype(bool).to_numpy()
    inst["is_single_day"] = ((inst["days_seen"] == 1) & (ids.map(last_day) < data_end - pd.Timedelta(days=6))).to_numpy()
    inst["is_clone"] = (ids.map(several) > 1).to_numpy()
    inst["excluded"] = inst["is_dev_build"] | inst["is_single_day"] | inst["is_clone"]
    return inst


def growth_weekly(s: pd.DataFrame, inst: pd.DataFrame, data_start: pd.Timestamp, data_end: pd.Timestamp
                  ) -> pd.DataFrame:
    """Active instances per week, all and core, with week-on-week growth and band (known when both weeks lie
    wholly between the first and the last day with data)."""
    weeks = s.assign(week=_week(s["day"]))[["instance_id", "week"]].drop_duplicates()
    core_ids = set(inst.loc[~inst["excluded"], "instance_id"])
    active = weeks.groupby("week").size()
    core = weeks[weeks["instance_id"].isin(core_ids)].groupby("week").size().reindex(active.index, fill_value=0)
    rows = []
    for week in active.index:
        prev = week - pd.Timedelta(days=7)
        known = prev in active.index and prev >= data_start and week + pd.Timedelta(days=6) <= data_end
        g = active[week] / active[prev] - 1 if known and active[prev] > 0 else None
        gc = core[week] / core[prev] - 1 if known and core[prev] > 0 else None
        rows.append({"week": week, "active": int(active[week]), "wow_growth": g, "band": band(g),
                     "active_core": int(core[week]), "wow_growth_core": gc, "band_core": band(gc)})
    out = pd.DataFrame(rows)
    out["wow_growth"] = out["wow_growth"].astype("float64")
    out["wow_growth_core"] = out["wow_growth_core"].astype("float64")
    return out


def fleet_changes_daily(days: pd.DataFrame) -> pd.DataFrame:
    """Instances added (first day) and removed (last day, then 28 silent days) per day, first to last."""
    data_end = days["day"].max()
    life = days.groupby("instance_id")["day"].agg(["min", "max"])
    spine = pd.Series(pd.date_range(days["day"].min(), data_end, freq="D"))
    added = life["min"].value_counts()
    removed = life["max"].value_counts()
    known = spine + pd.Timedelta(days=28) <= data_end
    return pd.DataFrame({
        "day": spine,
        "added": spine.map(added).fillna(0).astype("int64"),
        "removed": pd.Series(spine.map(removed).fillna(0).astype("int64"), dtype="Int64").where(known, pd.NA),
    })


METRICS = {
    "users": "users", "teams": "teams", "hosted_instances": "projects", "suspended_projects": "projects_suspended",
    "remote_instances": "devices", "devices_seen_last_day": "devices_seen_day",
    "devices_never_connected": "devices_never_seen", "snapshots": "project_snapshots", "blueprints": "blueprints",
    "team_broker_clients": "team_broker_clients", "remote_brokers": "remote_brokers",
    "library_entries": "library_entries", "shared_library_entries": "shared_library_entries",
}


def _by_licence_and_all(long: pd.DataFrame, dim: str, agg: dict) -> pd.DataFrame:
    """Aggregate a long table per (week, license_type, dim) and per (week, dim) as license_type 'ALL'."""
    per = long.groupby(["week", "license_type", dim]).agg(**agg).reset_index()
    every = long.groupby(["week", dim]).agg(**agg).reset_index().assign(license_type="ALL")
    return pd.concat([per, every[per.columns]], ignore_index=True)


def fleet_totals_weekly(latest: pd.DataFrame) -> pd.DataFrame:
    """Sum and reporting instances of each count metric per week and licence type (and ALL)."""
    long = latest.melt(id_vars=["week", "license_type"], value_vars=list(METRICS.values()),
                       var_name="column", value_name="value").dropna(subset=["value"])
    long["metric"] = long["column"].map({v: k for k, v in METRICS.items()})
    long["value"] = long["value"].astype("int64")
    out = _by_licence_and_all(long, "metric", {"total": ("value", "sum"), "instances": ("value", "size")})
    return out[["week", "license_type", "metric", "total", "instances"]]


def _features(w: pd.DataFrame) -> dict[str, pd.Series]:
    """Return each feature's adoption per row: True, False, or NA when the ping did not report it."""
    gt0 = lambda c: w[c].gt(0).astype("boolean").where(w[c].notna())  # noqa: E731
    return {
        "snapshots": gt0("project_snapshots"), "devices": gt0("devices"),
        "devices_connected": (w["devices"] > w["devices_never_seen"]).astype("boolean")
        .where(w["devices"].notna() & w["devices_never_seen"].notna()),
        "blueprints": gt0("blueprints"), "team_broker": gt0("team_broker_clients"),
        "remote_brokers": gt0("remote_brokers"), "shared_library": gt0("shared_library_entries"),
        "library": gt0("library_entries"), "broker_enabled": w["broker_enabled"].astype("boolean"),
        "file_store_enabled": w["file_store_enabled"].astype("boolean"),
        "email_enabled": w["email_enabled"].astype("boolean"), "several_teams": (w["teams"] > 1).astype("boolean"),
    }


def feature_adoption_weekly(latest: pd.DataFrame) -> pd.DataFrame:
    """Instances reporting and adopting each feature per week and licence type (and ALL)."""
    frames = [latest[["week", "license_type"]].assign(feature=name, adopted=col.to_numpy())
              for name, col in _features(latest).items()]
    long = pd.concat(frames, ignore_index=True).dropna(subset=["adopted"])
    long["adopted"] = long["adopted"].astype(bool)
    out = _by_licence_and_all(long, "feature", {"instances": ("adopted", "size"), "adopters": ("adopted", "sum")})
    out["adopters"] = out["adopters"].astype("int64")
    out["share"] = out["adopters"] / out["instances"]
    return out[["week", "license_type", "feature", "instances", "adopters", "share"]]


def _line_key(minor: pd.Series) -> pd.Series:
    """Return major * 1000 + minor of 'X.Y' strings."""
    parts = minor.str.split(".")
    return parts.str[0].astype(int) * 1000 + parts.str[1].astype(int)


def _release_lines(releases: Releases) -> pd.DataFrame:
    """Return each released minor line's key and first release day."""
    v = pd.Series(releases.versions)
    lines = pd.DataFrame({"line_key": _line_key(v.str.split(".").str[:2].str.join(".")),
                          "released_on": pd.to_datetime(releases.days, unit="D")})
    return lines.groupby("line_key")["released_on"].min().reset_index()


def upgrade_paths_monthly(days: pd.DataFrame, releases: Releases) -> pd.DataFrame:
    """Changes of minor line between consecutive instance-days, per month, with direction and lines skipped."""
    d = days.sort_values(["instance_id", "day"])
    d = d.assign(from_minor=d.groupby("instance_id")["version_minor"].shift())
    c = d[d["from_minor"].notna() & (d["from_minor"] != d["version_minor"])
          & truth_figures.placeable(d["from_minor"].fillna(""))
          & truth_figures.placeable(d["version_minor"])]
    c = c.assign(month=_month(c["day"]), to_minor=c["version_minor"])
    out = c.groupby(["month", "from_minor", "to_minor"])["instance_id"].nunique().rename("instances").reset_index()
    lo, hi = _line_key(out["from_minor"]), _line_key(out["to_minor"])
    keys = _release_lines(releases)["line_key"].to_numpy()
    out["direction"] = np.where(hi > lo, "up", "down")
    a, b = np.minimum(lo, hi).to_numpy(), np.maximum(lo, hi).to_numpy()
    out["minors_skipped"] = [int(((keys > x) & (keys < y)).sum()) for x, y in zip(a, b)]
    return out[["month", "from_minor", "to_minor", "direction", "minors_skipped", "instances"]]


def version_lag_weekly(latest: pd.DataFrame, releases: Releases) -> pd.DataFrame:
    """Instances per week by minor lines behind the newest line released by the week's Sunday."""
    lines = _release_lines(releases)
    keys, released = lines["line_key"].to_numpy(), lines["released_on"].to_numpy()
    w = latest[["week", "version_minor", "is_dev_build"]].copy()
    known = truth_figures.placeable(w["version_minor"])
    w["line_key"] = _line_key(w["version_minor"].where(known, "0.0"))
    pairs = w.loc[known & ~w["is_dev_build"], ["week", "line_key"]].drop_duplicates()
    behind = {(wk, k): int(((keys > k) & (released <= (wk + pd.Timedelta(days=6)).to_datetime64())).sum())
              for wk, k in zip(pairs["week"], pairs["line_key"])}
    w["lag"] = [("dev" if dev else "unknown" if not ok else str(behind[(wk, k)]))
                for wk, k, dev, ok in zip(w["week"], w["line_key"], w["is_dev_build"], known)]
    out = w.groupby(["week", "lag"]).size().rename("instances").reset_index()
    out["share"] = out["instances"] / out.groupby("week")["instances"].transform("sum")
    return out


def retention_cohorts(days: pd.DataFrame) -> pd.DataFrame:
    """Per first-seen month and months since: cohort size, instances seen that month, share, first month's flag."""
    m = days.assign(month=_month(days["day"]))[["instance_id", "month"]].drop_duplicates()
    cohort = m.groupby("instance_id")["month"].min().rename("cohort_month")
    m = m.join(cohort, on="instance_id")
    sizes = cohort.value_counts().rename("cohort_size")
    retained = m.groupby(["cohort_month", "month"]).size().rename("retained")
    grid = [(c, mo) for c in sizes.index for mo in sorted(m["month"].unique()) if mo >= c]
    out = pd.DataFrame(grid, columns=["cohort_month", "month"])
    out["months_since"] = ((out["month"].dt.year - out["cohort_month"].dt.year) * 12
                           + out["month"].dt.month - out["cohort_month"].dt.month).astype("int64")
    out["cohort_size"] = out["cohort_month"].map(sizes).astype("int64")
    out["retained"] = out.set_index(["cohort_month", "month"]).index.map(retained).fillna(0).astype("int64")
    out["share"] = out["retained"] / out["cohort_size"]
    out["includes_earlier"] = out["cohort_month"] == m["month"].min()
    return out[["cohort_month", "months_since", "cohort_size", "retained", "share", "includes_earlier"]]


def retention_day28(days: pd.DataFrame) -> pd.DataFrame:
    """Per first-seen month: size, eligible, seen again 28+ days later, the day its last arrival is eligible."""
    data_end = days["day"].max()
    life = days.groupby("instance_id")["day"].agg(["min", "max"])
    life["cohort_month"] = _month(life["min"])
    life["eligible"] = life["min"] + pd.Timedelta(days=28) <= data_end
    life["retained"] = life["max"] >= life["min"] + pd.Timedelta(days=28)
    out = life.groupby("cohort_month").agg(cohort_size=("min", "size"), eligible=("eligible", "sum"),
                                           retained_day_28=("retained", "sum"), last_first=("min", "max")).reset_index()
    out = out.astype({"eligible": "int64", "retained_day_28": "int64"})
    out["share"] = (out["retained_day_28"] / out["eligible"]).where(out["eligible"] > 0)
    out["whole_from"] = out.pop("last_first") + pd.Timedelta(days=28)
    return out


def key_instances(s: pd.DataFrame, flags: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per (payload key, instance): first and last day and pings carrying it, from the ping-log payloads."""
    per = s.groupby(["vidx", "instance_id"]).agg(first_day=("day", "min"), last_day=("day", "max"),
                                                 pings=("day", "size")).reset_index()
    frames = []
    for key in ["instanceId", *fields.FIELDS, *UNKNOWN_KEYS]:
        rows = per[sends(flags, per["vidx"].to_numpy(), key)]
        g = rows.groupby("instance_id").agg(first_day=("first_day", "min"), last_day=("last_day", "max"),
                                            pings=("pings", "sum")).reset_index()
        frames.append(g.assign(key=key))
    return pd.concat(frames, ignore_index=True)


def payload_keys(ki: pd.DataFrame) -> pd.DataFrame:
    """Per payload key: first and last day, pings and instances."""
    out = ki.groupby("key").agg(first_day=("first_day", "min"), last_day=("last_day", "max"),
                                pings=("pings", "sum"), instances=("instance_id", "size")).reset_index()
    # the first version that sends a key the collector knows (PINGS.md "first sent by"); none for others
    out["expected_from"] = out["key"].map(fields.KEY_SINCE)
    return out.astype({"pings": "int64", "instances": "int64"})


def quarantine_days(quarantined: list[dict]) -> pd.Series:
    """Return the UTC day of each quarantined line whose received_at was readable (NaT otherwise)."""
    out = []
    for q in quarantined:
        try:
            row = json.loads(q["raw"])
        except json.JSONDecodeError:
            row = None
        at = row.get("received_at") if isinstance(row, dict) else None
        day = pd.to_datetime(at, utc=True, errors="coerce") if isinstance(at, str) else pd.NaT
        out.append(pd.NaT if pd.isna(day) else day.tz_localize(None).normalize())
    return pd.Series(out, dtype="datetime64[ns]")


def _alert(day, check: str, subject: str, value: float, low=None, high=None, severity="warning") -> dict:
    """Return one alert row."""
    return {"checked_day": day, "check": check, "subject": subject, "value": float(value),
            "expected_low": low, "expected_high": high, "severity": severity}


def alerts(s: pd.DataFrame, active: pd.DataFrame, quarantined: list[dict], ki: pd.DataFrame) -> pd.DataFrame:
    """The alert checks that pings and quarantined lines can trip (source staleness needs load times)."""
    spine = active["day"]
    pings = s.groupby("day").size().reindex(spine, fill_value=0).to_numpy()
    qdays = quarantine_days(quarantined).dropna()
    quar = qdays.value_counts().reindex(spine, fill_value=0).to_numpy()
    a7 = active["active_7d"].to_numpy()
    rows = []
    for i, day in enumerate(spine):
        if i >= 56:
            back = pings[[i - 7 * k for k in range(1, 9)]].astype(float)
            mean, sd = back.mean(), back.std(ddof=1)
            if pings[i] < mean - 3 * sd or pings[i] > mean + 3 * sd:
                rows.append(_alert(day, "pings_per_day", "all", pings[i], mean - 3 * sd, mean + 3 * sd,
                                   "critical" if pings[i] == 0 else "warning" if pings[i] < mean else "info"))
        if quar[i] and quar[i] / (quar[i] + pings[i]) > 0.01:
            rows.append(_alert(day, "quarantine_share", "all", quar[i] / (quar[i] + pings[i]), 0.0, 0.01))
        if i >= 7 and a7[i] < 0.8 * a7[i - 7]:
            rows.append(_alert(day, "active_7d_drop", "all", a7[i], 0.8 * a7[i - 7], None, "critical"))
    first = ki.groupby("key")["first_day"].min()
    for key, day in first.items():
        if day > spine.min():
            rows.append(_alert(day, "new_payload_key", key, (ki[ki["key"] == key]["first_day"] == day).sum(),
                               severity="info"))
    out = pd.DataFrame(rows, columns=["checked_day", "check", "subject", "value", "expected_low",
                                      "expected_high", "severity"])
    out = out.astype({"value": "float64", "expected_low": "float64", "expected_high": "float64"})
    return alert_runs_so_far(out)


def alert_runs_so_far(alerts: pd.DataFrame) -> pd.DataFrame:
    """Add to each alert where its run (one check and subject on consecutive days) stood that day: its first
    day, its days so far, its worst severity so far, and its rank among the check's alerts of the day."""
    a, run = truth_figures.by_run(alerts)
    severity = truth_figures.SEVERITY_RANK
    rank = a["severity"].map(severity)
    a["run_first_day"] = a.groupby(run)["checked_day"].transform("min")
    a["run_days"] = (a.groupby(run).cumcount() + 1).astype("int64")
    worst = rank.groupby(run).cummin()
    a["run_severity"] = worst.map({v: k for k, v in severity.items()})
    order = a.assign(_worst=worst).sort_values(["checked_day", "check", "_worst", "run_days", "value", "subject"],
                                               ascending=[True, True, True, False, False, True])
    a["rank_on_day"] = (order.groupby(["checked_day", "check"]).cumcount() + 1).reindex(a.index).astype("int64")
    return a.sort_values(["checked_day", "check", "subject"]).reset_index(drop=True)


def compute(pings: pd.DataFrame, releases: Releases, quarantined: list[dict]) -> dict[str, pd.DataFrame]:
    """Return every mart's truth by name."""
    s = as_sent(pings, releases.key_flags)
    days = instance_days(s)
    inst = flag_instances(s, instances(s), days)
    active = active_daily(days)
    latest = _latest_per_week(s)
    ki = key_instances(s, releases.key_flags)
    changes = truth_figures.rolling_changes(fleet_changes_daily(days))
    growth = growth_weekly(s, inst, days["day"].min(), days["day"].max())
    lag = version_lag_weekly(latest, releases)
    paths = upgrade_paths_monthly(days, releases)
    found = alerts(s, active, quarantined, ki)
    return {
        "instance_days": days,
        "instances": inst,
        "active_daily": active,
        "version_adoption_weekly": weekly_mix(s, ["version", "version_minor"]),
        "driver_mix_weekly": weekly_mix(s, ["driver"]),
        "license_mix_weekly": weekly_mix(s, ["license_type"]),
        "quarantine": pd.DataFrame(quarantined, columns=["source", "location", "reason", "raw"]),
        "growth_weekly": growth,
        "fleet_changes_daily": changes,
        "fleet_weekly": truth_figures.fleet_weekly(days, changes),
        "fleet_totals_weekly": fleet_totals_weekly(latest),
        "feature_adoption_weekly": feature_adoption_weekly(latest),
        "upgrade_paths_monthly": paths,
        "version_lag_weekly": lag,
        "retention_cohorts": retention_cohorts(days),
        "retention_day28": retention_day28(days),
        "payload_keys": payload_keys(ki),
        "alerts": found,
        **truth_figures.compute(s, days, inst, growth, latest, lag, paths, found, releases, weekly_mix),
    }


#: columns the marts hold as DATE (utc days), and as TIMESTAMP (utc, microseconds)
DATE_COLUMNS = {"day", "week", "month", "cohort_month", "first_day", "last_day", "checked_day", "window_start",
                "whole_from", "run_first_day"}
TIMESTAMP_COLUMNS = {"last_seen", "first_seen", "last_ping_at"}


def to_arrow(df: pd.DataFrame) -> pa.Table:
    """Return a truth table typed as the marts are: dates as DATE, times as TIMESTAMP(us)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    for i, name in enumerate(table.column_names):
        column = table.column(i)
        if name in DATE_COLUMNS | TIMESTAMP_COLUMNS and column.null_count == len(column):
            column = pa.nulls(len(column), pa.timestamp("ms"))   # no value (an empty table): pandas made it float
        if name in DATE_COLUMNS:
            table = table.set_column(i, name, pc.cast(column, pa.timestamp("ms")).cast(pa.date32()))
        elif name in TIMESTAMP_COLUMNS:
            table = table.set_column(i, name, column.cast(pa.timestamp("us")))
        elif pa.types.is_large_string(table.column(i).type):
            table = table.set_column(i, name, table.column(i).cast(pa.string()))
    return table.replace_schema_metadata(None)


def write(truth: dict[str, pd.DataFrame], folder: Path) -> None:
    """Write each truth table as folder/<mart>.parquet, typed as the mart."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in truth.items():
        pq.write_table(to_arrow(df.drop(columns=["vidx"], errors="ignore")), folder / f"{name}.parquet")
