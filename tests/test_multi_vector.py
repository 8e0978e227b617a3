"""Multi-vector encoders (ColBERT): MaxSim and its losses equal to sentence-transformers', exports that
`MultiVectorEncoder` loads with equal token vectors, training, and retrieval equal to brute force."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import beir_folder, run_entry, train_in_process
from sentence_transformers import MultiVectorEncoder as STMultiVectorEncoder
from sentence_transformers import util
from sentence_transformers.multi_vector_encoder import losses as st
from test_losses import check_parity
from torch import nn

from pairlab.evaluation.retrieval import ir_metrics
from pairlab.export import export_model
from pairlab.losses.distillation import DistillKLDivLoss, MarginMSELoss
from pairlab.losses.ranking import MultipleNegativesRankingLoss
from pairlab.models import MultiVectorEncoder
from pairlab.models.loading import load_encoder
from pairlab.scoring import maxsim, pairwise_maxsim

SIZE = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
TEXTS = ["How do I learn Python quickly?", "What is the capital of France?", "Why is the sky blue?", "hi",
         "best way to learn to cook pasta at home", "Paris, the capital of France, is its largest city."]


def token_vectors(columns: int, batch: int = 5, tokens: int = 7, dim: int = 8, seed: int = 0):
    """Normalized float64 token vectors [B, T, D] per column with trailing tokens zeroed (padding, skipped)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(columns, batch, tokens, dim, generator=g, dtype=torch.float64)
    x = torch.nn.functional.normalize(x, dim=-1)
    lengths = torch.randint(2, tokens + 1, (columns, batch), generator=g)
    mask = torch.arange(tokens)[None, None, :] < lengths[..., None]
    return list((x * mask[..., None]).unbind(0))


class TokenEmbeddings(nn.Module):
    """sentence-transformers' view of a model whose token vectors of a column are the tensor its features carry."""

    similarity, similarity_pairwise = staticmethod(util.maxsim), staticmethod(util.maxsim_pairwise)

    def forward(self, features: dict, task: str | None = None) -> dict:
        return {"token_embeddings": features["token_embeddings"], "attention_mask": features["attention_mask"]}


def st_columns(vectors):
    return [{"token_embeddings": v, "attention_mask": (v != 0).any(-1).long(),
             "input_ids": torch.zeros(v.shape[:2], dtype=torch.long)} for v in vectors]


