"""PostgreSQL rows committed late (a second connection), and `infinity` stamps, on a real server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import adbc_driver_postgresql.dbapi as pg
import pytest

from conftest import query, run
from pgserver import running


@pytest.fixture(scope="module")
def server():
    """A running PostgreSQL server with a minimal collector table `late`."""
    with running('create table late (created_at timestamptz not null, "instanceId" varchar not null,'
                 ' "env.flowforge" varchar, primary key (created_at, "instanceId"))') as srv:
        yield srv


def stamp(minutes_ago: float) -> str:
    """Return a UTC time `minutes_ago` before now, as PostgreSQL text."""
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).isoformat()


def insert(conn, created: str, iid: str) -> None:
    """Insert one row on an open connection (not committed)."""
    with conn.cursor() as cur:
        cur.execute('insert into late (created_at, "instanceId", "env.flowforge") values ($1::timestamptz, $2, $3)',
                    (created, iid, "2.6.0"))


def test_a_row_committed_after_the_read_but_stamped_earlier_is_read_once(cfg, server):
    source = server.uri + "?table=late"
    slow = pg.connect(server.uri)       # the second connection: its insert commits late
    insert(slow, stamp(5), "late-one")
    with pg.connect(server.uri) as fast:
        insert(fast, stamp(4), "early-1")
        insert(fast, stamp(1), "early-2")
        insert(fast, "infinity", "forever")
        fast.commit()
    first = run(cfg, source)
    assert first.errors == []
    assert (first.counts.read, first.counts.loaded, first.counts.quarantined) == (3, 2, 1)
    watermark = query(cfg, "select watermark from source_state")[0][0]
    assert "infinity" not in watermark and watermark.startswith(str(datetime.now(timezone.utc).year))
    slow.commit()                       # stamped before the watermark, committed after the read
    slow.close()
    second = run(cfg, source)
    assert (second.counts.read, second.counts.loaded, second.counts.duplicates) == (1, 1, 0)
    assert run(cfg, source).counts.read == 0   # the re-read window holds only rows already read
    assert query(cfg, "select sum(rows_read), sum(loaded), sum(duplicates), sum(quarantined) from load_log") == [
        (4, 3, 0, 1)]
    assert sorted(i for (i,) in query(cfg, "select instance_id from raw_pings")) == ["early-1", "early-2", "late-one"]
    assert query(cfg, "select reason from quarantine") == [("received_at_out_of_range",)]
