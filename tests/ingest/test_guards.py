"""Privacy and provenance guards on the real loaders: address-shaped values, scrubbed errors, keys, SIMULATED."""

from __future__ import annotations

import json

import duckdb
import pytest

from conftest import TEST_KEY, ping_line, query, run, write_lines
from pipelines import privacy
from pipelines.ingest import warehouse
from pipelines.ingest.sources import is_simulated

ADDR = "198.51.100.9"
ADDR6 = "2001:db8::77"


def test_address_shaped_payload_values_are_blanked_and_recorded(cfg, tmp_path):
    log = write_lines(tmp_path / "p.jsonl", [
        ping_line("a", os={"release": f"5.15 on {ADDR}", "type": "Linux"}, env={"flowforge": "2.6.0"},
                  platform={"license": {"id": ADDR6}, "counts": {"users": ADDR}}),
        ping_line(ADDR, at="2024-07-01T13:00:00Z"),
    ])
    csv = tmp_path / "e.csv"
    csv.write_text(f"created_at,instanceId,platform.config.driver\n2024-07-01 14:00:00,b,{ADDR}\n")
    result = run(cfg, log, csv)
    assert (result.counts.loaded, result.counts.quarantined) == (2, 1)
    assert query(cfg, "select reason from quarantine") == [("instance_id_address_shaped",)]
    row = query(cfg, 'select "os.release", "os.type", "env.flowforge", "platform.license.id",'
                     ' "platform.counts.users" from raw_pings where instance_id = \'a\'')[0]
    assert row == (None, "Linux", "2.6.0", None, None)
    assert sorted(query(cfg, "select location, field from blanked_values")) == [
        ("e.csv:2", "platform.config.driver"), ("p.jsonl:1", "os.release"),
        ("p.jsonl:1", "platform.counts.users"), ("p.jsonl:1", "platform.license.id")]
    for path in [cfg.warehouse, *(p for p in cfg.parquet_dir.rglob("*.parquet") if p.is_file())]:
        data = path.read_bytes()
        assert ADDR.encode() not in data and ADDR6.encode() not in data, path


def test_error_texts_are_scrubbed_where_stored_and_returned(cfg, tmp_path):
    bad = tmp_path / f"from-{ADDR}.jsonl.gz"
    bad.write_bytes(b"not gzip")
    result = run(cfg, bad)
    assert len(result.errors) == 1 and ADDR not in result.errors[0] and "<ip>" in result.errors[0]
    (message,) = query(cfg, "select message from source_state")[0]
    assert message and ADDR not in message


def test_scrub_and_scrub_sql_agree_on_one_pattern_list():
    text = f"peer {ADDR}:443, {ADDR6}, ::1 and 10.0.0.1,10.0.0.2; keep v1.2.3 and 10.0.19045"
    con = duckdb.connect()
    assert con.execute("select " + privacy.scrub_sql("$1"), [text]).fetchall()[0][0] == privacy.scrub(text)
    assert privacy.scrub(text) == "peer <ip>:443, <ip>, <ip> and <ip>,<ip>; keep v1.2.3 and 10.0.19045"


def test_short_or_empty_keys_are_refused_in_one_line(tmp_path):
    for key in ("", "fifteen-bytes!!"):
        path = tmp_path / f"k{len(key)}"
        path.write_text(key)
        with pytest.raises(privacy.BadKey) as err:
            privacy.load_key(None, path)
        assert "PINGS_IP_HASH_KEY_FILE" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(privacy.BadKey, match="PINGS_IP_HASH_KEY"):
        privacy.load_key("short", tmp_path / "unused")
    assert privacy.load_key("x" * 16, tmp_path / "unused") == b"x" * 16


