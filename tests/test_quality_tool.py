"""tools/quora_quality.py: its question-disjoint split and its evaluation of an exported model on one part."""

from __future__ import annotations

import random

import quora_quality as qq

from pairlab.export import export_model


def lines(n: int = 600, seed: int = 0) -> list[str]:
    """Labelled pairs over a pool of questions, many questions in several pairs (chains and stars)."""
    rng = random.Random(seed)
    questions = [f"question {i} ?" for i in range(n // 2)]
    return [f"{rng.randint(0, 1)}\t{rng.choice(questions)}\t{rng.choice(questions)}\t{k}" for k in range(n)]


def questions(part: list[str]) -> set[str]:
    return {q for line in part for q in line.split("\t")[1:3]}


def test_no_question_crosses_parts_and_every_pair_lands_once():
    rows = lines(60) + [f"1\tlonely {i} ?\tsingle {i} ?\t{i}" for i in range(900)]
    parts = qq.split_by_question(rows, (0.7, 0.15, 0.15), seed=0)
    assert sorted(line for part in parts for line in part) == sorted(rows)
    train, tune, report = map(questions, parts)
    assert not (train & tune or train & report or tune & report)
    assert all(abs(len(part) / len(rows) - share) < 0.05 for part, share in zip(parts, (0.7, 0.15, 0.15), strict=True))
    assert qq.split_by_question(rows, (0.7, 0.15, 0.15), seed=0) == parts
    assert qq.split_by_question(rows, (0.7, 0.15, 0.15), seed=1) != parts


def test_write_split_writes_the_training_folder_and_the_train_questions(tmp_path):
    source = tmp_path / "pairs.tsv"
    source.write_text("\n".join(f"{i % 2}\tq{i} a ?\tq{i} b ?\t{i}" for i in range(200)) + "\n")
    files = qq.write_split(source, tmp_path / "out", seed=0)
    assert (files["fit"] / "train.tsv").read_text() == files["train"].read_text()
    assert (files["fit"] / "dev.tsv").read_text() == files["tune"].read_text()
    assert set(files["questions"].read_text().split("\n")[:-1]) == questions(files["train"].read_text().splitlines())


def test_evaluate_reports_ap_and_mrr_on_a_part(tmp_path, tiny_bi):
    part = tmp_path / "part.tsv"
    part.write_text("1\thow to cook rice ?\tbest way to cook rice ?\t0\n"
                    "0\thow to cook rice ?\twhy is the sky blue ?\t1\n"
                    "1\twhere is paris ?\tin which country is paris ?\t2\n")
    metrics = qq.evaluate(str(export_model(tiny_bi, tmp_path / "model")), part)
    assert 0 <= metrics["ap"] <= 1 and 0 < metrics["mrr@10"] <= 1
