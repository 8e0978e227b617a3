"""`python mine.py`: hard negatives with sentence-transformers' semantics, no known positive ever a negative,
filters respected, output that `train.py data=columns` trains on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import compose_cfg, run_entry, train_in_process

from pairlab.commands.mine import mine
from pairlab.io.trec import read_qrels
from pairlab.resolvers import sample_path

SAMPLE = Path(sample_path("msmarco_sample"))
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MSMARCO = [f"mine.queries={SAMPLE}/queries.train.tsv", f"mine.qrels={SAMPLE}/qrels.train.tsv",
           f"mine.corpus={SAMPLE}/collection.tsv"]


def tsv(path: Path) -> dict[str, str]:
    return dict(line.split("\t", 1) for line in path.read_text().splitlines())


def sample_pairs() -> list[tuple[str, str]]:
    queries, passages = tsv(SAMPLE / "queries.train.tsv"), tsv(SAMPLE / "collection.tsv")
    return [(queries[q], passages[p]) for q, docs in read_qrels(SAMPLE / "qrels.train.tsv").items()
            for p, r in docs.items() if r > 0]


def run_mine(tmp_path: Path, name: str, overrides: list[str]) -> tuple[dict, list[dict]]:
    out = tmp_path / f"{name}.jsonl"
    cfg = compose_cfg([f"mine.output={out}", f"paths.output_dir={tmp_path / name}",
                       f"mine.cache_dir={tmp_path / 'cache'}", *overrides], tmp_path / name, config_name="mine")
    summary = mine(cfg)
    return summary, [json.loads(line) for line in out.read_text().splitlines()]


def known_positives() -> dict[str, set[str]]:
    known: dict[str, set[str]] = {}
    for anchor, positive in sample_pairs():
        known.setdefault(anchor, set()).add(positive)
    return known


SETTINGS = {"num_negatives": 5, "range_min": 2, "range_max": 40, "relative_margin": 0.05, "max_score": 0.9}


def test_overlaps_sentence_transformers_mine_hard_negatives(tmp_path):
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    from pairlab.models.hub import resolve_model_path

    pairs = sample_pairs()
    model = SentenceTransformer(resolve_model_path(MINILM), device="cpu")
    model.max_seq_length = 128
    theirs = mine_hard_negatives(Dataset.from_dict({"anchor": [a for a, _ in pairs],
                                                    "positive": [p for _, p in pairs]}),
                                 model, corpus=list(tsv(SAMPLE / "collection.tsv").values()), output_format="triplet",
                                 verbose=False, batch_size=64, **SETTINGS)
    summary, ours = run_mine(tmp_path, "ours", [f"model.name={MINILM}", "model.max_length=128", *MSMARCO,
                                                *[f"mine.{k}={v}" for k, v in SETTINGS.items()]])
    want = {(row["anchor"], row["negative"]) for row in theirs}
    got = {(row["anchor"], row["negative"]) for row in ours}
    assert len(want) > 300
    assert len(got & want) >= 0.95 * max(len(want), len(got)), (len(got & want), len(want), len(got))
    assert summary["rows"] == len(ours) and summary["skipped_candidates"]["relative_margin"]["count"] > 0


def test_no_known_positive_is_a_negative_and_the_filters_hold(tmp_path):
    overrides = [f"model.name={MINILM}", "model.max_length=128", *MSMARCO, "mine.format=n-tuple-scores",
                 "mine.num_negatives=3", "mine.range_max=30", "mine.absolute_margin=0.05", "mine.min_score=0.1",
                 "mine.max_score=0.8"]
    summary, rows = run_mine(tmp_path, "scores", overrides)
    known = known_positives()
    assert rows and summary["anchors"] == 150
    for row in rows:
        negatives = [row[f"negative_{k}"] for k in (1, 2, 3)]
        assert not set(negatives) & known[row["anchor"]]  # no positive of the anchor, from any of its pairs
        pos, *neg = row["scores"]
        assert neg == sorted(neg, reverse=True)
        assert all(0.1 <= s <= 0.8 and s + 0.05 <= pos + 1e-6 for s in neg), row["scores"]
    saved = json.loads((tmp_path / "scores.summary.json").read_text())
    assert saved == summary and saved["anchors_with_3_negatives"] <= 150
    # random sampling is seeded: the same seed gives the same rows
    again = [run_mine(tmp_path, f"random{i}", [*overrides, "mine.sampling_strategy=random"])[1] for i in (1, 2)]
    assert again[0] == again[1] and again[0] != rows


def test_anchors_in_the_corpus_are_not_their_own_negatives_as_in_sentence_transformers(tmp_path):
    """Quora-style mining: the corpus is every question, so each anchor is in it; like sentence-transformers'
    miner, pairlab never picks an anchor as its own negative and the rest of the window still fills."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    from pairlab.models.hub import resolve_model_path

    rows = [line.split("\t") for line in (Path(sample_path("quora_sample")) / "train.tsv").read_text().splitlines()[1:]]
    pairs = [(r[3], r[4]) for r in rows if r[5] == "1"]
    questions = sorted({q for r in rows for q in (r[3], r[4])})
    (tmp_path / "questions.txt").write_text("\n".join(questions) + "\n")
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps({"anchor": a, "positive": p}) + "\n" for a, p in pairs))
    settings = {"num_negatives": 3, "range_min": 0, "range_max": 20}
    _, ours = run_mine(tmp_path, "ours", [f"model.name={MINILM}", "model.max_length=128",
                                          f"mine.source={tmp_path / 'pairs.jsonl'}",
                                          f"mine.corpus={tmp_path / 'questions.txt'}",
                                          *[f"mine.{k}={v}" for k, v in settings.items()]])
    model = SentenceTransformer(resolve_model_path(MINILM), device="cpu")
    model.max_seq_length = 128
    dataset = Dataset.from_dict({"anchor": [a for a, _ in pairs], "positive": [p for _, p in pairs]})
    theirs = mine_hard_negatives(dataset, model, corpus=questions, output_format="triplet", verbose=False,
                                 batch_size=64, **settings)
    assert all(row["negative"] != row["anchor"] for row in ours)
    want = {(row["anchor"], row["negative"]) for row in theirs}
    got = {(row["anchor"], row["negative"]) for row in ours}
    assert len(want) > 300 and len(got & want) >= 0.95 * max(len(want), len(got)), (len(got & want), len(want))


