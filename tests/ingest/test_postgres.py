"""The collector's live PostgreSQL table, read through a real server that the tests start."""

from __future__ import annotations

import base64
import hashlib

import adbc_driver_postgresql.dbapi as pg
import pytest

from conftest import mart, query, run
from pgserver import running

# the collector's table as PINGS.md describes it, built through its migrations
MIGRATIONS = [
    '''create table {t} ("createdAt" timestamp with time zone not null default now(),
         "instanceId" varchar(256) not null, ip varchar(256), "env.flowforge" varchar(255),
         "env.nodejs" varchar(255), "os.arch" varchar(255), "os.release" varchar(255), "os.type" varchar(255),
         "platform.config.driver" varchar(32), "platform.counts.projects" integer, "platform.counts.teams" integer,
         "platform.counts.users" integer, "platform.counts.devices" integer,
         "platform.counts.projectSnapshots" integer, "platform.counts.projectStacks" integer,
         "platform.counts.projectTemplates" integer, "platform.config.broker.enabled" boolean,
         "platform.config.email.enabled" boolean, "platform.config.fileStore.enabled" boolean,
         primary key ("createdAt", "instanceId"))''',
    'alter table {t} rename column "createdAt" to created_at',
    'alter table {t} add column "platform.counts.libraryEntries" integer, add column "platform.counts.sharedLibraryEntries" integer',
    'alter table {t} add column "platform.license.id" varchar(256), add column "platform.license.type" varchar(16)',
    'alter table {t} add column "platform.counts.projects.suspended" integer default 0',
    'alter table {t} rename column "platform.counts.projects.suspended" to "platform.counts.projectsByState.suspended"',
    'alter table {t} add column "platform.counts.blueprints" integer default 0',
    'alter table {t} add column "platform.counts.teamBrokerClients" integer default 0',
    'alter table {t} add column "platform.counts.devicesByLastSeen.never" integer default 0,'
    ' add column "platform.counts.devicesByLastSeen.day" integer default 0,'
    ' add column "platform.counts.remoteBrokers" integer default 0',
]
PLAIN = "198.51.100.23"
LEGACY = base64.b64encode(hashlib.sha256(PLAIN.encode()).digest()).decode()


@pytest.fixture(scope="module")
def server():
    """A running PostgreSQL server with the collector's `pings` table and a first-era `pings_v1`."""
    with running(*(step.format(t="pings") for step in MIGRATIONS), MIGRATIONS[0].format(t="pings_v1")) as srv:
        yield srv


def insert(srv, table: str, rows: list[tuple]) -> None:
    """Insert (created_at, instanceId, ip, version, driver, license_type or None) rows."""
    with pg.connect(srv.uri) as conn, conn.cursor() as cur:
        for created, iid, ip, version, driver, licence in (tuple(r) + (None,) * (6 - len(r)) for r in rows):
            if table == "pings_v1":
                cur.execute(f'insert into {table} ("createdAt", "instanceId", ip, "env.flowforge", "platform.config.driver")'
                            " values ($1::timestamptz, $2, $3, $4, $5)", (created, iid, ip, version, driver))
            else:
                cur.execute(f'insert into {table} (created_at, "instanceId", ip, "env.flowforge", "platform.config.driver",'
                            ' "platform.license.type", "platform.counts.users", "platform.config.broker.enabled")'
                            " values ($1::timestamptz, $2, $3, $4, $5, $6, 5, true)",
                            (created, iid, ip, version, driver, licence))
        conn.commit()


def test_live_table_loads_incrementally_and_overlaps_with_an_export_count_once(cfg, server, tmp_path):
    insert(server, "pings", [
        ("2024-06-20 10:00:00.123456+00", "i-1", LEGACY, "2.5.0", "docker", "EE"),
        ("2024-06-30 10:00:00+00", "i-1", PLAIN, "2.6.0", "docker", "EE"),
        ("2024-06-30 11:00:00+00", "i-2", None, "2.6.0", "localfs", None),
    ])
    result = run(cfg, server.uri)
    assert result.errors == []
    assert (result.counts.read, result.counts.loaded) == (3, 3)
    days = mart(cfg, "instance_days").set_index(["instance_id", "day"])
    assert days["license_type"].tolist() == ["EE", "EE", "unreported"]
    assert days["users"].tolist() == [5, 5, 5] and days["broker_enabled"].all()
    assert mart(cfg, "instances").set_index("instance_id").loc["i-1", "ip_hashes"] == 1  # one address, two eras

    # new rows arrive; an export holds one of them and one already loaded
    insert(server, "pings", [
        ("2024-07-01 09:00:00+00", "i-3", PLAIN, "2.6.0", "kubernetes", "CE"),
        ("2024-07-01 09:30:00.5+00", "i-1", PLAIN, "2.6.1", "docker", "EE"),
    ])
    export = tmp_path / "export.csv"
    export.write_text("created_at,instanceId,ip,env.flowforge\n"
                      "2024-07-01 09:00:00,i-3,198.51.100.23,2.6.0\n"
                      "2024-06-30 11:00:00,i-2,,2.6.0\n")
    result = run(cfg, server.uri, export)
    assert (result.counts.read, result.counts.loaded, result.counts.duplicates) == (4, 2, 2)
    pg_reads = query(cfg, "select rows_read from load_log where source = $1 order by load_id", [server.uri])
    assert [r for (r,) in pg_reads] == [3, 2]           # the second refresh read only the new rows
    assert run(cfg, server.uri).counts.read == 0        # and a third reads nothing
    assert mart(cfg, "instances")["pings"].sum() == 5
    for path in [cfg.warehouse, *(p for p in cfg.parquet_dir.rglob("*.parquet") if p.is_file())]:
        assert PLAIN.encode() not in path.read_bytes()


def test_first_era_table_with_createdat_and_table_option(cfg, server):
    insert(server, "pings_v1", [("2022-03-01 08:00:00+00", "old-1", LEGACY, "0.2.0", "localfs")])
    result = run(cfg, server.uri + "?table=pings_v1")
    assert result.errors == [] and result.counts.loaded == 1
    row = mart(cfg, "instance_days").iloc[0]
    assert (row["version_minor"], row["driver"], str(row["day"])[:10]) == ("0.2", "localfs", "2022-03-01")


def test_unreachable_server_is_an_error_that_does_not_stop_other_sources(cfg, tmp_path):
    log = tmp_path / "p.jsonl"
    log.write_text('{"received_at": "2024-07-01T00:00:00Z", "payload": {"instanceId": "a"}}\n')
    result = run(cfg, "postgresql://nobody:secret@127.0.0.1:1/none", log)
    assert result.counts.loaded == 1
    assert len(result.errors) == 1 and "secret" not in result.errors[0]
