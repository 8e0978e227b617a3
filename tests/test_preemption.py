"""SLURM preemption: the requeue signal mid-step saves at the step's end, requeues, and the requeued
job resumes in the same run dir to the metrics of an uninterrupted run, in the same wandb run."""

from __future__ import annotations

import json
import os

import pytest
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


@pytest.mark.slow  # three training processes; the resume path itself runs in test_resume[full]
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


def test_resume_checkpoint_prefers_the_newest_of_requeue_and_last_checkpoints(tmp_path, monkeypatch):
    from pairlab.preemption import resume_checkpoint

    for key in ("SLURM_JOB_ID", "SLURM_RESTART_COUNT"):
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "checkpoints").mkdir()
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.write_bytes(b"x")
    assert resume_checkpoint(tmp_path) is None  # not under SLURM: only an explicit ckpt_path resumes
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    assert resume_checkpoint(tmp_path) is None  # a first start does not pick up an old last.ckpt
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert resume_checkpoint(tmp_path) == last  # restarted without a warning signal (node failure)
    for n in (1, 2, 10):
        (tmp_path / f"hpc_ckpt_{n}.ckpt").write_bytes(b"x")
    os.utime(last, (0, 0))
    assert resume_checkpoint(tmp_path) == tmp_path / "hpc_ckpt_10.ckpt"


def test_run_dir_stamp_is_shared_by_every_process_of_a_run(monkeypatch):
    from pairlab.resolvers import run_id, run_stamp

    for key in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_STEP_ID", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    assert run_stamp() == "slurm-4242.0"
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "4240")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert run_stamp() == "slurm-4240_3.0"
    for key in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_STEP_ID"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "abc")
    assert run_stamp() == "torchrun-abc"
    assert run_id("outputs/a") == run_id("outputs/./a") != run_id("outputs/b")
