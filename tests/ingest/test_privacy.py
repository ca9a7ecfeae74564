"""The keyed IP hash: SQL and Python agree, eras agree, and no plain address is written anywhere."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat

import duckdb

from conftest import TEST_KEY, mart, ping_line, query, run, write_lines
from pipelines import privacy

PLAIN = "203.0.113.77"
PLAIN6 = "2001:db8:85a3::8a2e:370:7334"


def expected(ip: str) -> str:
    """The rule written out independently: HMAC-SHA256(key, base64(sha256(ip)))."""
    legacy = base64.b64encode(hashlib.sha256(ip.encode()).digest())
    return hmac.new(TEST_KEY.encode(), legacy, hashlib.sha256).hexdigest()


def test_sql_macro_matches_python_hmac_for_plain_legacy_and_keyed_forms():
    con = duckdb.connect()
    con.execute(privacy.sql_macro(TEST_KEY.encode()))
    legacy = base64.b64encode(hashlib.sha256(PLAIN.encode()).digest()).decode()
    rows = con.execute("select ip_key($1), ip_key($2), ip_key($3), ip_key($4), ip_key(null), ip_key('')",
                       [PLAIN, legacy, expected(PLAIN), PLAIN6]).fetchone()
    assert rows[0] == rows[1] == rows[2] == expected(PLAIN)
    assert rows[3] == expected(PLAIN6)
    assert rows[4] is None and rows[5] is None
    assert privacy.ip_key(PLAIN, TEST_KEY.encode()) == expected(PLAIN)


def test_long_keys_are_hashed_first_like_hmac_does():
    key = b"k" * 100
    con = duckdb.connect()
    con.execute(privacy.sql_macro(key))
    legacy = base64.b64encode(hashlib.sha256(PLAIN.encode()).digest())
    assert con.execute("select ip_key($1)", [PLAIN]).fetchone()[0] == hmac.new(key, legacy, hashlib.sha256).hexdigest()


def test_key_file_is_created_once_with_mode_0600(tmp_path):
    path = tmp_path / "sub" / "ip_hash.key"
    first = privacy.load_key(None, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert privacy.load_key(None, path) == first and len(first) == 64


def test_one_address_in_both_eras_gives_one_hash_and_is_never_written(cfg, tmp_path):
    legacy = base64.b64encode(hashlib.sha256(PLAIN.encode()).digest()).decode()
    csv = tmp_path / "pings.csv"
    csv.write_text(
        "created_at,instanceId,ip,env.flowforge\n"
        f"2024-06-01 10:00:00,i-1,{legacy},2.0.0\n"
        f"2024-06-01 11:00:00,i-1,{PLAIN},2.0.0\n"
        f"2024-06-01 12:00:00,i-1,{PLAIN6},2.0.0\n"
        f",i-2,{PLAIN},2.0.0\n"
    )
    log = write_lines(tmp_path / "p.jsonl", [
        ping_line("i-1", at="2024-06-01T13:00:00Z", ip_hash=PLAIN),
        '{"received_at": "2024-06-01T14:00:00Z", "ip_hash": "' + PLAIN + '", "payload": ',
        ping_line("i-1", at="2024-06-01T15:00:00Z", ip_hash=expected(PLAIN)),
    ])
    run(cfg, csv, log)
    assert mart(cfg, "instance_days")["ip_hashes"].tolist() == [2]
    assert sorted(h for (h,) in query(cfg, "select distinct ip_hash from raw_pings")) == sorted(
        [expected(PLAIN), expected(PLAIN6)])
    q = mart(cfg, "quarantine")
    assert len(q) == 2 and not q["raw"].str.contains(PLAIN, regex=False).any()
    written = [cfg.warehouse] + list((p for p in cfg.parquet_dir.rglob("*.parquet") if p.is_file()))
    for path in written:
        data = path.read_bytes()
        assert PLAIN.encode() not in data and PLAIN6.encode() not in data, path
    assert TEST_KEY.encode() not in cfg.warehouse.read_bytes()
