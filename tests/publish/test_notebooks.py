"""Notebooks: each runs headless against the demo fleet's marts; JupyterLab lists and opens them as notebooks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipelines.publish import report
from pipelines import settings as settings_mod
from pipelines.flow import refresh
from pipelines.settings import NOTEBOOKS_DIR
from pipelines.tools.simulate import write_fleet


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    """Marts of a small demo fleet."""
    base = tmp_path_factory.mktemp("nb")
    write_fleet(base / "demo", instances=50, start="2025-09-01", end="2026-03-31", seed=9, key=b"k")
    cfg = settings_mod.Settings(data_dir=base / "data", ip_hash_key="k")
    refresh(cfg, [str(base / "demo" / "pinglog")], progress=lambda m: None)
    return cfg.parquet_dir


@pytest.mark.parametrize("path", report.notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_without_error(parquet, path, tmp_path):
    nb = report.execute(path, {"parquet_dir": str(parquet), "start": "2025-10-01", "end": None,
                               "min_count": 0, "chart_dir": None}, timeout=300)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    charts = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(charts) >= 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyterlab_lists_and_opens_every_notebook(tmp_path):
    port, token = _free_port(), "test-token"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={NOTEBOOKS_DIR.parent}", "--allow-root"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=NOTEBOOKS_DIR.parent,
    )
    base = f"http://127.0.0.1:{port}/api/contents"

    def get(path: str) -> dict:
        req = urllib.request.Request(f"{base}/{path}", headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)

    try:
        for _ in range(120):
            try:
                listing = get("notebooks?content=1")
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer: " + server.stderr.read1().decode(errors="replace"))
        listed = {item["name"]: item["type"] for item in listing["content"]}
        for path in report.notebooks():
            assert listed.get(path.name) == "notebook", path.name
            opened = get(f"notebooks/{path.name}?content=1")
            assert opened["type"] == "notebook" and opened["format"] == "json"
            cells = opened["content"]["cells"]
            assert any("parameters" in c["metadata"].get("tags", []) for c in cells)
    finally:
        server.terminate()
        server.wait(timeout=30)
