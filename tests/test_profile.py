"""PINGS_PROFILE: every statement of a connection timed under its step, ranked; parameters never written."""

from __future__ import annotations

import json

from pipelines import profile
from pipelines.ingest import warehouse


def test_statements_are_timed_under_their_step_and_ranked(tmp_path, monkeypatch):
    trace = tmp_path / "profile.jsonl"
    monkeypatch.setenv(profile.ENV, str(trace))
    con = warehouse.connect(tmp_path / "w.duckdb")
    with profile.step("model marts.x"):
        con.execute("create table t as select range as i from range(200000)")
        con.execute("select count(*) from t where i > $1", [7]).fetchall()
    with profile.step("landing"):
        con.executemany("insert into t values ($1)", [[1], [2]])
    con.close()
    rows = [json.loads(line) for line in trace.read_text().splitlines()]
    assert {r["step"] for r in rows} >= {"other", "model marts.x", "landing"}   # connect's own statements are "other"
    assert {"step": "model marts.x", "statement": "select count(*) from t where i > $1"} in [
        {k: r[k] for k in ("step", "statement")} for r in rows]
    ranked = profile.summary(trace)
    assert {name for name, _ in ranked["steps"]} == {"other", "model", "landing"}
    sums: dict = {}
    for r in rows:
        sums[(r["step"], r["statement"])] = sums.get((r["step"], r["statement"]), 0) + r["seconds"]
    assert ranked["statements"][0][3] == round(max(sums.values()), 2)      # seconds rounded to 0.01: ties allowed


def test_parameters_never_reach_the_file(tmp_path, monkeypatch):
    trace = tmp_path / "profile.jsonl"
    monkeypatch.setenv(profile.ENV, str(trace))
    con = warehouse.connect(tmp_path / "w.duckdb")
    con.execute("select $1 as ip", ["10.1.2.3"]).fetchall()
    con.close()
    assert "10.1.2.3" not in trace.read_text()


def test_without_the_setting_the_connection_is_duckdb_s_own(tmp_path, monkeypatch):
    monkeypatch.delenv(profile.ENV, raising=False)
    con = warehouse.connect(tmp_path / "w.duckdb")
    assert not isinstance(con, profile.Timed)
    con.close()
