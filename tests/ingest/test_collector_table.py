"""FlowFuse's own collector table (tests/ingest/collector_table.py), loaded over ADBC and as a psql CSV export.

The table is built by its migration eras in the real PostgreSQL the tests start and filled as the
collector's handler fills it. The truth is plain Python over the planted pings, from PINGS.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import adbc_driver_postgresql.dbapi as pg
import pandas as pd
import pytest

from collector_table import Ping, add, build, export, legacy, log_line, migrate
from conftest import mart, query, run
from pgserver import running
from pipelines import settings as settings_mod
from pipelines.fields import nested
from pipelines.publish import status

REAL = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "real_pings"
                   / "flowfuse-2.4.0-sequence.json").read_text())
ADDRESS = "198.51.100.20"
OTHER = "203.0.113.5"


def payload(iid: str, version: str, **dotted) -> dict:
    """Return a nested payload with instanceId, env.flowforge and the given dotted keys ('__' for '.')."""
    return nested({"instanceId": iid, "env.flowforge": version, "env.nodejs": "v18.19.0", "os.type": "Linux",
                   "os.arch": "x64", **{key.replace("__", "."): v for key, v in dotted.items()}})


#: pings across every era of the table (times UTC, to the millisecond as the ping's identity)
PINGS = [
    Ping("2022-06-01T10:00:00.100Z", payload("inst-a", "0.8.0", platform__counts__users=3, platform__counts__teams=1,
                                             platform__config__driver="localfs")),
    Ping("2022-12-20T11:00:00.200Z", payload("inst-b", "1.1.0-git", platform__config__driver="docker"), address=None),
    Ping("2023-01-10T12:00:00.300Z", payload("inst-a", "1.2.0", platform__config__broker__enabled=True,
                                             platform__config__email__enabled=False)),
    Ping("2023-02-01T08:30:00.000Z", payload("inst-b", "1.3.0", platform__counts__libraryEntries=4,
                                             platform__counts__sharedLibraryEntries=0)),
    Ping("2023-03-01T09:00:00.000Z", payload("inst-c", "1.5.0", platform__license__id="",
                                             platform__license__type="CE")),
    Ping("2023-04-30T09:00:00.000Z", payload("inst-c", "1.6.0", platform__license__id="",
                                             platform__license__type="CE")),
    Ping("2023-06-01T09:00:00.000Z", payload("inst-c", "1.7.0", platform__counts__projectsByState__suspended=2,
                                             platform__license__id="", platform__license__type="CE")),
    Ping("2024-03-01T09:00:00.000Z", payload("inst-a", "2.1.0"), address=ADDRESS),
    Ping("2024-03-01T10:00:00.000Z", payload("inst-a", "2.1.0"), address=None),        # `unknown`: no clone
    Ping("2024-03-01T11:00:00.000Z", payload("10.9.8.7", "2.1.0"), address=OTHER),      # quarantined
    *[Ping(f"2024-07-20T0{i}:00:00.{i}00Z", p, address=OTHER) for i, p in enumerate(REAL)],
    Ping("2024-11-01T09:00:00.000Z", payload("inst-d", "2.11.0", platform__counts__blueprints=1,
                                             platform__counts__teamBrokerClients=4,
                                             platform__license__id="d-licence", platform__license__type="EE")),
    Ping("2025-03-10T09:00:00.000Z", payload("inst-d", "2.15.0", platform__counts__devicesByLastSeen__never=1,
                                             platform__counts__devicesByLastSeen__day=2,
                                             platform__counts__remoteBrokers=0, platform__license__id="d-licence",
                                             platform__license__type="EE")),
]

#: columns added later (PINGS.md): the date, and whether older rows read 0 (ADD COLUMN ... DEFAULT 0)
ADDED = {
    "platform.counts.libraryEntries": ("2023-01-17", False),
    "platform.counts.sharedLibraryEntries": ("2023-01-17", False),
    "platform.license.id": ("2023-02-24", False),
    "platform.license.type": ("2023-02-24", False),
    "platform.counts.projectsByState.suspended": ("2023-04-27", False),
    "platform.counts.blueprints": ("2024-07-16", True),
    "platform.counts.teamBrokerClients": ("2024-10-28", True),
    "platform.counts.devicesByLastSeen.never": ("2025-02-28", True),
    "platform.counts.devicesByLastSeen.day": ("2025-02-28", True),
    "platform.counts.remoteBrokers": ("2025-02-28", True),
}


def leaves(node: dict, prefix: str = "") -> dict:
    """Return {dotted key: value} of a nested payload's leaves."""
    out = {}
    for k, v in node.items():
        if isinstance(v, dict):
            out |= leaves(v, prefix + k + ".")
        else:
            out[prefix + k] = v
    return out


