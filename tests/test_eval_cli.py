"""`python eval.py`: reranking metrics of an exported model on the bundled MS MARCO sample."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import ROOT, run_entry

from pairlab.evaluation.retrieval import ir_metrics
from pairlab.export import export_model
from pairlab.io.trec import read_qrels, read_run
from pairlab.models.loading import detect_kind
from pairlab.resolvers import sample_path

SAMPLE = sample_path("msmarco_sample")


def run_eval(args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(ROOT / "eval.py"), *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=300)


def sample_args(tmp_path):
    return [f"eval.run={SAMPLE}/run.dev.trec", f"eval.queries={SAMPLE}/queries.dev.tsv",
            f"eval.collection={SAMPLE}/collection.tsv", f"eval.qrels={SAMPLE}/qrels.dev.tsv",
            f"hydra.run.dir={tmp_path / 'eval'}"]


def expected_metrics(encoder):
    """Score the same candidates directly and compute ir_metrics on those scores."""
    queries = dict(line.split("\t", 1) for line in Path(f"{SAMPLE}/queries.dev.tsv").read_text().splitlines())
    passages = dict(line.split("\t", 1) for line in Path(f"{SAMPLE}/collection.tsv").read_text().splitlines())
    run_ids = read_run(Path(f"{SAMPLE}/run.dev.trec"))
    pairs = [(qid, pid) for qid, ranked in run_ids.items() for pid, _ in ranked]
    if encoder.kind == "cross":
        scores = encoder.score([queries[q] for q, _ in pairs], [passages[p] for _, p in pairs])
    else:
        q = encoder.encode([queries[q] for q, _ in pairs])
        p = encoder.encode([passages[p] for _, p in pairs])
        scores = torch.nn.functional.cosine_similarity(q, p)
    run: dict[str, dict[str, float]] = {}
    for (qid, pid), score in zip(pairs, scores.tolist(), strict=True):
        run.setdefault(qid, {})[pid] = score
    qrels = read_qrels(Path(f"{SAMPLE}/qrels.dev.tsv"))
    return ir_metrics(run, {q: r for q, r in qrels.items() if q in run})


@pytest.mark.parametrize("kind", ["cross", "bi"])
def test_eval_prints_json_metrics_equal_to_ir_metrics(tmp_path, kind, tiny_cross, tiny_bi):
    encoder = tiny_cross if kind == "cross" else tiny_bi
    if kind == "cross":
        with torch.no_grad():
            encoder.transformer.classifier.weight.normal_(0, 1.0)
    model_dir = export_model(encoder, tmp_path / "model")
    assert detect_kind(str(model_dir)) == kind
    result = run_eval([f"model.name={model_dir}", *sample_args(tmp_path), "eval.metrics=[nDCG@20,Judged@5]"])
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert printed == saved
    assert {"mrr@10", "ndcg@10", "recall@100"} <= set(printed)
    want = expected_metrics(encoder)
    for key in ("mrr@10", "ndcg@10", "recall@100", "map@100"):
        assert abs(printed[key] - want[key]) < 1e-6, (key, printed[key], want[key])
    assert printed["nDCG@20"] > 0 and printed["Judged@5"] > 0  # ir-measures names, reported as given
    assert (tmp_path / "eval" / "run.trec").read_text().count("\n") > 100


def test_eval_rejects_an_unknown_measure_before_loading_the_model(tmp_path):
    result = run_entry("eval.py", ["model.name=/no/such/model", *sample_args(tmp_path), "eval.metrics=[nDGC@10]"])
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("pairlab: eval.metrics: metric 'nDGC@10'")


def test_eval_missing_input_names_the_key(tmp_path):
    result = run_entry("eval.py", ["model.name=sentence-transformers/all-MiniLM-L6-v2",
                                   f"eval.qrels={SAMPLE}/qrels.dev.tsv", f"hydra.run.dir={tmp_path}"])
    assert result.returncode != 0
    assert "eval.run is not set" in result.stderr
