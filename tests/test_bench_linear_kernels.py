"""bench/linear_kernels.py times every layer shape in both kernels and reports positive rates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "linear_kernels.py"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_linear_kernels_reports_each_layer_in_both_kernels(precision):
    done = subprocess.run([sys.executable, str(BENCH), "--precision", precision, "--rows", "64", "--rounds", "1",
                           "--calls", "1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result["gflops"]) == {"qkv", "attention out", "ffn up", "ffn down"}
    for rates in result["gflops"].values():
        assert len(rates) == 6 and all(rate > 0 for rate in rates.values())
