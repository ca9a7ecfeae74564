"""Simulator: every mart equals its independent truth after a refresh, and the realism rules hold."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from conftest import MART_KEYS, mart, ping_line, query, run, write_lines
from pipelines import fields
from pipelines.publish import figures, marts
from pipelines.settings import REFERENCE_DIR
from pipelines.tools.simulate import write_fleet

#: the answers marts' unique keys (issue 14: one row per the key given first)
ANSWER_KEYS = {
    "growth_weekly": ["week"],
    "fleet_changes_daily": ["day"],
    "fleet_totals_weekly": ["week", "license_type", "metric"],
    "feature_adoption_weekly": ["week", "license_type", "feature"],
    "upgrade_paths_monthly": ["month", "from_minor", "to_minor"],
    "version_lag_weekly": ["week", "lag"],
    "retention_cohorts": ["cohort_month", "months_since"],
    "retention_day28": ["cohort_month"],
    "payload_keys": ["key"],
    "alerts": ["checked_day", "check", "subject"],
}
#: the figure marts every page and the index quote (issue 23)
FIGURE_KEYS = {
    "growth_bands": ["band"],
    "headline_daily": ["day"],
    "headline_weekly": ["week"],
    "fleet_weekly": ["week"],
    "breakdown_weekly": ["week", "dimension", "category"],
    "changes_monthly": ["month", "dimension", "category"],
    "upgrade_paths_12m": ["month", "from_minor", "to_minor"],
    "alert_runs": ["check", "subject", "first_day"],
    "pings_per_instance_day": ["pings"],
    "data_freshness": ["first_day"],
    "calendar_months": ["month"],
}
KEYS = {**MART_KEYS, "quarantine": ["location"], **ANSWER_KEYS, **FIGURE_KEYS}
#: marts that depend on which form a ping was landed from: the collector table knows no key it never
#: learnt (the ping log keeps platform.counts.deviceGroups), so their truth is the ping log's
PINGLOG_ONLY = {"payload_keys", "alerts", "alert_runs"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """A small fleet spanning every collector era: 2022-05 .. 2025-03."""
    out = tmp_path_factory.mktemp("fleet") / "sim"
    write_fleet(out, instances=120, start="2022-05-01", end="2025-03-31", seed=3, key=b"test-secret-key-0123456789")
    return out


def _types(path: Path) -> list[tuple[str, str]]:
    """Return the (column, arrow type) pairs of a parquet file or folder; both string encodings count as one."""
    return [(f.name, str(f.type).replace("large_string", "string"))
            for f in ds.dataset(path, format="parquet").schema if not f.name.startswith("__")]


def assert_equals_truth(cfg, truth_dir: Path, names=None) -> None:
    """Assert every mart (or those named) equals the simulator's truth: same columns and types, row for row."""
    for name in names or KEYS:
        keys = KEYS[name]
        got_path, want_path = Path(cfg.parquet_dir) / f"{name}.parquet", truth_dir / f"{name}.parquet"
        got, want = pd.read_parquet(got_path), pd.read_parquet(want_path)
        if name == "quarantine":
            got, want = got.drop(columns="source"), want.drop(columns="source")
        else:
            assert _types(got_path) == _types(want_path), name
        assert list(got.columns) == list(want.columns), name
        got = got.sort_values(keys).reset_index(drop=True)
        want = want.sort_values(keys).reset_index(drop=True)
        assert len(got) == len(want), name
        for col in got.columns:
            if pd.api.types.is_float_dtype(got[col]):
                np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float), rtol=1e-9,
                                           err_msg=f"{name}.{col}")
            else:
                assert got[col].astype(str).tolist() == want[col].astype(str).tolist(), f"{name}.{col}"


def test_marts_equal_truth_from_every_form_and_overlapping_exports(cfg, fleet):
    result = run(cfg, fleet / "collector.csv.gz", fleet / "exports", fleet / "pinglog")
    assert result.errors == []
    assert_equals_truth(cfg, fleet / "truth", [n for n in KEYS if n not in PINGLOG_ONLY])
    (read, loaded, dup, quar) = query(cfg, "select sum(rows_read), sum(loaded), sum(duplicates), sum(quarantined) from load_log")[0]
    assert read == loaded + dup + quar and dup >= loaded  # every ping arrived at least twice


