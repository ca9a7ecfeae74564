"""Ping-log source: quarantine reasons, torn tails, appended lines, changed files, gzip, folders."""

from __future__ import annotations

import json

from conftest import mart, ping_line, query, run, write_lines


def test_an_instance_id_that_is_not_a_json_string_is_quarantined_whatever_its_text(cfg, tmp_path):
    # the reader accepts NaN and Infinity; their text reads like a word, not a number
    values = ["NaN", "-NaN", "-Infinity", "Infinity", "1e5", "1E400", "-1e400", "1.0E+5", "12.34E+56", "-0", "-0.0",
              "123456789012345678901234567890", "true", "false", "{}", "[1]"]
    base = ping_line("PLACE")
    strings = ["123", "nan", "{x", "3e5", "1.5", "-Infinity", "71c9b1d9-3dbc-4eb2-95a7-ba5944c85dd2"]
    lines = [base.replace('"PLACE"', v) for v in values] + [ping_line(s) for s in strings]
    run(cfg, write_lines(tmp_path / "log" / "pings-2024-07-01.jsonl", lines))
    q = mart(cfg, "quarantine")
    assert sorted(q["reason"]) == ["instance_id_not_string"] * len(values)
    assert sorted(r[0] for r in query(cfg, "select instance_id from raw_pings")) == sorted(strings)


def test_every_quarantine_reason_is_recorded_with_location_and_raw(cfg, tmp_path):
    lines = [
        ping_line("ok-1"),
        "this is not json",
        json.dumps({"received_at": "2024-07-01T12:00:00Z", "payload": "a string"}),
        json.dumps([1, 2, 3]),
        ping_line(None, env={"flowforge": "2.0.0"}),
        ping_line(12345),
        ping_line(""),
        ping_line("x" * 257),
        ping_line("ok-2", at="not a time"),
        json.dumps({"payload": {"instanceId": "no-time"}}),
        "",
        ping_line("ok-3", at="2024-07-01T13:00:00.000Z"),
    ]
    log = write_lines(tmp_path / "log" / "pings-2024-07-01.jsonl", lines)
    result = run(cfg, log)
    assert result.counts.read == 12
    assert result.counts.loaded == 2
    q = mart(cfg, "quarantine").sort_values("location")
    got = dict(zip(q["location"], q["reason"]))
    name = "pings-2024-07-01.jsonl"
    assert got == {
        f"{name}:2": "not_json",
        f"{name}:3": "not_object",
        f"{name}:4": "not_object",
        f"{name}:5": "instance_id_missing",
        f"{name}:6": "instance_id_not_string",
        f"{name}:7": "instance_id_empty",
        f"{name}:8": "instance_id_too_long",
        f"{name}:9": "received_at_unparseable",
        f"{name}:10": "received_at_missing",
        f"{name}:11": "not_json",
    }
    assert q.set_index("location").loc[f"{name}:2", "raw"] == "this is not json"
    assert (q["source"] == str(log)).all()


def test_torn_tail_is_pending_then_loaded_once_complete(cfg, tmp_path):
    log = tmp_path / "pings.jsonl"
    full = ping_line("late", at="2024-07-01T23:59:59.999Z")
    write_lines(log, [ping_line("a")], torn=full[:30])
    result = run(cfg, log)
    assert (result.counts.read, result.counts.loaded, result.counts.quarantined, result.pending) == (1, 1, 0, 1)
    assert query(cfg, "select pending from source_state") == [(1,)]
    # the collector finishes the line, then appends another
    with log.open("a") as fh:
        fh.write(full[30:] + "\n" + ping_line("b") + "\n")
    result = run(cfg, log)
    assert (result.counts.read, result.counts.loaded, result.pending) == (2, 2, 0)
    assert sorted(mart(cfg, "instances")["instance_id"]) == ["a", "b", "late"]
    assert mart(cfg, "quarantine").empty


def test_appended_lines_are_read_once_and_located_by_their_line(cfg, tmp_path):
    log = write_lines(tmp_path / "pings.jsonl", [ping_line("a"), ping_line("b")])
    run(cfg, log)
    with log.open("a") as fh:
        fh.write("garbage\n" + ping_line("c") + "\n")
    result = run(cfg, log)
    assert (result.counts.read, result.counts.loaded, result.counts.quarantined) == (2, 1, 1)
    assert mart(cfg, "quarantine")["location"].tolist() == ["pings.jsonl:3"]
    again = run(cfg, log)
    assert again.counts.read == 0
    (read, loaded, dup, quar) = query(cfg, "select sum(rows_read), sum(loaded), sum(duplicates), sum(quarantined) from load_log")[0]
    assert (read, loaded, dup, quar) == (4, 3, 0, 1)


