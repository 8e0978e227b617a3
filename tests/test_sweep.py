"""Multirun summaries (pairlab.sweep): basic and Optuna sweeps end to end, offline, on the tiny model."""

from __future__ import annotations

import csv
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, train_cli
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from pairlab.sweep import SUMMARY_FILES, SweepSummary

FAST = ["model=tiny", "num_workers=0", "trainer.max_steps=3", "export=false", "trainer.enable_progress_bar=false"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    """A real PNG image: the signature bytes, and matplotlib and PIL read it back as a non-trivial picture."""
    import matplotlib.image
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100, pixels.shape
    assert pixels.std() > 0.01  # not a blank canvas
    with Image.open(path) as image:
        image.verify()


def read_summary(sweep_dir: Path) -> list[dict]:
    with open(sweep_dir / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


def job_metrics(sweep_dir: Path) -> dict[str, dict]:
    """The ground truth: each job dir's own metrics.json."""
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/metrics.json")}


def expected_order(sweep_dir: Path, monitor: str, mode: str) -> list[str]:
    metrics = job_metrics(sweep_dir)
    sign = -1 if mode == "max" else 1
    return sorted(metrics, key=lambda job: (sign * metrics[job][monitor], int(job)))


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pairlab.sweep", *map(str, args)], cwd=ROOT, text=True,
                          capture_output=True, timeout=120)


def wandb_records(path: Path) -> list:
    """The records of an offline wandb run file (LevelDB-style log: 32 KiB blocks of checksum/length/type chunks)."""
    from wandb.proto.wandb_internal_pb2 import Record

    data = path.read_bytes()
    assert data[:4] == b":W&B", data[:8]
    pos, pending, records = 7, b"", []
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # block trailer
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # full or last chunk of a record
            records.append(Record.FromString(pending))
            pending = b""
    return records


def wandb_runs(run_dir: Path) -> list[tuple[str, int | None]]:
    """(group, exit code or None) of each offline wandb run under a run dir."""
    runs = []
    for path in sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb")):
        records = wandb_records(path)
        group = next(r.run.run_group for r in records if r.WhichOneof("record_type") == "run")
        exits = [r.exit.exit_code for r in records if r.WhichOneof("record_type") == "exit"]
        runs.append((group, exits[0] if exits else None))
    return runs


@pytest.fixture(scope="module")
def basic_sweep(tmp_path_factory) -> Path:
    """`python train.py -m ... loss=mnrl,online_contrastive`: 2 jobs x 3 steps with the basic sweeper."""
    sweep_dir = tmp_path_factory.mktemp("multirun") / "basic"
    result = train_cli(["-m", "loss=mnrl,online_contrastive", *FAST, "logger=csv", f"hydra.sweep.dir={sweep_dir}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"[pairlab] sweep summary: {sweep_dir / 'summary.md'}" in result.stdout
    return sweep_dir


def test_basic_multirun_writes_a_summary_ranked_best_first(basic_sweep):
    rows = read_summary(basic_sweep)
    assert len(rows) == 2 == len(list(basic_sweep.glob("*/.hydra")))
    assert [r["job"] for r in rows] == expected_order(basic_sweep, "val/mrr@10", "max")
    truth = job_metrics(basic_sweep)
    for row in rows:
        assert row["status"] == "ok"
        assert float(row["val/mrr@10"]) == truth[row["job"]]["val/mrr@10"]
        assert float(row["val/ap"]) == truth[row["job"]]["val/ap"]
        loss = "loss=mnrl" if row["job"] == "0" else "loss=online_contrastive"  # the basic sweeper's job order
        assert loss in row["overrides"].split() and "model=tiny" in row["overrides"].split()

    md = (basic_sweep / "summary.md").read_text()
    assert "| job | status | overrides | val/mrr@10 |" in md and "Common overrides: `model=tiny" in md
    table = [line for line in md.splitlines() if line.startswith(("| 0 ", "| 1 "))]
    assert [line.split("|")[1].strip() for line in table] == [r["job"] for r in rows]
    assert f"{float(rows[0]['val/mrr@10']):.4f}" in table[0]
    assert_png(basic_sweep / "summary.png")
    assert not list(basic_sweep.glob(".*.tmp"))  # atomic writes leave no temp files


def test_summary_module_reranks_and_lists_failed_jobs_last(basic_sweep, tmp_path):
    sweep_dir = tmp_path / "copy"
    shutil.copytree(basic_sweep, sweep_dir)
    for name in SUMMARY_FILES:
        (sweep_dir / name).unlink()
    crashed = sweep_dir / "2" / ".hydra"  # a job that died before writing metrics.json
    crashed.mkdir(parents=True)
    (crashed / "overrides.yaml").write_text(yaml.safe_dump(["model=tiny", "loss=broken"]))

    result = run_module(sweep_dir, "--monitor", "val/loss", "--mode", "min")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(sweep_dir / name) for name in SUMMARY_FILES]
    rows = read_summary(sweep_dir)
    assert [r["job"] for r in rows] == [*expected_order(sweep_dir, "val/loss", "min"), "2"]
    assert [r["status"] for r in rows] == ["ok", "ok", "failed"]
    assert rows[-1]["val/loss"] == "" and rows[-1]["overrides"] == "model=tiny loss=broken"
    assert "| 2 | failed | loss=broken |" in (sweep_dir / "summary.md").read_text()
    assert_png(sweep_dir / "summary.png")

    assert run_module(sweep_dir).returncode == 0  # monitor and mode default to the sweep's (multirun.yaml)
    assert [r["job"] for r in read_summary(sweep_dir)] == [*expected_order(sweep_dir, "val/mrr@10", "max"), "2"]

    result = run_module(tmp_path / "empty")
    assert result.returncode != 0 and "pairlab.sweep:" in result.stderr


def test_callback_groups_wandb_runs_per_multirun_and_finishes_each_job(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_RUN_GROUP", "")
    monkeypatch.delenv("WANDB_RUN_GROUP")  # so that the test's own setting is undone after it
    cfg = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "2026-01-01_00-00-00")}}})
    SweepSummary().on_multirun_start(cfg)
    assert os.environ["WANDB_RUN_GROUP"] == "2026-01-01_00-00-00"
    monkeypatch.setenv("WANDB_RUN_GROUP", "mine")
    SweepSummary().on_multirun_start(cfg)
    assert os.environ["WANDB_RUN_GROUP"] == "mine"  # a group the user chose wins

    finished = []

    class FakeWandb:
        run = object()

        @staticmethod
        def finish(exit_code: int) -> None:
            finished.append(exit_code)

    monkeypatch.setitem(sys.modules, "wandb", FakeWandb)
    SweepSummary().on_job_end(cfg, JobReturn(status=JobStatus.COMPLETED))
    SweepSummary().on_job_end(cfg, JobReturn(status=JobStatus.FAILED))
    assert finished == [0, 1]


