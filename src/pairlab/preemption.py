"""Preemption on SLURM: Lightning's auto-requeue, delivered at a step boundary, and where to resume.

Under SLURM, Lightning installs a handler for the requeue signal (SIGUSR1; `#SBATCH --signal=USR1@120`
in conf/hydra/launcher/slurm.yaml) that saves `<run dir>/hpc_ckpt_<n>.ckpt` and runs `scontrol requeue`.
It saves the moment the signal lands, which may be mid-step (between the optimizer step and the loop's
batch counter), and the resumed run would then repeat or skip a batch. `RequeueAtStepBoundary` records
the signal instead and calls Lightning's handler after the step, on every rank at the same step, then
ends the process; the requeued job finds the checkpoint (`resume_checkpoint`) and continues exactly.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl


class RequeueAtStepBoundary(pl.Callback):
    """Defers the requeue handler that Lightning installed (if any) to the end of a training step.

    Under DDP the ranks agree every `sync_every` steps (one all-reduce of a flag), so they all save at
    the same step; SLURM's warning time (`signal_delay_s`) must cover that many steps.
    """

    def __init__(self, sync_every: int = 10) -> None:
        self.sync_every = sync_every
        self.signum: int | None = None
        self.handler: Callable[[int, Any], None] | None = None
        self.received = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        environment = getattr(trainer.strategy, "cluster_environment", None)
        signum = getattr(environment, "requeue_signal", None) or signal.SIGUSR1
        handler = signal.getsignal(signum)
        if callable(handler):  # Lightning's SLURM auto-requeue (installed just before training starts)
            self.signum, self.handler = signum, handler
            signal.signal(signum, self._record)

    def _record(self, signum: int, frame: Any) -> None:
        self.received = True

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if self.handler is None:
            return
        requeue = self.received
        if trainer.world_size > 1:
            if trainer.global_step % self.sync_every:
                return
            requeue = trainer.strategy.reduce_boolean_decision(requeue, all=False)
        if requeue:
            self.handler(self.signum, None)  # Lightning: save hpc_ckpt_<n>.ckpt, rank 0 runs scontrol requeue
            raise SystemExit(f"pairlab: preempted after step {trainer.global_step}: saved "
                             f"{latest_hpc_checkpoint(Path(trainer.default_root_dir))}; the requeued job resumes there")


def latest_hpc_checkpoint(run_dir: Path) -> Path | None:
    """The newest `hpc_ckpt_<n>.ckpt` Lightning's requeue handler saved into `run_dir`, if any."""
    found = [(int(m.group(1)), p) for p in run_dir.glob("hpc_ckpt_*.ckpt")
             if (m := re.fullmatch(r"hpc_ckpt_(\d+)\.ckpt", p.name))]
    return max(found)[1] if found else None


def discard_requeue_checkpoints(trainer: pl.Trainer) -> None:
    """After a finished fit: remove the requeue checkpoints, which Lightning would otherwise load into
    every later `trainer.validate` under SLURM (and a later restart would resume from)."""
    if trainer.is_global_zero:
        for path in Path(trainer.default_root_dir).glob("hpc_ckpt_*.ckpt"):
            path.unlink()
    trainer.strategy.barrier("pairlab.discard_requeue_checkpoints")


def resume_checkpoint(run_dir: Path) -> Path | None:
    """Where a SLURM job that was requeued into `run_dir` continues: the newer of the requeue checkpoint
    and, after a restart without one (node failure), `checkpoints/last.ckpt`. None outside SLURM."""
    if "SLURM_JOB_ID" not in os.environ:
        return None
    candidates = [latest_hpc_checkpoint(run_dir)]
    if int(os.environ.get("SLURM_RESTART_COUNT", "0")) > 0:
        candidates.append(run_dir / "checkpoints" / "last.ckpt")
    existing = [p for p in candidates if p is not None and p.is_file()]
    return max(existing, key=lambda p: p.stat().st_mtime) if existing else None
