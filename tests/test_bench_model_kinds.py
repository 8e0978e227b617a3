"""The decoder, SPLADE and sparse-retrieval benchmarks run end to end on tiny settings and print one JSON line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import ROOT

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def bench(script: str, *args: str) -> dict:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT, env=ENV, text=True,
                            capture_output=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_decoder_throughput_against_sentence_transformers_prints_its_ratio():
    report = bench("throughput.py", "--model", "qwen3-tiny", "--steps", "3", "--warmup", "1", "--repeats", "1",
                   "--batch-size", "8", "--gradient-checkpointing", "--max-load", "1000",
                   "--variant", "lora=model.lora.r=4")
    assert {"pairlab", "sentence_transformers", "plain", "pairlab[lora]"} <= set(report) and report["ratio_vs_st"] > 0


@pytest.mark.slow
def test_decoder_rows_bench_times_padded_and_packed_rows():
    report = bench("decoder_rows.py", "--model", "qwen3-tiny", "--batches", "2", "--repeats", "1", "--rows", "64,512")
    assert set(report) == {"padded", "packed rows of 64", "packed rows of 512"}


@pytest.mark.slow
def test_splade_throughput_against_sentence_transformers_sparse_trainer():
    report = bench("throughput.py", "--model", "splade-minilm-random", "--steps", "2", "--warmup", "1",
                   "--repeats", "1", "--batch-size", "8", "--max-load", "1000",
                   "--contenders", "pairlab,sentence_transformers")
    assert report["ratio_vs_st"] > 0


@pytest.mark.slow
def test_sparse_retrieval_bench_reports_each_size():
    report = bench("sparse_retrieve.py", "--sizes", "2000,5000", "--queries", "50")
    assert [r["passages"] for r in report.values()] == [2000, 5000]
    assert all(r["queries_per_s"] > 0 and r["nnz"] > 0 for r in report.values())
