"""Ground truth of every mart, computed in plain pandas from the simulated pings (never the pipeline's SQL)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .fleet import MS_DAY


def as_sent(pings: pd.DataFrame, flags: dict[str, np.ndarray]) -> pd.DataFrame:
    """Return one row per distinct ping with the values the pipeline's rules should derive from it."""
    p = pings.drop_duplicates(["uid", "ts"]).copy()
    has_license = flags["license"][p["vidx"].to_numpy()]
    version = p["version"].str.strip().str.replace(r"^[vV]", "", regex=True)
    core = version.str.split("-", n=1).str[0].str.split(".")
    return pd.DataFrame({
        "instance_id": p["uid"].to_numpy(),
        "received_at": pd.to_datetime(p["ts"].to_numpy(), unit="ms"),
        "day": pd.to_datetime(p["ts"].to_numpy() // MS_DAY, unit="D"),
        "version": version.to_numpy(),
        "version_minor": (core.str[0] + "." + core.str[1]).to_numpy(),
        "is_dev_build": version.str.contains("-").to_numpy(),
        "nodejs_major": p["nodejs"].str[1:].str.split(".").str[0].astype(int).to_numpy(),
        "os_type": p["os_type"].to_numpy(),
        "os_arch": p["os_arch"].to_numpy(),
        "driver": p["driver"].str.lower().to_numpy(),
        "license_type": np.where(has_license, p["licence"].str.upper(), "unreported"),
        "broker_enabled": p["broker"].to_numpy(),
        "file_store_enabled": p["file_store"].to_numpy(),
        "email_enabled": p["email"].to_numpy(),
        "users": p["users"].to_numpy(),
        "teams": p["teams"].to_numpy(),
        "projects": p["projects"].to_numpy(),
        "devices": p["devices"].to_numpy(),
        "ip": p["ip"].to_numpy(),
    })


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


def compute(pings: pd.DataFrame, flags: dict[str, np.ndarray], quarantined: list[dict]) -> dict[str, pd.DataFrame]:
    """Return every mart's truth by name."""
    s = as_sent(pings, flags)
    days = instance_days(s)
    return {
        "instance_days": days,
        "instances": instances(s),
        "active_daily": active_daily(days),
        "version_adoption_weekly": weekly_mix(s, ["version", "version_minor"]),
        "driver_mix_weekly": weekly_mix(s, ["driver"]),
        "license_mix_weekly": weekly_mix(s, ["license_type"]),
        "quarantine": pd.DataFrame(quarantined, columns=["source", "location", "reason", "raw"]),
    }


def write(truth: dict[str, pd.DataFrame], folder: Path) -> None:
    """Write each truth table as folder/<mart>.parquet."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in truth.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
