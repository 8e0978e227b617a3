"""Hub adapters: `sentence-transformers/msmarco` subsets and `msmarco-bm25`, as the same rows as the files."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from pairlab.data.msmarco.files import Lookup
from pairlab.errors import DataError

HUB_MSMARCO = "sentence-transformers/msmarco"
HUB_BM25 = "sentence-transformers/msmarco-bm25"
HUB_SUBSETS = {  # (hub id, subset) -> what its rows hold
    (HUB_MSMARCO, "triplets"): "id-triples",
    (HUB_MSMARCO, "labeled-list"): "labeled-list",
    (HUB_MSMARCO, "bert-ensemble-margin-mse"): "margin",
    (HUB_MSMARCO, "bert-ensemble-mse"): "scored-pairs",
    (HUB_BM25, "triplet"): "text-triples",
}


class HubLookup:
    """A hub id/text subset (`corpus`, `queries`) looked up by integer id via a numpy id -> row table."""

    def __init__(self, dataset: Any, id_column: str, text_column: str, name: str) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self.dataset, self.text_column, self.name = dataset, text_column, name
        ids = pc.cast(dataset.data.column(id_column), pa.int64()).to_numpy()
        self.order = np.argsort(ids, kind="stable")
        self.ids = ids[self.order]

    def get(self, key: int, ref: str | None = None) -> str:
        j = int(np.searchsorted(self.ids, key))
        if j == len(self.ids) or self.ids[j] != key:
            by = f", referenced at {ref}" if ref else ""
            raise DataError(f"{self.name}: no id {key}{by}")
        return str(self.dataset[int(self.order[j])][self.text_column]).strip()


class HubIdTriples:
    """Hub rows of (query_id, positive_id, negative_id) resolved to texts."""

    def __init__(self, dataset: Any, queries: Lookup, corpus: Lookup, name: str) -> None:
        self.dataset, self.queries, self.corpus, self.name = dataset, queries, corpus, name

    def __len__(self) -> int:
        return len(self.dataset)

    def ids(self, i: int) -> tuple[int, int, int]:
        row = self.dataset[i]
        return int(row["query_id"]), int(row["positive_id"]), int(row["negative_id"])

    def __getitem__(self, i: int) -> tuple[str, str, str]:
        qid, pos, neg = self.ids(i)
        ref = f"{self.name} row {i}"
        return self.queries.get(qid, ref), self.corpus.get(pos, ref), self.corpus.get(neg, ref)


class HubTextTriples:
    """Hub rows of (query, positive, negative) texts."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple[str, str, str]:
        row = self.dataset[i]
        return str(row["query"]).strip(), str(row["positive"]).strip(), str(row["negative"]).strip()


class HubScored:
    """`bert-ensemble-margin-mse` rows -> (query, positive, negative, (margin, 0.0)), so that
    pos - neg is the teacher margin; `bert-ensemble-mse` rows -> (query, passage, score)."""

    def __init__(self, dataset: Any, queries: Lookup, corpus: Lookup, name: str, margin: bool) -> None:
        self.dataset, self.queries, self.corpus, self.name, self.margin = dataset, queries, corpus, name, margin

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple:
        row, ref = self.dataset[i], f"{self.name} row {i}"
        query = self.queries.get(int(row["query_id"]), ref)
        if self.margin:
            return (query, self.corpus.get(int(row["positive_id"]), ref),
                    self.corpus.get(int(row["negative_id"]), ref), (float(row["score"]), 0.0))
        return query, self.corpus.get(int(row["passage_id"]), ref), float(row["score"])


def hub_keys(dataset: Any, columns: Sequence[str]) -> Iterator[tuple]:
    """The values of `columns` row by row, streamed in batches."""
    for batch in dataset.select_columns(list(columns)).iter(batch_size=65536):
        yield from zip(*(batch[c] for c in columns), strict=True)


def labeled_rows(dataset: Any, k: int) -> np.ndarray:
    """Rows of a `labeled-list` subset with at least one positive and k negatives (read chunk by chunk)."""
    keep, row0 = [], 0
    for chunk in dataset.data.column("labels").chunks:
        n = len(chunk)
        parents = np.asarray(chunk.value_parent_indices()) if n else np.zeros(0, np.int64)
        values = np.asarray(chunk.flatten())
        positives = np.bincount(parents, weights=values > 0, minlength=n)
        negatives = np.bincount(parents, weights=values <= 0, minlength=n)
        keep.append(row0 + np.flatnonzero((positives > 0) & (negatives >= k)))
        row0 += n
    return np.concatenate(keep) if keep else np.zeros(0, np.int64)

