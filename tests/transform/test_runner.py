"""The engine: dependencies from parsed SQL, build order, declarations checked at discovery, the `models`
command, and the properties every build keeps (an incremental build equals a full one, a grouped full
build equals one pass, a keyed view checks new rows against old ones)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from pipelines import fields
from pipelines.ingest import warehouse
from pipelines.settings import PACKAGE_DIR
from pipelines.transform import models, runner
from pipelines.transform.declare import ByDate, ByKey, ModelError, Period, Table, declaration, header


def test_a_commented_out_table_name_is_not_a_dependency():
    sql = """-- reads marts.instances? no: only intermediate.int_instance_days
    with days as (
        select * from intermediate.int_instance_days  -- was: staging.stg_pings
        /* and once: main.raw_pings */
    )
    select * from days"""
    assert models.reads(sql) == ["intermediate.int_instance_days"]


def test_cte_names_are_not_dependencies_but_unqualified_tables_are_main():
    sql = "with raw_pings as (select * from main.raw_pings), x as (select * from raw_pings) select * from x, load_log"
    assert models.reads(sql) == ["main.load_log", "main.raw_pings"]


def _model(name, layer, sql):
    """Return an in-memory table model."""
    return models.Model(name, layer, models.SQL_DIR / layer / f"{name}.sql", sql, Table())


def test_models_are_ordered_across_layers_by_what_they_read():
    found = [
        _model("b", "marts", "select * from marts.a, intermediate.i"),
        _model("a", "marts", "select * from intermediate.i"),
        _model("i", "intermediate", "select * from staging.s"),
        _model("s", "staging", "select * from main.raw_pings"),
    ]
    assert [m.name for m in models.ordered(found)] == ["s", "i", "a", "b"]
    cyclic = [_model("a", "marts", "select * from marts.b"), _model("b", "marts", "select * from marts.a")]
    with pytest.raises(ModelError, match="cycle"):
        models.ordered(cyclic)


def test_every_real_model_is_built_after_the_models_it_reads():
    seen = set()
    known = {m.relation for m in models.discover()}
    for model in models.build_order():
        assert {r for r in model.reads if r in known} <= seen, model.relation
        seen.add(model.relation)


def test_the_header_is_one_line_parsed_once_into_a_typed_declaration_with_defaults():
    text = ('-- m: what it is\n-- model: kind = "by_date", grain = "week", cut = ["w"]\nselect 1\n'
            '-- model: kind = "view"\n')
    assert header(text, "m.sql") == {"kind": "by_date", "grain": "week", "cut": ["w"]}   # leading comments only
    assert header("select 1\n-- model: kind = \"view\"\n", "m.sql") is None
    assert declaration(header(text, "m.sql"), "m.sql") == ByDate(grain="week", column="week", cut=("w",),
                                                                time_column="week")
    by_key = declaration({"kind": "by_key", "key": ["i", "month"], "input": ["a.b"], "period": {"grain": "month"}}, "m.sql")
    assert by_key == ByKey(key=("i", "month"), input=("a.b",), period=Period("month", "month", "day"))
    assert by_key.changes == "staging.stg_pings.load_id"


@pytest.mark.parametrize("raw, field, says", [
    ({"kind": "incremental"}, "kind", "must be one of"),
    ({"kind": "table", "key": ["a"]}, "key", "does not fit kind 'table'"),
    ({"kind": "by_date", "grain": "week"}, "cut", "needs it"),
    ({"kind": "by_date", "grain": "fortnight", "cut": ["x"]}, "grain", "must be one of"),
    ({"kind": "by_date", "grain": "day", "cut": ["x"], "lookback": -1}, "lookback", "whole number of days"),
    ({"kind": "by_date", "grain": "day", "cut": ["x"], "restate": "some"}, "restate", "or \"all\""),
    ({"kind": "by_key", "key": ["a"]}, "input", "needs it"),
    ({"kind": "by_key", "key": ["a"], "input": ["b.c"], "period": {"grain": "day"}}, "period.column", "not one of the key"),
    ({"kind": "fold", "key": ["a"], "merge": {"b": "avg"}}, "merge.b", "must be one of"),
    ({"kind": "fold", "key": ["a"], "merge": {}, "changes": "raw_pings"}, "changes", "schema.table.column"),
    ({"kind": "view", "reach": {}}, "reach", "unknown field"),
    ({"kind": "table", "partition": "month"}, "partition", "needs time_column"),
])
def test_a_wrong_missing_or_misplaced_field_names_the_file_and_the_field(raw, field, says):
    with pytest.raises(ModelError, match=f"^m.sql: field '{field}': .*{says}"):
        declaration(raw, "m.sql")


@pytest.mark.parametrize("sql, field", [
    ('-- model: kind = "by_date", grain = "day", cut = ["nope"]\nwith days as (select "day" from main.t) select * from days', "cut"),
    ('-- model: kind = "by_key", key = ["a"], input = ["main.u"]\nselect a from main.t', "input"),
    ('-- model: kind = "fold", key = ["a"], merge = {}, changes = "main.t.load_id"\nselect a, b from main.t', "merge"),
    ('-- model: kind = "table", time_column = "day"\nselect a from main.t', "time_column"),
])
def test_a_declaration_that_does_not_fit_the_sql_is_refused_at_discovery(tmp_path, sql, field):
    for layer in models.LAYERS:
        (tmp_path / layer).mkdir()
    (tmp_path / "marts" / "m.sql").write_text(sql)
    with pytest.raises(ModelError, match=f"m.sql: field '{field}'"):
        models.discover(tmp_path)


def test_the_three_weekly_mixes_come_from_one_template():
    mixes = {m.name: m for m in models.discover() if m.path.name == "weekly_mix.sql.j2"}
    assert sorted(mixes) == ["driver_mix_weekly", "license_mix_weekly", "version_adoption_weekly"]
    assert "select week, version, version_minor, count(*)" in mixes["version_adoption_weekly"].sql
    assert "order by week, license_type" in mixes["license_mix_weekly"].sql


def test_staging_types_every_field_of_the_one_field_list_and_nulls_keys_the_sender_predates():
    stg = runner.model_sql("stg_pings")
    for f in fields.PAYLOAD:
        landed = fields.quoted(f.name)
        if f.since != fields.FIRST_VERSION:
            landed = f"known_since({landed}, sender_rank, {fields.version_rank(f.since)})"
        assert f"{f.macro}({landed}) as {f.column}" in stg


def test_models_command_lists_every_model_with_its_kind_in_build_order():
    out = subprocess.run([sys.executable, "-m", "pipelines", "models"], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [m.relation for m in models.build_order()]
    assert all(f"kind={m.kind.name} " in line for m, line in zip(models.build_order(), lines))
    days = next(line for line in lines if line.startswith("intermediate.int_instance_days "))
    assert "kind=by_key" in days and "<- staging.stg_pings" in days and "period=" in days


def test_a_header_error_is_one_line_naming_the_file_and_field_with_exit_2(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(PACKAGE_DIR, project / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    mart = project / "pipelines" / "transform" / "sql" / "marts" / "clones_daily.sql"
    mart.write_text(mart.read_text().replace('grain = "day"', 'grain = "day", lookback = "a week"'))
    for command in (["models"], ["refresh", "--source", str(tmp_path / "none.jsonl")]):
        out = subprocess.run([sys.executable, "-m", "pipelines", *command], capture_output=True, text=True,
                             cwd=project, env={"PATH": "/usr/bin:/bin", "PINGS_DATA_DIR": str(tmp_path / "d"),
                                               "PYTHONPATH": str(project), "PINGS_IP_HASH_KEY": "k" * 20})
        assert out.returncode == 2, out.stderr
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
        assert "clones_daily.sql: field 'lookback'" in out.stderr and "whole number of days" in out.stderr


def _land(con, load_id: int, rows: list[dict]) -> None:
    """Insert a load and its pings straight into the landing tables (payload fields by dotted name)."""
    con.execute("insert into load_log (load_id, source, item, started_at, finished_at, rows_read, loaded)"
                " values ($1, 's', 'f', now(), now(), $2, $2)", [load_id, len(rows)])
    for i, row in enumerate(rows):
        names = ["load_id", "source", "location", "instance_id", "received_at", "ip_hash"] + list(row.get("fields", {}))
        values = [load_id, "s", f"f:{load_id}.{i}", row["id"], row["at"], row.get("ip")] + list(row.get("fields", {}).values())
        marks = ", ".join(f"${n + 1}" for n in range(len(values)))
        con.execute(f"insert into raw_pings ({', '.join(fields.quoted(n) for n in names)}) values ({marks})", values)


def _same_as_full(con, relations: list[str]) -> None:
    """Assert that a full rebuild leaves every given table exactly as the incremental build left it."""
    for r in relations:
        con.execute(f"create or replace table main.snap_{r.split('.')[1]} as select * from {r}")
    runner.run(con, full=True)
    for r in relations:
        snap = f"main.snap_{r.split('.')[1]}"
        assert con.execute(f"select count(*) from (select * from {snap} except all select * from {r})"
                           f" union all select count(*) from (select * from {r} except all select * from {snap})"
                           ).fetchall() == [(0,), (0,)], r


def _incremental_step(con, load_id: int, rows: list[dict], incremental: list[str]) -> list[str]:
    """Land a load, build, assert every incremental model was built incrementally and equals a full rebuild."""
    _land(con, load_id, rows)
    how = runner.run(con).how
    assert {r: how[r] for r in incremental} == {r: "incremental" for r in incremental}
    _same_as_full(con, incremental)


AUGUST_DRIVER_CHANGES = ("select from_value, to_value from marts.transitions_monthly where month = '2024-08-01'"
                         " and dimension = 'driver' order by all")


def test_an_incremental_build_equals_a_full_build(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    v = lambda version, driver="localfs": {"env.flowforge": version, "platform.counts.users": "3",  # noqa: E731
                                           "platform.counts.devices": "2", "platform.config.driver": driver}
    # b upgrades and changes driver in july: the transitions and upgrade paths have rows from the start
    _land(con, 1, [{"id": "a", "at": "2024-07-01 10:00:00", "ip": "h1", "fields": v("2.1.0")},
                   {"id": "b", "at": "2024-07-02 10:00:00", "ip": "h2", "fields": v("2.1.0")},
                   {"id": "b", "at": "2024-07-03 10:00:00", "ip": "h2", "fields": v("2.2.0", "k8s")}])
    runner.run(con)
    # a later load: a later ping on a's day and week, a new instance, and invalid values
    _land(con, 2, [{"id": "a", "at": "2024-07-01 20:00:00", "ip": "h3", "fields": v("2.2.0")},
                   {"id": "c", "at": "2024-07-09 10:00:00", "ip": "h1",
                    "fields": {"platform.counts.users": "-1", "platform.config.broker.enabled": "maybe"}}])
    con.execute("insert into blanked_values values (2, 's', 'f:2.1', 'os.release')")
    how = runner.run(con).how
    incremental = [m.relation for m in models.build_order() if m.kind.incremental]
    assert {"marts.active_daily", "marts.clones_daily", "marts.version_adoption_weekly",
            "marts.fleet_size_weekly", "marts.platform_weekly"} <= set(incremental)
    assert {r: how[r] for r in incremental} == {r: "incremental" for r in incremental}
    _same_as_full(con, incremental)
    assert con.execute("select version, pings from marts.instance_days where instance_id = 'a'").fetchall() == [("2.2.0", 2)]
    assert sorted(con.execute("select field, reason, invalid from marts.invalid_values").fetchall()) == [
        ("broker_enabled", "not_a_flag", 1), ("os_release", "address_shaped", 1), ("users", "not_a_count", 1)]
    # a day in the middle (its 28-day windows reach later days), a day after a gap longer than the
    # windows (the spine's empty days in between), then a day before the first (a whole rebuild)
    _incremental_step(con, 3, [{"id": "d", "at": "2024-07-05 09:00:00", "ip": "h4", "fields": v("2.2.1")},
                               {"id": "b", "at": "2024-08-20 23:59:59", "ip": "h2", "fields": v("2.3.0")}], incremental)
    assert con.execute("select active_28d from marts.active_daily where day = '2024-08-05'").fetchall() == [(1,)]
    # a load touching august alone: its walks start from what b last reported in july
    _incremental_step(con, 4, [{"id": "b", "at": "2024-08-21 08:00:00", "ip": "h2", "fields": v("2.4.0", "k8s")}],
                      incremental)
    assert con.execute(AUGUST_DRIVER_CHANGES).fetchall() == [("k8s", "localfs"), ("localfs", "k8s")]
    # a late ping at the end of july: august's walk starts from it, so august is rebuilt too
    _incremental_step(con, 5, [{"id": "b", "at": "2024-07-31 08:00:00", "ip": "h2", "fields": v("2.3.0", "localfs")}],
                      incremental)
    assert con.execute(AUGUST_DRIVER_CHANGES).fetchall() == [("localfs", "k8s")]
    _land(con, 6, [{"id": "e", "at": "2024-06-30 12:00:00", "ip": "h5", "fields": v("2.0.0")}])
    assert runner.run(con).how["marts.active_daily"].startswith("full")   # a day before the first: whole
    _same_as_full(con, incremental)
    con.close()


def test_a_full_build_in_period_or_date_groups_equals_one_pass(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    # two pings on a day (the later one wins), a day across midnight utc, weeks across a month's end
    rows = [{"id": i, "at": f"2024-{m:02d}-{d:02d} {h:02d}:00:00", "ip": f"h{i}",
             "fields": {"env.flowforge": f"2.{m}.{h % 3}", "platform.counts.users": str(d + h)}}
            for i in ("a", "b") for m in (6, 7, 8) for d in (1, 15, 30, 31) if not (m == 6 and d == 31)
            for h in (0, 9, 23)]
    for load, month in enumerate((6, 7, 8), start=1):   # one load a month
        _land(con, load, [r for r in rows if r["at"].startswith(f"2024-{month:02d}")])
    runner.run(con, full=True)
    tables = [m.relation for m in models.build_order() if m.kind.name != "view"]
    for r in tables:
        con.execute(f"create or replace table main.snap_{r.split('.')[1]} as select * from {r}")
    how = runner.run(con, full=True, chunk_rows=10).how
    for name in ("int_instance_days", "int_instance_weeks", "int_instance_months"):
        assert how[f"intermediate.{name}"].startswith("full in "), name
    for name in ("int_instance_ips", "int_instance_values", "int_instance_shapes"):   # a fold: one pass
        assert how[f"intermediate.{name}"] == "full", name
    # date-range marts whose ranges read disjoint inputs are built in groups of weeks; a lookback
    # (active_daily) or a walk (transitions_monthly) is built in one pass
    for name in ("fleet_size_weekly", "feature_adoption_weekly", "version_adoption_weekly", "clones_daily"):
        assert how[f"marts.{name}"].startswith("full in "), name
    for name in ("active_daily", "transitions_monthly"):
        assert how[f"marts.{name}"] == "full", name
    for r in tables:
        snap = f"main.snap_{r.split('.')[1]}"
        assert con.execute(f"select count(*) from (select * from {snap} except all select * from {r})"
                           f" union all select count(*) from (select * from {r} except all select * from {snap})"
                           ).fetchall() == [(0,), (0,)], r
    # 2 instances x 11 days, 3 pings a day, each day in the state of its 23:00 ping
    assert con.execute("select count(*), min(pings), max(pings), count(*) filter (where version like '%.2')"
                       " from intermediate.int_instance_days").fetchall() == [(22, 3, 3, 22)]
    con.close()


def test_a_keyed_view_checks_new_rows_against_old_ones(tmp_path):
    from pipelines.transform import checks

    con = warehouse.connect(tmp_path / "w.duckdb")
    _land(con, 1, [{"id": "a", "at": "2024-07-01 10:00:00"}, {"id": "b", "at": "2024-07-01 11:00:00"}])
    runner.run(con)
    _land(con, 2, [{"id": "c", "at": "2024-07-02 10:00:00"}])
    runner.run(con)   # stg_pings' checks read the new rows' keys only, and pass
    assert con.execute("select count(*) from main.model_builds where model = 'staging.stg_pings'").fetchall() == [(1,)]
    # a later load repeating an old ping's identity (landing would never let it through) fails the build
    _land(con, 3, [{"id": "a", "at": "2024-07-01 10:00:00"}])
    with pytest.raises(checks.ChecksFailed, match="stg_pings unique"):
        runner.run(con)
    con.close()