def stored_keys(ping: Ping) -> set[str]:
    """The truth: the payload keys of a ping as the table holds it (non-NULL columns), from PINGS.md."""
    day = ping.at[:10]
    sent = {k for k, v in leaves(ping.payload).items() if v is not None}
    keys = {k for k in sent if k not in ADDED or ADDED[k][0] <= day}
    return keys | {k for k, (added, backfilled) in ADDED.items() if backfilled and day < added}


#: the first FlowFuse version that sends each key, from PINGS.md ("first sent by"), for the keys planted here
FIRST_SENT_BY = {"platform.license.id": (1, 5, 0), "platform.license.type": (1, 5, 0),
                 "platform.counts.blueprints": (2, 7, 0), "platform.counts.teamBrokerClients": (2, 11, 0)}


def sent_keys(ping: Ping) -> set[str]:
    """The truth of payload_keys: the stored keys a ping's sender version sends (a backfilled 0 is not one)."""
    version = tuple(int(x) for x in ping.payload["env"]["flowforge"].split("-")[0].split("."))
    return {k for k in stored_keys(ping) if version >= FIRST_SENT_BY.get(k, (0, 0, 0))}


@pytest.fixture(scope="module")
def server():
    """A running PostgreSQL server (each test makes its own database)."""
    with running() as srv:
        yield srv


