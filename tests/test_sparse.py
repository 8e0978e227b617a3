"""Sparse encoders (SPLADE): FLOPS-regularized losses equal to sentence-transformers', the packed forward equal to
the padded one, exports that `SparseEncoder` loads with equal vectors, training, and retrieval over a sparse
index equal to brute force."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import beir_folder, run_entry, train_in_process
from sentence_transformers import SparseEncoder as STSparseEncoder
from sentence_transformers.sentence_transformer import losses as st_dense
from sentence_transformers.sparse_encoder import losses as st
from test_losses import check_parity, st_forward, st_model
from torch import nn

from pairlab.evaluation.retrieval import ir_metrics
from pairlab.evaluation.sparse import SparseIndex
from pairlab.export import export_model
from pairlab.losses.distillation import DistillKLDivLoss, MarginMSELoss
from pairlab.losses.ranking import MultipleNegativesRankingLoss
from pairlab.losses.sparse import SpladeLoss, flops
from pairlab.models import SparseEncoder
from pairlab.models.loading import load_encoder
from pairlab.resolvers import sample_path

SIZE = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
TEXTS = ["How do I learn Python quickly?", "What is the capital of France?", "Why is the sky blue?", "hi",
         "best way to learn to cook pasta at home", "Paris is the capital and largest city of France."]


class Embeddings(nn.Module):
    """sentence-transformers' view of a model whose embedding of a column is the tensor its features carry."""

    def forward(self, features: dict) -> dict:
        return {"sentence_embedding": features["emb"]}


def sparse_vectors(columns: int, batch: int = 6, vocab: int = 40, seed: int = 0) -> list[torch.Tensor]:
    """Non-negative float64 vectors with most weights zero, as SPLADE's."""
    g = torch.Generator().manual_seed(seed)
    x = torch.relu(torch.randn(columns, batch, vocab, generator=g, dtype=torch.float64) - 0.8)
    return list(x.unbind(0))


INNER = {
    "mnrl": (lambda: MultipleNegativesRankingLoss(scale=1.0, similarity="dot"),
             lambda m: st.SparseMultipleNegativesRankingLoss(m), 3, None),
    "margin_mse": (lambda: MarginMSELoss(similarity="dot"), lambda m: st.SparseMarginMSELoss(m), 3, "margins"),
    "kl_div": (lambda: DistillKLDivLoss(similarity="dot", temperature=2.0), lambda m: st.SparseDistillKLDivLoss(m),
               4, "scores"),
}


@pytest.mark.parametrize("inner", INNER, ids=list(INNER))
@pytest.mark.parametrize(("query_weight", "document_only", "threshold"),
                         [(5e-2, False, None), (None, False, None), (None, True, None), (5e-2, False, 3)])
def test_splade_loss_equals_sentence_transformers(inner, query_weight, document_only, threshold):
    ours_inner, theirs_inner, columns, labels_kind = INNER[inner]
    fake = Embeddings()
    ours = SpladeLoss(ours_inner(), document_weight=3e-2, query_weight=query_weight, document_only=document_only,
                      document_threshold=threshold, query_threshold=threshold)
    theirs = st.SpladeLoss(fake, theirs_inner(fake), document_regularizer_weight=3e-2,
                           query_regularizer_weight=query_weight, use_document_regularizer_only=document_only,
                           document_regularizer_threshold=threshold, query_regularizer_threshold=threshold)
    g = torch.Generator().manual_seed(1)
    labels = None if labels_kind is None else torch.randn(6, columns - 1 if labels_kind == "scores" else 1,
                                                          generator=g, dtype=torch.float64)
    if labels_kind == "margins":
        labels = labels.squeeze(1)

    def reference(vectors):
        parts = theirs([{"emb": v} for v in vectors], None if labels is None else labels.clone())
        return sum(parts.values())

    check_parity(ours, reference, sparse_vectors(columns), labels)


def test_flops_equals_sentence_transformers_and_the_warm_up_is_quadratic():
    (vectors,) = sparse_vectors(1)
    assert torch.allclose(flops(vectors), st.FlopsLoss(Embeddings()).compute_loss_from_embeddings(vectors))
    loss = SpladeLoss(MultipleNegativesRankingLoss(similarity="dot"), warmup_ratio=0.5)
    for step, scale in ((0, 0.0), (25, 0.25), (50, 1.0), (90, 1.0)):
        loss.schedule(step, 100)
        assert loss.scale == pytest.approx(scale)


