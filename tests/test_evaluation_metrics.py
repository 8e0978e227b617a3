"""Tests for pairlab.evaluation: retrieval metrics, exact search and pair-classification metrics."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from pairlab.evaluation.classification import pair_classification_metrics
from pairlab.evaluation.retrieval import exact_search, ir_metrics, run_from_search

L2 = math.log2


# ---------------------------------------------------------------- ir_metrics


def test_single_query_hand_computed_and_k_beyond_ranking():
    run = {"q": {"d1": 0.9, "d2": 0.8, "d3": 0.7, "d4": 0.6}}
    qrels = {"q": {"d2": 1, "d4": 1}}
    m = ir_metrics(run, qrels, k_values=(1, 3, 5))  # k=5 > 4 retrieved documents
    names = ("mrr", "ndcg", "recall", "map", "precision")
    assert set(m) == {f"{name}@{k}" for name in names for k in (1, 3, 5)}
    expected = {
        "mrr@1": 0.0,
        "mrr@3": 0.5,
        "mrr@5": 0.5,
        "recall@1": 0.0,
        "recall@3": 0.5,
        "recall@5": 1.0,
        "precision@1": 0.0,
        "precision@3": 1 / 3,
        "precision@5": 2 / 5,  # divided by k, not by the 4 retrieved
        "map@1": 0.0,
        "map@3": (1 / 2) / 2,
        "map@5": (1 / 2 + 2 / 4) / 2,
        "ndcg@1": 0.0,
        "ndcg@3": (1 / L2(3)) / (1 + 1 / L2(3)),
        "ndcg@5": (1 / L2(3) + 1 / L2(5)) / (1 + 1 / L2(3)),
    }
    assert m == pytest.approx(expected)


def test_map_divides_by_all_relevant_documents_as_trec_eval_map_cut():
    run = {"q": {"a": 3.0, "b": 2.0, "c": 1.0}}
    qrels = {"q": {"a": 1, "x": 1, "y": 1, "z": 1}}
    m = ir_metrics(run, qrels, k_values=(2, 10))
    assert m["map@2"] == pytest.approx(1 / 4)  # not 1 / min(2, 4) as sentence-transformers divides
    assert m["map@10"] == pytest.approx(1 / 4)


def test_graded_relevance_ndcg_and_non_positive_relevance():
    run = {"q": {"b": 3.0, "a": 2.0, "c": 1.0, "n": 0.5}}
    qrels = {"q": {"a": 3, "b": 1, "c": 0, "n": -1, "x": 2}}
    m = ir_metrics(run, qrels, k_values=(3, 4))
    dcg = 1 + 3 / L2(3)
    idcg = 3 + 2 / L2(3) + 1 / L2(4)
    assert m["ndcg@3"] == pytest.approx(dcg / idcg)
    assert m["ndcg@4"] == pytest.approx(dcg / idcg)
    assert m["recall@3"] == pytest.approx(2 / 3)  # relevant: a, b, x (c has 0, n has -1)
    assert m["precision@4"] == pytest.approx(2 / 4)
    assert m["mrr@3"] == 1.0


def test_ties_broken_by_doc_id_descending_like_trec_eval():
    qrels = {"q": {"a": 1}}
    m = ir_metrics({"q": {"a": 1.0, "b": 1.0, "c": 0.5}}, qrels, k_values=(1, 3))
    assert m["mrr@1"] == 0.0  # "b" > "a": b ranks first
    assert m["mrr@3"] == 0.5
    # String order, not numeric: "d9" > "d10".
    m = ir_metrics({"q": {"d10": 0.5, "d9": 0.5}}, {"q": {"d10": 1}}, k_values=(1, 2))
    assert (m["mrr@1"], m["mrr@2"]) == (0.0, 0.5)
    # Ties do not override higher scores.
    m = ir_metrics({"q": {"a": 2.0, "z": 1.0}}, {"q": {"a": 1}}, k_values=(1,))
    assert m["mrr@1"] == 1.0


def test_averaging_over_queries_missing_and_unjudged():
    run = {
        "q1": {"d1": 0.9, "d2": 0.1},
        "q3": {"d1": 0.9},  # judged, but no relevant document: skipped
        "q4": {"d1": 0.9},  # not in qrels: ignored
        "q6": {"d2": 0.9, "d1": 0.8},
    }
    qrels = {
        "q1": {"d1": 1},
        "q2": {"d1": 1},  # missing from the run: scores 0
        "q3": {"d1": 0},
        "q5": {},
        "q6": {"d1": 1},
    }
    m = ir_metrics(run, qrels, k_values=(1, 10))
    assert m["mrr@10"] == pytest.approx((1 + 0 + 1 / 2) / 3)
    assert m["mrr@1"] == pytest.approx(1 / 3)
    assert m["recall@10"] == pytest.approx(2 / 3)
    assert m["ndcg@10"] == pytest.approx((1 + 0 + 1 / L2(3)) / 3)
    assert m["precision@1"] == pytest.approx(1 / 3)


def test_extra_measures_by_ir_measures_name():
    run = {"q1": {"a": 2.0, "b": 1.0}, "q2": {"c": 1.0}}
    qrels = {"q1": {"a": 1, "z": 1}, "q2": {"d": 2}, "q3": {"e": 1}}  # q3 is missing from the run: counts 0
    m = ir_metrics(run, qrels, k_values=(10,), measures=("nDCG@10", "Judged@2", "P@1"))
    assert m["nDCG@10"] == pytest.approx(m["ndcg@10"])
    assert m["P@1"] == pytest.approx(1 / 3)  # q1's top document is relevant; q2's is not; q3 retrieved nothing
    assert m["Judged@2"] == pytest.approx((1 / 2 + 0 + 0) / 3)
    with pytest.raises(ValueError, match="'nDGC@10' is not an ir-measures measure"):
        ir_metrics(run, qrels, measures=("nDGC@10",))


def test_ir_metrics_rejects_bad_input():
    with pytest.raises(ValueError, match="relevant"):
        ir_metrics({"q": {"d": 1.0}}, {"q": {"d": 0}, "r": {}})
    for bad in [(), (0,), (3, -1), (2.0,)]:
        with pytest.raises(ValueError, match="k_values"):
            ir_metrics({"q": {"d": 1.0}}, {"q": {"d": 1}}, k_values=bad)


def test_ir_metrics_matches_sentence_transformers():
    ir_mod = pytest.importorskip("sentence_transformers.sentence_transformer.evaluation")
    rng = random.Random(0)
    corpus = {f"d{i}": f"doc {i}" for i in range(40)}
    queries = {f"q{i}": f"query {i}" for i in range(25)}
    relevant = {qid: set(rng.sample(sorted(corpus), rng.randint(1, 5))) for qid in queries}
    run = {}
    for qid in list(queries)[:-3]:  # the last 3 queries are missing from the run
        docs = rng.sample(sorted(corpus), rng.randint(1, 30))
        run[qid] = {doc: rng.random() for doc in docs}  # distinct scores: no ties
    ks = [1, 3, 5, 10, 20]
    evaluator = ir_mod.InformationRetrievalEvaluator(
        queries, corpus, relevant, mrr_at_k=ks, ndcg_at_k=ks, precision_recall_at_k=ks, map_at_k=ks
    )
    results = [
        [{"corpus_id": doc, "score": score} for doc, score in run.get(qid, {}).items()]
        for qid in evaluator.queries_ids
    ]
    st = evaluator.compute_metrics(results)
    ours = ir_metrics(run, {q: dict.fromkeys(docs, 1) for q, docs in relevant.items()}, k_values=ks)
    for name in ("mrr", "ndcg", "recall", "precision"):  # map@k: trec_eval's map_cut, not sentence-transformers'

        for k in ks:
            assert ours[f"{name}@{k}"] == pytest.approx(float(st[f"{name}@k"][k]), abs=1e-12), (name, k)


@pytest.mark.parametrize("seed", range(5))
def test_ir_metrics_equal_pytrec_eval_for_every_key(seed):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(60)]
    qrels, run = {}, {}
    for q in range(30):
        qid = f"q{q}"
        judged = rng.sample(docs, rng.randint(0, 25))  # up to 25 judged: more relevant than k for small k
        qrels[qid] = {d: rng.choice([-1, 0, 1, 2, 3]) for d in judged}  # graded, with non-positive grades
        if q % 7 != 3:  # some judged queries are missing from the run
            scores = [round(rng.random(), 1) for _ in range(rng.randint(1, 40))]  # one decimal: many ties
            run[qid] = dict(zip(rng.sample(docs, len(scores)), scores, strict=True))
    ks = (1, 3, 5, 10, 20)
    ours = ir_metrics(run, qrels, k_values=ks)

    judged = {q: rels for q, rels in qrels.items() if any(r > 0 for r in rels.values())}
    cuts = ",".join(map(str, ks))
    evaluator = pytrec_eval.RelevanceEvaluator(judged, {f"ndcg_cut.{cuts}", f"map_cut.{cuts}", f"recall.{cuts}",
                                                        f"P.{cuts}"})
    per_query = evaluator.evaluate({q: d for q, d in run.items() if q in judged})
    rr = pytrec_eval.RelevanceEvaluator(judged, {"recip_rank"})
    for k in ks:
        top = {q: dict(sorted(d.items(), key=lambda i: (i[1], i[0]), reverse=True)[:k])
               for q, d in run.items() if q in judged}
        reciprocal = rr.evaluate(top)
        reference = {
            "ndcg": [per_query.get(q, {}).get(f"ndcg_cut_{k}", 0.0) for q in judged],
            "map": [per_query.get(q, {}).get(f"map_cut_{k}", 0.0) for q in judged],
            "recall": [per_query.get(q, {}).get(f"recall_{k}", 0.0) for q in judged],
            "precision": [per_query.get(q, {}).get(f"P_{k}", 0.0) for q in judged],
            "mrr": [reciprocal.get(q, {}).get("recip_rank", 0.0) for q in judged],
        }
        for name, values in reference.items():
            assert ours[f"{name}@{k}"] == pytest.approx(sum(values) / len(judged), abs=1e-6), (name, k)


# ---------------------------------------------------------------- exact_search


def _brute_force(q, c, similarity, exclude=None):
    if similarity == "cos":
        q, c = torch.nn.functional.normalize(q, dim=-1), torch.nn.functional.normalize(c, dim=-1)
    scores = q @ c.T
    if exclude is not None:
        for row, idx in enumerate(exclude.tolist()):
            if idx >= 0:
                scores[row, idx] = float("-inf")
    order = torch.from_numpy(np.argsort(-scores.numpy(), axis=1, kind="stable"))
    return scores.gather(1, order), order


@pytest.mark.parametrize("similarity", ["cos", "dot"])
def test_exact_search_matches_brute_force(similarity):
    g = torch.Generator().manual_seed(0)
    q, c = torch.randn(11, 8, generator=g), torch.randn(30, 8, generator=g) * 3
    scores, indices = exact_search(q, c, top_k=5, chunk_size=4, similarity=similarity)
    ref_scores, ref_indices = _brute_force(q, c, similarity)
    assert indices.shape == (11, 5) and indices.dtype == torch.long
    assert torch.equal(indices, ref_indices[:, :5])
    torch.testing.assert_close(scores, ref_scores[:, :5])


def test_exact_search_cos_differs_from_dot():
    q = torch.tensor([[1.0, 0.0]])
    c = torch.tensor([[10.0, 10.0], [1.0, 0.0]])
    assert exact_search(q, c, 1, similarity="cos")[1].item() == 1
    assert exact_search(q, c, 1, similarity="dot")[1].item() == 0


def test_exact_search_exclusion_and_k_clamp():
    g = torch.Generator().manual_seed(1)
    c = torch.randn(9, 4, generator=g)
    q = c.clone()  # every query is also in the corpus
    exclude = torch.tensor([0, 1, 2, -1, 4, 5, 6, 7, 8])
    scores, indices = exact_search(q, c, top_k=100, exclude=exclude, chunk_size=2)
    assert indices.shape == (9, 8)  # clamped to N - 1
    ref_scores, ref_indices = _brute_force(q, c, "cos", exclude)
    assert torch.equal(indices, ref_indices[:, :8])
    torch.testing.assert_close(scores, ref_scores[:, :8])
    for row, idx in enumerate(exclude.tolist()):
        if idx >= 0:
            assert idx not in indices[row].tolist()
    assert indices[3, 0].item() == 3  # not excluded: finds itself first
    assert exact_search(q, c, top_k=100)[1].shape == (9, 9)
    assert exact_search(q[:0], c, top_k=3)[1].shape == (0, 3)


def test_exact_search_ties_prefer_lower_index():
    c = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    scores, indices = exact_search(torch.tensor([[1.0, 0.0]]), c, top_k=3, similarity="dot")
    assert indices.tolist() == [[4, 0, 2]]
    assert scores.tolist() == [[2.0, 1.0, 1.0]]
    # A tie only at the edge of the top k.
    c_edge = torch.zeros(43, 2)
    c_edge[40:, 0], c_edge[5, 0] = 1.0, 2.0  # rows 40-42 tie for the second slot
    _, indices = exact_search(torch.tensor([[1.0, 0.0]]), c_edge, top_k=2, similarity="dot")
    assert indices.tolist() == [[5, 40]]
    scores, indices = exact_search(torch.tensor([[1.0, 0.0]]), c, top_k=4, similarity="cos")
    assert indices.tolist() == [[0, 2, 3, 4]]


def test_exact_search_rejects_bad_input():
    q, c = torch.randn(2, 3), torch.randn(4, 3)
    with pytest.raises(ValueError):
        exact_search(q, torch.randn(4, 2), 1)
    with pytest.raises(ValueError):
        exact_search(q, c, 1, similarity="l2")
    with pytest.raises(ValueError):
        exact_search(q, c, 1, exclude=torch.tensor([0]))
    with pytest.raises(ValueError):
        exact_search(q, c, 1, exclude=torch.tensor([0, 4]))


def test_search_to_run_to_metrics_end_to_end():
    c = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    ids = ["a", "b", "c", "d"]
    scores, indices = exact_search(c, c, top_k=2, exclude=torch.arange(4))
    run = run_from_search(ids, ids, scores, indices)
    assert list(run) == ids
    assert list(run["a"]) == ["b", "d"]
    assert run["a"]["b"] == pytest.approx(scores[0, 0].item())
    m = ir_metrics(run, {"a": {"b": 1}, "c": {"d": 1}, "b": {"c": 1}}, k_values=(1, 2))
    assert m["mrr@1"] == pytest.approx(2 / 3)
    assert m["recall@2"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        run_from_search(ids[:3], ids, scores, indices)


# ---------------------------------------------------------------- pair classification


def test_pair_classification_hand_computed():
    m = pair_classification_metrics([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 0, 0])
    assert m["ap"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert m["f1"] == pytest.approx(0.8)
    assert (m["precision"], m["recall"]) == pytest.approx((2 / 3, 1.0))
    assert m["threshold"] == pytest.approx(0.65)
    # Accuracy 0.8 is reached first after 0.9 (then again after 0.7): the first cut wins.
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["accuracy_threshold"] == pytest.approx(0.85)


def test_pair_classification_ties_form_one_threshold():
    m = pair_classification_metrics(np.array([0.8, 0.5, 0.8, 0.5, 0.2]), torch.tensor([1, 1, 0, 1, 0]))
    # Groups {0.8: +-}, {0.5: ++}, {0.2: -}; no cut may split a group.
    assert m["ap"] == pytest.approx(1 / 3 * 0.5 + 2 / 3 * 0.75)  # 2/3, not 0.806 of the ungrouped order
    assert m["f1"] == pytest.approx(6 / 7)
    assert m["threshold"] == pytest.approx(0.35)
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["accuracy_threshold"] == pytest.approx(0.35)


def test_pair_classification_all_positive_and_all_negative():
    m = pair_classification_metrics(torch.tensor([0.3, 0.1, 0.2]), [1, 1, 1])
    assert m["ap"] == 1.0 and m["f1"] == 1.0 and m["accuracy"] == 1.0
    assert m["threshold"] == pytest.approx(0.1) and m["accuracy_threshold"] == pytest.approx(0.1)
    m = pair_classification_metrics([0.4, 0.2], [0, 0])
    assert m["ap"] == 0.0 and m["f1"] == 0.0 and m["threshold"] == 0.0
    assert m["accuracy"] == 1.0
    assert m["accuracy_threshold"] == np.nextafter(0.4, np.inf)


def test_pair_classification_all_negative_prediction_can_win_accuracy():
    m = pair_classification_metrics([0.9, 0.1], [0, 1])
    assert m["accuracy"] == 0.5 and m["accuracy_threshold"] == np.nextafter(0.9, np.inf)
    assert m["f1"] == pytest.approx(2 / 3) and m["threshold"] == pytest.approx(0.1)


def test_pair_classification_midpoint_rounding_keeps_lower_group_out():
    upper = np.float32(1 + 2**-23)
    m = pair_classification_metrics(np.array([upper, 1.0], dtype=np.float32), [1, 0])
    # (upper + 1) / 2 rounds to 1.0 in float32, which would admit the negative: the upper score is used.
    assert m["threshold"] == float(upper) and m["accuracy_threshold"] == float(upper)
    assert m["f1"] == 1.0 and m["accuracy"] == 1.0


def test_pair_classification_rejects_bad_input():
    with pytest.raises(ValueError):
        pair_classification_metrics([0.1, 0.2], [1])
    with pytest.raises(ValueError):
        pair_classification_metrics([0.1, 0.2], [1, 2])
    with pytest.raises(ValueError):
        pair_classification_metrics([], [])
    with pytest.raises(ValueError):
        pair_classification_metrics([0.1, float("nan")], [1, 0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pair_classification_matches_sentence_transformers_and_sklearn(dtype):
    ev = pytest.importorskip("sentence_transformers.sentence_transformer.evaluation")
    sk_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for trial in range(20):
        n = int(rng.integers(1, 60))
        scores = (rng.integers(0, 8, n) / 7).astype(dtype)  # few distinct values: many ties
        if trial % 2:
            scores = rng.standard_normal(n).astype(dtype)
        labels = rng.integers(0, 2, n)
        ours = pair_classification_metrics(scores, labels)
        evaluator = ev.BinaryClassificationEvaluator
        f1, precision, recall, threshold = evaluator.find_best_f1_and_threshold(scores, labels, True)
        acc, acc_threshold = evaluator.find_best_acc_and_threshold(scores, labels, True)
        assert ours["f1"] == f1 and ours["threshold"] == threshold, trial
        assert (ours["precision"], ours["recall"]) == (precision, recall), trial
        assert ours["accuracy"] == acc and ours["accuracy_threshold"] == acc_threshold, trial
        if labels.any():
            assert ours["ap"] == pytest.approx(sk_metrics.average_precision_score(labels, scores), abs=1e-12)
