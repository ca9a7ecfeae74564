"""Settings: command line > PINGS_* variables > pings.toml > defaults, from one module."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines import settings


def test_file_then_environment_then_overrides(tmp_path, monkeypatch):
    toml = tmp_path / "pings.toml"
    toml.write_text('sources = ["a.csv", "b/"]\nreport_min_count = 7\nparquet_dir = "/srv/marts"\n')
    monkeypatch.setenv("PINGS_SETTINGS", str(toml))
    cfg = settings.load()
    assert cfg.sources == ["a.csv", "b/"] and cfg.report_min_count == 7
    assert cfg.parquet_dir == Path("/srv/marts")
    assert cfg.warehouse == Path(cfg.data_dir) / "warehouse.duckdb"

    monkeypatch.setenv("PINGS_SOURCES", "x.jsonl, postgresql://u@h:5432/db")
    monkeypatch.setenv("PINGS_REPORT_MIN_COUNT", "3")
    cfg = settings.load()
    assert cfg.sources == ["x.jsonl", "postgresql://u@h:5432/db"] and cfg.report_min_count == 3

    cfg = settings.load(sources=["cli.csv"], parquet_dir="/tmp/p")
    assert cfg.sources == ["cli.csv"] and cfg.parquet_dir == Path("/tmp/p")


def test_no_sources_means_the_demo_fleet_read_once_in_its_own_warehouse(tmp_path):
    cfg = settings.load()
    assert cfg.sources == [] and cfg.demo
    assert cfg.demo_sources == [str(cfg.demo_dir / "pinglog")]          # every ping once
    assert cfg.warehouse == cfg.demo_dir / "warehouse.duckdb" and cfg.parquet_dir == cfg.demo_dir / "parquet"
    real = settings.load(sources=["my.csv"])
    assert not real.demo and real.warehouse == real.data_dir / "warehouse.duckdb"
    assert real.parquet_dir == real.data_dir / "parquet"


def test_use_writes_the_sources_into_the_settings_file_and_back_to_the_demo(tmp_path, monkeypatch):
    toml = tmp_path / "pings.toml"
    toml.write_text('report_min_count = 7\nsources = ["old.csv"]\n')
    monkeypatch.setenv("PINGS_SETTINGS", str(toml))
    settings.save_sources(["/srv/a b.csv", "postgresql://u@h:5432/db"])
    cfg = settings.load()
    assert cfg.sources == ["/srv/a b.csv", "postgresql://u@h:5432/db"] and cfg.report_min_count == 7
    settings.save_sources(None)
    cfg = settings.load()
    assert cfg.demo and cfg.report_min_count == 7


def test_use_keeps_the_comments_layout_and_other_keys_of_the_settings_file(tmp_path, monkeypatch):
    toml = tmp_path / "pings.toml"
    head = "# our settings\nreport_min_count = 7   # small counts hidden below this\n\n"
    tail = "# the zone our old exports were written in\ncsv_time_zone = \"Europe/Berlin\"\n"
    toml.write_text(head + 'sources = [\n  "old.csv",   # the 2023 export\n  "older.csv",\n]\n' + tail)
    monkeypatch.setenv("PINGS_SETTINGS", str(toml))
    settings.save_sources(["/srv/new.csv"])
    assert toml.read_text() == head + 'sources = ["/srv/new.csv"]\n' + tail
    settings.save_sources(None)
    assert toml.read_text() == head + tail
    settings.save_sources(["/srv/again.csv"])
    assert toml.read_text() == head + tail + 'sources = ["/srv/again.csv"]\n'
    assert settings.load().csv_time_zone == "Europe/Berlin" and settings.load().sources == ["/srv/again.csv"]


def test_the_audience_is_team_or_public(monkeypatch):
    assert settings.load().audience == "team"
    monkeypatch.setenv("PINGS_AUDIENCE", "public")
    assert settings.load().audience == "public"
    monkeypatch.setenv("PINGS_AUDIENCE", "everyone")
    with pytest.raises(settings.SettingsError, match="PINGS_AUDIENCE.*team or public"):
        settings.load()



def _error(monkeypatch, **env) -> str:
    """Return the one-line SettingsError that load() raises under the given PINGS_* variables."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(settings.SettingsError) as caught:
        settings.load()
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("var, value, allowed", [
    ("PINGS_MEMORY_LIMIT", "lots", "512MB"),
    ("PINGS_REPORT_MIN_COUNT", "five", "integer"),
    ("PINGS_REPORTS_KEEP", "-1", "integer >= 1"),
    ("PINGS_CELL_TIMEOUT", "0", "integer >= 1"),
    ("PINGS_SOURCES", ",,", "one or more"),
    ("PINGS_SOURCES", " ", "one or more"),
    ("PINGS_TRUSTED_PROXIES", "10.0.0.300", "IP address or network"),
    ("PINGS_RECEIVED_AT_MIN", "2021-02-30", "YYYY-MM-DD"),
    ("PINGS_PG_REREAD_MINUTES", "-5", "integer >= 0"),
])
def test_a_bad_variable_is_one_line_naming_it_and_what_is_allowed(monkeypatch, var, value, allowed):
    message = _error(monkeypatch, **{var: value})
    assert message.startswith(var) and allowed in message


