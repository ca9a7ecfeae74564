"""flow.refresh: a refresh with nothing new does no model work and writes no parquet; the set records its origin."""

from __future__ import annotations

from pathlib import Path

from conftest import ping_line, run, write_lines
from pipelines import flow
from pipelines.publish import export
from pipelines.publish.status import render, snapshot
from pipelines.transform import runner


def _files(parquet: Path) -> dict[str, bytes]:
    """Return every file of the current set with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(export.current_set(parquet).iterdir())}


def test_a_refresh_with_nothing_new_skips_models_and_export(cfg, tmp_path):
    src = write_lines(tmp_path / "src" / "a.jsonl", [ping_line("i-1"), ping_line("i-2", at="2024-07-02T08:00:00.000Z")])
    first = run(cfg, src.parent)
    assert not first.skipped and first.written
    info, before = export.set_info(cfg.parquet_dir), _files(cfg.parquet_dir)
    assert info["models_digest"] == runner.models_digest()

    said: list[str] = []
    again = flow.refresh(cfg, [str(src.parent)], progress=said.append)
    assert again.skipped and again.written == [] and again.counts.read == 0
    assert any(line.startswith("nothing new") for line in said)
    assert _files(cfg.parquet_dir) == before                       # same set, byte-identical

    write_lines(src, [ping_line("i-1"), ping_line("i-2", at="2024-07-02T08:00:00.000Z"), ping_line("i-3")])
    third = run(cfg, src.parent)
    assert not third.skipped and third.counts.loaded == 1
    assert export.set_info(cfg.parquet_dir)["set_id"] != info["set_id"]


def test_a_torn_line_completed_later_is_new_work(cfg, tmp_path):
    src = write_lines(tmp_path / "src" / "a.jsonl", [ping_line("i-1")], torn=ping_line("i-2")[:20])
    run(cfg, src.parent)
    assert run(cfg, src.parent).skipped
    src.write_text(ping_line("i-1") + "\n" + ping_line("i-2") + "\n")
    assert not run(cfg, src.parent).skipped


def test_the_set_says_when_its_pings_were_simulated(cfg, tmp_path):
    src = write_lines(tmp_path / "fleet" / "pinglog" / "a.jsonl", [ping_line("i-1")])
    (tmp_path / "fleet" / "SIMULATED").write_text("written by the simulator\n")
    run(cfg, src.parent)
    assert export.set_info(cfg.parquet_dir)["simulated"] is True


def test_status_shows_the_last_check_results_below_the_sources(cfg, tmp_path):
    run(cfg, write_lines(tmp_path / "src" / "a.jsonl", [ping_line("i-1")]).parent)
    df, checks = snapshot(cfg)
    text = render(df, checks=checks)
    assert text.index("total: read 1") < text.index("checks (last run")
    assert f"{len(checks)} passed, 0 not passed" in text
