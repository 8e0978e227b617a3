"""Reranking evaluation: scores from the model, metrics from ir_metrics, built from files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pairlab.data import reranking
from pairlab.errors import DataError
from pairlab.evaluation.rerank import RerankEvaluator
from pairlab.evaluation.retrieval import ir_metrics
from pairlab.resolvers import sample_path

QUERIES = {"q1": "alpha", "q2": "beta", "q3": "gamma"}
CANDIDATES = {"q1": [("a", "pa"), ("b", "pb"), ("c", "pc")], "q2": [("d", "pd"), ("e", "pe")],
              "q3": [("f", "pf")]}
QRELS = {"q1": {"b": 1, "c": 2}, "q2": {"d": 1}, "q3": {"f": 1}, "q9": {"z": 1}}
SCORES = {("alpha", "pa"): 3.0, ("alpha", "pb"): 1.0, ("alpha", "pc"): 2.0, ("beta", "pd"): 0.5,
          ("beta", "pe"): 0.7, ("gamma", "pf"): -1.0}


class FakeCross:
    kind = "cross"

    def score(self, queries: list[str], passages: list[str], batch_size: int = 64) -> torch.Tensor:
        return torch.tensor([SCORES[q, p] for q, p in zip(queries, passages, strict=True)])


class FakeBi:
    """Query and passage embeddings whose cosines are known."""

    kind = "bi"
    vectors = {"alpha": [1.0, 0.0], "beta": [0.0, 2.0], "gamma": [1.0, 1.0], "pa": [0.0, 1.0], "pb": [3.0, 0.0],
               "pc": [1.0, 1.0], "pd": [1.0, 0.0], "pe": [0.0, 5.0], "pf": [-1.0, 0.0]}

    def encode(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        return torch.tensor([self.vectors[t] for t in texts])


def test_cross_encoder_metrics_equal_ir_metrics_on_its_scores():
    evaluator = RerankEvaluator(QUERIES, CANDIDATES, QRELS, k_values=(1, 10, 100))
    metrics = evaluator(FakeCross())
    run = {qid: {pid: SCORES[QUERIES[qid], text] for pid, text in cands} for qid, cands in CANDIDATES.items()}
    judged = {q: QRELS[q] for q in CANDIDATES}  # q9 has no candidates: not part of this evaluation
    assert all(evaluator.last_run[q] == pytest.approx(run[q]) for q in run) and set(evaluator.last_run) == set(run)
    assert metrics == pytest.approx(ir_metrics(run, judged, (1, 10, 100)))
    assert {"mrr@10", "ndcg@10", "recall@100", "map@100"} <= set(metrics)
    assert metrics["mrr@1"] == pytest.approx(1 / 3)  # q1 ranks a first, q2 ranks e first, q3 is right


def test_bi_encoder_scores_are_cosines():
    evaluator = RerankEvaluator(QUERIES, CANDIDATES, QRELS)
    metrics = evaluator(FakeBi())
    run = evaluator.last_run
    assert run["q1"] == pytest.approx({"a": 0.0, "b": 1.0, "c": 2 ** -0.5})
    assert run["q2"] == pytest.approx({"d": 0.0, "e": 1.0})
    assert run["q3"] == pytest.approx({"f": -(2 ** -0.5)})
    assert metrics == pytest.approx(ir_metrics(run, {q: QRELS[q] for q in CANDIDATES}, (10, 100)))


def test_bad_inputs():
    class Odd:
        kind = "poly"

    with pytest.raises(ValueError, match="encoder.kind must be"):
        RerankEvaluator(QUERIES, CANDIDATES, QRELS)(Odd())
    with pytest.raises(ValueError, match="no query text"):
        RerankEvaluator({}, CANDIDATES, QRELS)
    with pytest.raises(ValueError, match="no candidate query has a relevant passage"):
        RerankEvaluator(QUERIES, CANDIDATES, {"q9": {"z": 1}})


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def test_from_run_files_with_a_dev_slice(tmp_path, monkeypatch):
    monkeypatch.setenv("PAIRLAB_INDEX_DIR", str(tmp_path / "index"))
    collection = write_lines(tmp_path / "collection.tsv", [f"{p}\tpassage {p}" for p in range(6)])
    queries = write_lines(tmp_path / "queries.dev.tsv", ["11\tfirst", "12\tsecond", "13\tthird"])
    qrels = write_lines(tmp_path / "qrels.dev.tsv", ["11 0 1 1", "13 0 4 1", "13 0 5 1"])
    run = write_lines(tmp_path / "run.trec", [
        "11 Q0 0 1 9.0 bm25", "11 Q0 1 2 8.0 bm25", "11 Q0 2 3 7.0 bm25",
        "12 Q0 3 1 9.0 bm25",  # not judged: skipped by the slice
        "13 Q0 4 1 9.0 bm25", "13 Q0 5 2 8.0 bm25", "13 Q0 3 3 7.0 bm25"])
    evaluator = reranking.from_run(run, collection, queries, qrels, max_queries=2, depth=2)
    assert evaluator.queries == {"11": "first", "13": "third"}
    assert evaluator.candidates == {"11": [("0", "passage 0"), ("1", "passage 1")],
                                    "13": [("4", "passage 4"), ("5", "passage 5")]}
    assert evaluator.qrels == {"11": {"1": 1}, "13": {"4": 1, "5": 1}}

    write_lines(run, ["11 Q0 0 1 9.0 bm25", "11 Q0 77 2 8.0 bm25"])
    with pytest.raises(DataError, match=rf"collection.tsv: no pid 77, referenced at {run} \(query 11\)"):
        reranking.from_run(run, collection, queries, qrels)


def test_from_jsonl(tmp_path):
    path = write_lines(tmp_path / "dev.jsonl", [
        '{"qid": "q1", "query": "alpha", "candidates": [{"pid": "a", "text": "pa"}, {"pid": "b", "text": "pb"},'
        ' {"pid": "c", "text": "pc"}]}',
        '{"qid": "q2", "query": "beta", "candidates": [{"pid": "d", "text": "pd"}, {"pid": "e", "text": "pe"}]}'])
    qrels = write_lines(tmp_path / "qrels.tsv", ["q1 0 b 1", "q1 0 c 2", "q2 0 d 1"])
    evaluator = reranking.from_jsonl(path, qrels)
    expected = RerankEvaluator(QUERIES, {q: CANDIDATES[q] for q in ("q1", "q2")}, QRELS)
    assert evaluator(FakeCross()) == pytest.approx(expected(FakeCross()))


def test_sample_dev_set_ranks_perfectly_with_an_oracle(tmp_path, monkeypatch):
    from pairlab.data.msmarco import MsMarcoData

    monkeypatch.setenv("PAIRLAB_INDEX_DIR", str(tmp_path / "index"))
    data = MsMarcoData(source=sample_path("msmarco_sample"), triples="qidpidtriples.train.tsv",
                       dev={"queries": "queries.dev.tsv", "qrels": "qrels.dev.tsv", "run": "run.dev.trec"})
    evaluator = data.evaluator()
    relevant = {(evaluator.queries[q], text) for q, cands in evaluator.candidates.items()
                for pid, text in cands if evaluator.qrels[q].get(pid, 0) > 0}

    class Oracle:
        kind = "cross"

        def score(self, queries: list[str], passages: list[str], batch_size: int = 64) -> torch.Tensor:
            return torch.tensor([float((q, p) in relevant) for q, p in zip(queries, passages, strict=True)])

    metrics = evaluator(Oracle())
    assert metrics["mrr@10"] == metrics["ndcg@10"] == metrics["recall@100"] == 1.0


def test_file_errors_name_the_key_the_caller_set(tmp_path):
    run = write_lines(tmp_path / "run.trec", ["11 Q0 0 1 9.0 bm25"])
    missing = tmp_path / "missing_qrels.tsv"
    eval_keys = {key: f"eval.{key}" for key in reranking.TRAINING_KEYS}
    with pytest.raises(DataError, match=r"file not found \(check eval.qrels\)"):
        reranking.from_run(run, run, run, missing, keys=eval_keys)
    with pytest.raises(DataError, match=r"file not found \(check data.dev.qrels\)"):
        reranking.from_run(run, run, run, missing)