def _parquet_bytes(cfg) -> dict[str, bytes]:
    """Return every parquet file of the current set (a partitioned mart is a folder of them) by relative path."""
    root = Path(cfg.parquet_dir).resolve()
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*.parquet") if p.is_file()}


def test_marts_equal_truth_from_the_ping_log_alone_and_refresh_is_idempotent(cfg, fleet):
    run(cfg, fleet / "pinglog")
    assert_equals_truth(cfg, fleet / "truth")
    before = _parquet_bytes(cfg)
    again = run(cfg, fleet / "pinglog")
    assert again.counts.read == 0
    assert _parquet_bytes(cfg) == before


def test_incremental_builds_equal_truth_when_files_arrive_over_several_refreshes(cfg, fleet, tmp_path):
    staged = tmp_path / "arriving"
    staged.mkdir()
    files = sorted((fleet / "pinglog").glob("*.jsonl"))
    for batch in (files[: len(files) // 2], files[len(files) // 2: -3], files[-3:]):
        for f in batch:
            (staged / f.name).write_bytes(f.read_bytes())
        assert run(cfg, staged).errors == []
    assert_equals_truth(cfg, fleet / "truth")
    states = dict(query(cfg, "select model, last_load_id from model_builds"))
    assert states and set(states.values()) == {query(cfg, "select max(load_id) from load_log")[0][0]}


def test_marts_equal_truth_from_the_csv_export_alone(cfg, fleet):
    run(cfg, fleet / "collector.csv.gz")
    truth = fleet / "truth"
    # the export's backfilled zeros (ADD COLUMN ... DEFAULT 0) count as unknown, as the ping log shows them
    assert_equals_truth(cfg, truth, ["instance_days", "instances", "growth_weekly", "upgrade_paths_monthly",
                                     "fleet_totals_weekly", "feature_adoption_weekly"])


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


#: the first version that sends platform.counts.remoteBrokers (PINGS.md), as (major, minor)
REMOTE_BROKERS_FROM = tuple(int(x) for x in fields.KEY_SINCE["platform.counts.remoteBrokers"].split(".")[:2])


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
            (seen_new if major_minor >= REMOTE_BROKERS_FROM else seen_old).add("remoteBrokers" in counts)
            assert ("license" in ping["payload"].get("platform", {})) == (major_minor >= (1, 5))
            assert len(ping["ip_hash"]) == 64
    assert seen_old == {False} and seen_new == {True}


def _truth(fleet: Path, name: str) -> pd.DataFrame:
    """Read one truth table of the fleet."""
    return pd.read_parquet(fleet / "truth" / f"{name}.parquet")


def test_the_simulated_outage_trips_every_data_check_and_nothing_else_does(cfg, fleet):
    from pipelines.tools.simulate import fleet as model

    run(cfg, fleet / "pinglog")
    assert_equals_truth(cfg, fleet / "truth", ["alerts"])
    alerts = mart(cfg, "alerts")
    outage = pd.Timestamp("1970-01-01") + pd.Timedelta(days=model.outage_day(model._day("2022-05-01"), model._day("2025-03-31")))
    day = pd.to_datetime(alerts["checked_day"])
    fired = set(zip(day, alerts["check"], alerts["severity"]))
    assert (outage, "pings_per_day", "critical") in fired                      # nothing arrived that day
    assert (outage + pd.Timedelta(days=1), "quarantine_share", "warning") in fired  # the broken lines after it
    window = (day >= outage) & (day < outage + pd.Timedelta(days=model.BLOCKED_DAYS + 1))
    drops = alerts["check"] == "active_7d_drop"
    assert (drops & window).any()
    # elsewhere a drop of a fifth happens only while the fleet is a handful of instances (4 -> 3)
    assert (alerts.loc[drops & ~window, "expected_low"] < 8).all()
    assert not ((alerts["check"] == "pings_per_day") & (alerts["severity"] == "critical") & ~window).any()
    new_key = alerts[(alerts["check"] == "new_payload_key") & (alerts["subject"] == "platform.counts.deviceGroups")]
    assert len(new_key) == 1 and new_key["checked_day"].iloc[0] > pd.Timestamp("2024-12-18").date()
    assert set(alerts["check"]) <= {"pings_per_day", "quarantine_share", "active_7d_drop", "new_payload_key"}


def _shift_loads(cfg, hours: int) -> None:
    """Date every load so far `hours` earlier, as if that much time had passed since."""
    con = duckdb.connect(str(cfg.warehouse))
    try:
        con.execute(f"update load_log set started_at = started_at - interval {int(hours)} hour,"
                    f" finished_at = finished_at - interval {int(hours)} hour")
    finally:
        con.close()


def test_a_source_with_nothing_new_for_36_hours_raises_an_open_alert(cfg, fleet, tmp_path):
    files = sorted((fleet / "pinglog").glob("*.jsonl"))
    quiet, busy = tmp_path / "quiet", tmp_path / "busy"
    for folder, batch in ((quiet, files[:-41]), (busy, files[-39:-1])):
        folder.mkdir()
        for f in batch:
            (folder / f.name).write_bytes(f.read_bytes())
    assert run(cfg, quiet, busy).errors == []
    assert "source_stale" not in set(mart(cfg, "alerts")["check"])
    for extra, folder in ((files[-40], quiet), (files[-1], busy)):   # a later day: only one source grows
        _shift_loads(cfg, hours=40)
        (folder / extra.name).write_bytes(extra.read_bytes())
        assert run(cfg, quiet, busy).errors == []
    alerts = mart(cfg, "alerts")
    stale = alerts[alerts["check"] == "source_stale"]
    assert stale["subject"].tolist() == [str(quiet)]
    assert stale["value"].iloc[0] > 36 and stale["expected_high"].iloc[0] == 36
    assert stale["checked_day"].iloc[0] == pd.to_datetime(mart(cfg, "active_daily")["day"]).max().date()


def test_instance_flags_mark_dev_builds_single_days_and_clones(cfg, tmp_path):
    lines = [
        ping_line("dev", at="2024-07-01T10:00:00Z", env={"flowforge": "2.6.0-git"}),
        ping_line("dev", at="2024-07-09T10:00:00Z", env={"flowforge": "2.7.0-git"}),
        ping_line("mixed", at="2024-07-01T10:00:00Z", env={"flowforge": "2.6.0-git"}),
        ping_line("mixed", at="2024-07-02T10:00:00Z", env={"flowforge": "2.6.0"}),
        ping_line("once", at="2024-07-01T10:00:00Z", env={"flowforge": "2.6.0"}),
        ping_line("recent", at="2024-07-20T10:00:00Z", env={"flowforge": "2.6.0"}),
        *[ping_line("clone", at=f"2024-07-{d:02d}T{h:02d}:00:00Z", ip_hash=ip, env={"flowforge": "2.6.0"})
          for d in (3, 5) for h, ip in ((9, "203.0.113.1"), (11, "203.0.113.2"))],
        ping_line("moved", at="2024-07-03T09:00:00Z", ip_hash="203.0.113.7"),
        ping_line("moved", at="2024-07-03T10:00:00Z", ip_hash="203.0.113.8"),
        ping_line("moved", at="2024-07-04T10:00:00Z", ip_hash="203.0.113.8"),
    ]
    run(cfg, write_lines(tmp_path / "p.jsonl", lines))
    got = mart(cfg, "instances").set_index("instance_id")[["is_dev_build", "is_single_day", "is_clone", "excluded"]]
    assert got.to_dict("index") == {
        "clone": dict(is_dev_build=False, is_single_day=False, is_clone=True, excluded=True),
        "dev": dict(is_dev_build=True, is_single_day=False, is_clone=False, excluded=True),
        "mixed": dict(is_dev_build=False, is_single_day=False, is_clone=False, excluded=False),
        "moved": dict(is_dev_build=False, is_single_day=False, is_clone=False, excluded=False),
        "once": dict(is_dev_build=False, is_single_day=True, is_clone=False, excluded=True),
        "recent": dict(is_dev_build=False, is_single_day=False, is_clone=False, excluded=False),
    }


def test_growth_bands_follow_flowfuses_grades(cfg, tmp_path):
    # week 1: 100 instances; week 2: 106 (+6 %); week 3: 110 (+3.8 %); week 4: 111 (+0.9 %), a finished week
    sizes = {"2024-07-01": 100, "2024-07-08": 106, "2024-07-15": 110, "2024-07-22": 111}
    lines = [ping_line(f"i{n}", at=f"{monday}T12:00:00Z") for monday, size in sizes.items() for n in range(size)]
    lines.append(ping_line("i0", at="2024-07-28T12:00:00Z"))   # data through the Sunday of week 4
    lines += [ping_line(f"i{n}", at="2024-07-29T12:00:00Z") for n in range(150)]  # week 5 is unfinished
    run(cfg, write_lines(tmp_path / "p.jsonl", lines))
    g = mart(cfg, "growth_weekly")
    assert g["band"].fillna("-").tolist() == ["-", "exceptional", "sustainable", "not acceptable", "-"]
    np.testing.assert_allclose(g["wow_growth"].to_numpy(float), [np.nan, 0.06, 110 / 106 - 1, 111 / 110 - 1, np.nan])
    assert g["active"].tolist() == [100, 106, 110, 111, 150] and g["active_core"].tolist() == g["active"].tolist()


def test_the_fleet_has_what_every_answer_needs(fleet):
    inst = _truth(fleet, "instances")
    assert inst["is_clone"].any() and inst["is_dev_build"].any() and inst["is_single_day"].any()
    paths = _truth(fleet, "upgrade_paths_monthly")
    assert (paths["direction"] == "down").any() and (paths["minors_skipped"] > 0).any()
    days = _truth(fleet, "instance_days")
    gaps = pd.to_datetime(days["day"]).groupby(days["instance_id"]).diff().dt.days
    assert (gaps > 28).any()                                   # lapsed for a month or more, then back
    totals = _truth(fleet, "fleet_totals_weekly")
    never = totals[(totals["metric"] == "devices_never_connected") & (totals["license_type"] == "ALL")]
    assert (never["total"] > 0).any()
    keys = _truth(fleet, "payload_keys").set_index("key")
    assert "platform.counts.deviceGroups" in keys.index        # the ping log carries a key the collector lacks
    header = gzip.open(fleet / "collector.csv.gz", "rt").readline()
    assert "deviceGroups" not in header
    lag = _truth(fleet, "version_lag_weekly")
    assert set(lag["lag"]) >= {"0", "dev"} and (lag["lag"].str.isdigit() & (lag["lag"].str.len() > 1)).any()
    assert (fleet / "SIMULATED").read_text().strip()


def test_a_fleet_shorter_than_a_month_writes_its_truth_with_empty_tables_typed(tmp_path):
    write_fleet(tmp_path / "f", instances=60, start="2025-08-20", end="2025-08-29", seed=5,
                key=b"test-secret-key-0123456789", formats=("pinglog",))
    tables = {p.stem: pq.read_table(p) for p in (tmp_path / "f" / "truth").glob("*.parquet")}
    assert any(t.num_rows == 0 for t in tables.values())   # a table with no row: its date columns typed all the same
    assert all(t.schema.field(c).type == pa.date32() for t in tables.values() for c in ("day", "month", "window_start")
               if c in t.schema.names)


def test_a_month_the_data_starts_inside_is_never_the_last_complete_month(cfg, tmp_path):
    out = tmp_path / "mid_month"
    write_fleet(out, instances=25, start="2024-05-15", end="2024-08-10", seed=19, key=b"test-secret-key-0123456789",
                formats=("pinglog",))
    assert run(cfg, out / "pinglog").errors == []
    assert_equals_truth(cfg, out / "truth", ["calendar_months", "changes_monthly", "upgrade_paths_12m"])
    span = mart(cfg, "data_freshness").iloc[0]
    assert (str(span["first_day"])[:10], str(span["last_day"])[:10]) == ("2024-05-15", "2024-08-10")
    months = mart(cfg, "calendar_months")
    # May holds 17 days of data (from the 15th), August 10 (to the 10th): only June and July are whole
    assert list(months["days_of_data"]) == [17, 30, 31, 10]
    assert list(months["complete"]) == [False, True, True, False]
    folder = marts.resolve(cfg.parquet_dir)
    assert figures.Scope(folder, end="2024-06-29").month is None            # May is partial, June not over
    assert figures.Scope(folder, end="2024-06-30").month == pd.Timestamp("2024-06-01")
    assert figures.Scope(folder).month == pd.Timestamp("2024-07-01")        # August is in progress
