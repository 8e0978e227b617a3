"""The bundled Quora-format sample: reproducible, well-formed, held apart, Quora-like."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import quora_sample as quora

SPLITS = ("train", "dev")
HEADER = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate"


def read_rows(split: str) -> list[list[str]]:
    """Data rows of a shipped split, after checking the header line."""
    lines = (quora.sample_dir() / f"{split}.tsv").read_text(encoding="utf-8").split("\n")
    assert lines[0] == HEADER
    assert lines[-1] == "", "file must end with exactly one newline"
    return [line.split("\t") for line in lines[1:-1]]


@pytest.fixture(scope="module")
def rows() -> dict[str, list[list[str]]]:
    return {split: read_rows(split) for split in SPLITS}


def test_sample_dir_holds_the_splits():
    assert quora.sample_dir().is_dir()
    assert sorted(p.name for p in quora.sample_dir().glob("*.tsv")) == ["dev.tsv", "train.tsv"]


def test_regeneration_is_byte_identical(tmp_path: Path):
    written = quora.write_samples(tmp_path)
    assert sorted(written) == sorted(SPLITS)
    for split in SPLITS:
        assert written[split].read_bytes() == (quora.sample_dir() / f"{split}.tsv").read_bytes(), split
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.tsv", "train.tsv"], "no temp files left"


def test_main_writes_to_out(tmp_path: Path):
    quora.main(["--out", str(tmp_path / "nested")])
    assert (tmp_path / "nested" / "dev.tsv").read_bytes() == (quora.sample_dir() / "dev.tsv").read_bytes()


def test_rows_are_well_formed(rows):
    for split, split_rows in rows.items():
        for row in split_rows:
            assert len(row) == 6, (split, row)
            pair_id, qid1, qid2, q1, q2, label = row
            assert pair_id.isdigit() and qid1.isdigit() and qid2.isdigit()
            assert label in {"0", "1"}
            assert q1.strip() == q1 and q2.strip() == q2 and q1 and q2
            assert "\r" not in q1 + q2 and '"' not in q1 + q2
            assert qid1 != qid2 and q1 != q2
    ids = [row[0] for split_rows in rows.values() for row in split_rows]
    assert len(set(ids)) == len(ids), "pair ids are unique across splits"


def test_sizes_and_duplicate_fraction(rows):
    assert sum(len(split_rows) for split_rows in rows.values()) >= 300
    assert len(rows["train"]) > len(rows["dev"]) >= 100
    for split, split_rows in rows.items():
        duplicates = sum(row[5] == "1" for row in split_rows)
        assert 0.3 <= duplicates / len(split_rows) <= 0.5, split


def test_no_question_shared_between_train_and_dev(rows):
    questions = {split: {q for row in split_rows for q in row[3:5]} for split, split_rows in rows.items()}
    assert not questions["train"] & questions["dev"]


def test_qids_are_consistent(rows):
    qid_of: dict[str, str] = {}
    text_of: dict[str, str] = {}
    for split_rows in rows.values():
        for row in split_rows:
            for qid, text in ((row[1], row[3]), (row[2], row[4])):
                assert qid_of.setdefault(text, qid) == qid, f"{text!r} has two qids"
                assert text_of.setdefault(qid, text) == text, f"qid {qid} names two texts"


def test_no_repeated_pairs(rows):
    for split, split_rows in rows.items():
        keys = [frozenset(row[1:3]) for row in split_rows]
        assert len(set(keys)) == len(keys), split


def test_questions_recur_and_dev_has_multi_relevant_queries(rows):
    for split, split_rows in rows.items():
        n_pairs: dict[str, int] = defaultdict(int)
        duplicates: dict[str, set[str]] = defaultdict(set)
        for _, qid1, qid2, _, _, label in split_rows:
            n_pairs[qid1] += 1
            n_pairs[qid2] += 1
            if label == "1":
                duplicates[qid1].add(qid2)
                duplicates[qid2].add(qid1)
        assert sum(n_pairs.values()) / len(n_pairs) >= 3, f"{split}: questions should recur"
        assert sum(len(d) >= 2 for d in duplicates.values()) >= 20, f"{split}: few multi-relevant queries"


def test_every_intent_has_3_to_6_templates_and_every_topic_known_intents():
    assert all(3 <= len(templates) <= 6 for templates in quora.INTENTS.values())
    assert set(quora.TOPIC_INTENTS) == set(quora.ENTITIES)
    assert {i for intents in quora.TOPIC_INTENTS.values() for i in intents} == set(quora.INTENTS)
    names = [spec.split("|")[0] for specs in quora.ENTITIES.values() for spec in specs]
    assert len(set(names)) == len(names) >= 200, "entity names must be unique across topics"
