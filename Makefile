# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEMO := data/demo
REAL ?= data/external/instagram
CLI := $(BIN)/creator-recommender
SEED ?= 0
# Tests on every logical CPU, up to 4; each test file runs whole in one worker, its servers
# started once.
PARALLEL := --numprocesses=logical --maxprocesses=4 --dist=loadfile

.PHONY: demo test unit lint check bench clean tracking-server

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark,docs]'
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(CLI) simulate --out $(DEMO) --seed $(SEED)
	$(CLI) validate --creators $(DEMO)/creators.csv \
		--campaigns $(DEMO)/campaigns.csv --outcomes $(DEMO)/outcomes.csv
	$(CLI) train --data $(DEMO) --seed $(SEED)
	$(CLI) real --src $(REAL) --out data/real/creators.parquet
	$(CLI) validate --creators data/real/creators.parquet --rejects data/real/rejects.csv
	$(CLI) score --creators data/real/creators.parquet \
		--campaign examples/campaign_pet.json --out data/real/scored.csv --show 10
	$(CLI) plan --creators data/real/creators.parquet \
		--campaign examples/campaign_pet.json --budget 3000 --explore 0.2 \
		--out data/real/plan.csv

test: $(INSTALLED)
	$(BIN)/python -m pytest $(PARALLEL)

# The tests of each subpackage alone, without tests/integration (CLI, install, notebooks,
# team server, Spark, HTTP end to end).
unit: $(INSTALLED)
	$(BIN)/python -m pytest $(PARALLEL) --ignore=tests/integration

# A PostgreSQL-backed MLflow server on this machine (database and artifacts in tracking/).
tracking-server: $(INSTALLED)
	$(CLI) tracking-server --folder tracking --port $(or $(PORT),5000)

# The docs build strictly; not with --quiet, which hides the warnings --strict counts.
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

check: lint test

bench: $(INSTALLED)
	$(BIN)/python benchmarks/validate_1m.py
	$(BIN)/python benchmarks/train_12k.py
	$(BIN)/python benchmarks/model_quality.py
	$(BIN)/python benchmarks/gate_seeds.py
	$(BIN)/python benchmarks/score_330k.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/plan_10k.py
	$(BIN)/python benchmarks/plan_quality.py
	$(BIN)/python benchmarks/http_load.py

clean:
	rm -rf $(VENV) site data/demo data/real mlruns mlflow.db .pytest_cache .mypy_cache .ruff_cache
