"""OmegaConf resolvers used by pairlab's configs."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


def sample_path(name: str) -> str:
    """`${pairlab_sample:quora_sample}` -> the bundled sample folder (or file) of that name."""
    path = SAMPLES_DIR / name
    if not path.exists():
        raise FileNotFoundError(f"no bundled sample {name!r} in {SAMPLES_DIR}")
    return str(path)


def run_stamp() -> str:
    """`${pairlab_run_stamp:}`: the run dir's last part, the same on every process of one run.

    Under SLURM `slurm-<job id>.<step id>` (a requeued job gets the same one back), under torchrun
    `torchrun-<rendezvous id>`, else the start time; a time alone could differ between the nodes.
    """
    env = os.environ
    job = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}" if "SLURM_ARRAY_JOB_ID" in env else env.get(
        "SLURM_JOB_ID")
    if job:
        return f"slurm-{job}.{env.get('SLURM_STEP_ID', 'batch')}"
    rendezvous = env.get("TORCHELASTIC_RUN_ID", "none")
    if rendezvous != "none":
        return f"torchrun-{rendezvous}"
    return datetime.now().strftime("%Y-%m-%d_%H-%M-%S")


def run_id(run_dir: str) -> str:
    """`${pairlab_run_id:${paths.output_dir}}`: a dashboard run id derived from the run dir, so a resumed
    run (same dir) continues the same wandb run."""
    return hashlib.sha1(str(Path(run_dir).resolve()).encode()).hexdigest()[:16]


def with_overrides(data: DictConfig, overrides: DictConfig | None) -> DictConfig:
    """`${pairlab_with:${data},${.data_overrides}}`: a mixture task's data node, the run's `data` node with the
    task's own overrides on top, so every key a user sets on `data` reaches every task that does not set it."""
    return OmegaConf.merge(OmegaConf.to_container(data, resolve=True),
                           OmegaConf.to_container(overrides, resolve=True) if overrides is not None else {})


def register() -> None:
    for name, resolver in (("pairlab_sample", sample_path), ("pairlab_run_stamp", run_stamp),
                           ("pairlab_run_id", run_id), ("pairlab_with", with_overrides)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver, use_cache=name == "pairlab_run_stamp")
