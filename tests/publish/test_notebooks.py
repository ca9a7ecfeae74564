"""Notebooks: each runs headless against the demo fleet's marts with nothing heavy in its outputs;
JupyterLab lists and opens them as notebooks, with the project's kernel and settings."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jupytext
import pytest

from conftest import TEST_KEY, require
from pipelines import settings as settings_mod
from pipelines.flow import refresh
from pipelines.publish import charts, marts, report
from pipelines.settings import PROJECT_ROOT
from pipelines.tools.simulate import write_fleet

KERNEL = "flowforge-pings"
PLOTLY_JSON = "application/vnd.plotly.v1+json"


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    """Marts of a small demo fleet."""
    base = tmp_path_factory.mktemp("nb")
    write_fleet(base / "demo", instances=50, start="2025-09-01", end="2026-03-31", seed=9, key=TEST_KEY.encode())
    cfg = settings_mod.Settings(data_dir=base / "data", ip_hash_key=TEST_KEY)
    refresh(cfg, [str(base / "demo" / "pinglog")], progress=lambda m: None)
    return cfg.parquet_dir


@pytest.mark.parametrize("path", report.notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_and_every_chart_is_light_plotly_json_or_a_sentence(parquet, path):
    nb = report.execute(path, {"parquet_dir": str(parquet), "start": "2025-10-01", "end": None,
                               "min_count": 0, "chart_dir": None}, timeout=300)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = [o for o in outputs if PLOTLY_JSON in o.get("data", {}) or "text/markdown" in o.get("data", {})]
    assert len(shown) == path.read_text().count("ctx.show(")
    assert [o for o in outputs if PLOTLY_JSON in o.get("data", {})]
    for o in outputs:   # JupyterLab draws the JSON with its own plotly: no plotly.js copy in the notebook
        assert "text/html" not in o.get("data", {}) or "plotly" not in o["data"]["text/html"].lower()
        if PLOTLY_JSON in o.get("data", {}):
            assert o["data"][PLOTLY_JSON]["config"]["displaylogo"] is False
    assert len(json.dumps(nb)) < 3_000_000


def test_notebooks_name_the_project_kernel_and_have_a_parameters_cell():
    for path in report.notebooks():
        nb = jupytext.read(path)
        assert nb.metadata["kernelspec"]["name"] == KERNEL, path.name
        assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), path.name
        assert "from pipelines.publish import charts" in path.read_text()


def test_notebook_reads_every_mart_from_one_resolved_set(parquet):
    ctx = charts.Context("t", parquet)
    assert ctx.parquet_dir == marts.resolve(parquet) and not ctx.parquet_dir.is_symlink()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyterlab_opens_notebooks_with_the_project_kernel_and_settings(tmp_path):
    lab_settings = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    kernel = Path(sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json"
    if not (lab_settings.exists() and kernel.exists()):
        require("the project's Jupyter kernel and JupyterLab settings", "run `make setup`")
    assert json.loads(lab_settings.read_text()) == json.loads((PROJECT_ROOT / "jupyter" / "overrides.json").read_text())
    port, token = _free_port(), "test-token"
    # an empty user config: what a plain `jupyter lab` on a fresh machine sees comes from the project
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "user-settings")}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={PROJECT_ROOT}", "--allow-root"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=PROJECT_ROOT,
    )
    base = f"http://127.0.0.1:{port}"

    def get(path: str) -> dict:
        req = urllib.request.Request(f"{base}/{path}", headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)

    try:
        for _ in range(120):
            try:
                listing = get("api/contents/notebooks?content=1")
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer: " + server.stderr.read1().decode(errors="replace"))
        listed = {item["name"]: item["type"] for item in listing["content"]}
        for path in report.notebooks():
            assert listed.get(path.name) == "notebook", path.name
            opened = get(f"api/contents/notebooks/{path.name}?content=1")
            assert opened["type"] == "notebook" and opened["format"] == "json"
            assert opened["content"]["metadata"]["kernelspec"]["name"] == KERNEL   # no kernel dialog
        assert KERNEL in get("api/kernelspecs")["kernelspecs"]
        # the project's overrides become the settings' defaults (the user has set nothing)
        viewers = get("lab/api/settings/@jupyterlab/docmanager-extension:plugin")["schema"]["properties"]
        assert viewers["defaultViewers"]["default"]["python"] == "Jupytext Notebook"   # double-click opens it
        news = get("lab/api/settings/@jupyterlab/apputils-extension:notification")["schema"]["properties"]
        assert news["fetchNews"]["default"] == "false"                                   # no news prompt
    finally:
        server.terminate()
        server.wait(timeout=30)