def test_kl_div_equals_sentence_transformers_distill_kl_div():
    for temperature in (1.0, 3.0):
        labels = torch.randn(6, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        ours = DistillKLDivLoss(similarity="dot", temperature=temperature)
        theirs = st_dense.DistillKLDivLoss(st_model(), temperature=temperature)
        vectors = [v * 0.3 for v in sparse_vectors(4, seed=3)]
        check_parity(ours, st_forward(theirs, labels), vectors, labels)


def tiny(**kw) -> SparseEncoder:
    return SparseEncoder.random_init(SIZE, max_length=64, **kw)


@pytest.mark.parametrize("pooling", ["max", "sum"])
def test_packed_forward_equals_the_padded_one(pooling):
    model = tiny(pooling=pooling).double()
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    features = model.tokenize(TEXTS)
    grads = []
    for unpad in (True, False):
        model.zero_grad(set_to_none=True)
        model.unpad = unpad
        vectors = model(features)
        vectors.square().sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
        if unpad:
            packed = vectors.detach()
    torch.testing.assert_close(packed, vectors.detach(), atol=1e-10, rtol=0)
    for name, grad in grads[1].items():  # scale-relative: some biases' true gradient is 0 (softmax invariance)
        torch.testing.assert_close(grads[0][name], grad, atol=1e-9 * max(1.0, grad.abs().max().item()), rtol=0)


@pytest.mark.parametrize("inference_free", [False, True], ids=["splade", "inference-free"])
def test_export_loads_in_sparse_encoder_with_equal_vectors(tmp_path, inference_free):
    idf = f"{sample_path('msmarco_sample')}/collection.tsv" if inference_free else None
    model = tiny(inference_free=inference_free, idf=idf, max_active_dims=48)
    folder = export_model(model, tmp_path / "model")
    theirs = STSparseEncoder(str(folder), device="cpu")
    torch.testing.assert_close(model.encode(TEXTS), theirs.encode_document(TEXTS, convert_to_sparse_tensor=False),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(model.encode(TEXTS, prompt_name="query"),
                               theirs.encode_query(TEXTS, convert_to_sparse_tensor=False), atol=1e-5, rtol=0)
    assert ((model.encode(TEXTS) > 0).sum(1) <= 48).all()
    loaded = load_encoder(str(folder), None)
    assert isinstance(loaded, SparseEncoder) and loaded.inference_free == inference_free
    torch.testing.assert_close(loaded.encode(TEXTS, prompt_name="query"), model.encode(TEXTS, prompt_name="query"))
    assert model.encode(TEXTS[:2], sparse=True).layout == torch.sparse_coo


RUNS = {
    "splade-mnrl": ["loss=splade", "data=quora_sample"],
    "splade-margin-mse": ["loss=splade_margin_mse", "data=msmarco_kd_sample", "data.batch_size=8"],
    "inference-free": ["loss=splade", "loss.document_only=true", "data=quora_sample", "model.inference_free=true",
                       f"model.idf={sample_path('quora_sample')}/train.tsv"],
    "kl-div": ["loss=kl_div", "data=msmarco_kd_sample", "data.batch_size=8"],
}


@pytest.mark.parametrize("args", RUNS.values(), ids=RUNS.keys())
def test_sparse_encoders_train_and_log_their_sparsity(tmp_path, args):
    train_in_process(["model=splade_tiny", *args, "trainer.max_steps=3", "trainer.log_every_n_steps=1",
                      "eval_baseline=false"], tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["val/mrr@10"] >= 0
    header = (tmp_path / "csv" / "metrics.csv").read_text().splitlines()[0]
    if "splade" in args[0]:
        assert "train/document_active_dims" in header and "train/document_flops" in header
    assert isinstance(load_encoder(str(tmp_path / "model"), None), SparseEncoder)


def beir(tmp_path):
    docs = {f"d{i}": f"{text} ({i})" for i, text in enumerate(TEXTS * 3)}
    queries = {"q1": "learn python", "q2": "capital of France", "q3": "sky colour"}
    folder = beir_folder(tmp_path / "beir", docs, queries, {"q1": ["d0"], "q2": ["d1", "d5"], "q3": ["d2"]})
    return folder, docs, queries


def test_retrieve_with_a_sparse_index_equals_brute_force(tmp_path):
    model = tiny()
    folder, docs, queries = beir(tmp_path)
    exported = export_model(model, tmp_path / "model")
    result = run_entry("eval.py", ["eval=retrieve", f"model.name={exported}", f"eval.source={folder}",
                                   "eval.top_k=5", f"hydra.run.dir={tmp_path / 'run'}"])
    assert result.returncode == 0, result.stderr[-2000:]
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    doc_vectors, query_vectors = model.encode(list(docs.values())), model.encode(list(queries.values()),
                                                                                 prompt_name="query")
    scores = query_vectors @ doc_vectors.T  # the dense brute force; ties go to the earlier document
    order = scores.sort(dim=1, descending=True, stable=True).indices[:, :5]
    ids = list(docs)
    run = {q: {ids[j]: scores[i, j].item() for j in order[i].tolist()} for i, q in enumerate(queries)}
    qrels = {"q1": {"d0": 1}, "q2": {"d1": 1, "d5": 1}, "q3": {"d2": 1}}
    want = ir_metrics(run, qrels, (1, 3, 5, 10, 100))
    for key in ("ndcg@10", "mrr@10", "recall@100"):
        assert abs(printed[key] - want[key]) < 1e-6, (key, printed[key], want[key])
    lines = (tmp_path / "run" / "run.trec").read_text().split("\n")
    got = {(line.split()[0], line.split()[2]) for line in lines if line}
    assert got == {(q, d) for q, docs_ in run.items() for d in docs_}


def test_sparse_index_holds_only_non_zero_weights():
    model = tiny(max_active_dims=16)
    index = SparseIndex.build(model, TEXTS * 10, batch_size=8, window=16)
    assert index.n == 60 and index.nnz <= 60 * 16
    dense = model.encode(TEXTS * 10)
    queries = model.encode(TEXTS[:3], prompt_name="query")
    scores, indices = index.search(queries, 7)
    want = (queries @ dense.T).sort(dim=1, descending=True, stable=True)
    torch.testing.assert_close(scores, want.values[:, :7], atol=1e-5, rtol=1e-6)
