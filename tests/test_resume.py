"""A run SIGKILLed mid-epoch and resumed from last.ckpt ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import json
import signal

import pytest
from helpers import train_cli

COMMON = ["model=tiny", "logger=csv", "num_workers=0", "trainer.max_epochs=2", "data.batch_size=32",
          "callbacks.last_checkpoint.every_n_train_steps=4", "export=false"]


@pytest.mark.parametrize("extra", [pytest.param([], id="full"),
                                   pytest.param(["model.lora.r=4"], id="lora", marks=pytest.mark.slow)])
def test_killed_run_resumes_to_the_same_final_metrics(tmp_path, extra):
    # 480 duplicate pairs / 32 = 15 steps an epoch: the kill at step 22 lands mid-way through epoch 2,
    # after the step-20 checkpoint. LoRA runs (adapters train, the base is frozen) resume alike.
    common = [*COMMON, *extra]
    straight = train_cli([*common, f"hydra.run.dir={tmp_path / 'straight'}"])
    assert straight.returncode == 0, straight.stderr[-3000:]

    crashed_dir = tmp_path / "crashed"
    crashed = train_cli([*common, f"hydra.run.dir={crashed_dir}", "+callbacks.kill._target_=helpers.KillAt",
                         "+callbacks.kill.step=22"])
    assert crashed.returncode == -signal.SIGKILL
    assert not (crashed_dir / "metrics.json").exists()
    last = crashed_dir / "checkpoints" / "last.ckpt"
    assert last.is_file()

    resumed = train_cli([*common, f"hydra.run.dir={crashed_dir}", f"ckpt_path={last}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "not resumable" not in resumed.stderr

    want = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    got = json.loads((crashed_dir / "metrics.json").read_text())
    assert want.keys() == got.keys()
    for key in want:
        assert abs(want[key] - got[key]) <= 1e-5, (key, want[key], got[key])
