"""Fingerprints through the graph: an edit to a model, a macro or the reference data, followed by a plain
`refresh`, gives every mart equal to a fresh full build of the edited project; `refresh --plan` names
exactly the models the refresh then rebuilds; and a warehouse built by an earlier version is brought up
to date. Each scenario edits a copy of the project and runs its command line in a subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import TEST_KEY
from pipelines.settings import PACKAGE_DIR
from pipelines.transform import changes, models

SQL = Path("pipelines") / "transform" / "sql"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Path:
    """A small simulated fleet's ping log (60 instances, four months)."""
    from pipelines.tools.simulate import write_fleet

    out = tmp_path_factory.mktemp("changes") / "sim"
    write_fleet(out, instances=60, start="2024-01-01", end="2024-04-30", seed=11, formats=("pinglog",),
                with_truth=False, key=TEST_KEY.encode())
    return out / "pinglog"


def _project(where: Path) -> Path:
    """Copy the package to where/pipelines (a project to edit) and return where."""
    shutil.copytree(PACKAGE_DIR, where / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    return where


def _edit(project: Path, relative: str, old: str, new: str) -> None:
    """Replace text in one file of a project copy (the text must be there)."""
    path = project / relative
    text = path.read_text()
    assert old in text, (relative, old)
    path.write_text(text.replace(old, new))


def _cli(project: Path, data: Path, *args: str) -> str:
    """Run `python -m pipelines ARGS` of a project copy on a data folder; return stdout (exit 0 asserted)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PINGS_")},
           "PYTHONPATH": str(project), "PINGS_DATA_DIR": str(data), "PINGS_IP_HASH_KEY": TEST_KEY}
    out = subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=project, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _rebuilt_at(data: Path) -> dict[str, object]:
    """Return when each model was last built whole, from the warehouse's own record."""
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        return dict(con.execute("select model, rebuilt_at from main.model_builds").fetchall())
    finally:
        con.close()


def _planned(stdout: str) -> dict[str, str]:
    """Return {model: action} from the models part of `refresh --plan`."""
    lines = stdout.split("models (action, kind, model, why):\n", 1)[1].splitlines()
    return {line.split()[2]: line.split()[0] for line in lines if line.startswith("  ")}


#: columns that hold when a warehouse loaded its rows: two warehouses of the same rows differ there
LOAD_TIMES = ["last_loaded_at"]


def _marts_equal(a: Path, b: Path) -> None:
    """Assert every mart parquet of two parquet folders holds the same rows (as multisets), load times aside."""
    names = sorted(p.name for p in a.iterdir() if p.name.endswith(".parquet"))
    assert names == sorted(p.name for p in b.iterdir() if p.name.endswith(".parquet"))
    con = duckdb.connect()
    for name in names:
        pa, pb = (f"read_parquet('{folder / name}{'/*.parquet' if (folder / name).is_dir() else ''}')"
                  for folder in (a, b))
        columns = [c for (c,) in con.execute(f"select column_name from (describe select * from {pa})").fetchall()
                   if c not in LOAD_TIMES]
        listed = ", ".join(f'"{c}"' for c in columns)
        diff = con.execute(f"select (select count(*) from (select {listed} from {pa} except all select {listed} from {pb})),"
                           f" (select count(*) from (select {listed} from {pb} except all select {listed} from {pa}))"
                           ).fetchall()[0]
        assert diff == (0, 0), name


@pytest.fixture(scope="module")
def built(fleet, tmp_path_factory) -> tuple[Path, Path]:
    """A warehouse and parquet set built by the unedited project from the fleet: (project, data folder)."""
    base = tmp_path_factory.mktemp("base")
    project = _project(base / "project")
    _cli(project, base / "data", "refresh", "--source", str(fleet))
    return project, base / "data"


EDITS = {
    # version_minor in staging keeps one digit of the minor version (2.12.0 -> 2.1)
    "staging": [(str(SQL / "staging" / "stg_pings.sql.j2"), "regexp_extract(version, '^([0-9]+\\.[0-9]+)([.+-]|$)', 1)",
                 "regexp_extract(version, '^([0-9]+\\.[0-9])', 1)")],
    "intermediate": [(str(SQL / "intermediate" / "int_instance_days.sql.j2"), "bool_and(is_dev_build) as only_dev_builds",
                      "bool_or(is_dev_build) as only_dev_builds")],
    "leaf_mart": [(str(SQL / "marts" / "clones_daily.sql"), "filter (where ip_hashes > 1)", "filter (where ip_hashes > 2)")],
    "macro": [(str(SQL / "macros.sql"), "coalesce(nullif(trim(x), ''), 'unreported')",
               "coalesce(nullif(trim(x), ''), 'not reported')")],
    "reference": [("pipelines/reference/flowforge_releases.csv", "2.2.0,", "2.2.0-moved,")],
}


@pytest.mark.parametrize("scenario", sorted(EDITS))
def test_an_edit_then_refresh_equals_a_fresh_full_build_and_the_plan_names_exactly_what_is_rebuilt(
        scenario, built, fleet, tmp_path):
    project, data = built
    edited, copy = _project(tmp_path / "edited"), tmp_path / "data"
    shutil.copytree(data, copy, symlinks=True)
    for relative, old, new in EDITS[scenario]:
        _edit(edited, relative, old, new)
    before = _rebuilt_at(copy)
    planned = _planned(_cli(edited, copy, "refresh", "--source", str(fleet), "--plan"))
    assert _rebuilt_at(copy) == before                                  # the plan wrote nothing
    _cli(edited, copy, "refresh", "--source", str(fleet))
    after = _rebuilt_at(copy)
    rebuilt = {m for m in after if after[m] != before.get(m)}
    assert rebuilt == {m for m, action in planned.items() if action == "rebuild"}
    assert set(planned.values()) <= {"rebuild", "unchanged"}            # no new rows: nothing incremental
    if scenario == "leaf_mart":
        assert rebuilt == {"marts.clones_daily"}
    if scenario == "reference":
        assert "intermediate.int_instance_days" not in rebuilt and "marts.release_uptake" in rebuilt
    if scenario in ("staging", "intermediate", "macro"):
        assert "intermediate.int_instance_days" in rebuilt and "marts.active_daily" in rebuilt
    fresh = tmp_path / "fresh"
    _cli(edited, fresh, "refresh", "--source", str(fleet))
    _marts_equal(copy / "parquet", fresh / "parquet")


def test_a_warehouse_built_by_an_earlier_version_is_brought_up_to_date_by_a_plain_refresh(fleet, tmp_path):
    # the earlier version: other staging rules, and the engine's state as the engine before declared kinds kept it
    older = _project(tmp_path / "older")
    _edit(older, EDITS["staging"][0][0], EDITS["staging"][0][1], EDITS["staging"][0][2])
    _cli(older, tmp_path / "data", "refresh", "--source", str(fleet))
    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"))
    con.execute("drop table main.model_builds")
    con.execute("create table main.model_state (model varchar primary key, sql_hash varchar, last_load_id bigint)")
    con.execute("insert into main.model_state select 'intermediate.int_instance_days', 'x', max(load_id) from load_log")
    con.close()
    current = _project(tmp_path / "current")
    planned = _planned(_cli(current, tmp_path / "data", "refresh", "--source", str(fleet), "--plan"))
    assert set(planned.values()) == {"rebuild"}
    _cli(current, tmp_path / "data", "refresh", "--source", str(fleet))
    _cli(current, tmp_path / "fresh", "refresh", "--source", str(fleet))
    _marts_equal(tmp_path / "data" / "parquet", tmp_path / "fresh" / "parquet")


def test_a_fingerprint_covers_sql_declaration_macros_reference_and_parents_but_not_comments(tmp_path):
    project = _project(tmp_path / "p")
    sql_dir, reference_dir = project / SQL, project / "pipelines" / "reference"
    prints = lambda: changes.fingerprints(models.ordered(models.discover(sql_dir)), sql_dir, reference_dir)  # noqa: E731
    base = prints()

    def after(relative: str, old: str, new: str) -> set[str]:
        """Return the models whose fingerprint an edit changes (the edit is undone after)."""
        path = project / relative
        text = path.read_text()
        path.write_text(text.replace(old, new))
        try:
            now = prints()
        finally:
            path.write_text(text)
        return {r for r in now if now[r].value != base[r].value}

    everything_after = lambda relation: {m.relation for m in models.discover(sql_dir)  # noqa: E731
                                         if relation in _upstream(m, models.discover(sql_dir))} | {relation}
    assert after(str(SQL / "marts" / "clones_daily.sql"), "-- clones_daily:", "-- clones per day:") == set()
    assert after(str(SQL / "marts" / "clones_daily.sql"), "ip_hashes > 1", "ip_hashes > 2") == {"marts.clones_daily"}
    assert after(str(SQL / "marts" / "clones_daily.sql"), 'grain = "day"', 'grain = "day", lookback = 1') == {
        "marts.clones_daily"}
    stg = after(str(SQL / "staging" / "stg_pings.sql.j2"), "cast(received_at as date) as", "cast(received_at as date)  as")
    assert stg == set()   # whitespace: the same parsed SQL
    assert after(str(SQL / "intermediate" / "int_instance_months.sql"), "count(*) as days_seen",
                 "count(distinct \"day\") as days_seen") == everything_after("intermediate.int_instance_months")
    uses_macro = {m.relation for m in models.discover(sql_dir)
                  if "to_label" in changes.macros_used(m, changes.macros(sql_dir))}
    assert uses_macro == {"staging.stg_pings"}
    assert after(str(SQL / "macros.sql"), "'unreported')", "'none')") == everything_after("staging.stg_pings")
    assert after("pipelines/reference/flowforge_releases.csv", "2.2.0,", "2.2.0-x,") == everything_after(
        "staging.stg_flowforge_releases")


def _upstream(model: models.Model, found: list[models.Model]) -> set[str]:
    """Return every relation a model reads, directly or through other models."""
    by_relation = {m.relation: m for m in found}
    seen, todo = set(), list(model.reads)
    while todo:
        r = todo.pop()
        if r not in seen:
            seen.add(r)
            todo.extend(by_relation[r].reads if r in by_relation else [])
    return seen
