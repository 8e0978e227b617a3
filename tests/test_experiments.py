"""Every experiment recipe runs offline for a few steps on a tiny model and the bundled samples."""

from __future__ import annotations

import json
import math
import re

import pytest
from helpers import train_in_process

from pairlab.config import CONF_DIR

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
TINY = {"quora": ["model=tiny", "data=quora_sample"],
        "msmarco": ["model=cross_tiny", "data=msmarco_sample"]}


def smoke_overrides(name: str) -> list[str]:
    text = (CONF_DIR / "experiment" / f"{name}.yaml").read_text()
    first_command = next(line for line in text.splitlines() if "python train.py" in line)
    # the recipe's own comment says which offline overrides turn it into a smoke run
    extra = first_command.split("add ", 1)[1].rstrip(")").split() if "add " in first_command else []
    return [f"experiment={name}", *extra]


def test_every_experiment_says_how_to_run_it():
    assert EXPERIMENTS
    for name in EXPERIMENTS:
        lines = (CONF_DIR / "experiment" / f"{name}.yaml").read_text().splitlines()
        assert lines[0] == "# @package _global_"
        assert lines[1].startswith(f"# python train.py experiment={name}")


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_a_few_steps_offline(name, tmp_path):
    train_in_process([*smoke_overrides(name), "trainer.max_steps=5", "eval_baseline=false"], tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics and all(math.isfinite(v) for v in metrics.values())  # no NaN, no infinity
    assert (tmp_path / "model" / "README.md").is_file()


def test_a_model_chosen_on_the_command_line_wins_over_the_experiments(tmp_path):
    from helpers import run_entry

    result = run_entry("train.py", ["experiment=quora_online_contrastive", "model=minilm", "--cfg", "job"])
    assert result.returncode == 0, result.stderr[-2000:]
    model = re.search(r"^model:\n((?:  .*\n)+)", result.stdout, flags=re.M).group(1)
    assert "name: sentence-transformers/all-MiniLM-L6-v2" in model
    assert "lr: 2.0e-05" in model  # the recipe's own settings stay


def test_the_resolved_model_is_printed_at_start(tmp_path):
    from helpers import run_entry

    result = run_entry("train.py", ["experiment=quora_online_contrastive", "model=tiny", "data=quora_sample",
                                    "logger=csv", "trainer.max_steps=1", "eval_baseline=false", "export=false",
                                    f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[0] == "[pairlab] model: tiny (random-init, bi-encoder)"


def test_readme_experiment_table_matches_the_experiment_files():
    import experiments_table

    readme = experiments_table.README.read_text()
    assert readme == experiments_table.readme_with_table(readme), "run: python tools/experiments_table.py --write"
    assert all(f"`{name}`" in experiments_table.table() for name in EXPERIMENTS)
