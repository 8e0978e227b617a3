# pairlab: `make train` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export WANDB_MODE ?= offline
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install train test test-full lint sweep bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

train: install
	$(PY) train.py $(ARGS)

test: install
	$(PY) -m pytest -q -x $(PYTEST_ARGS)

test-full: install
	$(PY) -m pytest -q -m "" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests bench train.py eval.py

sweep: install
	$(PY) train.py -m hparams_search=quora_optuna model=tiny $(ARGS)

clean:
	rm -rf outputs multirun wandb .pytest_cache
