"""No address anywhere, proven: addresses planted in every field of every source kind, then every byte scanned.

Planted: instanceId, payload values, payload keys and column names, `ip`, the DSN, folder and file
names, quarantined text and a failing file's name. Scanned after a refresh, a second refresh and a
prune of the PostgreSQL re-read state: every byte of the data folder (warehouse file, parquet sets,
logs), a report folder, and every line the runs printed; and, because DuckDB and parquet compress
strings, every text column of every warehouse table and every parquet file, read back.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json

import adbc_driver_postgresql.dbapi as pg
import pytest

from collector_table import Ping, add, build, migrate
from conftest import ping_line, write_lines
from pgserver import running
from pipelines import flow
from pipelines import settings as settings_mod
from pipelines.settings import NOTEBOOKS_DIR
from test_fuzz import no_address_anywhere

V4 = ["10.9.8.7", "192.0.2.44", "198.51.100.77"]
V6 = ["2001:db8::1234", "fe80::1:2:3:4"]
HOST = "127.0.0.1"          # the test server's address, in the DSN


def forms(address: str) -> list[bytes]:
    """Return the byte forms an address must not be stored in: plain, its legacy (unkeyed) base64 SHA-256, hex SHA-256."""
    digest = hashlib.sha256(address.encode()).digest()
    return [address.encode(), base64.b64encode(digest), digest.hex().encode()]


def payload(iid: str, **extra) -> dict:
    """Return a payload with addresses in its values and keys."""
    return {"instanceId": iid, "env": {"flowforge": "2.6.0", "nodejs": f"v18 {V4[1]}"},
            "os": {"release": f"5.15 on {V6[0]}", "type": "Linux"},
            "platform": {"license": {"id": V4[2], "type": "EE"}, "config": {"driver": V6[1]}}, **extra}


@pytest.fixture(scope="module")
def server():
    """A running PostgreSQL server."""
    with running() as srv:
        yield srv


def test_no_address_is_stored_printed_or_reported(cfg, server, tmp_path):
    with pg.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("create database planted")
    dsn = server.uri.rsplit("/", 1)[0] + "/planted"
    assert HOST in dsn
    build(dsn, [Ping("2024-07-01T10:00:00.000Z", payload("pg-ok"), address=V4[0]),
                Ping("2024-07-01T10:00:01.000Z", payload(V4[0]), address=V4[1]),            # quarantined
                Ping("2024-06-01T10:00:00.000Z", payload("pg-legacy"), address=V4[2])])      # legacy hash stored
    migrate(dsn, f'alter table pings add column "note.{V4[1]}" varchar, add column "notes" varchar')
    with pg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"update pings set notes = 'seen at {V6[0]}', \"note.{V4[1]}\" = '{V4[2]}'")
        conn.commit()

    logs = tmp_path / f"from-{V4[1]}"
    write_lines(logs / f"pings-{V4[0]}.jsonl", [
        ping_line("log-ok", ip_hash=V4[2], **{k: v for k, v in payload("x").items() if k != "instanceId"}),
        ping_line(f"host-{V4[2]}", at="2024-07-01T12:00:01Z", ip_hash=V6[0]),                 # quarantined
        json.dumps({"received_at": "2024-07-01T12:00:02Z", "ip_hash": V6[1],
                    "payload": {"instanceId": "log-keys", V4[0]: 1, "nested": {V6[0]: {"a": V4[1]}}}}),
        f"not json from {V4[0]} and {V6[1]}",                                                  # quarantined
    ])
    bad = logs / f"bad-{V4[2]}.jsonl.gz"
    bad.write_bytes(gzip.compress(bytes(range(256)) * 8)[:200])             # a failing file
    exports = tmp_path / f"exports-{V4[0]}"
    exports.mkdir()
    (exports / f"export-{V4[2]}.csv").write_text(
        f'created_at,instanceId,ip,os.release,platform.counts.{V4[0]},note\n'
        f'2024-07-02 10:00:00,csv-ok,{V4[1]},on {V4[0]},1,{V6[0]}\n'
        f'2024-07-02 10:00:01,{V4[2]},{V4[1]},,,\n'                                          # quarantined
        f'2024-07-02 10:00:02,{V4[0]}\n')                                                    # ragged: quarantined
    sources = [str(logs), str(exports), dsn]
    cfg = settings_mod.Settings(**{**vars(cfg), "sources": sources, "warehouse": None, "parquet_dir": None})
    printed: list[str] = []

    def say(line: str) -> None:
        printed.append(line)

    first = flow.refresh(cfg, sources, progress=say)
    assert first.counts.loaded == 5 and len(first.errors) == 1
    # a second refresh with new rows everywhere, then one an hour later: the re-read state is pruned
    add(dsn, [Ping("2024-07-01T11:00:00.000Z", payload("pg-later"), address=V6[0])])
    write_lines(exports / f"second-{V4[1]}.csv", ["created_at,instanceId,ip", f"2024-07-03 10:00:00,csv-2,{V6[1]}"])
    with (logs / f"pings-{V4[0]}.jsonl").open("a") as fh:
        fh.write(ping_line("log-2", at="2024-07-03T12:00:00Z", ip_hash=V4[0]) + "\n")
    second = flow.refresh(cfg, sources, progress=say)
    add(dsn, [Ping("2024-07-01T13:00:00.000Z", payload("pg-prune"), address=None)])
    third = flow.refresh(cfg, sources, progress=say)
    assert (second.counts.loaded, third.counts.loaded) == (3, 1)
    reports = tmp_path / "reports"
    bad.unlink()   # a report needs a refresh without errors
    flow.report(cfg, out=reports, log=say, pages=[NOTEBOOKS_DIR / "05_data_quality.py"])
    printed += first.errors + second.errors + third.errors

    planted = [*V4, *V6, HOST]
    files = [p for folder in (cfg.data_dir, reports) for p in folder.rglob("*") if p.is_file()]
    assert cfg.warehouse in files and any(p.suffix == ".parquet" for p in files) and any(reports.rglob("*.html"))
    for path in files:
        data = path.read_bytes()
        for address in planted:
            for form in forms(address):
                assert form not in data, (path, address, form)
    text = "\n".join(printed).encode()
    for address in planted:
        assert address.encode() not in text, address
    no_address_anywhere(cfg)   # every text column and parquet value, read back
