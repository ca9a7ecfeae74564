"""Hostile input on the real loaders: wild times, unreadable lines, a writer appending, ragged CSV, FIFOs."""

from __future__ import annotations

import gzip
import json
import os
import threading
import time

from conftest import mart, ping_line, query, run, write_lines


def totals(cfg) -> tuple[int, int, int, int]:
    """Return (read, loaded, duplicates, quarantined) summed over load_log."""
    return query(cfg, "select sum(rows_read), sum(loaded), sum(duplicates), sum(quarantined) from load_log")[0]


def test_times_outside_the_window_are_quarantined_and_never_break_the_build(cfg, tmp_path):
    wild = ["infinity", "-infinity", "epoch", "2024-07-01T12:00:00+19:00", "2024-07-01T12:00:00-18:30",
            "2020-12-31T23:59:59Z", "2999-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
    lines = [ping_line(f"w-{i}", at=t) for i, t in enumerate(wild)]
    lines += [ping_line("ok", at="2024-07-01T12:00:00+18:00"), ping_line("ok2", at="2021-01-01T00:00:00Z")]
    log = write_lines(tmp_path / "p.jsonl", lines)
    result = run(cfg, log)
    assert result.errors == []
    assert (result.counts.read, result.counts.loaded, result.counts.quarantined) == (10, 2, 8)
    reasons = query(cfg, "select distinct reason, count(received_on) from quarantine group by all")
    assert reasons == [("received_at_out_of_range", 0)]
    assert sorted(mart(cfg, "instances")["instance_id"]) == ["ok", "ok2"]
    # a later refresh still builds
    write_lines(tmp_path / "q.jsonl", [ping_line("later", at="2024-07-02T00:00:00Z")])
    assert run(cfg, log, tmp_path / "q.jsonl").counts.loaded == 1


def test_one_unreadable_line_is_quarantined_alone_and_the_batch_loads(cfg, tmp_path):
    folder = tmp_path / "log"
    folder.mkdir()
    good = [ping_line(f"a-{i}", at=f"2024-07-01T12:00:0{i}Z") for i in range(3)]
    cr_line = '{"received_at": "2024-07-01T13:00:00Z",\r"payload": {"instanceId": "cr"}}'
    (folder / "a.jsonl").write_bytes(
        (good[0] + "\n").encode() + b'{"payload": "\xff\xfe"}\n' + (good[1] + "\n").encode()
        + b'{"x": "' + b"y" * 2_100_000 + b'"}\n' + (cr_line + "\n" + good[2] + "\n").encode())
    write_lines(folder / "b.jsonl", [ping_line("b", at="2024-07-01T14:00:00Z")])
    (folder / "c.jsonl.gz").write_bytes(b"this is not gzip")
    result = run(cfg, folder)
    assert (result.counts.read, result.counts.loaded, result.counts.quarantined) == (7, 5, 2)
    assert len(result.errors) == 1 and "c.jsonl.gz" in result.errors[0]
    q = dict(query(cfg, "select location, reason from quarantine"))
    assert q == {"a.jsonl:2": "not_utf8", "a.jsonl:4": "line_too_long"}
    locations = dict(query(cfg, "select instance_id, location from raw_pings"))
    assert locations["cr"] == "a.jsonl:5" and locations["a-2"] == "a.jsonl:6"
    assert query(cfg, "select status from source_state where item like '%c.jsonl.gz'") == [("error",)]
    assert run(cfg, folder).counts.read == 0


def test_refreshing_while_a_writer_appends_counts_every_line_once(cfg, tmp_path):
    log = tmp_path / "live.jsonl"
    log.write_text("")
    done = threading.Event()

    def writer():
        with log.open("a") as fh:
            for i in range(1500):
                line = ping_line(f"i-{i}", at=f"2024-07-01T12:{i // 60 % 60:02d}:{i % 60:02d}.000Z")
                fh.write(line[:20])   # a torn line for a moment
                fh.flush()
                time.sleep(0.002)
                fh.write(line[20:] + "\n")
                fh.flush()
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        refreshes = 0
        while not done.is_set() or refreshes < 2:
            run(cfg, log)
            refreshes += 1
    finally:
        thread.join()
    result = run(cfg, log)
    lines = log.read_bytes().count(b"\n")
    read, loaded, dup, quar = totals(cfg)
    assert (read, loaded, dup, quar) == (lines, lines, 0, 0)
    assert result.pending == 0 and query(cfg, "select count(distinct location) from raw_pings") == [(lines,)]


def test_csv_ragged_row_is_one_row_and_unknown_columns_keep_the_raw_text(cfg, tmp_path):
    csv = tmp_path / "e.csv"
    csv.write_text("created_at,instanceId,env.flowforge,color,size\n"
                   "2024-07-01 10:00:00,i-1,2.0.0,red,1\n"
                   "2024-07-01 11:00:00\n"
                   ",i-2,2.0.0,blue,2\n")
    result = run(cfg, csv)
    assert (result.counts.read, result.counts.loaded, result.counts.quarantined) == (3, 1, 2)
    q = dict(query(cfg, "select reason, raw from quarantine"))
    assert q["csv_malformed"] == "2024-07-01 11:00:00"
    assert json.loads(q["received_at_missing"]) == {"created_at": None, "instanceId": "i-2",
                                                    "env.flowforge": "2.0.0", "color": "blue", "size": "2"}


def test_semicolon_csv_is_reported_in_one_line(cfg, tmp_path):
    csv = tmp_path / "semi.csv"
    csv.write_text("created_at;instanceId\n2024-07-01 10:00:00;i-1\n")
    result = run(cfg, csv)
    assert len(result.errors) == 1 and "semicolon-delimited" in result.errors[0]
    assert "\n" not in result.errors[0] and result.counts.read == 0


def test_a_fifo_named_like_a_log_is_skipped_with_a_warning(cfg, tmp_path, capsys):
    folder = tmp_path / "log"
    write_lines(folder / "a.jsonl", [ping_line("a")])
    os.mkfifo(folder / "trap.jsonl")
    result = run(cfg, folder)
    assert result.counts.loaded == 1 and result.errors == []
    assert "not a regular file" in capsys.readouterr().err


def test_gzip_with_a_raw_cr_loads_every_line(cfg, tmp_path):
    path = tmp_path / "p.jsonl.gz"
    with gzip.open(path, "wt", newline="") as fh:
        fh.write('{"received_at": "2024-07-01T12:00:00Z",\r"payload": {"instanceId": "a"}}\r\n')
    result = run(cfg, path)
    assert (result.counts.read, result.counts.loaded) == (1, 1)


def _leaf_keys(payload: dict, prefix: str = "") -> set[str]:
    """Return the dotted leaf keys of a payload in plain Python (empty objects and array elements are no keys)."""
    keys: set[str] = set()
    for name, value in payload.items():
        keys |= _leaf_keys(value, prefix + name + ".") if isinstance(value, dict) else {prefix + name}
    return keys


def test_a_key_given_twice_keeps_its_last_value_as_the_collectors_parser_does(cfg, tmp_path):
    lines = [
        '{"received_at": "2024-07-01T12:00:00Z", "payload": {"instanceId": "first", "instanceId": "last",'
        ' "env": {"flowforge": "1.0.0", "flowforge": "2.0.0"}}}',
        '{"received_at": "2024-07-01T12:00:01Z", "payload": {"instanceId": "p1", "os": {"type": "Linux"}},'
        ' "payload": {"instanceId": "p2", "env": {"nodejs": "v18.0.0"}}}',
        '{"received_at": "2024-07-01T12:00:02Z", "received_at": "2024-07-02T12:00:02Z",'
        ' "payload": {"instanceId": "t"}}',
        '{"received_at": "2024-07-01T12:00:03Z", "payload": {"instanceId": "o"}, "payload": "a string"}',
        '{"received_at": "2024-07-01T12:00:04Z", "payload": {"instanceId": "s", "instanceId": 5}}',
        '{"received_at": "2024-07-01T12:00:05Z", "payload": {"instanceId": "e", "env": {"flowforge": "1.0.0",'
        ' "nodejs": "v16.0.0"}, "platform": {"counts": {"users": 1}}, "env": {"flowforge": "3.0.0"}}}',
        '{"received_at": "2024-07-01T12:00:06Z", "payload": {"instanceId": "n", "x": {"a": 1}, "x": {"b": 2},'
        ' "y": 1, "y": {"c": 3}}}',
    ]
    log = write_lines(tmp_path / "dup.jsonl", lines)
    result = run(cfg, log)
    # the truth: Python's json module keeps the last value of a repeated key, as JSON.parse does
    parsed = [json.loads(line) for line in lines]
    good = [p for p in parsed if isinstance(p["payload"], dict) and isinstance(p["payload"]["instanceId"], str)]
    assert (result.counts.read, result.counts.loaded, result.counts.quarantined) == (7, len(good), 2)
    assert dict(query(cfg, "select location, reason from quarantine")) == {
        "dup.jsonl:4": "not_object", "dup.jsonl:5": "instance_id_not_string"}
    landed = {i: (str(t), v, n) for i, t, v, n in query(
        cfg, 'select instance_id, received_at, "env.flowforge", "env.nodejs" from raw_pings')}
    assert landed == {
        p["payload"]["instanceId"]: (p["received_at"].replace("T", " ").removesuffix("Z"),
                                     p["payload"].get("env", {}).get("flowforge"), p["payload"].get("env", {}).get("nodejs"))
        for p in good}
    keys = {i: set(k) for i, k in query(
        cfg, "select r.instance_id, s.keys from raw_pings r join payload_shapes s on s.shape = r.payload_shape")}
    assert keys == {p["payload"]["instanceId"]: _leaf_keys(p["payload"]) for p in good}


def _gzip_bytes(text: str) -> bytes:
    """Return text gzip-compressed."""
    return gzip.compress(text.encode())


def test_an_unreadable_corrupt_or_truncated_file_never_stops_another(cfg, tmp_path):
    logs, exports = tmp_path / "logs", tmp_path / "exports"
    lines = [ping_line(f"g-{i}", at=f"2024-07-01T12:00:0{i}Z") for i in range(4)]
    header = "created_at,instanceId,env.flowforge\n"
    rows = [f"2024-07-02 10:00:0{i},c-{i},2.6.0\n" for i in range(4)]
    good_gz = _gzip_bytes("".join(line + "\n" for line in lines))
    good_csv_gz = _gzip_bytes(header + "".join(rows))
    files = {
        logs / "a-good.jsonl": ("".join(line + "\n" for line in lines[:2])).encode(),
        logs / "b-good.jsonl.gz": good_gz,
        logs / "c-truncated.jsonl.gz": good_gz[: len(good_gz) // 2],
        logs / "d-corrupt.jsonl.gz": good_gz[:12] + bytes(b ^ 0x5A for b in good_gz[12:-8]) + good_gz[-8:],
        logs / "e-not-gzip.jsonl.gz": b"plain text, not gzip\n",
        logs / "f-torn.jsonl": (lines[2] + "\n" + lines[3][:25]).encode(),
        logs / "g-binary.jsonl": bytes(range(256)) + b"\n",
        exports / "a-good.csv": (header + rows[0]).encode(),
        exports / "b-good.csv.gz": good_csv_gz,
        exports / "c-truncated.csv.gz": good_csv_gz[: len(good_csv_gz) // 2],
        exports / "d-corrupt.csv.gz": good_csv_gz[:12] + bytes(b ^ 0x5A for b in good_csv_gz[12:-8]) + good_csv_gz[-8:],
        exports / "e-binary.csv": bytes(range(256)) + b"\n",
        exports / "f-torn.csv": (header + rows[1] + rows[2][:9]).encode(),
    }
    for path, data in files.items():
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    (logs / "h-unreadable.jsonl").symlink_to(tmp_path / "gone.jsonl")      # listed, cannot be opened
    (exports / "g-unreadable.csv").symlink_to(tmp_path / "gone.csv")
    result = run(cfg, logs, exports)
    failed = sorted(e.split(": ")[0].rsplit("/", 1)[-1] for e in result.errors)
    assert failed == ["c-truncated.csv.gz", "c-truncated.jsonl.gz", "d-corrupt.csv.gz", "d-corrupt.jsonl.gz",
                      "e-binary.csv", "e-not-gzip.jsonl.gz", "g-unreadable.csv", "h-unreadable.jsonl"]
    loaded = {i for (i,) in query(cfg, "select instance_id from raw_pings")}
    assert loaded == {"g-0", "g-1", "g-2", "g-3", "c-0", "c-1", "c-2", "c-3"}
    # the binary file's two lines (byte 10 is a newline) are quarantined alone
    assert sorted(query(cfg, "select location from quarantine where reason in ('not_json', 'not_utf8')")) == [
        ("g-binary.jsonl:1",), ("g-binary.jsonl:2",)] == sorted(query(cfg, "select location from quarantine"))
    assert result.pending == 2                                             # the two torn final lines
    states = dict(query(cfg, "select regexp_extract(item, '[^/]+$'), status from source_state"))
    assert sorted(k for k, v in states.items() if v == "error") == failed