def test_a_changed_loaded_part_is_reported_and_never_counted_twice(cfg, tmp_path, capsys):
    log = write_lines(tmp_path / "pings.jsonl", [ping_line("a"), ping_line("b")])
    run(cfg, log)
    write_lines(log, [ping_line("A"), ping_line("B"), ping_line("c")])
    result = run(cfg, log)
    assert result.counts.read == 0
    assert "changed after it was loaded" in capsys.readouterr().err
    assert query(cfg, "select status from source_state") == [("changed",)]
    assert sorted(mart(cfg, "instances")["instance_id"]) == ["a", "b"]


def test_folder_of_plain_and_gzip_logs_and_new_files(cfg, tmp_path):
    folder = tmp_path / "pinglog"
    write_lines(folder / "pings-2024-07-01.jsonl", [ping_line("a")])
    write_lines(folder / "old" / "pings-2024-06-30.jsonl.gz", [ping_line("b", at="2024-06-30T10:00:00Z")], gz=True)
    assert run(cfg, folder).counts.loaded == 2
    write_lines(folder / "pings-2024-07-02.jsonl", [ping_line("c", at="2024-07-02T10:00:00Z")])
    result = run(cfg, folder)
    assert (result.counts.read, result.counts.loaded) == (1, 1)
    assert mart(cfg, "active_daily")["active_1d"].tolist() == [1, 1, 1]


def test_stored_pings_at_the_edges_of_a_later_batch_are_duplicates_and_pings_beside_them_load(cfg, tmp_path):
    # the later batch's first and last times are pings stored by the first refresh (the range's ends count);
    # the pings a millisecond inside them, and another instance at a stored ping's time, are new
    first = write_lines(tmp_path / "a" / "pings-2024-07-01.jsonl",
                        [ping_line("x", at="2024-07-01T10:00:00.000Z"), ping_line("x", at="2024-07-01T12:00:00.000Z"),
                         ping_line("y", at="2024-07-01T11:00:00.000Z")])
    assert run(cfg, first).counts.loaded == 3
    later = write_lines(tmp_path / "b" / "pings-2024-07-01.jsonl",
                        [ping_line("x", at="2024-07-01T10:00:00.000Z"), ping_line("x", at="2024-07-01T10:00:00.001Z"),
                         ping_line("y", at="2024-07-01T11:00:00.000Z"), ping_line("z", at="2024-07-01T11:00:00.000Z"),
                         ping_line("x", at="2024-07-01T11:59:59.999Z"), ping_line("x", at="2024-07-01T12:00:00.000Z")])
    result = run(cfg, later)
    assert (result.counts.read, result.counts.loaded, result.counts.duplicates) == (6, 3, 3)
    assert mart(cfg, "instances").set_index("instance_id")["pings"].to_dict() == {"x": 4, "y": 1, "z": 1}
    # a batch wholly after the stored pings (no stored ping in its range): a ping twice in it counts once
    after = write_lines(tmp_path / "c" / "pings-2024-07-02.jsonl",
                        [ping_line("x", at="2024-07-02T10:00:00.000Z"), ping_line("x", at="2024-07-02T10:00:00.000Z")])
    result = run(cfg, after)
    assert (result.counts.read, result.counts.loaded, result.counts.duplicates) == (2, 1, 1)


def test_the_same_ping_in_two_files_counts_once(cfg, tmp_path):
    a = write_lines(tmp_path / "a.jsonl", [ping_line("x"), ping_line("y")])
    b = write_lines(tmp_path / "b.jsonl", [ping_line("y"), ping_line("y"), ping_line("z")])
    result = run(cfg, a, b)
    assert (result.counts.read, result.counts.loaded, result.counts.duplicates) == (5, 3, 2)
    assert mart(cfg, "instance_days")["pings"].tolist() == [1, 1, 1]


def test_bad_field_values_become_null_and_the_row_is_kept(cfg, tmp_path):
    log = write_lines(tmp_path / "p.jsonl", [
        ping_line("a", platform={"counts": {"users": -3, "teams": "many", "projects": 2.5, "devices": 4},
                                 "config": {"broker": {"enabled": "perhaps"}}}),
    ])
    run(cfg, log)
    day = mart(cfg, "instance_days").iloc[0]
    assert day["users"] is None or day.isna()["users"]
    assert day.isna()["teams"] and day.isna()["projects"] and day.isna()["broker_enabled"]
    assert day["devices"] == 4
    issues = dict(query(cfg, "select field, invalid from marts.invalid_values"))
    assert issues == {"users": 1, "teams": 1, "projects": 1, "broker_enabled": 1}
