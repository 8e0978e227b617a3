"""Every trainer config takes optimizer steps with gradient clipping on, in fp32 and mixed precision,
with and without GradCache (mixed precision runs on CPU through CPU autocast)."""

from __future__ import annotations

import json

import pytest
from helpers import run_entry, train_cli, train_in_process

CLIP = 0.01  # far below the tiny model's raw gradient norm, so every step is clipped
PROBE = ["+callbacks.probe._target_=helpers.GradNormProbe", f"trainer.gradient_clip_val={CLIP}", "eval_baseline=false",
         "export=false", "trainer.max_steps=3", "data.batch_size=16"]
GRAD_CACHE = {"off": [], "on": ["module.grad_cache_mini_batch=5"]}


def assert_clipped_steps(run_dir, steps=3, ranks=1):
    for rank in range(ranks):
        norms = json.loads((run_dir / f"grad_norms_rank{rank}.json").read_text())
        assert len(norms) == steps, norms
        assert all(0 < n <= CLIP * 1.001 for n in norms), norms


@pytest.mark.parametrize("grad_cache", GRAD_CACHE)
@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
@pytest.mark.parametrize("trainer", ["cpu", "gpu"])
def test_single_process_trainer_configs_step_with_clipping(trainer, precision, grad_cache, tmp_path):
    train_in_process([f"trainer={trainer}", "trainer.accelerator=cpu", f"trainer.precision={precision}",
                      *GRAD_CACHE[grad_cache], *PROBE], tmp_path)
    assert_clipped_steps(tmp_path)


DDP_CASES = [("ddp_sim", "32-true", "on"), pytest.param("ddp", "bf16-mixed", "off", marks=pytest.mark.slow),
             pytest.param("ddp_sim", "bf16-mixed", "off", marks=pytest.mark.slow),
             pytest.param("ddp", "32-true", "on", marks=pytest.mark.slow),
             pytest.param("ddp_sim", "bf16-mixed", "on", marks=pytest.mark.slow),
             pytest.param("ddp", "32-true", "off", marks=pytest.mark.slow)]


@pytest.mark.parametrize(("trainer", "precision", "grad_cache"), DDP_CASES)
def test_ddp_trainer_configs_step_with_clipping(trainer, precision, grad_cache, tmp_path):
    result = train_cli([f"trainer={trainer}", "trainer.accelerator=cpu", "trainer.devices=2",
                        f"trainer.precision={precision}", *GRAD_CACHE[grad_cache], *PROBE, "model=tiny", "logger=csv",
                        "num_workers=0", f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert_clipped_steps(tmp_path, ranks=2)


@pytest.mark.parametrize("overrides", [
    ["trainer=gpu", "trainer.accelerator=cpu"],  # the GPU config as a new user first tries it
    ["trainer.precision=bf16-mixed"],
])
def test_the_commands_that_crashed_at_the_first_step_finish(overrides, tmp_path):
    result = run_entry("train.py", ["model=tiny", *overrides, "trainer.max_steps=2", "logger=csv",
                                    f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "model" / "modules.json").is_file()


@pytest.mark.slow
def test_compiled_encoder_trains_and_exports_under_its_own_parameter_names(tmp_path):
    result = train_cli(["model=tiny", "model.compile=true", "trainer.max_steps=3", "logger=csv",
                        f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    from safetensors.torch import load_file

    names = load_file(tmp_path / "model" / "model.safetensors")
    assert names and not any("_orig_mod" in name for name in names)


@pytest.mark.parametrize(("scheduler", "constant"), [("linear", False), ("constant", True)])
def test_scheduler_configs_set_the_learning_rate_of_real_steps(scheduler, constant, tmp_path):
    import csv

    train_in_process([f"scheduler={scheduler}", "optimizer.fused=false", "trainer.max_steps=10",
                      "eval_baseline=false", "export=false", "data.batch_size=16"], tmp_path)
    with open(tmp_path / "csv" / "metrics.csv") as f:
        rates = [float(r["lr-AdamW/pg1"]) for r in csv.DictReader(f) if r.get("lr-AdamW/pg1")]
    assert len(rates) >= 2
    assert (rates[-1] == rates[0] == 1e-3) if constant else (rates[-1] < rates[0] <= 1e-3)
