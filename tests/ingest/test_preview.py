"""sources.preview: what the next refresh would read, per source, without writing or printing anything."""

from __future__ import annotations

import hashlib
import os
import tempfile

import adbc_driver_postgresql.dbapi as pg
import pytest

from collector_table import Ping, add, build, export
from conftest import ping_line, run, write_lines
from pgserver import running
from pipelines.ingest import warehouse
from pipelines.ingest.sources import Preview, preview


@pytest.fixture(scope="module")
def server():
    """A running PostgreSQL server with the collector's table in the database `preview`."""
    with running() as srv:
        with pg.connect(srv.uri, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("create database preview")
        build(srv.uri.rsplit("/", 1)[0] + "/preview", [])
        yield srv


def pings(prefix: str, day: str, n: int) -> list[Ping]:
    """Return n pings of one day."""
    return [Ping(f"{day}T10:00:0{i}.000Z", {"instanceId": f"{prefix}-{i}", "env": {"flowforge": "2.6.0"}})
            for i in range(n)]


def previews(cfg, sources: list[str]) -> list[Preview]:
    """Return each source's preview on a read-only connection (None when there is no warehouse yet)."""
    if not cfg.warehouse.exists():
        return [preview(None, s) for s in sources]
    con = warehouse.connect(cfg.warehouse, read_only=True)
    try:
        return [preview(con, s) for s in sources]
    finally:
        con.close()


def digest(folder) -> dict[str, str]:
    """Return the SHA-256 of every file under a folder (to show that nothing was written)."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_preview_says_what_the_next_refresh_reads_and_writes_nothing(cfg, server, tmp_path, capsys):
    uri = server.uri.rsplit("/", 1)[0] + "/preview"
    logs = tmp_path / "logs"
    write_lines(logs / "a.jsonl", [ping_line(f"a-{i}") for i in range(3)], torn=ping_line("torn")[:20])
    write_lines(logs / "b.jsonl.gz", [ping_line("b-1", at="2024-07-02T00:00:00Z")], gz=True)
    add(uri, pings("pg", "2024-07-03", 4))
    (tmp_path / "exports").mkdir()
    export(uri, tmp_path / "exports" / "one.csv")
    sources = [str(logs), uri, str(tmp_path / "exports")]

    for step in range(3):
        before = digest(tmp_path)
        temp_before = set(os.listdir(tempfile.gettempdir()))
        capsys.readouterr()
        got = previews(cfg, sources)
        assert capsys.readouterr().err == ""                       # no warning printed
        assert digest(tmp_path) == before                          # nothing written, the warehouse included
        assert not {n for n in set(os.listdir(tempfile.gettempdir())) - temp_before
                    if n.startswith("pings-range-")}                # no range copied
        result = run(cfg, *sources)
        assert result.errors == []
        assert sum(p.rows for p in got) == result.counts.read, (step, got, result.counts)
        if step == 0:
            assert [(p.rows, p.items) for p in got] == [(4, 2), (4, 1), (4, 1)]
            # more arrives: appended lines (the torn one completed), table rows, a longer re-export
            with (logs / "a.jsonl").open("a") as fh:
                fh.write(ping_line("torn")[20:] + "\n" + ping_line("a-9", at="2024-07-01T13:00:00Z") + "\n")
            add(uri, pings("pg2", "2024-07-04", 2))
            export(uri, tmp_path / "exports" / "two.csv")
        if step == 1:
            assert [(p.rows, p.items) for p in got] == [(2, 1), (2, 1), (6, 1)]   # PG: re-read window less seen
            (logs / "a.jsonl").write_text(ping_line("changed") + "\n")         # a changed file: not read, no warning
    assert [(p.rows, p.items) for p in got] == [(0, 0), (0, 0), (0, 0)]


def test_a_source_that_cannot_be_read_previews_nothing_with_one_note(tmp_path):
    missing = preview(None, str(tmp_path / "gone.jsonl"))
    unreachable = preview(None, "postgresql://nobody:secret@127.0.0.1:1/none")
    for got in (missing, unreachable):
        assert (got.rows, got.items, len(got.notes)) == (0, 0, 1) and "\n" not in got.notes[0]
    assert "secret" not in unreachable.notes[0] and "127.0.0.1" not in unreachable.notes[0]
