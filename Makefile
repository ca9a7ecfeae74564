# FlowForge usage-telemetry analytics. Plain `make` lists the targets.
# Every target that needs Python creates .venv first when it is missing (pip, from pyproject.toml).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PIPE   := $(PY) -m pipelines

.DEFAULT_GOAL := help
.PHONY: help setup demo refresh status test lab report collect bench clean

help: ## show this list of targets
	@echo "usage: make TARGET   (the main job: make report; the tests: make test)"
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP) ## create .venv with everything the project needs (pip; conda users: environment.yml)

demo: $(STAMP) ## write the simulated demo fleet to data/demo (used when no source is configured)
	$(PIPE) simulate --out data/demo

refresh: $(STAMP) ## load new ping rows from the configured sources (else the demo), rebuild marts, write parquet
	$(PIPE) refresh

status: $(STAMP) ## show rows read, loaded, duplicates, quarantined and pending per source
	$(PIPE) status

test: $(STAMP) ## run the test suite (starts its own PostgreSQL, collector and headless Chromium)
	$(PY) -m pytest

lab: $(STAMP) ## open JupyterLab on the notebooks (refreshes the marts first when there are none)
	@test -f data/parquet/instance_days.parquet || $(PIPE) refresh
	@$(VENV)/bin/jupytext-config set-default-viewer python >/dev/null 2>&1 || true  # double-click opens .py as notebook
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

report: $(STAMP) ## refresh, then export every notebook as an offline HTML report under reports/
	$(PIPE) report

collect: $(STAMP) ## run the ping collector on 127.0.0.1:8787, writing data/raw/pinglog/
	$(PIPE) collect

bench: $(STAMP) ## benchmark refresh against DuckDB alone and pandas (1M, 4M, 16M pings; long)
	$(PIPE) bench

clean: ## remove generated data, parquet, reports and the environment (keeps data/ip_hash.key)
	rm -rf data/demo data/parquet data/warehouse.duckdb data/warehouse.duckdb.wal reports $(VENV)
