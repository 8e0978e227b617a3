"""bench/step_profile.py runs its steps on a BiMPM-format file and reports its per-step numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "step_profile.py"


def run_bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    rows = [f"{i % 2}\thow do i learn topic {i} fast\twhat is the best way to learn topic {i}\t{i}" for i in range(12)]
    tsv = tmp_path / "dev.tsv"
    tsv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(BENCH), "--bimpm-path", str(tsv), "--batch-size", "4",
                           "--max-length", "16", "--warmup", "1", "--steps", "2", *args],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.mark.slow  # benchmark scripts run in make test-full
def test_step_profile_reports_time_faults_and_the_op_table(tmp_path: Path):
    done = run_bench(tmp_path, "--precision", "bf16", "--profile", "1", "--rows", "5")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["precision"] == "bf16" and result["s_per_step"] > 0 and result["user_s_per_step"] > 0
    assert result["minor_faults_per_step"] >= 0
    assert "aten::mm" in done.stdout or "aten::addmm" in done.stdout  # the profiler table saw the matmuls


@pytest.mark.slow  # benchmark scripts run in make test-full
def test_step_profile_compares_onednn_and_torch_linear_on_the_same_batches(tmp_path: Path):
    result = json.loads(run_bench(tmp_path, "--compare-onednn-linear").stdout.strip().splitlines()[-1])
    assert result["steps"] == 2 and result["onednn_s_per_step"] > 0 and result["torch_linear_s_per_step"] > 0
    assert result["median_paired_speedup"] > 0
