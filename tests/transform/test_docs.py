"""The model reference in docs/ is generated from the models and never drifts from them."""

from __future__ import annotations

import subprocess
import sys

from pipelines.settings import PROJECT_ROOT
from pipelines.transform import docs, models


def test_the_committed_model_reference_is_what_the_docs_command_writes():
    committed = (PROJECT_ROOT / "docs" / "models.md").read_text()
    assert committed == docs.render(), "docs/models.md is stale: run `python -m pipelines docs`"
    out = subprocess.run([sys.executable, "-m", "pipelines", "docs", "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_the_reference_has_every_model_with_its_kind_columns_and_checks():
    text = docs.render()
    for m in models.build_order():
        section = text.split(f"\n### {m.name}\n", 1)[1].split("\n### ", 1)[0]
        assert f"kind `{m.kind.name}`" in section
        for column, _ in m.columns or []:
            assert f"| `{column}` |" in section
    days = text.split("\n### instance_days\n", 1)[1].split("\n### ", 1)[0]
    assert "partition `month`" in days and "unique (instance_id, day)" in days


def test_docs_check_fails_on_a_stale_file(tmp_path):
    stale = tmp_path / "models.md"
    stale.write_text("# old\n")
    out = subprocess.run([sys.executable, "-m", "pipelines", "docs", "--check", "--out", str(stale)],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "out of date" in out.stderr and stale.read_text() == "# old\n"