def test_a_folder_where_a_file_is_expected_and_a_file_where_a_folder_is(monkeypatch, tmp_path):
    (tmp_path / "a-file").write_text("x")
    assert "is a folder" in _error(monkeypatch, PINGS_WAREHOUSE=str(tmp_path))
    monkeypatch.delenv("PINGS_WAREHOUSE")
    assert "is a folder" in _error(monkeypatch, PINGS_IP_HASH_KEY_FILE=str(tmp_path))
    monkeypatch.delenv("PINGS_IP_HASH_KEY_FILE")
    assert "is a file" in _error(monkeypatch, PINGS_PARQUET_DIR=str(tmp_path / "a-file"))
    monkeypatch.delenv("PINGS_PARQUET_DIR")
    assert "is a file" in _error(monkeypatch, PINGS_DATA_DIR=str(tmp_path / "a-file"))


@pytest.mark.parametrize("text, expected", [
    ("sources = [", "not valid TOML"),
    ('warehous = "w.duckdb"', "unknown key 'warehous'"),
    ('report_min_count = "7"', "allowed: an integer"),
    ('sources = "a.csv"', "allowed: a list of strings"),
    ("sources = []", "empty list"),
    ('memory_limit = "lots"', "memory size"),
])
def test_a_malformed_or_mistyped_settings_file_is_one_line(monkeypatch, tmp_path, text, expected):
    toml = tmp_path / "pings.toml"
    toml.write_text(text + "\n")
    message = _error(monkeypatch, PINGS_SETTINGS=str(toml))
    assert expected in message and "pings.toml" in message


def test_command_line_values_are_checked_and_named_by_their_option(tmp_path):
    with pytest.raises(settings.SettingsError, match="^--warehouse: .* is a folder"):
        settings.load(warehouse=(str(tmp_path), "--warehouse"))
    settings.date_range("2024-01-01", "2024-01-01")
    with pytest.raises(settings.SettingsError, match="start 2024-02-01 is after end"):
        settings.date_range("2024-02-01", "2024-01-01")


def test_the_lock_belongs_to_the_warehouse_whichever_path_points_at_it(monkeypatch, tmp_path):
    real = tmp_path / "store"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    one = settings.load(warehouse=str(real / "w.duckdb"), parquet_dir=str(tmp_path / "p1"))
    monkeypatch.setenv("PINGS_DATA_DIR", str(tmp_path / "other-data"))
    two = settings.load(warehouse=str(tmp_path / "alias" / "w.duckdb"))
    assert one.lock_file == two.lock_file == real / "w.duckdb.lock"
    assert one.data_dir != two.data_dir


def test_settings_added_as_fields_are_checked_by_their_default_type(monkeypatch):
    assert settings.load().received_at_max_ahead_days == 1
    monkeypatch.setenv("PINGS_RECEIVED_AT_MAX_AHEAD_DAYS", "3")
    assert settings.load().received_at_max_ahead_days == 3
    assert "PINGS_RECEIVED_AT_MAX_AHEAD_DAYS" in _error(monkeypatch, PINGS_RECEIVED_AT_MAX_AHEAD_DAYS="x")


def test_a_settings_file_named_but_missing_is_an_error_naming_it(monkeypatch, tmp_path):
    missing = tmp_path / "nowhere" / "pings.toml"
    message = _error(monkeypatch, PINGS_SETTINGS=str(missing))
    assert message.startswith("PINGS_SETTINGS:") and str(missing) in message and "\n" not in message


def test_time_zones_are_iana_names_and_an_unknown_one_is_named(monkeypatch):
    assert (settings.load().pg_time_zone, settings.load().csv_time_zone) == (None, "UTC")
    monkeypatch.setenv("PINGS_PG_TIME_ZONE", "America/New_York")
    monkeypatch.setenv("PINGS_CSV_TIME_ZONE", "Europe/Berlin")
    assert (settings.load().pg_time_zone, settings.load().csv_time_zone) == ("America/New_York", "Europe/Berlin")
    for var, other in (("PINGS_PG_TIME_ZONE", "PINGS_CSV_TIME_ZONE"), ("PINGS_CSV_TIME_ZONE", "PINGS_PG_TIME_ZONE")):
        message = _error(monkeypatch, **{var: "Mars/Olympus_Mons", other: "UTC"})
        assert message.startswith(var) and "not a time zone" in message
