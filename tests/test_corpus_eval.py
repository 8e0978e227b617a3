"""Validation by retrieval from a sampled corpus (`data.dev.corpus`), and msmarco_bi_kd validating with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import train_in_process

from pairlab.data.retrieval import corpus_evaluator
from pairlab.errors import DataError
from pairlab.evaluation.retrieval import exact_search, ir_metrics, run_from_search
from pairlab.io.trec import read_qrels
from pairlab.resolvers import sample_path

SAMPLE = Path(sample_path("msmarco_sample"))
FILES = (SAMPLE / "queries.dev.tsv", SAMPLE / "qrels.dev.tsv", SAMPLE / "collection.tsv")


def test_the_sample_is_seeded_and_holds_every_relevant_passage():
    one = corpus_evaluator(*FILES, max_queries=10, distractors=50, seed=1)
    again = corpus_evaluator(*FILES, max_queries=10, distractors=50, seed=1)
    other = corpus_evaluator(*FILES, max_queries=10, distractors=50, seed=2)
    assert (one.query_ids, one.corpus_ids) == (again.query_ids, again.corpus_ids)
    assert one.query_ids != other.query_ids and set(one.corpus_ids) != set(other.corpus_ids)
    qrels = read_qrels(FILES[1])
    assert len(one.query_ids) == 10 and all(q in qrels for q in one.query_ids)
    relevant = {d for q in one.query_ids for d, r in qrels[q].items() if r > 0}
    assert relevant <= set(one.corpus_ids)
    assert len(relevant) <= len(one.corpus_ids) <= len(relevant) + 50
    whole = corpus_evaluator(*FILES, max_queries=None, distractors=None)
    assert len(whole.corpus_ids) == 471 and len(whole.query_ids) == 30


def test_metrics_are_ir_metrics_of_an_exact_search(tiny_bi):
    evaluator = corpus_evaluator(*FILES, max_queries=12, distractors=100, seed=0)
    got = evaluator(tiny_bi)
    scores, indices = exact_search(tiny_bi.encode(evaluator.queries), tiny_bi.encode(evaluator.corpus), 100)
    run = run_from_search(evaluator.query_ids, evaluator.corpus_ids, scores, indices)
    want = ir_metrics(run, evaluator.qrels, (1, 10, 100))
    assert got.keys() == want.keys()
    for key in want:
        assert abs(got[key] - want[key]) < 1e-6, key
    assert {"mrr@10", "ndcg@10", "recall@100", "map@100"} <= set(got)


def test_a_relevant_passage_missing_from_the_corpus_is_named(tmp_path):
    corpus = tmp_path / "collection.tsv"
    corpus.write_text("".join(line + "\n" for line in FILES[2].read_text().splitlines()[:100]))
    with pytest.raises(DataError, match=r"collection.tsv: \d+ relevant documents are not in the corpus"):
        corpus_evaluator(FILES[0], FILES[1], corpus, max_queries=None, distractors=10)


def test_msmarco_bi_kd_validates_by_retrieval_and_its_monitor_finds_the_metric(tmp_path):
    train_in_process(["experiment=msmarco_bi_kd", "data=msmarco_kd_sample", "trainer.accelerator=cpu",
                      "trainer.max_steps=4", "trainer.val_check_interval=4", "eval_baseline=false",
                      "data.dev.distractors=100"], tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0 < metrics["val/mrr@10"] <= 1 and "val/recall@100" in metrics
    state = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=False)["callbacks"]
    best = next(v for k, v in state.items() if k.startswith("ModelCheckpoint") and v["monitor"] == "val/mrr@10")
    assert abs(float(best["best_model_score"]) - metrics["val/mrr@10"]) < 1e-6  # the monitor found its metric