def database(srv, name: str, zone: str | None = None) -> str:
    """Create a database (its TimeZone set when given) and return its URI."""
    with pg.connect(srv.uri, autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.execute(f"create database {name}")
            if zone:
                cur.execute(f"alter database {name} set timezone to '{zone}'")
    return srv.uri.rsplit("/", 1)[0] + "/" + name


def warehouse(tmp_path: Path, name: str) -> settings_mod.Settings:
    """Settings for a warehouse of its own under tmp_path/name."""
    return settings_mod.load(data_dir=tmp_path / name)


def compare_columns(cfg) -> pd.DataFrame:
    """Return stg_pings without the columns that name where a row came from, in a fixed order (a shape's id
    differs by source kind, its keys do not: keys_of compares those)."""
    rows = query(cfg, "select * exclude (load_id, source, location, payload_shape) from staging.stg_pings"
                      " order by instance_id, received_at")
    con_cols = query(cfg, "select column_name from information_schema.columns where table_name = 'stg_pings'"
                          " and column_name not in ('load_id', 'source', 'location', 'payload_shape')"
                          " order by ordinal_position")
    return pd.DataFrame(rows, columns=[c for (c,) in con_cols])


def keys_of(cfg) -> dict[tuple[str, str], set[str]]:
    """Return {(instance_id, received_at text): payload keys} of the landed pings."""
    return {(i, str(t)): set(k) for i, t, k in query(
        cfg, "select r.instance_id, r.received_at, s.keys from raw_pings r join payload_shapes s"
             " on s.shape = r.payload_shape")}


def test_the_real_table_lands_the_same_over_adbc_and_as_a_csv_export(server, tmp_path):
    uri = database(server, "eras")
    build(uri, PINGS)
    csv = export(uri, tmp_path / "pings.csv")
    over_pg, over_csv = warehouse(tmp_path, "pg"), warehouse(tmp_path, "csv")
    for cfg, source in ((over_pg, uri), (over_csv, csv)):
        result = run(cfg, source)
        assert result.errors == []
        assert (result.counts.read, result.counts.loaded, result.counts.quarantined) == (len(PINGS), len(PINGS) - 1, 1)
        assert query(cfg, "select reason from quarantine") == [("instance_id_address_shaped",)]

    # one ping, one landing: staging values, payload keys and alerts agree
    pd.testing.assert_frame_equal(compare_columns(over_pg), compare_columns(over_csv))
    for name in ("payload_keys", "alerts", "instance_days", "instances"):
        pd.testing.assert_frame_equal(mart(over_pg, name), mart(over_csv, name), check_dtype=False)
    assert keys_of(over_pg) == keys_of(over_csv)

    # the truth, from the planted pings
    truth = {(p.payload["instanceId"], p.at[:-1].replace("T", " ")): stored_keys(p) for p in PINGS
             if p.payload["instanceId"] != "10.9.8.7"}
    got = {(i, t[:23] if "." in t else t + ".000"): k for (i, t), k in keys_of(over_pg).items()}
    assert got == {(i, t): k for (i, t), k in truth.items()}
    # payload_keys counts a key only for senders whose version sends it (PINGS.md "first sent by")
    sent = [sent_keys(p) for p in PINGS if p.payload["instanceId"] != "10.9.8.7"]
    for key in ("platform.license.id", "platform.counts.blueprints"):
        pings = sum(key in k for k in sent)
        assert mart(over_pg, "payload_keys").set_index("key").loc[key, "pings"] == pings
    assert sum("platform.counts.blueprints" in k for k in truth.values()) > pings   # the backfilled rows
    # the CE ping's empty licence id is an empty string from both (NULL only where the table has NULL)
    for cfg in (over_pg, over_csv):
        assert query(cfg, 'select count(*) filter (where "platform.license.id" = \'\'),'
                          ' count(*) filter (where "platform.license.id" is null) from raw_pings') == [(6, 6)]
        # stored before 2024-07-16: the table backfilled 0, and that is what lands
        assert query(cfg, 'select "platform.counts.blueprints" from raw_pings where instance_id = \'inst-c\'') == [
            ("0",)] * 3


def test_a_backfilled_zero_from_a_sender_that_predates_the_key_is_no_value(server, tmp_path):
    uri = database(server, "backfill")
    build(uri, PINGS)
    cfg = warehouse(tmp_path, "pg")
    run(cfg, uri)
    blueprints = query(cfg, "select blueprints from staging.stg_pings where instance_id = 'inst-c'")
    assert blueprints == [(None,)] * 3


def test_unknown_addresses_get_no_hash_and_make_no_clone(server, tmp_path):
    uri = database(server, "unknown")
    same_day = [Ping("2024-08-01T09:00:00.000Z", payload("u-1", "2.5.0"), address=ADDRESS),
                Ping("2024-08-01T10:00:00.000Z", payload("u-1", "2.5.0"), address=None),
                Ping("2024-08-02T10:00:00.000Z", payload("u-1", "2.5.0"), address=None),
                Ping("2024-08-02T11:00:00.000Z", payload("u-1", "2.5.0"), address=ADDRESS),
                Ping("2024-08-02T12:00:00.000Z", payload("u-2", "2.5.0"), address=None)]
    build(uri, same_day)
    assert [p for p in same_day if p.address is None] and legacy(ADDRESS)   # `unknown` and one real address
    for cfg, source in ((warehouse(tmp_path, "pg"), uri), (warehouse(tmp_path, "csv"), export(uri, tmp_path / "u.csv"))):
        result = run(cfg, source)
        assert result.counts.loaded == 5 and result.counts.ip_placeholders == 3
        assert query(cfg, "select sum(ip_placeholders) from load_log") == [(3,)]
        assert query(cfg, "select count(*), count(ip_hash), count(distinct ip_hash) from raw_pings") == [(5, 2, 1)]
        days = mart(cfg, "instance_days").set_index(["instance_id", "day"])["ip_hashes"]
        assert days.tolist() == [1, 1, 0]
        assert not mart(cfg, "instances")["is_clone"].any()
        assert mart(cfg, "clones_daily")["several_ip_hashes"].sum() == 0


def test_data_quality_counts_ip_placeholders(server, tmp_path):
    uri = database(server, "quality")
    build(uri, [Ping("2024-08-01T10:00:00.000Z", payload("q-1", "2.5.0"), address=None)])
    cfg = warehouse(tmp_path, "pg")
    run(cfg, uri)
    assert query(cfg, "select field, reason, invalid from marts.invalid_values") == [("ip", "placeholder", 1)]


def test_a_new_collector_column_is_a_payload_key_from_both_loaders(server, tmp_path):
    uri = database(server, "newcol")
    first = [Ping(f"2025-04-0{d}T09:00:00.000Z", payload(f"n-{d}", "2.16.0")) for d in range(1, 4)]
    build(uri, first)
    over_pg, over_csv = warehouse(tmp_path, "pg"), warehouse(tmp_path, "csv")
    run(over_pg, uri)
    run(over_csv, export(uri, tmp_path / "first.csv"))
    # the collector's way of adding a metric: a migration, older rows read its default
    migrate(uri, 'alter table pings add column "platform.counts.widgets" integer default 0')
    add(uri, [Ping("2025-04-05T09:00:00.000Z", payload("n-1", "2.17.0", platform__counts__widgets=7)),
              Ping("2025-04-05T10:00:00.000Z", payload("n-9", "2.17.0", platform__counts__widgets=0))])
    assert run(over_pg, uri).counts.loaded == 2
    assert run(over_csv, export(uri, tmp_path / "second.csv")).counts.loaded == 2   # old rows: duplicates
    for cfg in (over_pg, over_csv):
        keys = mart(cfg, "payload_keys").set_index("key")
        assert keys.loc["platform.counts.widgets", ["pings", "instances"]].tolist() == [2, 2]
        assert str(keys.loc["platform.counts.widgets", "first_day"])[:10] == "2025-04-05"
        alerts = mart(cfg, "alerts")
        fired = alerts[(alerts["check"] == "new_payload_key") & (alerts["subject"] == "platform.counts.widgets")]
        assert len(fired) == 1 and fired["value"].tolist() == [2.0]
    pd.testing.assert_frame_equal(mart(over_pg, "payload_keys"), mart(over_csv, "payload_keys"))
    pd.testing.assert_frame_equal(mart(over_pg, "alerts"), mart(over_csv, "alerts"))
    # the known columns land as before beside it
    assert query(over_pg, 'select count("env.flowforge") from raw_pings') == [(5,)]


def test_a_database_in_new_york_lands_utc_times(server, tmp_path, monkeypatch):
    uri = database(server, "newyork", zone="America/New_York")
    build(uri, [Ping("2024-07-01T15:44:00.000Z", payload("ny-1", "2.6.0")),
                Ping("2024-01-15T15:44:00.000Z", payload("ny-2", "2.6.0"))])
    with pg.connect(uri) as conn, conn.cursor() as cur:
        cur.execute("select created_at::text from pings order by 1")
        assert [t for (t,) in cur.fetchall()] == ["2024-01-15 10:44:00", "2024-07-01 11:44:00"]   # local wall time
    cfg = warehouse(tmp_path, "pg")
    assert run(cfg, uri).errors == []
    utc = ["2024-01-15 15:44:00", "2024-07-01 15:44:00"]
    assert [str(t) for (t,) in query(cfg, "select received_at from raw_pings order by 1")] == utc
    assert query(cfg, "select time_zone from source_state") == [("America/New_York",)]
    table, _ = status.snapshot(cfg)
    assert table["time_zone"].tolist() == ["America/New_York"]

    # its CSV export holds the local wall time: read in the csv_time_zone setting
    csv = export(uri, tmp_path / "ny.csv")
    monkeypatch.setenv("PINGS_CSV_TIME_ZONE", "America/New_York")
    zoned = settings_mod.load(data_dir=tmp_path / "csv")
    run(zoned, csv)
    assert [str(t) for (t,) in query(zoned, "select received_at from raw_pings order by 1")] == utc

    # the setting overrides the server's zone
    monkeypatch.setenv("PINGS_PG_TIME_ZONE", "UTC")
    forced = settings_mod.load(data_dir=tmp_path / "forced")
    run(forced, uri)
    assert [str(t) for (t,) in query(forced, "select received_at from raw_pings order by 1")] == [
        "2024-01-15 10:44:00", "2024-07-01 11:44:00"]


def test_one_ping_lands_the_same_from_the_ping_log_the_table_and_an_export(server, tmp_path):
    # pings stored after the last migration (no backfilled column): the table holds exactly what was sent
    sent = [Ping(f"2025-06-0{i + 1}T0{i}:00:00.{i}00Z", p, address=OTHER) for i, p in enumerate(REAL)]
    sent += [Ping("2025-06-05T09:00:00.000Z", payload("e-1", "2.20.0", platform__license__id="",
                                                      platform__counts__blueprints=0), address=None),
             Ping("2025-06-05T10:00:00.000Z", payload("e-1", "2.20.0", platform__config__broker__enabled=True),
                  address=ADDRESS)]
    uri = database(server, "parity")
    build(uri, sent)
    logs = tmp_path / "log.jsonl"
    logs.write_text("".join(log_line(p) + "\n" for p in sent))
    sources = {"log": logs, "pg": uri, "csv": export(uri, tmp_path / "parity.csv")}
    landed = {}
    for name, source in sources.items():
        cfg = warehouse(tmp_path, name)
        assert run(cfg, source).counts.loaded == len(sent)
        landed[name] = (cfg, compare_columns(cfg), keys_of(cfg), mart(cfg, "payload_keys"))
    truth = {(p.payload["instanceId"], p.at[:23].replace("T", " ")): set(leaves(p.payload)) for p in sent}
    for name, (cfg, staged, keys, payload_keys) in landed.items():
        pd.testing.assert_frame_equal(staged, landed["log"][1], obj=name)
        assert {(i, t[:23] if "." in t else t + ".000"): k for (i, t), k in keys.items()} == truth, name
        pd.testing.assert_frame_equal(payload_keys, landed["log"][3], obj=name)
        # the CE pings' empty licence id is an empty string from every source
        assert query(cfg, 'select count(*) from raw_pings where "platform.license.id" = \'\'') == [(4,)], name
