"""bench/retrieve.py runs end to end on small sizes and prints its numbers as one JSON line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import ROOT


@pytest.mark.slow
def test_retrieval_bench_prints_its_numbers():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "retrieve.py"), "--texts", "64", "--repeats", "1",
                             "--sizes", "500,2000", "--passages"], cwd=ROOT, env=env, text=True, capture_output=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    encode = report["encode"]
    assert encode["source"] == "generated passages" and encode["texts"] == 64
    assert set(encode["texts_per_s"]) == {"sentence_transformers", "pairlab", "pairlab_bf16", "pairlab_padded"}
    assert encode["max_cosine_distance_vs_st"]["pairlab"] < 1e-4
    sizes = report["memory"]["by_size"]
    assert [s["docs"] for s in sizes.values()] == [500, 2000]
    assert all(s["run_rows"] == 100 * min(1000, s["docs"]) for s in sizes.values())
