"""The hub-backed model configs of the new kinds take real steps as shipped, with `model.name` pointed at a local
folder of the same architecture (a tiny exported model: no download)."""

from __future__ import annotations

import json

import pytest
from helpers import train_in_process

from pairlab.export import export_model
from pairlab.models import BiEncoder, LLMReranker, MultiVectorEncoder, SparseEncoder

SIZE = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
CASES = {
    "qwen3_embedding": (lambda: BiEncoder.random_init(SIZE, tokenizer=None, architecture="qwen3",
                                                      pooling="lasttoken", max_length=64),
                        ["loss=mnrl", "data=quora_sample", "model.max_length=64"]),
    "qwen3_reranker": (lambda: LLMReranker.random_init(SIZE, max_length=256),
                       ["loss=bce", "data=msmarco_sample", "model.max_length=256"]),
    "splade": (lambda: SparseEncoder.random_init(SIZE, max_length=64),
               ["loss=splade", "data=quora_sample", "model.max_length=64"]),
    "colbert": (lambda: MultiVectorEncoder.random_init(SIZE, dim=16, query_length=16, document_length=48),
                ["loss=colbert_mnrl", "data=quora_sample", "model.query_length=16", "model.document_length=48"]),
}


@pytest.mark.parametrize("config", CASES, ids=list(CASES))
def test_model_config_trains_from_a_local_folder(tmp_path, config):
    build, args = CASES[config]
    folder = export_model(build(), tmp_path / "base")
    train_in_process([f"model={config}", f"model.name={folder}", *args, "trainer.max_steps=2",
                      "eval_baseline=false", "export=false"], tmp_path / "run")
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["val/mrr@10"] >= 0