def test_maxsim_equals_sentence_transformers():
    q, d = token_vectors(2, seed=1)
    mask_q, mask_d = (q != 0).any(-1), (d != 0).any(-1)
    theirs = util.maxsim(q, d, a_mask=mask_q, b_mask=mask_d)
    torch.testing.assert_close(maxsim(q, d).float(), theirs.float(), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(pairwise_maxsim(q, d).float(),
                               util.maxsim_pairwise(q, d, a_mask=mask_q, b_mask=mask_d).float(), atol=1e-6, rtol=1e-6)


LOSSES = {
    "mnrl": (lambda: MultipleNegativesRankingLoss(scale=1.0, similarity="maxsim"),
             lambda m: st.MultiVectorMultipleNegativesRankingLoss(m), 3, None),
    "margin_mse": (lambda: MarginMSELoss(similarity="maxsim"), lambda m: st.MultiVectorMarginMSELoss(m), 3,
                   "margins"),
    "kl_div": (lambda: DistillKLDivLoss(similarity="maxsim", temperature=2.0),
               lambda m: st.MultiVectorDistillKLDivLoss(m, temperature=2.0), 4, "scores"),
}


@pytest.mark.parametrize("name", LOSSES, ids=list(LOSSES))
def test_maxsim_losses_equal_sentence_transformers(name):
    ours_loss, theirs_loss, columns, labels_kind = LOSSES[name]
    theirs = theirs_loss(TokenEmbeddings())
    labels = None
    if labels_kind == "margins":
        labels = torch.randn(5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    elif labels_kind == "scores":
        labels = torch.randn(5, columns - 1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    check_parity(ours_loss(), lambda vectors: theirs(st_columns(vectors), labels), token_vectors(columns, seed=2),
                 labels)


def tiny(**kw) -> MultiVectorEncoder:
    return MultiVectorEncoder.random_init(SIZE, dim=16, query_length=16, document_length=48, **kw)


def test_export_loads_in_multi_vector_encoder_with_equal_token_vectors(tmp_path):
    model = tiny()
    folder = export_model(model, tmp_path / "model")
    theirs = STMultiVectorEncoder(str(folder), device="cpu")
    for role, encode in (("query", theirs.encode_query), ("document", theirs.encode_document)):
        ours = model.token_vectors(model.encode(TEXTS, prompt_name=role if role == "query" else None))
        for mine, their in zip(ours, encode(TEXTS), strict=True):
            torch.testing.assert_close(mine, torch.as_tensor(their).float(), atol=1e-5, rtol=0)
    assert [len(v) for v in model.token_vectors(model.encode(TEXTS, prompt_name="query"))] == [16] * len(TEXTS)
    loaded = load_encoder(str(folder), None)
    assert isinstance(loaded, MultiVectorEncoder)
    torch.testing.assert_close(loaded.encode(TEXTS), model.encode(TEXTS))


RUNS = {
    "mnrl-gradcache": ["loss=colbert_mnrl", "data=quora_sample", "module.grad_cache_mini_batch=8"],
    "margin-mse": ["loss=margin_mse", "loss.similarity=maxsim", "data=msmarco_kd_sample"],
    "kl-div": ["loss=kl_div", "loss.similarity=maxsim", "data=msmarco_kd_sample"],
}


@pytest.mark.parametrize("args", RUNS.values(), ids=RUNS.keys())
def test_multi_vector_encoders_train(tmp_path, args):
    train_in_process(["model=colbert_tiny", *args, "trainer.max_steps=2", "eval_baseline=false"], tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["val/mrr@10"] >= 0
    assert isinstance(load_encoder(str(tmp_path / "model"), None), MultiVectorEncoder)


def test_retrieve_by_maxsim_equals_brute_force(tmp_path):
    model = tiny()
    docs = {f"d{i}": f"{text} ({i})" for i, text in enumerate(TEXTS * 3)}
    queries = {"q1": "learn python", "q2": "capital of France", "q3": "sky colour"}
    folder = beir_folder(tmp_path / "beir", docs, queries, {"q1": ["d0"], "q2": ["d1"], "q3": ["d2"]})
    exported = export_model(model, tmp_path / "model")
    result = run_entry("eval.py", ["eval=retrieve", f"model.name={exported}", f"eval.source={folder}", "eval.top_k=5",
                                   f"hydra.run.dir={tmp_path / 'run'}"])
    assert result.returncode == 0, result.stderr[-2000:]
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    scores = maxsim(model.encode(list(queries.values()), prompt_name="query"), model.encode(list(docs.values())))
    order = scores.sort(dim=1, descending=True, stable=True).indices[:, :5]
    ids = list(docs)
    run = {q: {ids[j]: scores[i, j].item() for j in order[i].tolist()} for i, q in enumerate(queries)}
    want = ir_metrics(run, {"q1": {"d0": 1}, "q2": {"d1": 1}, "q3": {"d2": 1}}, (1, 3, 5, 10, 100))
    for key in ("ndcg@10", "mrr@10", "recall@100"):
        assert abs(printed[key] - want[key]) < 1e-6, (key, printed[key], want[key])


def test_a_multi_vector_model_with_a_dense_similarity_fails_at_start(tmp_path):
    result = run_entry("train.py", ["model=colbert_tiny", "loss=mnrl", "data=quora_sample",
                                    f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("pairlab:") and "loss.similarity=maxsim" in last
