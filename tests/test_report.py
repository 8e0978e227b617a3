"""Plots from CSV logs (pairlab.report), on a real single run logged by every logger (logger=many)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, train_cli
from test_sweep import assert_png, wandb_runs

from pairlab.report import build_report, ema, find_runs, read_metrics


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """`python train.py logger=many ...`: 6 steps, a loss every step, validation every 3 steps."""
    run_dir = tmp_path_factory.mktemp("report") / "run"
    with pytest.MonkeyPatch.context() as env:
        env.delenv("WANDB_RUN_GROUP", raising=False)
        result = train_cli(["model=tiny", "logger=many", "num_workers=0", "trainer.max_steps=6", "export=false",
                            "trainer.log_every_n_steps=1", "trainer.val_check_interval=3",
                            "trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}"])
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def test_logger_many_writes_csv_tensorboard_and_one_ungrouped_wandb_run(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    series = read_metrics(run_dir / "csv" / "metrics.csv")
    assert [step for step, _ in series["train/loss"]] == [0, 1, 2, 3, 4, 5]
    assert series["val/mrr@10"][0][0] == 0 and len(series["val/mrr@10"]) >= 3  # baseline, step 3, end
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    assert {"train/loss", "val/mrr@10", "val/ap"} <= set(events.Tags()["scalars"])
    assert wandb_runs(run_dir) == [("", 0)]  # a single run is in no wandb group


def test_report_module_plots_losses_and_every_val_metric(run_dir):
    result = subprocess.run([sys.executable, "-m", "pairlab.report", str(run_dir)], cwd=ROOT, text=True,
                            capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    paths = [Path(line) for line in result.stdout.split()]
    assert all(p.parent == run_dir / "report" for p in paths)
    val_metrics = [m for m in read_metrics(run_dir / "csv" / "metrics.csv") if m.startswith("val/")]
    expected = {"train_loss.png", *(m.replace("/", "_") + ".png" for m in val_metrics)}
    assert {p.name for p in paths} == expected and "val_mrr@10.png" in expected and "val_ap.png" in expected
    for path in paths:
        assert_png(path)


def test_report_on_a_multirun_draws_one_line_per_job(run_dir, tmp_path):
    multirun = tmp_path / "multirun"
    for job, loss in (("0", "mnrl"), ("1", "online_contrastive")):
        shutil.copytree(run_dir / "csv", multirun / job / "csv")
        (multirun / job / ".hydra").mkdir()
        (multirun / job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["model=tiny", f"loss={loss}"]))
    assert list(find_runs(multirun)) == ["#0 loss=mnrl", "#1 loss=online_contrastive"]

    paths = build_report(multirun, out=tmp_path / "plots", smooth=0.9)
    assert {p.name for p in paths} >= {"train_loss.png", "val_mrr@10.png"}
    assert all(p.parent == tmp_path / "plots" for p in paths) and not (multirun / "report").exists()
    for path in paths:
        assert_png(path)


def test_report_fails_clearly_without_csv_logs(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pairlab.report", str(tmp_path)], cwd=ROOT, text=True,
                            capture_output=True, timeout=120)
    assert result.returncode != 0 and "no csv/metrics.csv" in result.stderr


def test_ema_smooths_and_is_debiased():
    assert ema([2.0, 2.0, 2.0], 0.6) == pytest.approx([2.0, 2.0, 2.0])  # no pull towards 0 at the start
    assert ema([1.0, 5.0, 3.0], 0.0) == [1.0, 5.0, 3.0]
    noisy = [0.0, 1.0] * 10
    smoothed = ema(noisy, 0.8)
    assert max(smoothed[5:]) - min(smoothed[5:]) < 0.5 * (max(noisy) - min(noisy))
    with pytest.raises(ValueError):
        ema(noisy, 1.0)
