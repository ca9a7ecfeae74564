"""The fleet model: instances with schedules, upgrades, downgrades, pauses, licences, drivers and clones -> pings.

Vectorised with numpy over (instance, day) pairs; one call generates one chunk of instances.
Everything is drawn from one numpy Generator, so the same seed gives the same pings.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ... import fields
from ...settings import REFERENCE_DIR

MS_DAY = 86_400_000
EPOCH = np.datetime64("1970-01-01", "D")

# keys a simulated platform sends that the collector never learnt: only the ping log keeps them
UNKNOWN_KEY_FROM = {"platform.counts.deviceGroups": "2.12.0"}


def _flag(version: str) -> str:
    """Return the name of the flag 'the sender's version is at least `version`' (2.7.0 -> v2_7_0)."""
    return "v" + version.replace(".", "_")


# payload key flags: each names the first FlowForge version that sends a group of keys; the collector's
# keys come from the one field list (pipelines/fields.py, "first sent by" in PINGS.md)
_SENT_FROM = {**{k: v for k, v in fields.KEY_SINCE.items() if v != fields.FIRST_VERSION}, **UNKNOWN_KEY_FROM}
KEY_FROM = {_flag(v): v for v in _SENT_FROM.values()}

# the payload keys gated by a KEY_FROM flag (dotted path -> flag); every other key is always sent
KEY_FLAG = {key: _flag(v) for key, v in _SENT_FROM.items()}

UNKNOWN_KEYS = list(UNKNOWN_KEY_FROM)

# update policies: never (keeps the installed version), prompt, lagging, stuck (upgrades every year or
# two: the long tail on old minor lines), development checkout (only -git versions)
POLICY_P = [0.12, 0.26, 0.39, 0.20, 0.03]
OUTAGE_MIN_SPAN = 120      # days: shorter simulations have no outage
OUTAGE_HOURS = 38          # the collector received nothing for this long from the outage day's 00:00 UTC
BLOCKED_DAYS = 8           # then a share of instances could not reach it for this many days

LICENCES = np.array(["CE", "EE", "DEV", "TRIAL"])
DRIVERS = np.array(["localfs", "docker", "kubernetes"])


def _day(text: str) -> int:
    """Return days since 1970-01-01 of an ISO date."""
    return int((np.datetime64(text, "D") - EPOCH).astype(int))


@dataclass
class Releases:
    """FlowForge releases sorted by date: version strings, release days, and key flags per release."""

    versions: np.ndarray
    days: np.ndarray
    key_flags: dict[str, np.ndarray]

    @classmethod
    def load(cls) -> "Releases":
        """Read flowforge_releases.csv from the package's reference data."""
        with open(REFERENCE_DIR / "flowforge_releases.csv") as fh:
            rows = list(csv.DictReader(fh))
        rows.sort(key=lambda r: (r["released_on"], tuple(int(x) for x in r["version"].split("."))))
        versions = np.array([r["version"] for r in rows])
        days = np.array([_day(r["released_on"]) for r in rows])
        as_tuple = [tuple(int(x) for x in v.split(".")) for v in versions]
        flags = {
            key: np.array([t >= tuple(int(x) for x in first.split(".")) for t in as_tuple])
            for key, first in KEY_FROM.items()
        }
        return cls(versions, days, flags)

    def newest(self, day: np.ndarray) -> np.ndarray:
        """Return the index of the newest release published on or before each day (>= 0)."""
        return np.maximum(np.searchsorted(self.days, day, side="right") - 1, 0)


@dataclass
class NodeLines:
    """Node.js LTS majors with release days."""

    majors: np.ndarray
    days: np.ndarray

    @classmethod
    def load(cls) -> "NodeLines":
        """Read nodejs_releases.csv from the package's reference data."""
        with open(REFERENCE_DIR / "nodejs_releases.csv") as fh:
            rows = list(csv.DictReader(fh))
        return cls(np.array([int(r["major"]) for r in rows]), np.array([_day(r["released_on"]) for r in rows]))

    def for_day(self, day: np.ndarray) -> np.ndarray:
        """Return the newest major released at least 180 days before each day (the oldest line at least)."""
        idx = np.maximum(np.searchsorted(self.days, day - 180, side="right") - 1, 0)
        return self.majors[idx]


def outage_day(start: int, end: int) -> int | None:
    """Return the simulated collector outage's first day (two thirds into the span), or None when short."""
    if end - start < OUTAGE_MIN_SPAN:
        return None
    return start + (end - start) * 2 // 3


