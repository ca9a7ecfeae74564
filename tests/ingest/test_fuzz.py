"""Property test: random and mutated ping-log lines, CSV rows and time strings through the real refresh.

For every example: nothing raises, read = loaded + duplicates + quarantined (+ pending, kept per file),
the rows read equal the lines written, and no address-shaped value survives in any warehouse table
or parquet file.
"""

from __future__ import annotations

import itertools
import json
import re

import duckdb
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run
from pipelines.privacy import ANY_ADDRESS

ADDRESS = re.compile(ANY_ADDRESS)
ADDRESSES = ["10.1.2.3", "198.51.100.7", "2001:db8::5", "::1", "fe80::1:2:3:4", "1:2:3:4:5:6:7:8",
             "::ffff:192.0.2.1", "255.255.255.255"]
TIMES = st.one_of(
    st.sampled_from(["2024-07-01T12:00:00.123Z", "2024-07-01 12:00:00", "2024-07-01T12:00:00+18:00",
                     "2024-07-01T12:00:00+19:00", "2024-07-01T12:00:00-23:59", "infinity", "-infinity", "epoch",
                     "now", "today", "2020-12-31T23:59:59Z", "2999-01-01T00:00:00Z", "294276-01-01", "",
                     " 2024-07-01T12:00:00Z ", "2024-02-30T00:00:00Z", "2024-07-01T24:00:00Z", "1-01-01 BC"]),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.text(max_size=30),
)
TEXT = st.one_of(st.text(max_size=20), st.sampled_from(ADDRESSES),
                 st.tuples(st.text(max_size=8), st.sampled_from(ADDRESSES)).map(lambda t: t[0] + " " + t[1]))
VALUE = st.one_of(TEXT, st.integers(), st.floats(allow_nan=False), st.booleans(), st.none())
SEEN = itertools.count()


@st.composite
def payloads(draw):
    """A ping payload: an instanceId (sometimes odd), known fields and unknown, possibly nested keys."""
    payload = {"instanceId": draw(st.one_of(st.text(min_size=1, max_size=12), TEXT, VALUE))}
    if draw(st.booleans()):
        payload["env"] = {"flowforge": draw(TEXT), "nodejs": draw(TEXT)}
    if draw(st.booleans()):
        payload["os"] = {"release": draw(TEXT), "type": draw(VALUE)}
    if draw(st.booleans()):
        payload["platform"] = {"counts": {"users": draw(VALUE)}, "license": {"id": draw(TEXT), "type": draw(TEXT)},
                               "config": {"driver": draw(TEXT)}}
    payload.update(draw(st.dictionaries(TEXT, st.one_of(VALUE, st.dictionaries(TEXT, VALUE, max_size=2)),
                                        max_size=2)))
    return payload


@st.composite
def lines(draw):
    """One ping-log line as bytes (no LF): a ping, a mutated ping, or random bytes."""
    line = json.dumps({"received_at": draw(TIMES), "ip_hash": draw(st.one_of(TEXT, st.none())),
                       "payload": draw(payloads())}).encode()
    kind = draw(st.integers(0, 5))
    if kind == 1:   # mutate bytes: flips, cuts, CRs, NULs, invalid UTF-8
        for _ in range(draw(st.integers(1, 4))):
            pos = draw(st.integers(0, len(line)))
            line = line[:pos] + draw(st.sampled_from([b"\r", b"\x00", b"\xff", b"\xc3", b"\"", b"}", b""])) \
                + line[pos + draw(st.integers(0, 3)):]
    elif kind == 2:
        line = draw(st.binary(max_size=60))
    return line.replace(b"\n", b" ")


CSV_HEADER = "created_at,instanceId,ip,env.flowforge,os.release,platform.counts.users,color\n"
CSV_FIELD = st.one_of(TEXT, TIMES).map(lambda v: v.replace("\n", " ").replace("\r", " "))


@st.composite
def csv_rows(draw):
    """One CSV data line: 1-9 fields (the header has 7), some quoted, some with commas or quotes."""
    fields = draw(st.lists(CSV_FIELD, min_size=1, max_size=9))
    out = []
    for f in fields:
        out.append('"' + f.replace('"', '""') + '"' if draw(st.booleans()) else f)
    return ",".join(out)


def no_address_anywhere(cfg) -> None:
    """Assert that no text column of any warehouse table or parquet file holds an address-shaped value."""
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        cols = con.execute("select table_schema, table_name, column_name, data_type from information_schema.columns"
                           " where data_type in ('VARCHAR', 'VARCHAR[]')").fetchall()
        for schema, table, column, kind in cols:
            expr = f'"{column}"' if kind == "VARCHAR" else f"array_to_string(\"{column}\", ' ')"
            hits = con.execute(f'select {expr} from "{schema}"."{table}" where regexp_matches({expr}, $1) limit 1',
                               [ANY_ADDRESS]).fetchall()
            assert not hits, (schema, table, column, hits)
    finally:
        con.close()
    for path in (p for p in cfg.parquet_dir.rglob("*.parquet") if p.is_file()):
        frame = pd.read_parquet(path)
        for column in frame.columns:
            values = frame[column].dropna().astype(str)
            assert not values.map(lambda v: bool(ADDRESS.search(v))).any(), (path.name, column)


@settings(max_examples=10, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(lines(), min_size=20, max_size=250), st.lists(csv_rows(), min_size=1, max_size=60))
def test_random_lines_never_break_counting_or_leak_an_address(cfg, tmp_path, log_lines, rows):
    folder = tmp_path / f"case-{next(SEEN)}"
    folder.mkdir()
    log = folder / "p.jsonl"
    log.write_bytes(b"".join(line + b"\n" for line in log_lines))
    csv = folder / "e.csv"
    csv.write_text(CSV_HEADER + "".join(r + "\n" for r in rows))
    result = run(cfg, log, csv)   # nothing raises
    c = result.counts
    assert c.read == c.loaded + c.duplicates + c.quarantined
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        read, done, pending = con.execute(
            "select sum(l.rows_read), sum(l.loaded + l.duplicates + l.quarantined), max(s.pending)"
            " from load_log l join source_state s on s.item = l.item where l.item = $1", [str(log)]).fetchall()[0]
    finally:
        con.close()
    assert (read, done, pending) == (len(log_lines), len(log_lines), 0)
    no_address_anywhere(cfg)
