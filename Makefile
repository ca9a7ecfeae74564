# FlowForge usage-telemetry analytics. Plain `make` lists the targets.
# Every target that needs Python creates .venv first when it is missing (pip, from pyproject.toml).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEV    := $(VENV)/.installed-dev-stamp
PIPE   := $(PY) -m pipelines

.DEFAULT_GOAL := help
.PHONY: help setup demo use-demo refresh status test test-spark lab report collect bench clean clean-all

help: ## show this list of targets
	@echo "usage: make TARGET   (the main job: make report; the tests: make test)"
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

# what the project runs on; the tests' extras (pytest, hypothesis, PySpark) only for the test targets
$(STAMP): pyproject.toml
	@echo "setting up $(VENV): the project's packages (about a minute, once)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $(STAMP)

$(DEV): $(STAMP)
	@echo "adding the tests' packages to $(VENV) (pytest, hypothesis, PySpark; about a minute, once)"
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(DEV)

# the project's Jupyter kernel (the notebooks name it) and JupyterLab settings, both inside .venv
KERNEL := $(VENV)/share/jupyter/kernels/flowforge-pings/kernel.json
LABCFG := $(VENV)/share/jupyter/lab/settings/overrides.json

$(KERNEL): $(STAMP)
	$(PY) -m ipykernel install --sys-prefix --name flowforge-pings --display-name "Python (flowforge-pings)" >/dev/null

# .py notebooks open as notebooks on double-click, no news prompt (project settings, not ~/.jupyter)
$(LABCFG): jupyter/overrides.json $(STAMP)
	@mkdir -p $(dir $(LABCFG))
	cp jupyter/overrides.json $(LABCFG)

# every target that runs Python: the environment, its kernel and JupyterLab settings (a plain `jupyter lab` works)
ENV := $(STAMP) $(KERNEL) $(LABCFG)

setup: $(ENV) $(DEV) ## create .venv with everything the project and its tests need, register its Jupyter kernel

demo: $(ENV) ## write the simulated demo fleet to data/demo (used when no source is configured)
	$(PIPE) simulate --out data/demo

use-demo: $(ENV) ## show the demo fleet again (your sources: .venv/bin/python -m pipelines use SRC...)
	$(PIPE) use --demo

refresh: $(ENV) ## load new ping rows from the configured sources (else the demo), rebuild marts, write parquet
	$(PIPE) refresh

status: $(ENV) ## show rows read, loaded, duplicates, quarantined and pending per source
	$(PIPE) status

test: $(ENV) $(DEV) ## run the test suite (starts its own PostgreSQL, collector, JupyterLab, Chromium and Spark)
	$(PY) -m pytest

test-spark: $(ENV) $(DEV) ## run every model on Spark (local[2]) and compare each mart with DuckDB's (also part of `make test`)
	$(PY) -m pytest tests/transform/test_spark.py

lab: $(ENV) ## open JupyterLab on the notebooks (refreshes the marts first: quick when nothing is new)
	$(PIPE) refresh >/dev/null
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root,)

report: $(ENV) ## refresh, then export every notebook as an offline HTML report under reports/
	$(PIPE) report

collect: $(ENV) ## run the ping collector on 127.0.0.1:8787, writing data/raw/pinglog/
	$(PIPE) collect

bench: $(ENV) ## benchmark refresh against DuckDB alone and pandas (1M, 4M, 16M pings; long; more: BENCH_ARGS="--help")
	$(PIPE) bench $(BENCH_ARGS)

clean: ## remove generated data, parquet and reports (keeps .venv, data/ip_hash.key and pings.toml)
	rm -rf data/demo data/parquet data/parquet.sets data/warehouse.duckdb data/warehouse.duckdb.wal data/warehouse.duckdb.lock data/logs reports

clean-all: clean ## also remove the environment (.venv)
	rm -rf $(VENV)
