"""`trainer=fsdp`: FSDP2 through Lightning's ModelParallelStrategy, on two CPU processes over gloo (the same code
path a GPU node runs with NCCL): sharded checkpoints, a resume to the same metrics, one exported folder."""

from __future__ import annotations

import json

import pytest
from helpers import assert_same_metrics, train_cli
from sentence_transformers import SentenceTransformer

FSDP = ["model=qwen3_tiny", "loss=mnrl", "trainer=fsdp", "trainer.accelerator=cpu", "trainer.devices=2",
        "trainer.precision=32-true", "logger=csv", "num_workers=0", "scheduler=constant", "eval_baseline=false",
        "trainer.val_check_interval=3", "callbacks.last_checkpoint.every_n_train_steps=3"]


def test_fsdp_trains_with_sharded_checkpoints_and_exports_one_folder(tmp_path):
    result = train_cli([*FSDP, "trainer.max_steps=3", f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("best.ckpt", "last.ckpt"):  # a folder of per-rank shards each
        assert len(list((tmp_path / "checkpoints" / name).glob("*.distcp"))) == 2
    model = SentenceTransformer(str(tmp_path / "model"), device="cpu")
    assert model.encode(["a question"]).shape == (1, 32)
    assert json.loads((tmp_path / "metrics.json").read_text())["val/mrr@10"] > 0


@pytest.mark.slow
def test_fsdp_resumes_from_its_sharded_checkpoint_to_the_same_metrics(tmp_path):
    straight = train_cli([*FSDP, "trainer.max_steps=6", "export=false", f"hydra.run.dir={tmp_path / 'straight'}"])
    assert straight.returncode == 0, straight.stderr[-3000:]
    stopped = tmp_path / "stopped"
    first = train_cli([*FSDP, "trainer.max_steps=3", "export=false", f"hydra.run.dir={stopped}"])
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = train_cli([*FSDP, "trainer.max_steps=6", "export=false", f"hydra.run.dir={stopped}",
                         f"ckpt_path={stopped / 'checkpoints' / 'last.ckpt'}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_metrics(tmp_path / "straight", stopped)
