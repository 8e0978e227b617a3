"""Matryoshka losses and truncated exports, and per-column prompts saved in the export: what pairlab trains is
what sentence-transformers (ST) loads."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import compose_cfg, train_in_process
from hydra.errors import InstantiationException
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer import losses as st
from test_losses import check_parity, embeddings, st_forward, st_model

import pairlab.losses as pl
from pairlab.errors import ConfigError
from pairlab.losses import build_loss
from pairlab.models import BiEncoder
from pairlab.tasks import build_tasks, model_kind

TEXTS = ["How do I learn Python quickly?", "What is the capital of France?", "Why is the sky blue?",
         "How can I improve my English?", "best way to learn to cook"]


@pytest.mark.parametrize(("dims", "weights"), [([16, 8, 4], None), ([16, 4], [1.0, 0.5]), ([6], [2.0])])
@pytest.mark.parametrize("loss_class", [pl.MultipleNegativesRankingLoss, pl.CoSENTLoss, pl.ContrastiveLoss,
                                        pl.TripletLoss], ids=["mnrl", "cosent", "contrastive", "triplet"])
def test_matryoshka_equals_sentence_transformers(dims, weights, loss_class) -> None:
    ours = loss_class(matryoshka={"dims": dims, "weights": weights})
    inner = {pl.MultipleNegativesRankingLoss: st.MultipleNegativesRankingLoss, pl.CoSENTLoss: st.CoSENTLoss,
             pl.ContrastiveLoss: st.ContrastiveLoss, pl.TripletLoss: st.TripletLoss}[loss_class]
    model = st_model(dim=16)
    theirs = st.MatryoshkaLoss(model, inner(model), dims, matryoshka_weights=weights)
    columns = 3 if loss_class in (pl.TripletLoss, pl.MultipleNegativesRankingLoss) else 2
    labels = None
    if ours.spec.label != "none":
        labels = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    check_parity(ours, st_forward(theirs, labels), embeddings(columns, 6, 16, seed=len(dims)), labels)


def test_any_loss_config_takes_matryoshka_dims() -> None:
    loss = build_loss({"_target_": "pairlab.losses.OnlineContrastiveLoss", "matryoshka": {"dims": [8, 4],
                                                                                         "weights": None}})
    assert loss.matryoshka == pl.Matryoshka((8, 4), (1.0, 1.0)) and isinstance(loss, pl.OnlineContrastiveLoss)
    assert build_loss({"_target_": "pairlab.losses.OnlineContrastiveLoss",
                       "matryoshka": {"dims": None, "weights": None}}).matryoshka is None
    with pytest.raises(InstantiationException, match="one weight per dim"):
        build_loss({"_target_": "pairlab.losses.ContrastiveLoss", "matryoshka": {"dims": [8, 4], "weights": [1]}})
    with pytest.raises(InstantiationException, match="takes dims and weights"):
        build_loss({"_target_": "pairlab.losses.ContrastiveLoss", "matryoshka": {"dims": [8], "weight": [1]}})
    with pytest.raises(InstantiationException, match="matryoshka"):  # cross-encoder losses have no embeddings
        build_loss({"_target_": "pairlab.losses.listwise.LambdaLoss", "matryoshka": {"dims": [8]}})


def test_matryoshka_run_reports_each_size_and_exports_a_truncate_dim(tmp_path) -> None:
    train_in_process(["loss=mnrl", "data=quora_sample", "loss.matryoshka.dims=[32,16,8]", "model.truncate_dim=16",
                      "trainer.max_steps=3", "eval_baseline=false"], tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"val/mrr@10", "val/dim8/mrr@10", "val/dim16/ap"} <= metrics.keys() and "val/dim32/mrr@10" not in metrics
    folder = tmp_path / "model"
    assert json.loads((folder / "config_sentence_transformers.json").read_text())["truncate_dim"] == 16
    ours = BiEncoder.from_pretrained(str(folder), unpad=True)
    assert ours.truncate_dim == 16
    full = ours.encode(TEXTS)
    assert full.shape == (len(TEXTS), 16)
    ours.truncate_dim = None
    full = ours.encode(TEXTS)
    assert torch.allclose(torch.from_numpy(SentenceTransformer(str(folder), device="cpu").encode(TEXTS)),
                          full[:, :16], atol=1e-5)
    assert torch.allclose(torch.from_numpy(SentenceTransformer(str(folder), truncate_dim=8, device="cpu").encode(
        TEXTS)), full[:, :8], atol=1e-5)


def test_prompts_are_applied_per_column_and_saved_for_sentence_transformers(tmp_path) -> None:
    train_in_process(["loss=mnrl", "data=quora_sample", "data.prompts.anchor='query: '",
                      "data.prompts.positive='passage: '", "trainer.max_steps=3", "eval_baseline=false"], tmp_path)
    folder = tmp_path / "model"
    saved = json.loads((folder / "config_sentence_transformers.json").read_text())["prompts"]
    assert saved == {"anchor": "query: ", "positive": "passage: ", "query": "query: ", "document": "passage: "}
    ours = BiEncoder.from_pretrained(str(folder), unpad=True)
    theirs = SentenceTransformer(str(folder), device="cpu")
    for name, prompt in (("query", "query: "), ("document", "passage: ")):
        expected = ours.encode([prompt + t for t in TEXTS])
        assert torch.allclose(torch.from_numpy(theirs.encode(TEXTS, prompt_name=name)), expected, atol=1e-5)
        assert torch.allclose(ours.encode(TEXTS, prompt_name=name), expected, atol=1e-6)
    assert torch.allclose(torch.from_numpy(theirs.encode_query(TEXTS)), ours.encode(TEXTS, prompt_name="query"),
                          atol=1e-5)


def test_the_collate_step_puts_each_columns_prompt_before_its_texts(tmp_path) -> None:
    from pairlab.data.collate import Collator
    from pairlab.data.example import Example

    encoder = BiEncoder.random_init({"hidden_size": 32})
    collate = Collator(encoder.tokenizer, 64, "bi", prompts={"main": ["query: ", ""]})
    batch = collate("main", [Example(("a question", "its duplicate"))])
    assert torch.equal(batch.inputs[0]["input_ids"], encoder.tokenize(["query: a question"])["input_ids"])
    assert torch.equal(batch.inputs[1]["input_ids"], encoder.tokenize(["its duplicate"])["input_ids"])


@pytest.mark.parametrize(("overrides", "message"), [
    (["loss=mnrl", "+data.prompts.question='q: '"], "data.prompts.question: the data has no column 'question'"),
    (["loss=bce", "model=cross_tiny", "data=msmarco_sample", "data.prompts.query='q: '"],
     "data.prompts applies to bi-encoders"),
])
def test_bad_prompts_name_the_key(overrides, message, tmp_path) -> None:
    cfg = compose_cfg(["data=quora_sample", *overrides], tmp_path)
    with pytest.raises(ConfigError, match=message):
        build_tasks(cfg.task, model_kind(cfg.model))
