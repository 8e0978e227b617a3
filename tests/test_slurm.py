"""Cluster launches through hydra-submitit-launcher: the sbatch script trainer=slurm produces, and the
same multirun path run as local processes by submitit."""

from __future__ import annotations

import os
import re

import pytest
from helpers import train_cli


def fake_slurm_bin(tmp_path):
    """`srun` (submitit checks it exists) and an `sbatch` that keeps the script and refuses to submit it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\ncp "$1" {tmp_path / "job.sbatch"}\n'
                                    'echo "sbatch: error: not a cluster (script kept)" >&2\nexit 1\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_trainer_slurm_asks_for_the_nodes_gpus_and_requeue_signal(tmp_path):
    result = train_cli(["-m", "trainer=slurm", "trainer.num_nodes=2", "trainer.devices=4", "model=tiny",
                        "hydra.launcher.partition=gpu", "hydra.launcher.account=proj", "hydra.launcher.qos=high",
                        f"hydra.sweep.dir={tmp_path / 'sweep'}"], env=fake_slurm_bin(tmp_path))
    assert "not a cluster (script kept)" in result.stderr, result.stderr[-3000:]
    script = (tmp_path / "job.sbatch").read_text()
    flags = dict(re.findall(r"^#SBATCH --([\w-]+)=?(.*)$", script, flags=re.M))
    assert flags["nodes"] == "2" and flags["ntasks-per-node"] == "4" and flags["gpus-per-node"] == "4"
    assert flags["signal"] == "USR1@120" and "requeue" in flags  # Lightning's auto-requeue signal
    assert flags["partition"] == "gpu" and flags["account"] == "proj" and flags["qos"] == "high"
    assert re.search(r"^srun .* -m submitit\.core\._submit ", script, flags=re.M)


@pytest.mark.slow  # a multirun of training jobs through submitit
def test_multirun_through_submitit_local_runs_each_job_and_summarizes(tmp_path):
    sweep = tmp_path / "sweep"
    result = train_cli(["-m", "hydra/launcher=submitit_local", "model=tiny", "trainer.max_steps=2", "logger=csv",
                        "seed=1,2", f"hydra.sweep.dir={sweep}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((sweep / ".submitit").glob("*/*_result.pkl"))) == 2  # both jobs ran as submitit jobs
    summary = (sweep / "summary.md").read_text()
    assert "2 jobs (2 ok" in summary and "| seed=1 |" in summary and "| seed=2 |" in summary


@pytest.mark.slow  # a training job through submitit
def test_the_slurm_trainer_config_takes_real_steps_through_submitit(tmp_path):
    """trainer=slurm's Lightning settings (DDP strategy, precision, clipping) on 1 CPU process, launched as a
    submitit job the way the cluster launches it (local executor instead of sbatch)."""
    sweep = tmp_path / "sweep"
    result = train_cli(["-m", "trainer=slurm", "hydra/launcher=submitit_local", "trainer.accelerator=cpu",
                        "model=tiny", "trainer.max_steps=2", "logger=csv", "export=false", f"hydra.sweep.dir={sweep}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert (sweep / "0" / "metrics.json").is_file()
