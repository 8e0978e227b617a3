"""bench/linear_kernels.py times every layer shape in torch's kernels, and in oneDNN's where its probe passes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pairlab.models.kernels import onednn_linear_works

BENCH = Path(__file__).resolve().parents[1] / "bench" / "linear_kernels.py"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_linear_kernels_reports_each_layer_in_each_available_kernel(precision):
    done = subprocess.run([sys.executable, str(BENCH), "--precision", precision, "--rows", "64", "--rounds", "1",
                           "--calls", "1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    onednn = onednn_linear_works(torch.float32 if precision == "fp32" else torch.bfloat16)
    assert result["onednn"] is onednn  # the subprocess's probe agrees with this one's
    assert set(result["gflops"]) == {"qkv", "attention out", "ffn up", "ffn down"}
    for rates in result["gflops"].values():
        assert len(rates) == (6 if onednn else 3) and all(rate > 0 for rate in rates.values())
