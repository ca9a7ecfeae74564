"""Settings: command line > PINGS_* variables > pings.toml > defaults, from one module."""

from __future__ import annotations

from pathlib import Path

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


def test_no_sources_means_the_demo_fleet(tmp_path):
    cfg = settings.load()
    assert cfg.sources == []
    assert cfg.demo_sources == [str(cfg.demo_dir / "collector.csv.gz"), str(cfg.demo_dir / "pinglog")]
