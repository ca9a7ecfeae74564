"""The collector's live PostgreSQL table, read through a real server that the tests start."""

from __future__ import annotations

import adbc_driver_postgresql.dbapi as pg
import pytest

from collector_table import Ping, add, build, export, migrate
from conftest import mart, query, run
from pgserver import running
from pipelines.ingest import warehouse

PLAIN = "198.51.100.23"


@pytest.fixture(scope="module")
def server():
    """A running PostgreSQL server; each test builds the collector's real table in a database of its own."""
    with running() as srv:
        yield srv


def database(srv, name: str) -> str:
    """Create a database and return its URI."""
    with pg.connect(srv.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create database {name}")
    return srv.uri.rsplit("/", 1)[0] + "/" + name


def ping(at: str, iid: str, version: str, driver: str, licence: str | None = None, address: str | None = PLAIN) -> Ping:
    """Return a ping with users 5 and the broker on (licence None: the sender predates the key)."""
    platform = {"counts": {"users": 5}, "config": {"driver": driver, "broker": {"enabled": True}}}
    if licence:
        platform["license"] = {"type": licence, "id": ""}
    return Ping(at, {"instanceId": iid, "env": {"flowforge": version}, "platform": platform}, address)


def test_live_table_loads_incrementally_and_overlaps_with_an_export_count_once(cfg, server, tmp_path):
    uri = database(server, "incremental")
    build(uri, [
        ping("2024-06-20T10:00:00.123Z", "i-1", "2.5.0", "docker", "EE"),     # stored as the legacy hash
        ping("2024-06-30T10:00:00Z", "i-1", "2.6.0", "docker", "EE"),
        ping("2024-06-30T11:00:00Z", "i-2", "2.6.0", "localfs", address=None),
    ])
    result = run(cfg, uri)
    assert result.errors == []
    assert (result.counts.read, result.counts.loaded) == (3, 3)
    days = mart(cfg, "instance_days").set_index(["instance_id", "day"])
    assert days["license_type"].tolist() == ["EE", "EE", "unreported"]
    assert days["users"].tolist() == [5, 5, 5] and days["broker_enabled"].all()
    assert mart(cfg, "instances").set_index("instance_id").loc["i-1", "ip_hashes"] == 1  # one address, two eras

    # new rows arrive (plain addresses from July 2024); an export holds one of them and one already loaded
    add(uri, [ping("2024-07-01T09:00:00Z", "i-3", "2.6.0", "kubernetes", "CE"),
              ping("2024-07-01T09:30:00.5Z", "i-1", "2.6.1", "docker", "EE")])
    csv = export(uri, tmp_path / "export.csv",
                 "select * from pings where \"instanceId\" = 'i-2' or created_at = '2024-07-01 09:00'")
    result = run(cfg, uri, csv)
    assert (result.counts.read, result.counts.loaded, result.counts.duplicates) == (4, 2, 2)
    pg_reads = query(cfg, "select rows_read from load_log where item = 'pings' order by load_id")
    assert [r for (r,) in pg_reads] == [3, 2]           # the second refresh read only the new rows
    assert run(cfg, uri).counts.read == 0               # and a third reads nothing
    assert mart(cfg, "instances")["pings"].sum() == 5
    for path in [cfg.warehouse, *(p for p in cfg.parquet_dir.rglob("*.parquet") if p.is_file())]:
        data = path.read_bytes()
        assert PLAIN.encode() not in data and b"127.0.0.1" not in data, path


def test_first_era_table_with_createdat_and_table_option(cfg, server):
    uri = database(server, "first_era")
    build(uri, [ping("2022-03-01T08:00:00Z", "old-1", "0.2.0", "localfs")], upto="2022-12-31")
    migrate(uri, "alter table pings rename to pings_v1")
    result = run(cfg, uri + "?table=pings_v1")
    assert result.errors == [] and result.counts.loaded == 1
    row = mart(cfg, "instance_days").iloc[0]
    assert (row["version_minor"], row["driver"], str(row["day"])[:10]) == ("0.2", "localfs", "2022-03-01")
    # the first table's own columns (weekYear, weekStartDate, isDev) are no payload keys
    assert query(cfg, "select keys from payload_shapes") == [(["env.flowforge", "instanceId", "platform.config.broker.enabled",
                                                               "platform.config.driver", "platform.counts.users"],)]


def test_unreachable_server_is_an_error_that_does_not_stop_other_sources(cfg, tmp_path):
    log = tmp_path / "p.jsonl"
    log.write_text('{"received_at": "2024-07-01T00:00:00Z", "payload": {"instanceId": "a"}}\n')
    result = run(cfg, "postgresql://nobody:secret@127.0.0.1:1/none", log)
    assert result.counts.loaded == 1
    assert len(result.errors) == 1 and "secret" not in result.errors[0]


def test_a_warehouse_written_before_labels_carries_on_under_them(cfg, server):
    uri = database(server, "relabel")
    build(uri, [ping("2024-07-01T10:00:00Z", "r-1", "2.6.0", "docker"),
                ping("2024-07-01T10:00:01Z", "10.9.8.7", "2.6.0", "docker")])   # quarantined, in the re-read window
    assert run(cfg, uri).counts.read == 2
    # the names as the loaders wrote them before labels: the DSN and the instanceId plain
    con = warehouse.connect(cfg.warehouse)
    con.execute("update source_state set source = $1", [uri])
    for table in ("load_log", "pg_seen", "raw_pings", "quarantine"):
        con.execute(f"update {table} set source = $1", [uri])
    con.execute("update pg_seen set location = regexp_replace(location, '/<ip> #[0-9a-f]+$', '/10.9.8.7')")
    assert con.execute("select count(*) from pg_seen where location like '%/10.9.8.7'").fetchall() == [(1,)]
    con.execute("delete from warehouse_meta where name = 'labels'")
    con.close()
    add(uri, [ping("2024-07-01T10:05:00Z", "r-2", "2.6.0", "docker")])
    again = run(cfg, uri)
    assert (again.counts.read, again.counts.loaded) == (1, 1)       # the watermark and the re-read state carried on
    for table in ("source_state", "load_log", "pg_seen", "raw_pings", "quarantine"):
        assert query(cfg, f"select count(*) from {table} where source like '%127.0.0.1%'") == [(0,)], table
    assert query(cfg, "select count(*) from pg_seen where location like '%10.9.8.7%'") == [(0,)]
