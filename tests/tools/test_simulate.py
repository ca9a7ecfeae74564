"""Simulator: every mart equals its independent truth after a refresh, and the realism rules hold."""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import MART_KEYS, mart, query, run
from pipelines.settings import REFERENCE_DIR
from pipelines.tools.simulate import write_fleet

KEYS = {**MART_KEYS, "quarantine": ["location"]}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """A small fleet spanning every collector era: 2022-05 .. 2025-03."""
    out = tmp_path_factory.mktemp("fleet") / "sim"
    write_fleet(out, instances=120, start="2022-05-01", end="2025-03-31", seed=3, key=b"test-secret-key")
    return out


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Make parquet from DuckDB and from pandas comparable: dates as datetime64[ms], no index."""
    df = df.copy()
    for col in df.columns:
        if col in ("day", "week", "last_seen", "first_seen"):
            df[col] = pd.to_datetime(df[col]).astype("datetime64[ms]")
    return df.reset_index(drop=True)


def assert_equals_truth(cfg, truth_dir: Path) -> None:
    """Assert every mart equals the simulator's truth, row for row."""
    for name, keys in KEYS.items():
        got = _normalise(mart(cfg, name))
        want = _normalise(pd.read_parquet(truth_dir / f"{name}.parquet"))
        if name == "quarantine":
            got, want = got.drop(columns="source"), want.drop(columns="source")
        assert list(got.columns) == list(want.columns), name
        got = got.sort_values(keys).reset_index(drop=True)
        want = want.sort_values(keys).reset_index(drop=True)
        assert len(got) == len(want), name
        for col in got.columns:
            if col == "share":
                np.testing.assert_allclose(got[col].astype(float), want[col].astype(float), rtol=1e-12)
            else:
                assert got[col].astype(str).tolist() == want[col].astype(str).tolist(), f"{name}.{col}"


def test_marts_equal_truth_from_every_form_and_overlapping_exports(cfg, fleet):
    result = run(cfg, fleet / "collector.csv.gz", fleet / "exports", fleet / "pinglog")
    assert result.errors == []
    assert_equals_truth(cfg, fleet / "truth")
    (read, loaded, dup, quar) = query(cfg, "select sum(rows_read), sum(loaded), sum(duplicates), sum(quarantined) from load_log")[0]
    assert read == loaded + dup + quar and dup >= loaded  # every ping arrived at least twice


def test_marts_equal_truth_from_the_ping_log_alone_and_refresh_is_idempotent(cfg, fleet):
    run(cfg, fleet / "pinglog")
    assert_equals_truth(cfg, fleet / "truth")
    before = {p.name: p.read_bytes() for p in cfg.parquet_dir.glob("*.parquet")}
    again = run(cfg, fleet / "pinglog")
    assert again.counts.read == 0
    assert {p.name: p.read_bytes() for p in cfg.parquet_dir.glob("*.parquet")} == before


def test_incremental_builds_equal_truth_when_files_arrive_over_several_refreshes(cfg, fleet, tmp_path):
    staged = tmp_path / "arriving"
    staged.mkdir()
    files = sorted((fleet / "pinglog").glob("*.jsonl"))
    for batch in (files[: len(files) // 2], files[len(files) // 2: -3], files[-3:]):
        for f in batch:
            (staged / f.name).write_bytes(f.read_bytes())
        assert run(cfg, staged).errors == []
    assert_equals_truth(cfg, fleet / "truth")
    states = dict(query(cfg, "select model, last_load_id from model_state"))
    assert states and set(states.values()) == {query(cfg, "select max(load_id) from load_log")[0][0]}


def test_marts_equal_truth_from_the_csv_export_alone(cfg, fleet):
    run(cfg, fleet / "collector.csv.gz")
    truth = fleet / "truth"
    got = _normalise(mart(cfg, "instance_days")).sort_values(KEYS["instance_days"]).reset_index(drop=True)
    want = _normalise(pd.read_parquet(truth / "instance_days.parquet")).sort_values(KEYS["instance_days"]).reset_index(drop=True)
    assert got.astype(str).equals(want.astype(str))


def test_same_seed_same_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        write_fleet(out, instances=30, start="2024-05-01", end="2024-08-31", seed=11, key=b"k")
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and "truth" not in p.parts)
    assert files and files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file() and "truth" not in p.parts)
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def _csv_rows(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as fh:
        return list(csv.DictReader(fh))


def test_no_version_appears_before_its_release(fleet):
    released = pd.read_csv(REFERENCE_DIR / "flowforge_releases.csv").set_index("version")["released_on"]
    rows = pd.DataFrame(_csv_rows(fleet / "collector.csv.gz"))
    base = rows["env.flowforge"].str.replace("-git", "", regex=False)
    assert base.isin(released.index).all()
    assert (rows["created_at"].str[:10] >= base.map(released)).all()
    assert rows["env.flowforge"].str.endswith("-git").any()


def test_era_columns_and_ip_forms_by_date(fleet):
    rows = pd.DataFrame(_csv_rows(fleet / "collector.csv.gz"))
    day = rows["created_at"].str[:10]
    assert (rows.loc[day < "2023-02-24", "platform.license.type"] == "").all()
    assert (rows.loc[day >= "2023-06-01", "platform.license.type"] != "").any()
    legacy = rows.loc[day < "2024-06-26", "ip"]
    assert legacy.str.fullmatch(r"[A-Za-z0-9+/]{43}=").all()
    plain = rows.loc[day >= "2024-06-26", "ip"]
    assert plain.str.fullmatch(r"[0-9.]+|[0-9a-f:]+").all()
    headers = {p.name: _csv_rows(p)[0].keys() for p in (fleet / "exports").glob("*.csv.gz")}
    assert "createdAt" in headers["pings-2022-01-01.csv.gz"]
    assert "platform.license.type" not in headers["pings-2022-07-01.csv.gz"]
    assert "platform.license.type" in headers["pings-2023-01-01.csv.gz"]
    assert "platform.counts.blueprints" not in headers["pings-2024-01-01.csv.gz"]
    assert "platform.counts.remoteBrokers" in headers["pings-2025-01-01.csv.gz"]


def test_ping_log_keys_appear_only_from_the_version_that_sends_them(fleet):
    seen_old, seen_new = set(), set()
    for path in sorted((fleet / "pinglog").glob("*.jsonl"))[::20]:
        for line in path.read_text().splitlines():
            try:
                ping = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(ping, dict) or not isinstance(ping.get("payload"), dict) or "os" not in ping["payload"]:
                continue
            version = ping["payload"].get("env", {}).get("flowforge", "0.0.0").split("-")[0]
            major_minor = tuple(int(x) for x in version.split(".")[:2])
            counts = ping["payload"].get("platform", {}).get("counts", {})
            (seen_new if major_minor >= (2, 14) else seen_old).add("remoteBrokers" in counts)
            assert ("license" in ping["payload"].get("platform", {})) == (major_minor >= (1, 5))
            assert len(ping["ip_hash"]) == 64
    assert seen_old == {False} and seen_new == {True}
