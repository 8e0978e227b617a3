"""Any table in the hub column format, read as it is: every text column in file order, and a label from
`label` (0/1), `score` (one float) or `scores` (one per candidate column, e.g. what `mine.py
mine.format=n-tuple-scores` writes). `anchor, positive, negative_1..n` rows train MNRL with n hard negatives;
with `scores` they train margin-MSE. The held-out part gives the validation loss."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pairlab.data.base import TaskData, held_out_count, kept_rows
from pairlab.data.dev import dev_evaluator
from pairlab.data.example import Example, ExampleSet, ListExampleSet, Provides
from pairlab.errors import DataError
from pairlab.io.tables import Row, read_rows
from pairlab.protocols import Evaluator, LabelKind

LABELS: dict[str, LabelKind] = {"label": "binary", "score": "float", "scores": "scores"}


class ColumnsData(TaskData):
    """`TaskData` for a local table (jsonl, csv, tsv, parquet) whose columns are texts plus an optional label."""

    def __init__(self, name: str = "columns", source: str | None = None, val_size: float = 1000,
                 max_examples: int | None = None, batch_size: int = 32, seed: int = 0, on_bad_row: str = "error",
                 batch_sampler: str = "random", eval_batch_size: int = 64,
                 dev: Mapping[str, Any] | None = None, prompts: Mapping[str, str | None] | None = None) -> None:
        if source is None:
            raise ValueError("data.source is not set: name a table file (jsonl, csv, tsv or parquet)")
        super().__init__(name, batch_size, eval_batch_size, max_examples, val_size, batch_sampler, on_bad_row, prompts,
                         dev)
        self.source, self.seed = Path(source).expanduser(), seed
        self._evaluator: Evaluator | None = None
        self._provides: Provides | None = None
        self._splits: tuple[list[Example], list[Example]] | None = None

    def check_available(self) -> None:
        if not self.source.is_file():
            raise DataError(f"data.source={str(self.source)!r} is not a file: name a jsonl, csv, tsv or parquet table")

    @property
    def provides(self) -> Provides:
        """Read from the header (the first row): only that row is read at compose time."""
        if self._provides is None:
            self.check_available()
            first = next(read_rows(self.source, bad_rows=self.bad_rows), None)
            if first is None:
                raise DataError(f"{self.source}: no rows (check data.source)")
            labels = [c for c in first.values if c in LABELS]
            if len(labels) > 1:
                raise DataError(f"{first.where}: columns {labels} are all labels: keep one of them")
            texts = tuple(c for c in first.values if c not in LABELS)
            if not texts:
                raise DataError(f"{first.where}: no text column among {list(first.values)}")
            self._provides = Provides(texts, LABELS[labels[0]] if labels else "none")
        return self._provides

    def _example(self, row: Row) -> Example | None:
        provides = self.provides
        if set(row.values) != set(provides.columns) | ({k for k, v in LABELS.items() if v == provides.label}):
            self.bad_rows.bad(row.where, f"columns {sorted(row.values)} differ from the first row's")
            return None
        texts = tuple(row.values[c].strip() for c in provides.columns)
        if not all(texts):
            self.bad_rows.bad(row.where, "empty text")
            return None
        if provides.label == "none":
            return Example(texts)
        key = next(k for k, v in LABELS.items() if v == provides.label)
        try:
            value = json.loads(row.values[key])
            label = tuple(float(x) for x in value) if key == "scores" else float(value)
        except (json.JSONDecodeError, TypeError, ValueError):
            self.bad_rows.bad(row.where, f"{key} {row.values[key]!r} is not a number" +
                              (" list" if key == "scores" else ""))
            return None
        if key == "scores" and len(label) != len(texts) - 1:
            self.bad_rows.bad(row.where, f"{len(label)} scores for {len(texts) - 1} candidate columns")
            return None
        if key == "label" and label not in (0.0, 1.0):
            self.bad_rows.bad(row.where, f"label {row.values[key]!r} is not 0 or 1")
            return None
        return Example(texts, label)

    def _load(self) -> tuple[list[Example], list[Example]]:
        if self._splits is None:
            examples = [ex for row in read_rows(self.source, bad_rows=self.bad_rows) if (ex := self._example(row))]
            self.bad_rows.report(str(self.source))
            if not examples:
                raise DataError(f"{self.source}: no usable rows (check data.source)")
            n_val = held_out_count(self.val_size, len(examples))
            order = np.random.default_rng(self.seed).permutation(len(examples))
            held_out = set(order[:n_val].tolist())
            train = [ex for i, ex in enumerate(examples) if i not in held_out]
            train = [train[i] for i in kept_rows(len(train), self.max_examples)]
            self._splits = (train, [examples[i] for i in sorted(held_out)])
        return self._splits

    def train_set(self) -> ExampleSet:
        return ListExampleSet(self._load()[0], self.provides)

    def val_set(self) -> ExampleSet | None:
        val = self._load()[1]
        return ListExampleSet(val, self.provides) if val else None

    def evaluator(self) -> Evaluator | None:
        """`data.dev` validation (`pairlab.data.dev`): retrieval over `dev.corpus`, or reranking of `dev.run`'s
        candidates with their texts from `dev.corpus`; None if unset."""
        if self._evaluator is None:
            collection = ("dev.corpus", self.dev.get("corpus"))
            self._evaluator = dev_evaluator(self.dev, self.model_kind, _dev_path, collection, self.eval_batch_size)
        return self._evaluator


def _dev_path(key: str, value: str | None) -> Path:
    if value is None:
        raise DataError(f"data.{key} is not set: data.dev validation needs data.dev.queries, data.dev.qrels and "
                        "data.dev.corpus (+ data.dev.run for reranking)")
    return Path(value).expanduser()