def make_sweep(sweep_dir: Path, args: str = "", timeout: int = 600) -> subprocess.CompletedProcess:
    """`make sweep ARGS="..."`: the Makefile's own line (its install step taken as done), offline."""
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("WANDB_RUN_GROUP", None)
    return subprocess.run(["make", "-o", ".venv/.installed", "sweep", f"PY={sys.executable}",
                           f"ARGS={args} hydra.sweep.dir={sweep_dir}"],
                          cwd=ROOT, env=env, text=True, capture_output=True, timeout=timeout)


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


@needs_make
@pytest.mark.slow  # an Optuna search of training jobs; the multirun path runs in basic_sweep
def test_make_sweep_runs_an_optuna_search_offline(tmp_path):
    """`make sweep` cut to 2 trials x 3 steps, with the default loggers (csv + wandb offline)."""
    sweep_dir = tmp_path / "optuna"
    result = make_sweep(sweep_dir, f"hydra.sweeper.n_trials=2 {' '.join(FAST[1:])}")
    assert result.returncode == 0, result.stderr[-3000:]

    rows = read_summary(sweep_dir)
    assert len(rows) == 2 == len(list(sweep_dir.glob("*/.hydra")))
    assert [r["job"] for r in rows] == expected_order(sweep_dir, "val/mrr@10", "max")
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert float(rows[0]["val/mrr@10"]) == pytest.approx(best["best_value"])
    for row in rows:
        params = dict(o.split("=", 1) for o in row["overrides"].split())
        assert params["hparams_search"] == "quora_optuna" and params["model"] == "tiny"
        assert 1e-4 <= float(params["model.lr"]) <= 3e-3
        assert int(params["data.batch_size"]) in (16, 32, 64)
        assert 10.0 <= float(params["loss.scale"]) <= 50.0
        if row is rows[0]:
            assert {k: float(params[k]) for k in best["best_params"]} == pytest.approx(best["best_params"])
        job_dir = sweep_dir / row["job"]
        config = yaml.safe_load((job_dir / "config.yaml").read_text())
        assert config["trainer"]["max_epochs"] == 1 and config["export"] is False  # the search's small defaults
        assert wandb_runs(job_dir) == [(sweep_dir.name, 0)]  # one finished wandb run per job, in the sweep's group
    assert "| job | status | overrides | val/mrr@10 |" in (sweep_dir / "summary.md").read_text()
    assert_png(sweep_dir / "summary.png")


@pytest.mark.slow
@needs_make
def test_default_make_sweep_finds_a_better_model_than_the_untrained_one(tmp_path):
    """Plain `make sweep`: 8 trials of one epoch on the bundled sample (~2 min on 2 CPU cores)."""
    sweep_dir = tmp_path / "default"
    result = make_sweep(sweep_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_summary(sweep_dir)
    assert len(rows) == 8 and {r["status"] for r in rows} == {"ok"}
    assert [r["job"] for r in rows] == expected_order(sweep_dir, "val/mrr@10", "max")
    with open(sweep_dir / rows[0]["job"] / "csv" / "metrics.csv", newline="") as f:
        baseline = next(float(r["val/mrr@10"]) for r in csv.DictReader(f) if r.get("val/mrr@10"))  # step 0
    assert float(rows[0]["val/mrr@10"]) > baseline + 0.05
    assert_png(sweep_dir / "summary.png")
