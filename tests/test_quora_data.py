"""Quora readers: every supported format, subsets, symmetric swap, splits and clear errors."""

from __future__ import annotations

import json

import pytest

from pairlab.data.quora import QuoraData
from pairlab.errors import DataError

PAIRS = [  # (q1, q2, is_duplicate)
    ("How do I learn Python?", "What is the best way to learn Python?", 1),
    ("How do I learn Python?", "How do I uninstall Python?", 0),
    ("Where is Paris?", "In which country is Paris?", 1),
    ("What is love?", "Why is the sky blue?", 0),
    ("How to cook rice?", "What is the best way to cook rice?", 1),
    ("How to cook rice?", "How to grow rice?", 0),
]


def write_release_tsv(path, pairs=PAIRS):
    qids = {}
    lines = ["id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate"]
    for i, (a, b, y) in enumerate(pairs):
        lines.append(f"{i}\t{qids.setdefault(a, len(qids) + 1)}\t{qids.setdefault(b, len(qids) + 1)}\t{a}\t{b}\t{y}")
    path.write_text("\n".join(lines) + "\n")
    return path


def load(source, subset, **kw):
    data = QuoraData(source=str(source), subset=subset, val_size=0, **kw)
    return data, data.train_set()


def test_release_tsv_pair_class(tmp_path):
    _, examples = load(write_release_tsv(tmp_path / "q.tsv"), "pair-class")
    assert len(examples) == 6
    assert examples[0].texts == PAIRS[0][:2] and examples[0].label == 1.0
    assert examples.provides.columns == ("sentence1", "sentence2")