def _uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Return n version-4 UUID strings drawn from rng."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexes = [r.tobytes().hex() for r in raw]
    return np.array([f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in hexes])


def _ips(rng: np.random.Generator, n: int) -> np.ndarray:
    """Return n plain addresses: mostly public-looking IPv4, a few IPv6."""
    a = rng.integers(11, 223, n)
    a = np.where(a == 127, 128, a)
    b, c, d = rng.integers(0, 256, (3, n))
    v4 = pd.Series(a).astype(str) + "." + pd.Series(b).astype(str) + "." + pd.Series(c).astype(str) + "." + pd.Series(d).astype(str)
    v6 = "2001:db8:" + pd.Series(rng.integers(0, 65536, n)).map("{:x}".format) + "::" + pd.Series(rng.integers(1, 65536, n)).map("{:x}".format)
    return np.where(rng.random(n) < 0.05, v6.to_numpy(), v4.to_numpy())


def instances(rng: np.random.Generator, n: int, start: int, end: int, releases: Releases) -> pd.DataFrame:
    """Draw n instances (plus about 1% clones sharing an instanceId) with their whole-life attributes."""
    lo = max(start - 365, int(releases.days[0]))
    arrival = lo + ((end - lo) * rng.random(n) ** (1 / 1.6)).astype(np.int64)
    life = rng.exponential(700, n).astype(np.int64) + 7
    licence0 = rng.choice(4, n, p=[0.72, 0.13, 0.05, 0.10])
    # licence changes: trials end after 30 days (40% buy EE), 6% of CE convert to EE later
    lic_change = np.full(n, np.iinfo(np.int64).max)
    licence1 = licence0.copy()
    trial = licence0 == 3
    lic_change[trial] = arrival[trial] + 30
    licence1[trial] = np.where(rng.random(trial.sum()) < 0.4, 1, 0)
    convert = (licence0 == 0) & (rng.random(n) < 0.06)
    lic_change[convert] = arrival[convert] + rng.integers(20, 500, convert.sum())
    licence1[convert] = 1
    opted_out = (licence0 == 0) & ~convert & (rng.random(n) < 0.10)
    driver0 = rng.choice(3, n, p=[0.45, 0.35, 0.20])
    drv_change = np.full(n, np.iinfo(np.int64).max)
    moves = rng.random(n) < 0.06
    drv_change[moves] = arrival[moves] + rng.integers(10, 400, moves.sum())
    driver1 = np.where(moves, np.array([1, 2, 1])[driver0], driver0)
    os_pick = rng.choice(3, n, p=[0.85, 0.10, 0.05])
    os_type = np.array(["Linux", "Darwin", "Windows_NT"])[os_pick]
    arch_linux = rng.choice(np.array(["x64", "arm64", "arm"]), n, p=[0.80, 0.15, 0.05])
    arch_mac = np.where(rng.random(n) < 0.7, "arm64", "x64")
    os_arch = np.where(os_pick == 0, arch_linux, np.where(os_pick == 1, arch_mac, "x64"))
    os_release = np.array(["6.1.0-18-amd64", "23.4.0", "10.0.22631"])[os_pick]
    policy = rng.choice(5, n, p=POLICY_P)  # never, prompt, lagging, stuck, dev checkout
    period = np.select([policy == 1, policy == 3], [rng.integers(2, 15, n), rng.integers(300, 800, n)],
                       rng.integers(30, 150, n))
    ip_change = np.where(rng.random(n) < 0.10, arrival + rng.integers(30, 400, n), np.iinfo(np.int64).max)
    df = pd.DataFrame({
        "uid": _uuids(rng, n),
        "arrival": arrival,
        "first_day": arrival + rng.integers(0, 3, n),     # set-up finished
        "last_day": arrival + life,                       # churned after this day
        "opted_out": opted_out,
        "licence0": licence0, "licence1": licence1, "lic_change": lic_change,
        "licence_id": _uuids(rng, n),
        "driver0": driver0, "driver1": driver1, "drv_change": drv_change,
        "os_type": os_type, "os_arch": os_arch, "os_release": os_release,
        "policy": policy, "period": period,
        "ip0": _ips(rng, n), "ip1": _ips(rng, n), "ip_change": ip_change,
        "users0": 1 + rng.geometric(0.25, n), "projects0": rng.integers(0, 6, n),
        "devices0": np.where(rng.random(n) < 0.4, rng.integers(0, 20, n), 0),
        "growth": rng.gamma(1.2, 0.8, n),
        "broker": rng.random(n) < 0.35, "file_store": rng.random(n) < 0.5, "email": rng.random(n) < 0.6,
        "parity": np.zeros(n, dtype=np.int64),
    })
    # lapsed and returning: about 8% go silent for 40-300 days, then come back
    lapse = rng.random(n) < 0.08
    df["pause0"] = np.where(lapse, arrival + rng.integers(30, 500, n), np.iinfo(np.int64).max)
    df["pause1"] = df["pause0"] + np.where(lapse, rng.integers(40, 300, n), 0)
    df["last_day"] = df["last_day"] + (df["pause1"] - df["pause0"])
    # downgrades: about 5% roll back to the version of 150 days before, for 3-60 days
    roll = rng.random(n) < 0.05
    df["down0"] = np.where(roll, arrival + rng.integers(60, 600, n), np.iinfo(np.int64).max)
    df["down1"] = np.where(roll, df["down0"] + rng.integers(3, 60, n), np.iinfo(np.int64).max)
    # tryouts: about 6% are set up, send the pings of one day and are never seen again
    tryout = rng.random(n) < 0.06
    df.loc[tryout, "last_day"] = df.loc[tryout, "first_day"]
    # devices created but never connected: 25% of the instances with devices
    df["never_connected"] = rng.random(n) < 0.25
    # instances that could not reach the collector for days after its outage
    df["blocked"] = rng.random(n) < 0.4
    df = df[~df["opted_out"]].reset_index(drop=True)
    # clones: the same instanceId from a second deployment, another address, running for a while
    k = max(1, int(len(df) * 0.01)) if len(df) >= 20 else 0
    if k:
        src = df.iloc[rng.choice(len(df), k, replace=False)].copy()
        span = np.maximum(src["last_day"] - src["first_day"], 1)
        src["first_day"] = src["first_day"] + (rng.random(k) * span).astype(np.int64)
        src["last_day"] = src["first_day"] + rng.integers(5, 60, k)
        src["arrival"] = src["first_day"]
        src["policy"] = 0
        src["driver0"] = rng.choice(3, k)
        src["drv_change"] = np.iinfo(np.int64).max
        src["ip0"] = _ips(rng, k)
        src["ip_change"] = np.iinfo(np.int64).max
        src["parity"] = 1                                  # clone pings use odd milliseconds
        df = pd.concat([df, src], ignore_index=True)
    return df