def test_a_pairs_file_with_duplicate_anchors_keeps_every_positive_out(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    rows = [("how do i cook rice", "boil rice in water"), ("how do i cook rice", "steam the rice"),
            ("how do i bake bread", "knead the dough"), ("best way to learn piano", "practice scales daily"),
            ("best way to learn guitar", "practice chords daily"), ("how do i cook pasta", "boil pasta in water")]
    pairs.write_text("".join(json.dumps({"anchor": a, "positive": p}) + "\n" for a, p in rows))
    summary, mined = run_mine(tmp_path, "pairs", [f"model.name={MINILM}", f"mine.source={pairs}",
                                                  "mine.num_negatives=2"])
    for row in mined:
        assert row["negative"] not in {p for a, p in rows if a == row["anchor"]}
    assert {r["anchor"] for r in mined} == {a for a, _ in rows} and summary["anchors"] == 5


@pytest.mark.parametrize("kind", ["sparse", "multi-vector"])
def test_sparse_and_multi_vector_encoders_mine(tmp_path, kind):
    from pairlab.export import export_model
    from pairlab.models import MultiVectorEncoder, SparseEncoder

    size = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
    model = (SparseEncoder.random_init(size, max_length=64) if kind == "sparse"
             else MultiVectorEncoder.random_init(size, dim=16, query_length=16, document_length=48))
    folder = export_model(model, tmp_path / "model")
    pairs = tmp_path / "pairs.jsonl"
    rows = [("how do i cook rice", "boil rice in water"), ("how do i bake bread", "knead the dough"),
            ("best way to learn piano", "practice scales daily"), ("how do i cook pasta", "boil pasta in water")]
    pairs.write_text("".join(json.dumps({"anchor": a, "positive": p}) + "\n" for a, p in rows))
    summary, mined = run_mine(tmp_path, kind, [f"model.name={folder}", f"mine.source={pairs}", "mine.num_negatives=2",
                                               "mine.format=n-tuple-scores"])
    assert summary["anchors"] == 4 and mined
    for row in mined:
        negatives = {row["negative_1"], row["negative_2"]}
        assert row["positive"] not in negatives and row["scores"][1] >= row["scores"][2]


def test_faiss_index_mines_the_same_negatives(tmp_path, tiny_bi):
    from pairlab.export import export_model

    model = export_model(tiny_bi, tmp_path / "bi")
    args = [f"model.name={model}", *MSMARCO, "mine.num_negatives=3", "mine.precision=fp32"]
    _, exact = run_mine(tmp_path, "exact", args)
    _, flat = run_mine(tmp_path, "flat", [*args, "mine.index=faiss"])
    assert [r["negative"] for r in exact] == [r["negative"] for r in flat]


@pytest.mark.parametrize("fmt,run", [
    ("triplet", ["loss=mnrl"]), ("n-tuple", ["loss=mnrl"]), ("n-tuple-scores", ["loss=margin_mse"]),
    ("n-tuple-scores", ["experiment=msmarco_bi_kl", "model=tiny", "trainer.accelerator=cpu"]),
    ("n-tuple-scores", ["loss=ce_kl_div", "model=cross_tiny", f"data.dev.run={SAMPLE}/run.dev.trec"]),
], ids=["triplet", "n-tuple", "margin_mse", "bi_kl", "ce_kl_div"])
def test_train_reads_the_mined_file(tmp_path, tiny_bi, fmt, run):
    from pairlab.export import export_model

    model = export_model(tiny_bi, tmp_path / "bi")
    _, rows = run_mine(tmp_path, "mined", [f"model.name={model}", *MSMARCO, f"mine.format={fmt}",
                                           "mine.num_negatives=2"])
    assert rows
    dev = [f"data.dev.corpus={SAMPLE}/collection.tsv", f"data.dev.queries={SAMPLE}/queries.dev.tsv",
           f"data.dev.qrels={SAMPLE}/qrels.dev.tsv", "trainer.val_check_interval=3"]
    train_in_process([*run, "data=columns", f"data.source={tmp_path / 'mined.jsonl'}",
                      "data.batch_size=8", "data.val_size=16", "trainer.max_steps=3", *dev], tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "val/loss" in metrics and 0 < metrics["val/mrr@10"] <= 1


def test_bad_mining_input_is_one_line(tmp_path):
    result = run_entry("mine.py", [f"model.name={MINILM}", f"mine.output={tmp_path / 'out.csv'}",
                                   f"mine.source={SAMPLE}/qrels.train.tsv", f"hydra.run.dir={tmp_path / 'r'}"])
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"pairlab: mine.output='{tmp_path / 'out.csv'}': name a .jsonl or .parquet file")
    result = run_entry("mine.py", [f"model.name={MINILM}", f"mine.output={tmp_path / 'out.jsonl'}",
                                   "mine.range_min=5", "mine.range_max=6", f"mine.source={tmp_path}",
                                   f"hydra.run.dir={tmp_path / 'r'}"])
    assert result.stderr.strip().splitlines()[-1].startswith("pairlab: ")
    assert not (tmp_path / "out.jsonl").exists()



def test_a_cross_encoder_rescores_and_its_scores_are_filtered(tmp_path, tiny_bi, tiny_cross):
    import torch

    from pairlab.export import export_model

    with torch.no_grad():
        tiny_cross.transformer.classifier.weight.normal_(0, 1.0)
    bi, cross = export_model(tiny_bi, tmp_path / "bi"), export_model(tiny_cross, tmp_path / "cross")
    args = [f"model.name={bi}", *MSMARCO, f"mine.cross_encoder={cross}", "mine.format=n-tuple-scores",
            "mine.num_negatives=2", "mine.range_max=30", "mine.precision=fp32"]
    _, rows = run_mine(tmp_path, "ce", args)  # no filter: the written scores are still the cross-encoder's
    assert rows
    for row in rows[:20]:
        want = tiny_cross.score([row["anchor"]] * 3, [row["positive"], row["negative_1"], row["negative_2"]])
        assert torch.allclose(torch.tensor(row["scores"]), want, atol=1e-4)
        assert row["scores"][1] >= row["scores"][2]  # the cross-encoder's order chose them (sampling: top)
    threshold = sorted(row["scores"][1] for row in rows)[len(rows) // 2]
    summary, capped = run_mine(tmp_path, "capped", [*args, f"mine.max_score={threshold}"])
    assert capped and summary["skipped_candidates"]["max_score"]["count"] > 0
    assert all(s <= threshold for row in capped for s in row["scores"][1:])  # the filter reads the cross scores


def test_the_window_widens_as_sentence_transformers_when_filters_may_drop_candidates():
    from pairlab.mining import MiningSettings

    plain = MiningSettings(num_negatives=3, range_min=2)
    assert plain.window(max_positives=1) == 2 + 3 + 1
    assert MiningSettings(num_negatives=3, range_min=2, relative_margin=0.05).window(1) == 2 + 30 + 1
    assert MiningSettings(num_negatives=3, min_score=0.1).window(1) == 3 + 1  # a bi-encoder score bound: as is
    assert MiningSettings(num_negatives=3, min_score=0.1).window(1, rescored=True) == 30 + 1
    assert MiningSettings(num_negatives=3, range_max=9).window(4, rescored=True) == 9


def test_listwise_distillation_and_online_contrastive_train_as_one_mixture(tmp_path, tiny_bi, tiny_cross):
    """task=quora_kl_ocl: kl_div on Quora pairs' mined candidates rescored by a cross-encoder, drawn with online
    contrastive on the labelled pairs; both tasks take steps and the Quora validation runs."""
    from pairlab.export import export_model

    rows = [line.split("\t") for line in (Path(sample_path("quora_sample")) / "train.tsv").read_text().splitlines()[1:]]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"anchor": r[3], "positive": r[4]}) + "\n" for r in rows if r[5] == "1"))
    bi, cross = export_model(tiny_bi, tmp_path / "bi"), export_model(tiny_cross, tmp_path / "cross")
    _, mined = run_mine(tmp_path, "scores", [f"model.name={bi}", f"mine.source={pairs}", f"mine.cross_encoder={cross}",
                                             "mine.format=n-tuple-scores", "mine.num_negatives=3",
                                             "mine.precision=bf16"])  # a bf16 search, then fp32 rescoring
    assert mined and all(len(row["scores"]) == 4 for row in mined)
    train_in_process(["experiment=quora_gist_multitask", "task=quora_kl_ocl", "data=quora_sample", "model=tiny",
                      f"task.tasks.kl.data.source={tmp_path / 'scores.jsonl'}", "task.tasks.kl.data.batch_size=8",
                      "data.batch_size=8", "trainer.max_steps=6", "eval_baseline=false", "export=false"],
                     tmp_path / "run")
    log = (tmp_path / "run" / "csv" / "metrics.csv").read_text()
    assert "train/kl/loss" in log and "train/ocl/loss" in log
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0 < metrics["val/ap"] <= 1 and 0 < metrics["val/mrr@10"] <= 1
