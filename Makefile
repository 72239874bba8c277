# The two commands of README.md. Each creates .venv and installs into it.
PYTHON ?= python3
VENV   := .venv
PIP    := $(VENV)/bin/pip
# torch/torchvision pinned where the install happens (a CUDA build that also runs on CPU).
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test install

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e '.[dev]' $(TORCH)
	touch $@

install: $(VENV)/.installed

# A real sweep (8 trials, Optuna TPE + ASHA on local Ray, MLflow in ./mlflow.db)
# of the `naive` learner on split-digits; prints the best configuration.
demo: install
	$(VENV)/bin/synaptune sweep --learner naive --benchmark split-digits --trials 9 \
		--name demo-$$(date +%Y%m%d-%H%M%S)

# The whole test suite, slow tests included (what CI runs).
test: install
	$(VENV)/bin/python -m pytest -m "not gpu" -q