def pings(rng: np.random.Generator, inst: pd.DataFrame, start: int, end: int,
          releases: Releases, node: NodeLines, outage: int | None = None) -> pd.DataFrame:
    """Return every ping the collector receives between start and end (days), one row a ping.

    With `outage` (a day), nothing arrives for OUTAGE_HOURS from that day's start, and the `blocked`
    instances reach no collector for BLOCKED_DAYS days.
    """
    first = np.maximum(inst["first_day"].to_numpy(), start)
    last = np.minimum(inst["last_day"].to_numpy(), end)
    lengths = np.maximum(last - first + 1, 0)
    idx = np.repeat(np.arange(len(inst)), lengths)
    if len(idx) == 0:
        return pd.DataFrame()
    offsets = np.arange(len(idx)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    day = first[idx] + offsets
    is_first = offsets == 0
    col = {c: inst[c].to_numpy()[idx] for c in inst.columns}

    # versions: the newest release as of the last update check; 'never' keeps the install's
    install = col["arrival"]
    checked = np.where(col["policy"] == 0, install, install + ((day - install) // col["period"]) * col["period"])
    checked = np.maximum(checked, install)
    rolled_back = (day >= col["down0"]) & (day < col["down1"])
    vidx = releases.newest(np.where(rolled_back, checked - 150, checked))
    node_major = node.for_day(checked)

    lapsed = (day >= col["pause0"]) & (day < col["pause1"])
    down = ((rng.random(len(idx)) < 0.02) | lapsed) & ~is_first
    prev_down = np.r_[False, down[:-1]] & ~is_first
    prev_vidx = np.r_[vidx[0], vidx[:-1]]
    driver = np.where(day >= col["drv_change"], col["driver1"], col["driver0"])
    prev_driver = np.r_[driver[0], driver[:-1]]
    restart = (is_first | prev_down | (rng.random(len(idx)) < 1 / 30)
               | ((prev_vidx != vidx) & ~is_first) | ((prev_driver != driver) & ~is_first))
    segment = np.cumsum(restart)
    seg_minute = rng.integers(0, 1440, segment[-1] + 1)
    seg_second = rng.integers(0, 60, segment[-1] + 1)
    daily_s = seg_minute[segment] * 60 + seg_second[segment]
    prev_daily_s = np.r_[daily_s[0], daily_s[:-1]]
    restart_s = rng.integers(0, 86_400 - 3_600, len(idx))
    ms = rng.integers(0, 500, (3, len(idx))) * 2 + col["parity"]

    # (a) old process's daily ping before a restart, (b) start-up ping 30 s after start, (c) new daily ping
    has_a = restart & ~is_first & ~prev_down & (prev_daily_s < restart_s)
    has_b = restart
    has_c = np.where(restart, daily_s > restart_s + 30, True)
    parts = []
    for has, secs, state_prev, k in (
        (has_a, prev_daily_s, True, 0),
        (has_b, restart_s + 30, False, 1),
        (has_c, daily_s, False, 2),
    ):
        keep = has & ~down
        parts.append(pd.DataFrame({
            "row": np.nonzero(keep)[0],
            "ts": day[keep] * MS_DAY + secs[keep] * 1000 + ms[k][keep],
            "prev": state_prev,
        }))
    p = pd.concat(parts, ignore_index=True)
    r = p["row"].to_numpy()
    prev_state = p["prev"].to_numpy()
    vi = np.where(prev_state, prev_vidx[r], vidx[r])
    drv = np.where(prev_state, prev_driver[r], driver[r])
    d = day[r]
    age = np.maximum(d - col["arrival"][r], 0)
    licence = np.where(d >= col["lic_change"][r], col["licence1"][r], col["licence0"][r])
    users = col["users0"][r] + (col["growth"][r] * age / 60).astype(np.int64)
    projects = col["projects0"][r] + (col["growth"][r] * age / 45).astype(np.int64)
    devices = np.where(col["devices0"][r] > 0, col["devices0"][r] + (col["growth"][r] * age / 20).astype(np.int64), 0)
    dev_build = col["policy"][r] == 4
    node_minor = np.clip((checked[r] - node.days[np.searchsorted(node.majors, node_major[r])]) // 40, 0, 40)
    out = pd.DataFrame({
        "uid": col["uid"][r],
        "ts": p["ts"].to_numpy(),
        "version": np.where(dev_build, np.char.add(releases.versions[vi].astype(str), "-git"), releases.versions[vi]),
        "vidx": vi,
        "nodejs": "v" + pd.Series(node_major[r]).astype(str) + "." + pd.Series(node_minor).astype(str) + ".0",
        "os_type": col["os_type"][r], "os_release": col["os_release"][r], "os_arch": col["os_arch"][r],
        "driver": DRIVERS[drv],
        "licence": LICENCES[licence],
        "licence_id": np.where(licence == 0, "", col["licence_id"][r]),
        "broker": col["broker"][r], "file_store": col["file_store"][r], "email": col["email"][r],
        "users": users, "teams": np.maximum(users // 3, 1), "projects": projects, "devices": devices,
        "snapshots": projects * 2, "stacks": 1 + projects // 4, "templates": 1 + users // 10,
        "library": projects // 2, "shared_library": users // 5, "suspended": projects // 7,
        "blueprints": np.where(licence == 0, 0, projects // 3), "team_broker_clients": np.where(licence == 0, 0, devices // 4),
        "devices_never": np.where(col["never_connected"][r], devices, devices // 10),
        "devices_day": np.where(col["never_connected"][r], 0, devices - devices // 3),
        "device_groups": devices // 5,
        "remote_brokers": np.where(licence == 0, 0, (projects > 5).astype(np.int64)),
        "ip": np.where(d >= col["ip_change"][r], col["ip1"][r], col["ip0"][r]),
    })
    # retries: the sender resends about 0.4% of pings 2-5 s later (the collector stores both)
    again = rng.random(len(out)) < 0.004
    retries = out[again].copy()
    retries["ts"] = retries["ts"] + rng.integers(1000, 2500, again.sum()) * 2
    out = pd.concat([out, retries], ignore_index=True)
    out = out[out["ts"] < (end + 1) * MS_DAY]
    if outage is not None:
        lost = (out["ts"] >= outage * MS_DAY) & (out["ts"] < outage * MS_DAY + OUTAGE_HOURS * 3_600_000)
        blocked = inst.set_index("uid")["blocked"].groupby(level=0).max()
        lost |= (out["uid"].map(blocked).to_numpy() & (out["ts"] >= outage * MS_DAY)
                 & (out["ts"] < (outage + BLOCKED_DAYS) * MS_DAY))
        out = out[~lost]
    out = out.drop_duplicates(["uid", "ts"]).sort_values(["ts", "uid"], kind="stable").reset_index(drop=True)
    return out