def test_the_warehouse_refuses_another_key(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.check_key(con, TEST_KEY.encode())
    warehouse.check_key(con, TEST_KEY.encode())   # the same key again is fine
    with pytest.raises(privacy.BadKey) as err:
        warehouse.check_key(con, b"another-key-of-16-bytes")
    assert "original key" in str(err.value) and "\n" not in str(err.value)
    fp = privacy.fingerprint(TEST_KEY.encode())
    assert TEST_KEY not in fp and con.execute("select value from warehouse_meta").fetchall() == [(fp,)]


def test_simulated_sources_are_recognised_and_recorded(cfg, tmp_path):
    sim = tmp_path / "sim"
    log = write_lines(sim / "pinglog" / "day" / "p.jsonl", [ping_line("a")])
    (sim / "SIMULATED").write_text("written by the simulator\n")
    real = write_lines(tmp_path / "real" / "p.jsonl", [ping_line("b")])
    assert is_simulated(str(sim / "pinglog")) and is_simulated(str(sim / "pinglog" / "day"))
    assert not is_simulated(str(log)) and not is_simulated(str(real))   # three levels up: too far
    run(cfg, real)
    con = warehouse.connect(cfg.warehouse)
    assert warehouse.simulated(con) is False
    con.close()
    run(cfg, real, sim / "pinglog")
    con = warehouse.connect(cfg.warehouse)
    assert warehouse.simulated(con) is True
    con.close()


def test_payload_keys_list_every_leaf_key(cfg, tmp_path):
    log = write_lines(tmp_path / "p.jsonl", [
        ping_line("a", env={"flowforge": "2.6.0"}, os="flat", extra={"deep": {"leaf": 1}, "list": [{"x": 1}]}),
        ping_line("b", env={"flowforge": "2.6.0", "nodejs": "v20"}, platform={"counts": {"users": 1}}, new=None),
    ])
    csv = tmp_path / "e.csv"
    csv.write_text("created_at,instanceId,env.flowforge,os.type\n2024-07-01 14:00:00,c,2.0.0,\n")
    run(cfg, log, csv)
    keys = dict(query(cfg, "select r.instance_id, s.keys from raw_pings r join payload_shapes s on s.shape = r.payload_shape"))
    assert keys == {
        "a": ["env.flowforge", "extra.deep.leaf", "extra.list", "instanceId", "os"],
        "b": ["env.flowforge", "env.nodejs", "instanceId", "new", "platform.counts.users"],
        "c": ["env.flowforge", "instanceId"],
    }


def _leaf_keys(payload: dict, prefix: str = "") -> set[str]:
    """Return the dotted leaf keys of a payload in plain Python (empty objects and array elements are no keys)."""
    keys: set[str] = set()
    for name, value in payload.items():
        if isinstance(value, dict):
            keys |= _leaf_keys(value, prefix + name + ".")
        else:
            keys.add(prefix + name)
    return keys


def test_payload_shapes_tell_apart_lines_whose_known_objects_list_the_same_keys(cfg, tmp_path):
    # each pair shares the keys at the known objects (env, os, platform...), so only a walk tells them apart
    lines = [
        ('{"received_at":"2024-07-01T12:00:00Z","payload":{"instanceId":"a","os":{},"x":1}}', {"instanceId", "x"}),
        ('{"received_at":"2024-07-01T12:00:00Z","payload":{"instanceId":"b","os":"flat","x":1}}', {"instanceId", "os", "x"}),
        ('{"received_at":"2024-07-01T12:00:00Z","payload":{"instanceId":"c","x":{},"y":2}}', {"instanceId", "y"}),
        ('{"received_at":"2024-07-01T12:00:00Z","payload":{"instanceId":"d","x":{ },"y":2}}', {"instanceId", "y"}),
        ('{"received_at":"2024-07-01T12:00:00Z","payload":{"instanceId":"e","x":3,"y":2}}', {"instanceId", "x", "y"}),
        # a key nested in an unknown object, balanced in the '":' count by a key spaced before its colon
        ('{"received_at":"2024-07-01T12:00:00Z","payload":{"instanceId":"f","u":{"deep":1},"v" :2}}',
         {"instanceId", "u.deep", "v"}),
        # an escaped '":' inside a value, and a key inside an array of objects (no key: an array element)
        ('{"received_at":"2024-07-01T12:00:00Z","payload":{"instanceId":"g","env":{"flowforge":"2\\":0"},'
         '"list":[{"k":1}]}}', {"instanceId", "env.flowforge", "list"}),
        ('{"received_at":"2024-07-01T12:00:00Z","payload":{"instanceId":"h","env":{"flowforge":"2.6.0"},'
         '"platform":{"counts":{"users":1,"extra":{"n":null}}}}}',
         {"instanceId", "env.flowforge", "platform.counts.users", "platform.counts.extra.n"}),
    ]
    log = write_lines(tmp_path / "p.jsonl", [line for line, _ in lines])
    run(cfg, log)
    for line, expected in lines:
        assert _leaf_keys(json.loads(line)["payload"]) == expected, line   # the truth's own check
    got = {i: set(k) for i, k in query(
        cfg, "select r.instance_id, s.keys from raw_pings r join payload_shapes s on s.shape = r.payload_shape")}
    assert got == {json.loads(line)["payload"]["instanceId"]: keys for line, keys in lines}
    assert query(cfg, "select count(*), count(payload_shape) from raw_pings") == [(len(lines), len(lines))]
