"""Run pairlab's Hydra entry point in-process (fast) or as a subprocess (as users do)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from pairlab.resolvers import register
from pairlab.tasks import CONF_DIR

ROOT = CONF_DIR.parent
FAST = ["model=tiny", "logger=csv", "num_workers=0", "trainer.enable_progress_bar=false"]


def compose_cfg(overrides: list[str], run_dir: Path):
    """The config `python train.py <overrides>` would run, with its output dir set to run_dir."""
    register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, f"hydra.run.dir={run_dir}"], return_hydra_config=True)
    cfg.hydra.runtime.output_dir = str(run_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def train_in_process(overrides: list[str], run_dir: Path) -> float | None:
    from pairlab.train import run

    return run(compose_cfg([*FAST, *overrides], run_dir))


def train_cli(args: list[str], cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "WANDB_MODE": "offline",
           "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=timeout)


class KillAt(pl.Callback):
    """SIGKILLs its own process once training passes a given optimizer step (a crash, mid-epoch)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class GradNormProbe(pl.Callback):
    """Writes the gradient norm each optimizer step used (read after the step: clipped, unscaled) to
    <run dir>/grad_norms_rank<r>.json: proof that steps were taken and clipping held."""

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.norms: list[float] = []
        for optimizer in trainer.optimizers:
            optimizer.register_step_post_hook(self._record)

    def _record(self, optimizer: torch.optim.Optimizer, *args: object) -> None:
        grads = [p.grad.float() for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        out = Path(trainer.default_root_dir) / f"grad_norms_rank{trainer.global_rank}.json"
        out.write_text(json.dumps(self.norms))
