"""Each kind's contract, stated on a tiny table: what a full build holds, which rows an incremental build
replaces (and that nothing outside them is rebuilt), and what it reads.

The models here are real model files parsed by discovery and built by the kinds' own modules; a row the
contract says is left alone carries a sentinel value planted before the build, so a rebuild would show.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest

from pipelines.transform import kinds, models
from pipelines.transform.changes import Step
from pipelines.transform.replaced import Dates, Keys, Nothing

CHUNK = 500_000


def _model(tmp_path, layer: str, name: str, text: str) -> models.Model:
    """Write one model file into a tiny project and return it as discovery reads it."""
    for folder in models.LAYERS:
        (tmp_path / "sql" / folder).mkdir(parents=True, exist_ok=True)
    (tmp_path / "sql" / layer / f"{name}.sql").write_text(text)
    return next(m for m in models.discover(tmp_path / "sql") if m.name == name)


def _rebuild(con, model, chunk_rows: int = CHUNK):
    """Build a model whole with its kind."""
    return kinds.build(con, Step(model, "rebuild"), 0, chunk_rows)


def _update(con, model, since: int):
    """Update a model for the rows new since load `since` with its kind."""
    return kinds.build(con, Step(model, "incremental"), since, CHUNK)


def _rows(con, relation) -> list[tuple]:
    """Return every row of a relation (a name, or a query tree), sorted."""
    source = relation if isinstance(relation, str) else f"({relation.sql('duckdb')})"
    return sorted(con.execute(f"select * from {source}").fetchall())


@pytest.fixture
def con():
    """An in-memory DuckDB with main.src(load_id, instance_id, day, v): load 1 holds days 1..20 of june."""
    c = duckdb.connect()
    for schema in models.LAYERS:
        c.execute(f"create schema {schema}")
    c.execute("""create table main.src as
        select 1 as load_id, 'i' || (d % 3) as instance_id, date '2024-06-01' + cast(d as integer) as "day", cast(d as integer) as v
        from range(20) r(d)""")
    yield c
    c.close()


def _add(con, load_id: int, rows: list[tuple[str, str, int]]) -> None:
    """Append rows (instance_id, day, v) to main.src as one load."""
    for instance_id, day, v in rows:
        con.execute("insert into main.src values ($1, $2, cast($3 as date), $4)", [load_id, instance_id, day, v])


ROLLING = """-- rolling: per utc day with rows, the sum of v over that day and the two before it
-- model: kind = "by_date", grain = "day", lookback = 2, restate = {restate}, cut = ["src"], changes = "main.src.load_id"
with src as (
    select "day", v from main.src
),
days as (
    select distinct "day" from src
),
final as (
    select d."day", sum(s.v) as total
    from days d
    join src s on s."day" between d."day" - 2 and d."day"
    group by d."day"
)
select * from final
"""


def _expected_rolling(con) -> list[tuple]:
    """Return the rolling sums computed in plain Python from main.src."""
    rows = con.execute('select "day", v from main.src').fetchall()
    days = sorted({d for d, _ in rows})
    return [(d, sum(v for e, v in rows if d - timedelta(days=2) <= e <= d)) for d in days]


def test_by_date_rebuilds_the_touched_dates_plus_restate_reading_lookback_days_before_and_nothing_else(con, tmp_path):
    model = _model(tmp_path, "marts", "rolling", ROLLING.format(restate=2))
    assert _rebuild(con, model).how == "full"
    assert _rows(con, "marts.rolling") == _expected_rolling(con)
    con.execute("update marts.rolling set total = -1")                    # the sentinel
    _add(con, 2, [("i0", "2024-06-09", 100), ("i1", "2024-06-10", 1000)])  # touched: the 9th and 10th
    result = _update(con, model, since=1)
    assert result.how == "incremental"
    assert result.replaced == Dates("day", date(2024, 6, 9), date(2024, 6, 12))   # [first, last + 2]
    expected = dict(_expected_rolling(con))
    for day, total in _rows(con, "marts.rolling"):
        if date(2024, 6, 9) <= day <= date(2024, 6, 12):
            assert total == expected[day], day     # rebuilt from the 2 days before each (lookback)
        else:
            assert total == -1, day                # never rebuilt


def test_by_date_restate_all_rebuilds_through_the_last_date_and_an_earlier_date_rebuilds_whole(con, tmp_path):
    model = _model(tmp_path, "marts", "rolling", ROLLING.replace("restate = {restate}", 'restate = "all"'))
    _rebuild(con, model)
    con.execute("update marts.rolling set total = -1")
    _add(con, 2, [("i0", "2024-06-15", 5)])
    assert _update(con, model, since=1).replaced == Dates("day", date(2024, 6, 15), date(2024, 6, 20))
    assert [d for d, t in _rows(con, "marts.rolling") if t == -1] == [date(2024, 6, 1) + timedelta(days=n)
                                                                       for n in range(14)]
    _add(con, 3, [("i9", "2024-05-30", 7)])   # before the table's first date: the whole table is rebuilt
    result = _update(con, model, since=2)
    assert result.how.startswith("full") and result.replaced is None
    assert _rows(con, "marts.rolling") == _expected_rolling(con)


def test_by_date_without_lookback_builds_one_group_of_dates_at_a_time_equal_to_one_pass(con, tmp_path):
    text = ROLLING.replace("lookback = 2, restate = {restate}", "lookback = 0").replace(
        's."day" between d."day" - 2 and d."day"', 's."day" = d."day"')
    model = _model(tmp_path, "marts", "daily", text)
    assert _rebuild(con, model, chunk_rows=4).how == "full in 5 date groups"
    grouped = _rows(con, "marts.daily")
    assert _rebuild(con, model).how == "full"
    assert _rows(con, "marts.daily") == grouped


BY_KEY = """-- per_month: per instance and utc month, the rows and the sum of v
-- model: kind = "by_key", key = ["instance_id", "month"], input = ["main.src"], period = {grain = "month"}, changes = "main.src.load_id"
with src as (
    select * from main.src
),
final as (
    select instance_id, cast(date_trunc('month', "day") as date) as "month", count(*) as n, sum(v) as total
    from src
    group by all
)
select * from final
"""


def test_by_key_replaces_exactly_the_touched_keys_from_their_periods_only(con, tmp_path):
    _add(con, 1, [("i0", "2024-07-02", 50), ("i1", "2024-07-03", 60)])
    model = _model(tmp_path, "intermediate", "per_month", BY_KEY)
    _rebuild(con, model)
    con.execute("update intermediate.per_month set total = -1")
    # i0 gets a july row: the key (i0, july) is touched; a june row of i0 changed in place is not re-read
    con.execute("update main.src set v = 0 where instance_id = 'i0' and \"day\" = '2024-06-04'")
    _add(con, 2, [("i0", "2024-07-20", 5)])
    result = _update(con, model, since=1)
    assert isinstance(result.replaced, Keys) and result.replaced.key == ("instance_id", "month")
    assert result.replaced.dates == (("month", date(2024, 7, 1), date(2024, 7, 1)),)
    assert _rows(con, "intermediate.per_month") == [
        ("i0", date(2024, 6, 1), 7, -1), ("i0", date(2024, 7, 1), 2, 55),
        ("i1", date(2024, 6, 1), 7, -1), ("i1", date(2024, 7, 1), 1, -1),
        ("i2", date(2024, 6, 1), 6, -1)]
    assert _rows(con, result.replaced.rows("intermediate.per_month")) == [("i0", date(2024, 7, 1), 2, 55)]


def test_by_key_full_build_in_period_groups_equals_one_pass(con, tmp_path):
    _add(con, 1, [(f"i{n % 4}", f"2024-{m:02d}-15", n) for n in range(12) for m in (7, 8, 9)])
    model = _model(tmp_path, "intermediate", "per_month", BY_KEY)
    assert _rebuild(con, model, chunk_rows=20).how == "full in 3 period groups"
    grouped = _rows(con, "intermediate.per_month")
    assert _rebuild(con, model).how == "full"
    assert _rows(con, "intermediate.per_month") == grouped


FOLD = """-- spans: per instance, the first and last day, the rows and the sum of v
-- model: kind = "fold", key = ["instance_id"], merge = {{first_day = "min", last_day = "max", n = "sum", total = "sum"}}, changes = "main.src.load_id"
with src as (
    select * from main.src
),
final as (
    select instance_id, min("day") as first_day, max("day") as last_day, count(*) as n, sum(v) as total
    from src
    group by instance_id
)
select * from final
"""


def _expected_spans(con) -> list[tuple]:
    """Return the spans computed in plain Python from main.src."""
    rows = con.execute('select instance_id, "day", v from main.src').fetchall()
    out = []
    for i in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == i]
        out.append((i, min(r[1] for r in mine), max(r[1] for r in mine), len(mine), sum(r[2] for r in mine)))
    return out


def test_fold_merges_min_max_and_sum_of_the_new_rows_into_the_touched_keys_exactly(con, tmp_path):
    model = _model(tmp_path, "intermediate", "spans", FOLD.format())
    _rebuild(con, model)
    _add(con, 2, [("i1", "2024-05-20", 3), ("i1", "2024-07-30", 4), ("new", "2024-06-10", 9)])
    con.execute("update main.src set v = 1000 where load_id = 1 and instance_id = 'i2'")   # old rows: never re-read
    result = _update(con, model, since=1)
    assert isinstance(result.replaced, Keys)
    assert _rows(con, result.replaced.rows("intermediate.spans")) == [
        ("i1", date(2024, 5, 20), date(2024, 7, 30), 9, 77), ("new", date(2024, 6, 10), date(2024, 6, 10), 1, 9)]
    got = dict((r[0], r) for r in _rows(con, "intermediate.spans"))
    assert got["i2"] == ("i2", date(2024, 6, 3), date(2024, 6, 18), 6, 57)   # untouched: the old sums
    assert _update(con, model, since=2).replaced == Nothing()   # no new rows: nothing replaced


def test_a_fold_full_build_is_one_pass_over_many_loads_and_a_set_of_keys_then_adds_new_keys(con, tmp_path):
    for load in range(2, 6):
        _add(con, load, [(f"i{load}", "2024-06-30", load), ("i0", f"2024-07-0{load}", load)])
    model = _model(tmp_path, "intermediate", "spans", FOLD.format())
    assert _rebuild(con, model, chunk_rows=6).how == "full"   # more rows than chunk_rows: still one pass
    assert _rows(con, "intermediate.spans") == _expected_spans(con)
    keys = _model(tmp_path, "intermediate", "pairs", '-- pairs: distinct (instance_id, load_id)\n'
                  '-- model: kind = "fold", key = ["instance_id", "load_id"], merge = {}, changes = "main.src.load_id"\n'
                  "select distinct instance_id, load_id from main.src\n")
    assert _rebuild(con, keys, chunk_rows=6).how == "full"
    assert _rows(con, "intermediate.pairs") == sorted(set(con.execute("select instance_id, load_id from main.src").fetchall()))
    _add(con, 6, [("i0", "2024-07-09", 1), ("zz", "2024-07-09", 1)])
    result = _update(con, keys, since=5)
    assert _rows(con, result.replaced.rows("intermediate.pairs")) == [("i0", 6), ("zz", 6)]


def test_a_keyed_view_replaces_nothing_but_its_checks_read_the_rows_sharing_a_key_with_new_rows(con, tmp_path):
    model = _model(tmp_path, "staging", "stg_src", '-- stg_src: main.src typed\n'
                   '-- model: kind = "view", key = ["instance_id", "day"], changes = "main.src.load_id"\n'
                   "select load_id, instance_id, \"day\", v from main.src\n")
    assert _rebuild(con, model).replaced is None
    _add(con, 2, [("i1", "2024-06-02", 1)])   # shares its key with a row of load 1
    result = _update(con, model, since=1)
    assert sorted(r[:2] for r in _rows(con, result.replaced.rows("staging.stg_src"))) == [(1, "i1"), (2, "i1")]
    assert _update(con, model, since=2).replaced == Nothing()


def test_a_table_is_rebuilt_whole(con, tmp_path):
    model = _model(tmp_path, "marts", "totals", '-- totals: one row, the sum of v\n-- model: kind = "table"\n'
                   "select sum(v) as total from main.src\n")
    assert _rebuild(con, model).how == "full"
    _add(con, 2, [("i0", "2024-06-02", 1000)])
    _rebuild(con, model)
    assert _rows(con, "marts.totals") == [(1190,)]
