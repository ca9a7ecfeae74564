"""PostgreSQL rows committed late (a second connection), and `infinity` stamps, on a real server.

The collector's real table (collector_table.py): created_at is the database's CURRENT_TIMESTAMP, the
start of the inserting transaction, as a `timestamp without time zone` in the database's TimeZone.
The guarantee holds in a UTC database and in one whose TimeZone is America/New_York.
"""

from __future__ import annotations

from datetime import datetime, timezone

import adbc_driver_postgresql.dbapi as pg
import pytest

from collector_table import Ping, build, insert
from conftest import query, run
from pgserver import running


@pytest.fixture(scope="module")
def server():
    """A running PostgreSQL server (each test makes its own database)."""
    with running() as srv:
        yield srv


def database(srv, name: str, zone: str) -> str:
    """Create a database whose sessions use `zone`, with the collector's table; return its URI."""
    with pg.connect(srv.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"create database {name}")
        cur.execute(f"alter database {name} set timezone to '{zone}'")
    uri = srv.uri.rsplit("/", 1)[0] + "/" + name
    build(uri, [])
    return uri


def ping(iid: str, at: str | None = None) -> Ping:
    """Return a ping stamped by the database (at=None) or at a given time."""
    return Ping(at, {"instanceId": iid, "env": {"flowforge": "2.6.0"}})


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_a_row_committed_after_the_read_but_stamped_earlier_is_read_once(cfg, server, zone):
    source = database(server, "late_" + zone.lower().replace("/", "_"), zone)
    slow = pg.connect(source)           # the second connection: its transaction starts first, commits late
    with slow.cursor() as cur:
        insert(cur, ping("late-one"))
    with pg.connect(source) as fast:
        with fast.cursor() as cur:
            insert(cur, ping("early-1"))
            insert(cur, ping("early-2"))
            insert(cur, ping("forever", "infinity"))
        fast.commit()
    first = run(cfg, source)
    assert first.errors == []
    assert (first.counts.read, first.counts.loaded, first.counts.quarantined) == (3, 2, 1)
    watermark = query(cfg, "select watermark from source_state")[0][0]
    assert "infinity" not in watermark and watermark.startswith(str(datetime.now(timezone.utc).year))
    # the stamps landed in UTC, whatever the database's zone: within a minute of now
    for (at,) in query(cfg, "select received_at from raw_pings"):
        assert abs((datetime.now(timezone.utc).replace(tzinfo=None) - at).total_seconds()) < 60
    slow.commit()                       # stamped before the watermark, committed after the read
    slow.close()
    second = run(cfg, source)
    assert (second.counts.read, second.counts.loaded, second.counts.duplicates) == (1, 1, 0)
    assert run(cfg, source).counts.read == 0   # the re-read window holds only rows already read
    assert query(cfg, "select sum(rows_read), sum(loaded), sum(duplicates), sum(quarantined) from load_log") == [
        (4, 3, 0, 1)]
    assert sorted(i for (i,) in query(cfg, "select instance_id from raw_pings")) == ["early-1", "early-2", "late-one"]
    assert query(cfg, "select reason from quarantine") == [("received_at_out_of_range",)]
    assert query(cfg, "select time_zone from source_state") == [(zone,)]
