"""The listwise / pairwise cross-encoder losses train: real steps on the bundled MS MARCO samples (the teacher-score
one for listwise distillation and graded LambdaLoss)."""

from __future__ import annotations

import json
import math

import pytest
from helpers import train_in_process

from pairlab.tasks import build_tasks


@pytest.mark.parametrize(("loss", "data"), [(loss, "msmarco_sample") for loss in
                                           ("lambda", "ranknet", "listnet", "listmle", "plistmle", "ce_mnrl")]
                         + [("ce_kl_div", "msmarco_kd_sample"), ("lambda", "msmarco_kd_sample")])
def test_trains_a_few_steps(loss, data, tmp_path):
    train_in_process(["model=cross_tiny", f"data={data}", f"loss={loss}", "data.batch_size=4",
                      "trainer.max_steps=3", "eval_baseline=false", "export=false"], tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "val/loss" in metrics and math.isfinite(metrics["val/loss"]) and 0 <= metrics["val/mrr@10"] <= 1


def test_ce_mnrl_batches_carry_the_in_batch_candidates(tmp_path):
    """Each query of a ce_mnrl batch is scored against its own candidates and num_negatives of the others'."""
    import torch
    from helpers import compose_cfg

    from pairlab.data.collate import Collator
    from pairlab.models import CrossEncoder
    from pairlab.tasks import model_kind

    cfg = compose_cfg(["model=cross_tiny", "data=msmarco_sample", "loss=ce_mnrl", "loss.num_negatives=3"], tmp_path)
    tasks = build_tasks(cfg.task, model_kind(cfg.model))
    examples = [tasks["main"].data.train_set()[i] for i in range(5)]
    encoder = CrossEncoder.random_init({"hidden_size": 32, "num_hidden_layers": 1})
    torch.manual_seed(0)
    batch = Collator(encoder.tokenizer, 64, "cross", in_batch_negatives={"main": 3})("main", examples)
    assert len(batch.inputs) == len(examples[0].texts) - 1 + 3
    assert all(len(features["input_ids"]) == 5 for features in batch.inputs)


def test_lambda_on_a_mined_table_validates_by_reranking(tmp_path):
    """The msmarco_ce_lambda path: a (query, positive, negative_1..k) table, as mine.py writes it, trains a
    reranker, and `data.dev.run` reranks a TREC run for val/mrr@10."""
    from pathlib import Path

    sample = Path(__file__).resolve().parents[1] / "src" / "pairlab" / "samples" / "msmarco_sample"
    rows = [line.rstrip("\n").split("\t") for line in (sample / "triples.train.tsv").read_text().splitlines()]
    table = tmp_path / "mined.jsonl"
    table.write_text("".join(json.dumps({"anchor": a, "positive": p, "negative_1": n, "negative_2": rows[i - 1][2]})
                             + "\n" for i, (a, p, n) in enumerate(rows[:120])))
    dev = [f"data.dev.corpus={sample}/collection.tsv", f"data.dev.queries={sample}/queries.dev.tsv",
           f"data.dev.qrels={sample}/qrels.dev.tsv", f"data.dev.run={sample}/run.dev.trec", "data.dev.max_queries=10"]
    train_in_process(["model=cross_tiny", "data=columns", f"data.source={table}", "loss=lambda", "data.batch_size=8",
                      "data.val_size=16", "trainer.max_steps=3", "eval_baseline=false", *dev], tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert math.isfinite(metrics["val/loss"]) and 0 < metrics["val/mrr@10"] <= 1
    assert (tmp_path / "run" / "model" / "config.json").is_file()
