"""SQL models: normalisation rules, active windows, weekly shares (keys, nulls and accepted values are
declared checks beside the models: sql/<layer>/_checks.toml, tested in test_checks.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import mart, ping_line, query, run, write_lines


def test_version_node_driver_and_licence_normalisation(cfg, tmp_path):
    log = write_lines(tmp_path / "p.jsonl", [
        ping_line("a", env={"flowforge": " v2.24.1 ", "nodejs": "v18.19.0"},
                  platform={"config": {"driver": "Kubernetes"}, "license": {"type": "ee"}}),
        ping_line("b", env={"flowforge": "2.25.0-git"}, platform={"config": {"driver": ""}, "license": {"type": ""}}),
        ping_line("c", env={"flowforge": "weird"}),
        ping_line("d"),
    ])
    run(cfg, log)
    d = mart(cfg, "instance_days").set_index("instance_id")
    assert d.loc["a", ["version", "version_minor", "is_dev_build", "nodejs_major", "driver", "license_type"]].tolist() == [
        "2.24.1", "2.24", False, 18, "kubernetes", "EE"]
    assert d.loc["b", ["version", "version_minor", "is_dev_build", "driver", "license_type"]].tolist() == [
        "2.25.0-git", "2.25", True, "unreported", "unreported"]
    assert d.loc["c", ["version", "version_minor", "is_dev_build"]].tolist() == ["weird", "unknown", False]
    assert d.loc["d", ["version", "version_minor"]].tolist() == ["unknown", "unknown"]
    assert pd.isna(d.loc["d", "nodejs_major"])


def test_the_days_latest_ping_sets_the_state_and_pings_are_counted(cfg, tmp_path):
    log = write_lines(tmp_path / "p.jsonl", [
        ping_line("a", at="2024-07-01T20:00:00Z", env={"flowforge": "2.1.0"}),
        ping_line("a", at="2024-07-01T08:00:00Z", env={"flowforge": "2.0.0"}),
        ping_line("a", at="2024-07-01T23:59:59.999Z", env={"flowforge": "2.2.0"}),
        ping_line("a", at="2024-07-02T00:00:00+02:00", env={"flowforge": "9.9.9"}),  # 2024-07-01 22:00 UTC
    ])
    run(cfg, log)
    d = mart(cfg, "instance_days")
    assert d[["day", "pings", "version"]].astype(str).values.tolist() == [["2024-07-01", "4", "2.2.0"]]
    inst = mart(cfg, "instances").iloc[0]
    assert (inst["first_version"], inst["latest_version"], inst["days_seen"], inst["pings"]) == ("2.0.0", "2.2.0", 1, 4)


def test_active_windows_match_a_hand_count(cfg, tmp_path):
    # a: days 1 and 10; b: day 5 only; c: day 40
    seen = {"a": ["2024-01-01", "2024-01-10"], "b": ["2024-01-05"], "c": ["2024-02-09"]}
    lines = [ping_line(i, at=f"{d}T12:00:00Z") for i, days in seen.items() for d in days]
    run(cfg, write_lines(tmp_path / "p.jsonl", lines))
    a = mart(cfg, "active_daily").set_index("day")
    a.index = pd.to_datetime(a.index).strftime("%Y-%m-%d")
    assert len(a) == 40
    assert a.loc["2024-01-05"].tolist() == [1, 2, 2]
    assert a.loc["2024-01-07"].tolist() == [0, 2, 2]
    assert a.loc["2024-01-12"].tolist() == [0, 1, 2]   # b last seen 8 days ago, a 2 days ago
    assert a.loc["2024-01-28"].tolist() == [0, 0, 2]
    assert a.loc["2024-02-01"].tolist() == [0, 0, 2]   # 2024-01-05 is the first day of this 28-day window
    assert a.loc["2024-02-02"].tolist() == [0, 0, 1]
    assert a.loc["2024-02-06"].tolist() == [0, 0, 1]
    assert a.loc["2024-02-07"].tolist() == [0, 0, 0]
    assert a.loc["2024-02-09"].tolist() == [1, 1, 1]


def test_weekly_mix_counts_each_instance_once_with_its_latest_state(cfg, tmp_path):
    lines = [
        ping_line("a", at="2024-07-01T10:00:00Z", platform={"config": {"driver": "docker"}}),   # monday
        ping_line("a", at="2024-07-07T10:00:00Z", platform={"config": {"driver": "kubernetes"}}),  # sunday
        ping_line("b", at="2024-07-03T10:00:00Z", platform={"config": {"driver": "docker"}}),
        ping_line("b", at="2024-07-08T10:00:00Z", platform={"config": {"driver": "localfs"}}),  # next week
    ]
    run(cfg, write_lines(tmp_path / "p.jsonl", lines))
    mix = mart(cfg, "driver_mix_weekly")
    mix["week"] = pd.to_datetime(mix["week"]).dt.strftime("%Y-%m-%d")
    assert mix.values.tolist() == [
        ["2024-07-01", "docker", 1, 0.5], ["2024-07-01", "kubernetes", 1, 0.5], ["2024-07-08", "localfs", 1, 1.0]]


@pytest.fixture(scope="module")
def demo_marts(tmp_path_factory):
    """Marts of a small simulated fleet, for the properties every week must have."""
    import os

    from pipelines import settings as settings_mod
    from pipelines.flow import refresh
    from pipelines.tools.simulate import write_fleet

    base = tmp_path_factory.mktemp("schema")
    os.environ["PINGS_IP_HASH_KEY"] = "schema-test-key-0123456789"
    write_fleet(base / "sim", instances=80, start="2024-01-01", end="2024-06-30", seed=7, with_truth=False)
    cfg = settings_mod.Settings(data_dir=base / "data", ip_hash_key="schema-test-key-0123456789")
    refresh(cfg, [str(base / "sim" / "collector.csv.gz"), str(base / "sim" / "pinglog")], progress=lambda m: None)
    return cfg


@pytest.mark.parametrize("name", ["version_adoption_weekly", "driver_mix_weekly", "license_mix_weekly"])
def test_weekly_shares_sum_to_one_and_weeks_are_mondays(demo_marts, name):
    df = mart(demo_marts, name)
    sums = df.groupby("week")["share"].sum()
    assert ((sums - 1).abs() < 1e-9).all()
    assert (pd.to_datetime(df["week"]).dt.day_of_week == 0).all()


def test_rows_read_add_up_for_every_source(demo_marts):
    rows = query(demo_marts, "select sum(rows_read) = sum(loaded + duplicates + quarantined) from load_log")
    assert rows == [(True,)]


def test_fleet_weekly_counts_added_and_removed_instances_as_fleet_changes_daily_does(cfg, tmp_path):
    # a: 2024-01-01 only (removed: its last day, once 28 silent days have passed);
    # b: 2024-01-03 and 2024-02-20 (the last day of data: not removed); c: 2024-01-24, removed unknown yet
    lines = [ping_line("a", at="2024-01-01T10:00:00Z"), ping_line("b", at="2024-01-03T10:00:00Z"),
             ping_line("c", at="2024-01-24T10:00:00Z"), ping_line("b", at="2024-02-20T10:00:00Z")]
    run(cfg, write_lines(tmp_path / "p.jsonl", lines))
    f = mart(cfg, "fleet_weekly")
    f["week"] = pd.to_datetime(f["week"]).dt.strftime("%Y-%m-%d")
    rows = {week: [active, added, removed] for week, active, added, removed in f.astype(object).values.tolist()}
    assert len(rows) == 8                                     # every week, quiet ones too
    assert rows["2024-01-01"] == [2, 2, 1]                    # a's last day, 28 silent days after it
    assert rows["2024-01-22"][:2] == [1, 1] and pd.isna(rows["2024-01-22"][2])   # c: 2024-01-24 + 28 > the end
    assert rows["2024-02-19"][:2] == [1, 0]
    daily = mart(cfg, "fleet_changes_daily")
    assert f["added"].sum() == daily["added"].sum() == 3


def test_transitions_count_changes_between_consecutive_reported_days(cfg, tmp_path):
    lines = [
        ping_line("a", at="2024-03-01T10:00:00Z", platform={"config": {"driver": "localfs"}, "license": {"type": "TRIAL"}}),
        ping_line("a", at="2024-03-05T10:00:00Z", platform={"config": {"driver": "docker"}, "license": {"type": "EE"}}),
        ping_line("a", at="2024-04-02T10:00:00Z", platform={"config": {}, "license": {"type": "EE"}}),
        ping_line("b", at="2024-04-03T10:00:00Z", platform={"config": {"driver": "docker"}, "license": {"type": "CE"}}),
        ping_line("b", at="2024-04-04T10:00:00Z", platform={"config": {"driver": "docker"}, "license": {"type": "EE"}}),
    ]
    run(cfg, write_lines(tmp_path / "p.jsonl", lines))
    changes = mart(cfg, "transitions_monthly").astype(str).values.tolist()
    assert changes == [
        ["2024-03-01", "driver", "localfs", "docker", "1"],
        ["2024-03-01", "license_type", "TRIAL", "EE", "1"],
        ["2024-04-01", "license_type", "CE", "EE", "1"],
    ]


def test_release_uptake_days_until_a_share_runs_the_line_or_newer(cfg, tmp_path):
    # 2.24.0 was released 2025-11-20 (a Thursday). Four instances; week of 2025-11-17: one on 2.24,
    # week of 2025-11-24: two on 2.24 or newer (50%), week of 2025-12-01: three (75%). The data starts on
    # monday 2025-11-17 (d's first ping), so the week of the release is complete.
    plan = {"a": ["2.24.0", "2.24.0", "2.24.0"], "b": ["2.23.0", "2.24.1", "2.24.1"],
            "c": ["2.23.0", "2.23.0", "2.25.0"], "d": ["2.22.0", "2.22.0", "2.22.0"]}
    days = ["2025-11-20", "2025-11-28", "2025-12-05"]
    lines = [ping_line(i, at=f"{d}T10:00:00Z", env={"flowforge": v}) for i, vs in plan.items() for d, v in zip(days, vs)]
    lines.append(ping_line("d", at="2025-11-17T10:00:00Z", env={"flowforge": "2.22.0"}))
    run(cfg, write_lines(tmp_path / "p.jsonl", lines))
    up = mart(cfg, "release_uptake").set_index("version")
    row = up.loc["2.24"]
    assert str(row["released_on"])[:10] == "2025-11-20" and str(row["first_seen"])[:10] == "2025-11-20"
    # shares are measured at the week's end (sunday): 2025-11-23 is 3 days after release; the data ends on
    # friday 2025-12-05, so the week of 2025-12-01 is in progress: its 75 % is not measured yet
    assert (row["days_to_25pct"], row["days_to_50pct"]) == (3, 10) and pd.isna(row["days_to_75pct"])
    assert list(up.index) == ["2.24"]  # 2.25.0 was released 2025-12-18, after the data ends
    # a ping on sunday 2025-12-07 (d, still on 2.22) ends that week: 75 % reached 17 days after release
    run(cfg, write_lines(tmp_path / "sunday.jsonl", [ping_line("d", at="2025-12-07T10:00:00Z",
                                                               env={"flowforge": "2.22.0"})]))
    row = mart(cfg, "release_uptake").set_index("version").loc["2.24"]
    assert (row["days_to_25pct"], row["days_to_50pct"], row["days_to_75pct"]) == (3, 10, 17)


def test_a_partial_first_week_is_not_complete_and_no_base_for_a_change(cfg, tmp_path):
    # data from thursday 2024-05-02 to sunday 2024-05-26: the week of 2024-04-29 has 4 of its days
    grow = {"2024-05-02": "ab", "2024-05-06": "abc", "2024-05-13": "abcd", "2024-05-20": "abcde",
            "2024-05-26": "a"}
    lines = [ping_line(i, at=f"{d}T10:00:00Z", platform={"counts": {"projects": 1}}) for d, ids in grow.items()
             for i in ids]
    run(cfg, write_lines(tmp_path / "p.jsonl", lines))
    w = mart(cfg, "headline_weekly").set_index(mart(cfg, "headline_weekly")["week"].astype(str))
    assert w["complete"].to_dict() == {"2024-04-29": False, "2024-05-06": True, "2024-05-13": True,
                                       "2024-05-20": True}
    # the week after the partial one has no growth or change; the next ones compare two whole weeks
    assert w[["wow_growth", "hosted_instances_change"]].loc["2024-05-06"].isna().all()
    assert w.loc["2024-05-13", "wow_growth"] == pytest.approx(4 / 3 - 1)
    assert w.loc["2024-05-20", "hosted_instances_change"] == pytest.approx(5 / 4 - 1)
    g = mart(cfg, "growth_weekly").set_index("week")
    assert g["wow_growth"].isna().tolist() == [True, True, False, False]
    # a change on 7 days earlier needs that earlier window wholly in the data: day 8 for 1 day, day 14 for 7
    d = mart(cfg, "headline_daily").set_index(mart(cfg, "headline_daily")["day"].astype(str))
    known = {c: d[d[f"{c}_change"].notna()].index.min() for c in ("active_1d", "active_7d")}
    assert known == {"active_1d": "2024-05-09", "active_7d": "2024-05-15"}
    assert d["active_28d_change"].isna().all()
    # the windows themselves: the 7 days to a day lie wholly in the data from day 7 on, the 28 days never here
    assert d["days_of_data"].tolist() == list(range(1, 26))
    assert d[d["whole_7d"]].index.min() == "2024-05-08" and not d["whole_28d"].any()


def test_the_newest_lines_share_change_in_a_release_week_compares_that_line_with_itself(cfg, tmp_path):
    # 2.24.0 came out on thursday 2025-11-20. Week of 2025-11-10 (newest line 2.23): a, b on 2.23, c, d on
    # 2.22, e on a 2.24 development build. Week of 2025-11-17 (newest line 2.24): a on 2.24, the rest as before.
    plan = {"a": ["2.23.0", "2.24.0"], "b": ["2.23.0", "2.23.1"], "c": ["2.22.0", "2.22.0"],
            "d": ["2.22.0", "2.22.0"], "e": ["2.24.0-git", "2.24.0-git"]}
    days = ["2025-11-10", "2025-11-23"]
    lines = [ping_line(i, at=f"{d}T10:00:00Z", env={"flowforge": v}) for i, vs in plan.items() for d, v in zip(days, vs)]
    lines.append(ping_line("a", at="2025-11-16T10:00:00Z", env={"flowforge": "2.23.0"}))   # the first week ends
    run(cfg, write_lines(tmp_path / "p.jsonl", lines))
    w = mart(cfg, "headline_weekly")
    assert w["newest_line"].tolist() == ["2.23", "2.24"] and w["complete"].all()
    assert w["newest_line_share"].tolist() == pytest.approx([2 / 5, 1 / 5])
    # the week before, no released build ran 2.24 or newer (e's is a development build): +20 points, not -20
    assert w["newest_line_share_change"].iloc[1] == pytest.approx(1 / 5 - 0)


def test_a_version_line_too_long_to_place_is_unknown_and_breaks_no_build(cfg, tmp_path):
    # a walks through lines no cast to a 32-bit integer takes (a hostile 99999999999.1.0 failed the whole build)
    # and a minor of 4 digits that would collide with 10.0, then to 2.24 the next week; b runs 2.23 all week
    walk = ["2.23.0", "99999999999.1.0", "3000000.0.0", "9.1000.0"]
    lines = [ping_line("a", at=f"2025-11-{10 + i}T10:00:00Z", env={"flowforge": v}) for i, v in enumerate(walk)]
    lines.append(ping_line("a", at="2025-11-17T10:00:00Z", env={"flowforge": "2.24.0"}))
    lines += [ping_line("b", at=f"2025-11-{10 + i}T11:00:00Z", env={"flowforge": "2.23.0"}) for i in range(7)]
    run(cfg, write_lines(tmp_path / "p.jsonl", lines))
    d = mart(cfg, "instance_days")
    assert d.loc[d["instance_id"] == "a", "version_minor"].tolist() == [
        "2.23", "99999999999.1", "3000000.0", "9.1000", "2.24"]
    lag = mart(cfg, "version_lag_weekly")
    assert sorted(zip(lag["week"].astype(str), lag["lag"], lag["instances"])) == [
        ("2025-11-10", "0", 1), ("2025-11-10", "unknown", 1), ("2025-11-17", "0", 1)]
    assert mart(cfg, "upgrade_paths_monthly").empty   # every change of a's touches a line that cannot be placed
    w = mart(cfg, "headline_weekly")
    assert w["newest_line"].tolist() == ["2.23", "2.24"] and w["newest_line_share"].tolist() == [0.5, 1.0]


def test_source_daily_has_a_zero_for_each_day_without_pings_inside_a_sources_span(cfg, tmp_path):
    # one source: pings on 2024-05-01 and 2024-05-04; the days between land none
    lines = [ping_line("a", at="2024-05-01T10:00:00Z"), ping_line("b", at="2024-05-01T11:00:00Z"),
             ping_line("a", at="2024-05-04T10:00:00Z")]
    run(cfg, write_lines(tmp_path / "p.jsonl", lines))
    df = mart(cfg, "source_daily")
    assert [(str(d)[:10], n) for d, n in zip(df["day"], df["pings"])] == [
        ("2024-05-01", 2), ("2024-05-02", 0), ("2024-05-03", 0), ("2024-05-04", 1)]
