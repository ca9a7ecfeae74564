"""Shared fixtures: a test key for the IP hash, isolated settings, and helpers to refresh and read marts."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines import settings as settings_mod
from pipelines.flow import refresh

TEST_KEY = "test-secret-key-0123456789"

#: each core mart's unique key (the contract's "one row per ...")
MART_KEYS = {
    "instance_days": ["instance_id", "day"],
    "instances": ["instance_id"],
    "active_daily": ["day"],
    "version_adoption_weekly": ["week", "version"],
    "driver_mix_weekly": ["week", "driver"],
    "license_mix_weekly": ["week", "license_type"],
}


def require(what: str, why: str):
    """Skip with a reason locally; fail under CI (PINGS_REQUIRE_ALL=1), which must never skip."""
    if os.environ.get("PINGS_REQUIRE_ALL") == "1":
        pytest.fail(f"{what} is required in CI but missing: {why}")
    pytest.skip(f"{what} not available here: {why} (.ci/run installs it)")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """Give every test its own data folder and a fixed IP-hash key; no settings file is read."""
    for var in list(os.environ):
        if var.startswith("PINGS_") and var != "PINGS_REQUIRE_ALL":
            monkeypatch.delenv(var)
    monkeypatch.setenv("PINGS_SETTINGS", os.devnull)   # no settings file is read
    monkeypatch.setenv("PINGS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PINGS_IP_HASH_KEY", TEST_KEY)


@pytest.fixture
def cfg(tmp_path):
    """Settings pointing into the test's tmp folder."""
    return settings_mod.load()


def run(cfg, *sources) -> "object":
    """Refresh the test warehouse from the given sources; return the Result."""
    return refresh(cfg, [str(s) for s in sources], progress=lambda m: None)


def mart(cfg, name: str) -> pd.DataFrame:
    """Read one mart's parquet file."""
    return pd.read_parquet(Path(cfg.parquet_dir) / f"{name}.parquet")


def query(cfg, sql: str, params=None) -> list[tuple]:
    """Run a read-only query on the test warehouse."""
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def ping_line(instance_id="i-1", at="2024-07-01T12:00:00.123Z", ip_hash=None, **payload) -> str:
    """Return one ping-log line (JSON) with a minimal payload plus the given payload keys."""
    body = {"instanceId": instance_id, **payload} if instance_id is not None else dict(payload)
    line = {"received_at": at, "payload": body}
    if ip_hash is not None:
        line["ip_hash"] = ip_hash
    return json.dumps(line)


def write_lines(path: Path, lines: list[str], torn: str | None = None, gz: bool = False) -> Path:
    """Write lines (each ended by a newline) and an optional torn last line without one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(line + "\n" for line in lines) + (torn or "")
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path
