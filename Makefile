# The two commands of README.md. Each creates .venv and installs into it.
PYTHON ?= python3
VENV   := .venv
PIP    := $(VENV)/bin/pip
# torch/torchvision pinned where the install happens (a CUDA build that also runs on CPU).
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test test-fast coverage install leaderboard claims

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e '.[dev]' $(TORCH)
	touch $@

install: $(VENV)/.installed

# A real sweep of SatSOM on split-digits (9 trials, Optuna TPE + ASHA on local Ray, MLflow in ./mlflow.db),
# its best configuration exported and compared with the naive baseline over 3 seeds (scripts/demo.sh).
demo: install
	SYNAPTUNE=$(VENV)/bin/synaptune bash scripts/demo.sh

# The whole test suite, slow tests included (what CI runs); ends with the 25 slowest tests.
test: install
	$(VENV)/bin/python -m pytest -m "not gpu" -q --durations=25

# The fast tier: every unit and conformance test and one real end-to-end sweep (marker `smoke`);
# no test that starts its own Ray, a server, a cluster or reads real data (those are `slow`).
test-fast: install
	$(VENV)/bin/python -m pytest -m "not slow and not gpu" -q --durations=10

# Line coverage of synaptune/ by the whole suite (in-process code; the CLIs the tests start as
# subprocesses are not measured).
coverage: install
	$(VENV)/bin/python -m pytest -m "not gpu" -q -p no:randomly --cov=synaptune --cov-report=term:skip-covered

# The README leaderboard, from the shipped presets' recorded results.
leaderboard: install
	$(VENV)/bin/python -m synaptune.hpo.leaderboard README.md

# The tables of bench/claims/README.md, from the claims' stored results in bench/claims/results/ (runs nothing).
claims: install
	$(VENV)/bin/python bench/claims/claims.py --readme bench/claims/README.md
