"""Example sets over triples: pointwise (1:k labelled pairs), listwise (1 + k), teacher triples, scored pairs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from pairlab.data.base import held_out_count, kept_rows
from pairlab.data.example import Example, Provides
from pairlab.data.msmarco.files import Lookup

POINTWISE = Provides(("query", "passage"), "binary")
TEACHER = Provides(("query", "positive", "negative"), "scores")
SCORED_PAIRS = Provides(("query", "passage"), "float")


def listwise_provides(k: int) -> Provides:
    return Provides(("query", "positive", *(f"negative_{j}" for j in range(1, k + 1))), "none")



class Triples(Protocol):
    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> tuple[str, str, str]: ...


class PointwiseSet:
    """(query, passage) + 0/1: row r is the positive of its triple if r % (k + 1) == 0, else the negative."""

    provides = POINTWISE

    def __init__(self, triples: Triples, rows: range, negatives_per_positive: int) -> None:
        self.triples, self.rows, self.k = triples, rows, negatives_per_positive

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Example:
        query, positive, negative = self.triples[self.rows[index]]
        if index % (self.k + 1) == 0:
            return Example((query, positive), 1.0)
        return Example((query, negative), 0.0)


class ListwiseSet:
    """(query, positive, negative_1..k): the k consecutive triples starting at `starts[row]`."""

    def __init__(self, triples: Triples, starts: Sequence[int], rows: range, k: int) -> None:
        self.triples, self.starts, self.rows, self.k = triples, starts, rows, k
        self.provides = listwise_provides(k)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Example:
        start = int(self.starts[self.rows[index]])
        query, positive, negative = self.triples[start]
        return Example((query, positive, negative, *(self.triples[start + j][2] for j in range(1, self.k))))


class LabeledListSet:
    """Hub `labeled-list` rows (query_id, doc_ids, labels) -> (query, first positive, k negatives);
    `valid` are the rows with a positive and k negatives."""

    def __init__(self, dataset: Any, valid: np.ndarray, queries: Lookup, corpus: Lookup, rows: range, k: int,
                 name: str) -> None:
        self.dataset, self.valid, self.queries, self.corpus = dataset, valid, queries, corpus
        self.rows, self.k, self.name = rows, k, name
        self.provides = listwise_provides(k)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Example:
        i = int(self.valid[self.rows[index]])
        row, ref = self.dataset[i], f"{self.name} row {i}"
        positives = [d for d, label in zip(row["doc_ids"], row["labels"], strict=True) if label > 0]
        negatives = [d for d, label in zip(row["doc_ids"], row["labels"], strict=True) if label <= 0][: self.k]
        texts = [self.corpus.get(int(d), ref) for d in (positives[0], *negatives)]
        return Example((self.queries.get(int(row["query_id"]), ref), *texts))


class TeacherSet:
    """(query, positive, negative) + (pos_score, neg_score) teacher triples."""

    provides = TEACHER

    def __init__(self, rows_source: Sequence[tuple[str, str, str, tuple[float, float]]], rows: range) -> None:
        self.source, self.rows = rows_source, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Example:
        query, positive, negative, scores = self.source[self.rows[index]]
        return Example((query, positive, negative), scores)


class ScoredPairSet:
    """(query, passage) + one teacher score (hub `bert-ensemble-mse`)."""

    provides = SCORED_PAIRS

    def __init__(self, rows_source: Sequence[tuple[str, str, float]], rows: range) -> None:
        self.source, self.rows = rows_source, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Example:
        query, passage, score = self.source[self.rows[index]]
        return Example((query, passage), score)


def split_rows(n: int, max_examples: int | None, val_size: float) -> tuple[range, range]:
    """Hold out the last `val_size` rows (a fraction of them if < 1, at most a fifth); spread `max_examples`
    training rows evenly over the rest (evenly spaced, so they cover the whole file)."""
    n_val = held_out_count(val_size, n)
    return kept_rows(n - n_val, max_examples), range(n - n_val, n)

