"""Collector-table CSV exports: era columns, renamed columns, booleans, NULLs, malformed rows, overlaps."""

from __future__ import annotations

import gzip

import pandas as pd

from conftest import mart, query, run

HEADER_2022 = "createdAt,instanceId,ip,env.flowforge,env.nodejs,os.type,os.arch,platform.config.driver,platform.counts.users,platform.config.broker.enabled\n"
HEADER_2023 = ("created_at,instanceId,ip,env.flowforge,env.nodejs,os.type,os.arch,platform.config.driver,"
               "platform.counts.users,platform.config.broker.enabled,platform.license.id,platform.license.type,"
               "platform.counts.projects.suspended\n")


def test_first_era_export_with_createdat_loads(cfg, tmp_path):
    csv = tmp_path / "2022.csv"
    csv.write_text(HEADER_2022 + "2022-09-01 10:00:00.5,i-1,abc=,v1.0.0,v16.3.0,Linux,x64,Docker,3,t\n")
    run(cfg, csv)
    day = mart(cfg, "instance_days").iloc[0]
    assert day["version"] == "1.0.0" and day["driver"] == "docker" and day["license_type"] == "unreported"
    # 1.0.0 predates platform.config.broker.enabled (first sent by 1.2.0, PINGS.md): unknown, whatever was stored
    assert day["nodejs_major"] == 16 and pd.isna(day["broker_enabled"])
    assert str(day["last_seen"]) == "2022-09-01 10:00:00.500000"


def test_booleans_empty_fields_and_the_renamed_suspended_column(cfg, tmp_path):
    csv = tmp_path / "2023.csv"
    csv.write_text(
        HEADER_2023
        + "2023-05-01 10:00:00,i-1,,2.0.0,,,,localfs,,true,,ee,4\n"
        + '2023-05-01 11:00:00,i-2,,2.0.0,,,,,7,F,"",,\n'
    )
    run(cfg, csv)
    days = mart(cfg, "instance_days").set_index("instance_id")
    assert days.loc["i-1", "broker_enabled"] == True and days.loc["i-2", "broker_enabled"] == False  # noqa: E712
    assert days.loc["i-1", "license_type"] == "EE" and days.loc["i-2", "license_type"] == "unreported"
    assert days.loc["i-2", "driver"] == "unreported" and days.loc["i-1", "os_type"] == "unreported"
    assert days.isna().loc["i-1", "users"] and days.loc["i-2", "users"] == 7
    assert query(cfg, "select count(\"platform.counts.projectsByState.suspended\") from raw_pings") == [(1,)]


def test_malformed_csv_row_is_quarantined_and_the_rest_loads(cfg, tmp_path):
    csv = tmp_path / "bad.csv.gz"
    with gzip.open(csv, "wt") as fh:
        fh.write(HEADER_2022 + "2022-09-01 10:00:00,i-1,,1.0.0,,,,,1,t\n"
                 + "2022-09-01 10:00:00,i-2,,1.0.0,,,,,1,t,EXTRA\n"
                 + ",i-3,,1.0.0,,,,,1,t\n"
                 + "2022-09-01 11:00:00,,,1.0.0,,,,,1,t\n")
    result = run(cfg, csv)
    assert (result.counts.read, result.counts.loaded, result.counts.quarantined) == (4, 1, 3)
    q = mart(cfg, "quarantine").set_index("location")["reason"].to_dict()
    assert q == {"bad.csv.gz:3": "csv_malformed", "bad.csv.gz:4": "received_at_missing",
                 "bad.csv.gz:5": "instance_id_missing"}


def test_overlapping_exports_count_each_ping_once(cfg, tmp_path):
    rows = [f"2022-09-0{d} 10:00:00,i-{d % 2},,1.0.0,,,,,1,t\n" for d in range(1, 8)]
    first = tmp_path / "exports" / "a.csv"
    second = tmp_path / "exports" / "b.csv"
    first.parent.mkdir()
    first.write_text(HEADER_2022 + "".join(rows[:5]))
    second.write_text(HEADER_2022 + "".join(rows[3:]))
    result = run(cfg, tmp_path / "exports")
    assert (result.counts.read, result.counts.loaded, result.counts.duplicates) == (9, 7, 2)
    assert mart(cfg, "instances")["pings"].sum() == 7


def test_a_reexport_with_more_rows_reads_only_the_new_rows(cfg, tmp_path):
    csv = tmp_path / "pings.csv"
    csv.write_text(HEADER_2022 + "2022-09-01 10:00:00,i-1,,1.0.0,,,,,1,t\n")
    run(cfg, csv)
    with csv.open("a") as fh:
        fh.write("2022-09-02 10:00:00,i-1,,1.0.1,,,,,1,t\n,i-9,,,,,,,,\n")
    result = run(cfg, csv)
    assert (result.counts.read, result.counts.loaded, result.counts.quarantined) == (2, 1, 1)
    assert mart(cfg, "quarantine")["location"].tolist() == ["pings.csv:4"]