def test_kaggle_csv_with_quotes_and_commas(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text('"id","qid1","qid2","question1","question2","is_duplicate"\n'
                    '"0","1","2","Is it good, or bad?","Is it bad, or good?","1"\n'
                    '"1","3","4","Why ""quotes""?","Why not?","0"\n')
    _, examples = load(path, "pair-class")
    assert examples[0].texts == ("Is it good, or bad?", "Is it bad, or good?")
    assert examples[1].texts[0] == 'Why "quotes"?'


def test_pair_subset_keeps_duplicates_only(tmp_path):
    _, examples = load(write_release_tsv(tmp_path / "q.tsv"), "pair")
    assert [ex.texts for ex in examples] == [p[:2] for p in PAIRS if p[2] == 1]
    assert examples[0].label is None


def test_triplets_mined_from_labelled_pairs_prefer_hard_negatives(tmp_path):
    _, examples = load(write_release_tsv(tmp_path / "q.tsv"), "triplet")
    assert len(examples) == 3
    by_anchor = {ex.texts[0]: ex.texts[2] for ex in examples}
    assert by_anchor["How do I learn Python?"] == "How do I uninstall Python?"
    assert by_anchor["How to cook rice?"] == "How to grow rice?"
    assert by_anchor["Where is Paris?"] not in ("Where is Paris?", "In which country is Paris?")


@pytest.mark.parametrize("suffix", ["csv", "tsv", "jsonl", "parquet"])
def test_hub_column_formats(tmp_path, suffix):
    rows = [{"anchor": "a one", "positive": "p one", "negative": "n one"},
            {"anchor": "a two", "positive": "p two", "negative": "n two"}]
    path = tmp_path / f"t.{suffix}"
    if suffix == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif suffix == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        sep = "," if suffix == "csv" else "\t"
        path.write_text(sep.join(rows[0]) + "\n" + "".join(sep.join(r.values()) + "\n" for r in rows))
    _, triplets = load(path, "triplet")
    assert [ex.texts for ex in triplets] == [tuple(r.values()) for r in rows]
    _, pairs = load(path, "pair")
    assert pairs[1].texts == ("a two", "p two")


def test_sentence_label_columns(tmp_path):
    path = tmp_path / "pc.csv"
    path.write_text("sentence1,sentence2,label\nx,y,1\nu,v,0\n")
    _, examples = load(path, "pair-class")
    assert [(ex.texts, ex.label) for ex in examples] == [(("x", "y"), 1.0), (("u", "v"), 0.0)]


def test_headerless_bimpm_columns(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text("1\tWhat is A ?\tWhat 's A ?\t11\n0\tWhat is B ?\tWhere is C ?\t12\n")
    _, examples = load(path, "pair-class", columns=["label", "sentence1", "sentence2", "id"])
    assert examples[0].texts == ("What is A ?", "What 's A ?") and examples[0].label == 1.0


def test_folder_with_train_and_dev_splits(tmp_path):
    write_release_tsv(tmp_path / "train.tsv")
    write_release_tsv(tmp_path / "dev.tsv", PAIRS[:2])
    data = QuoraData(source=str(tmp_path), subset="pair-class")
    assert len(data.train_set()) == 6 and len(data.val_set()) == 2


def test_symmetric_adds_the_swap(tmp_path):
    _, examples = load(write_release_tsv(tmp_path / "q.tsv"), "pair", symmetric=True)
    texts = [ex.texts for ex in examples]
    assert len(texts) == 6 and ("What is the best way to learn Python?", "How do I learn Python?") in texts


def test_split_is_deterministic_and_disjoint(tmp_path):
    pairs = [(f"question {i} a", f"question {i} b", i % 2) for i in range(100)]
    path = write_release_tsv(tmp_path / "q.tsv", pairs)
    one = QuoraData(source=str(path), subset="pair-class", val_size=0.2, seed=1)
    two = QuoraData(source=str(path), subset="pair-class", val_size=0.2, seed=1)
    assert [e.texts for e in one.val_set()] == [e.texts for e in two.val_set()]
    assert len(one.val_set()) == 20 and len(one.train_set()) == 80
    assert not {e.texts for e in one.val_set()} & {e.texts for e in one.train_set()}


def test_offline_hub_source_names_the_fix(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError, match=r"data\.source.*data=quora_sample"):
        QuoraData(subset="pair").check_available()


def test_pair_class_needs_labels(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("anchor,positive\na,b\nc,d\n")
    with pytest.raises(DataError, match="data.subset=pair"):
        load(path, "pair-class")


def test_missing_columns_name_the_fix(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("foo,bar\n1,2\n")
    with pytest.raises(DataError, match=r"x\.csv:2: .*data\.columns="):
        load(path, "pair")


def test_evaluator_reports_retrieval_and_classification(tmp_path, tiny_bi):
    data = QuoraData(source=str(write_release_tsv(tmp_path / "q.tsv")), subset="pair", val_size=0)
    data._splits = ([], data._read_source()[0])
    metrics = data.evaluator()(tiny_bi)
    assert {"mrr@10", "ndcg@10", "recall@1", "recall@10", "recall@100", "map@100", "ap", "f1",
            "accuracy"} <= set(metrics)
    assert 0 <= metrics["mrr@10"] <= 1


def test_a_cross_encoder_classifies_the_labelled_pairs_by_its_scores(tmp_path, tiny_cross):
    from pairlab.evaluation.classification import pair_classification_metrics

    data = QuoraData(source=str(write_release_tsv(tmp_path / "q.tsv")), subset="pair-class", val_size=0)
    data._splits = ([], data._read_source()[0])
    metrics = data.evaluator()(tiny_cross)
    scores = tiny_cross.score([a for a, _, _ in PAIRS], [b for _, b, _ in PAIRS])
    assert metrics == pair_classification_metrics(scores.numpy(), [y for _, _, y in PAIRS])
    assert "mrr@10" not in metrics  # a cross-encoder retrieves nothing


def test_a_cross_encoder_trains_on_quora_pairs(tmp_path):
    from helpers import train_in_process

    train_in_process(["model=cross_tiny", "data=quora_sample", "loss=bce", "monitor=val/ap", "trainer.max_steps=3",
                      "data.batch_size=8", "export=false"], tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0 < metrics["val/ap"] <= 1 and "val/mrr@10" not in metrics
