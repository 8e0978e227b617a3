"""Run pairlab's Hydra entry point in-process (fast) or as a subprocess (as users do)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytorch_lightning as pl
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
