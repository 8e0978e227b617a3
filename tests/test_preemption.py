"""SLURM preemption: the requeue signal mid-step saves at the step's end, requeues, and the requeued
job resumes in the same run dir to the metrics of an uninterrupted run, in the same wandb run."""

from __future__ import annotations

import json
import os

from helpers import train_cli

COMMON = ["model=tiny", "num_workers=0", "trainer.max_epochs=2", "data.batch_size=32", "export=false",
          "trainer.enable_progress_bar=false"]


def slurm_env(tmp_path):
    """What srun gives one task of job 4242, and an `scontrol` that records what it is asked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    scontrol.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "pairlab",
            "SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1", "SLURM_NODEID": "0", "SLURM_PROCID": "0",
            "SLURM_LOCALID": "0", "SLURM_NODELIST": "localhost", "SLURM_STEP_ID": "0"}


def wandb_run_ids(run_dir):
    return {p.name.rsplit("-", 1)[1] for p in (run_dir / "wandb").glob("offline-run-*")}


def test_requeue_signal_mid_step_saves_requeues_and_resumes_exactly(tmp_path):
    env = slurm_env(tmp_path)
    straight = train_cli([*COMMON, f"hydra.run.dir={tmp_path / 'straight'}"], env=env)
    assert straight.returncode == 0, straight.stderr[-3000:]

    run_dir = tmp_path / "preempted"
    first = train_cli([*COMMON, f"hydra.run.dir={run_dir}", "+callbacks.signal._target_=helpers.SignalAt",
                       "+callbacks.signal.step=7"], env=env)
    assert first.returncode != 0 and "pairlab: preempted after step 8" in first.stderr, first.stderr[-3000:]
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "4242"]
    assert (run_dir / "hpc_ckpt_1.ckpt").is_file() and not (run_dir / "metrics.json").exists()

    requeued = train_cli([*COMMON, f"hydra.run.dir={run_dir}"], env=env)  # the same job, started again
    assert requeued.returncode == 0, requeued.stderr[-3000:]
    assert f"[pairlab] resuming from {run_dir / 'hpc_ckpt_1.ckpt'}" in requeued.stdout

    want = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    got = json.loads((run_dir / "metrics.json").read_text())
    assert want.keys() == got.keys()
    for key in want:
        assert abs(want[key] - got[key]) <= 1e-5, (key, want[key], got[key])
    assert not list(run_dir.glob("hpc_ckpt_*"))  # consumed: a later restart must not go back to it
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 2
    assert len(wandb_run_ids(run_dir)) == 1  # both parts log to one wandb run
