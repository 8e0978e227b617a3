"""The MS MARCO task data: a file or hub source, its held-out rows and its dev reranking evaluator."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pairlab.data.base import TaskData
from pairlab.data.dev import dev_evaluator
from pairlab.data.example import ExampleSet, Provides
from pairlab.data.msmarco.files import (
    IdTriples,
    JoinedTeacher,
    JoinedTriples,
    TeacherScores,
    TextTriples,
    TsvRows,
    consecutive_groups,
    file_groups,
    is_id_triples,
)
from pairlab.data.msmarco.hub import (
    HUB_BM25,
    HUB_MSMARCO,
    HUB_SUBSETS,
    HubIdTriples,
    HubLookup,
    HubScored,
    HubTextTriples,
    hub_keys,
    labeled_rows,
)
from pairlab.data.msmarco.sets import (
    POINTWISE,
    SCORED_PAIRS,
    TEACHER,
    LabeledListSet,
    ListwiseSet,
    PointwiseSet,
    ScoredPairSet,
    TeacherSet,
    Triples,
    listwise_provides,
    split_rows,
)
from pairlab.errors import DataError
from pairlab.io.indexed import KeyedTsv
from pairlab.io.tables import SkipBadRows
from pairlab.protocols import Evaluator

log = logging.getLogger(__name__)



def resolve_path(value: str | os.PathLike | None, root: Path | None = None) -> Path | None:
    """A path; a relative one resolves under `root` if given."""
    if value is None:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() or root is None else root / path



class MsMarcoSource(TaskData):
    """What the MS MARCO data classes share: source resolution, held-out rows and the dev evaluator."""

    def __init__(self, name: str, batch_size: int, source: str | None, collection: str | None,
                 queries: str | None, hub_subset: str | None, max_examples: int | None, val_size: float,
                 eval_batch_size: int, dev: Mapping[str, Any] | None, on_bad_row: str = "error",
                 batch_sampler: str = "random", prompts: Mapping[str, str | None] | None = None) -> None:
        super().__init__(name, batch_size, eval_batch_size, max_examples, val_size, batch_sampler, on_bad_row, prompts,
                         dev)
        self.source = None if source is None else str(source)
        self.collection, self.queries, self.hub_subset = collection, queries, hub_subset
        self._sets: tuple[ExampleSet, ExampleSet | None] | None = None
        self._evaluator: Evaluator | None = None

    # ---- where the data is ------------------------------------------------------------------
    @property
    def root(self) -> Path | None:
        """The local folder that relative file keys resolve against (None: the working directory)."""
        if self.source is None or self.is_hub():
            return None
        return resolve_path(self.source)

    def is_hub(self) -> bool:
        """A supported hub id (a local folder of the same name wins)."""
        return self.source in (HUB_MSMARCO, HUB_BM25) and not Path(self.source).exists()

    def path(self, key: str, value: str | None) -> Path:
        """The file named by config key `data.<key>`, resolved; raises when it is unset."""
        path = resolve_path(value, self.root)
        if path is None:
            raise DataError(f"data.{key} is not set: name the file (relative to data.source={self.source!r} "
                            "when that is a folder)")
        return path

    def check_available(self) -> None:
        """Fail at compose time when the source cannot be read (missing folder, hub id offline)."""
        if self.source is None:
            return
        if self.is_hub():
            if "1" in (os.environ.get("HF_DATASETS_OFFLINE"), os.environ.get("HF_HUB_OFFLINE")):
                raise DataError(
                    f"data.source={self.source!r} is a hub id but the hub is offline (HF_DATASETS_OFFLINE / "
                    "HF_HUB_OFFLINE=1): point data.source at a local folder of MS MARCO files, or use the "
                    "bundled sample: data=msmarco_sample (data=msmarco_kd_sample for teacher scores)")
        elif not resolve_path(self.source).is_dir():
            raise DataError(f"data.source={self.source!r}: no such folder (a local MS MARCO folder, "
                            f"or a hub id: {HUB_MSMARCO} / {HUB_BM25}; offline: data=msmarco_sample)")

    def hub_kind(self, default: str) -> tuple[str, str]:
        subset = self.hub_subset or default
        kind = HUB_SUBSETS.get((self.source, subset))
        if kind is None:
            known = ", ".join(f"{h}:{s}" for h, s in HUB_SUBSETS)
            raise DataError(f"data.source={self.source!r} with data.hub_subset={subset!r} is not supported "
                            f"(supported: {known})")
        return subset, kind

    def load_hub(self, subset: str) -> Any:
        self.check_available()
        from datasets import load_dataset

        return load_dataset(self.source, subset, split="train")

    def hub_lookups(self) -> tuple[HubLookup, HubLookup]:
        queries = HubLookup(self.load_hub("queries"), "query_id", "query", f"{self.source}:queries")
        corpus = HubLookup(self.load_hub("corpus"), "passage_id", "passage", f"{self.source}:corpus")
        return queries, corpus

    def file_lookups(self) -> tuple[KeyedTsv, KeyedTsv]:
        queries = KeyedTsv(self.path("queries", self.queries), "data.queries", what="qid")
        collection = KeyedTsv(self.path("collection", self.collection), "data.collection", what="pid")
        return queries, collection

    # ---- TaskData ---------------------------------------------------------------------------
    def build_sets(self) -> tuple[ExampleSet, ExampleSet | None]:
        raise NotImplementedError

    def _load(self) -> tuple[ExampleSet, ExampleSet | None]:
        if self._sets is None:
            self.check_available()
            train, val = self.build_sets()
            if self.bad_rows.policy == "skip":  # rows are read lazily: a bad one is replaced by the next good one
                train = SkipBadRows(train, self.bad_rows)
                val = SkipBadRows(val, self.bad_rows) if val is not None else None
            self._sets = (train, val)
        return self._sets

    def train_set(self) -> ExampleSet:
        return self._load()[0]

    def val_set(self) -> ExampleSet | None:
        """The held-out tail of the training rows (`val_size` rows, a fraction if < 1, at most a fifth), for the
        validation loss."""
        return self._load()[1]

    def evaluator(self) -> Evaluator | None:
        """`data.dev` validation (`pairlab.data.dev`): bi-encoders retrieve from `dev.corpus` when it is set;
        else (and always for cross-encoders) the dev candidates are reranked: `dev.run` with texts from
        `data.collection` and `dev.queries`, or `dev.candidates` jsonl. None when none is configured."""
        if self._evaluator is None:
            self._evaluator = dev_evaluator(self.dev, self.model_kind, self.path, ("collection", self.collection),
                                            self.eval_batch_size)
        return self._evaluator


class MsMarcoData(MsMarcoSource):
    """`TaskData` for training from scratch on MS MARCO triples (pointwise or listwise).

    Keys: `source` (hub id, local folder or null), `mode` (pointwise | listwise),
    `negatives_per_positive` (k), `collection`, `queries`, `triples` (id or text triples; file keys
    relative to a folder source), `hub_subset` (null: triplets for pointwise, labeled-list for
    listwise), `max_examples`, `val_size`, `eval_batch_size`, `dev` (queries, qrels, run | candidates,
    max_queries, depth). No I/O happens before `train_set()`.
    """

    def __init__(self, name: str = "msmarco", batch_size: int = 32, source: str | None = HUB_MSMARCO,
                 mode: str | None = None, negatives_per_positive: int = 4,
                 collection: str | None = "collection.tsv", queries: str | None = "queries.train.tsv",
                 triples: str | None = "qidpidtriples.train.full.2.tsv.gz", hub_subset: str | None = None,
                 max_examples: int | None = None, val_size: float = 1000, eval_batch_size: int = 64,
                 dev: Mapping[str, Any] | None = None, on_bad_row: str = "error",
                 batch_sampler: str = "random", prompts: Mapping[str, str | None] | None = None) -> None:
        if mode not in (None, "pointwise", "listwise"):
            raise ValueError(f"data.mode={mode!r} is unknown: use pointwise or listwise")
        if negatives_per_positive < 1:
            raise ValueError(f"data.negatives_per_positive must be >= 1, got {negatives_per_positive}")
        super().__init__(name, batch_size, source, collection, queries, hub_subset, max_examples, val_size,
                         eval_batch_size, dev, on_bad_row, batch_sampler, prompts)
        self.mode, self.k, self.triples = mode, negatives_per_positive, triples

    choice_key = "mode"  # compose-time validation picks the mode the loss needs when data.mode is null

    def choices(self) -> dict[str, Provides]:
        return {"pointwise": POINTWISE, "listwise": listwise_provides(self.k)}

    @property
    def provides(self) -> Provides:
        if self.mode is None:
            raise ValueError("data.mode is not chosen yet (it is picked from the loss at compose time)")
        return self.choices()[self.mode]

    def build_sets(self) -> tuple[ExampleSet, ExampleSet | None]:
        if self.is_hub():
            return self._hub_sets()
        path = self.path("triples", self.triples)
        if is_id_triples(path, "data.triples"):
            queries, collection = self.file_lookups()
            triples: Triples = JoinedTriples(IdTriples(path, "data.triples"), queries, collection)
            rows: TsvRows = triples.triples
        else:
            triples = rows = TextTriples(path, "data.triples")
        if self.mode == "pointwise":
            return self._pointwise(triples)
        starts = file_groups(rows, self.k)
        if len(starts) == 0:
            raise DataError(
                f"{path}: no {self.k} consecutive rows share a query and positive, so no listwise rows can be "
                "formed: list each (query, positive)'s negatives together (as qidpidtriples does), or lower "
                "data.negatives_per_positive")
        return self._listwise(triples, starts)

    def _pointwise(self, triples: Triples) -> tuple[ExampleSet, ExampleSet | None]:
        train, val = split_rows(len(triples), self.max_examples, self.val_size)
        return PointwiseSet(triples, train, self.k), PointwiseSet(triples, val, self.k) if val else None

    def _listwise(self, triples: Triples, starts: Sequence[int]) -> tuple[ExampleSet, ExampleSet | None]:
        train, val = split_rows(len(starts), self.max_examples, self.val_size)
        return ListwiseSet(triples, starts, train, self.k), ListwiseSet(triples, starts, val, self.k) if val else None

    def _hub_sets(self) -> tuple[ExampleSet, ExampleSet | None]:
        default = "triplet" if self.source == HUB_BM25 else "triplets" if self.mode == "pointwise" else "labeled-list"
        subset, kind = self.hub_kind(default)
        dataset, name = self.load_hub(subset), f"{self.source}:{subset}"
        if kind == "labeled-list":
            if self.mode != "listwise":
                raise DataError(f"data.hub_subset={subset} holds ranked lists: use data.mode=listwise, "
                                "or data.hub_subset=triplets for pointwise rows")
            valid = labeled_rows(dataset, self.k)
            train, val = split_rows(len(valid), self.max_examples, self.val_size)
            queries, corpus = self.hub_lookups()
            return (LabeledListSet(dataset, valid, queries, corpus, train, self.k, name),
                    LabeledListSet(dataset, valid, queries, corpus, val, self.k, name) if val else None)
        if kind == "id-triples":
            triples: Triples = HubIdTriples(dataset, *self.hub_lookups(), name)
            key_columns = ("query_id", "positive_id")
        elif kind == "text-triples":
            triples = HubTextTriples(dataset)
            key_columns = ("query", "positive")
        else:
            raise DataError(f"data.hub_subset={subset} holds teacher scores: use data=msmarco_kd")
        if self.mode == "pointwise":
            return self._pointwise(triples)
        starts = np.fromiter(consecutive_groups(hub_keys(dataset, key_columns), self.k), np.int64)
        if len(starts) == 0:
            raise DataError(f"{name}: rows are shuffled, so no {self.k} consecutive rows share a query and "
                            "positive: use data.hub_subset=labeled-list for listwise rows")
        return self._listwise(triples, starts)


class MsMarcoKDData(MsMarcoSource):
    """`TaskData` for distillation from Hofstaetter et al.'s BERT-CAT ensemble teacher scores.

    Keys: `source`, `collection`, `queries`, `teacher_scores` (the raw 5-column file; relative to a
    folder source), `hub_subset` (null: bert-ensemble-margin-mse, whose label is (margin, 0.0) so
    pos - neg is the teacher margin; bert-ensemble-mse gives (query, passage) + score),
    `max_examples`, `val_size`, `eval_batch_size`, `dev` (as for `MsMarcoData`).
    """

    def __init__(self, name: str = "msmarco_kd", batch_size: int = 32, source: str | None = HUB_MSMARCO,
                 collection: str | None = "collection.tsv", queries: str | None = "queries.train.tsv",
                 teacher_scores: str | None = "bert_cat_ensemble_msmarcopassage_train_scores_ids.tsv",
                 hub_subset: str | None = None, max_examples: int | None = None, val_size: float = 1000,
                 eval_batch_size: int = 64, dev: Mapping[str, Any] | None = None, on_bad_row: str = "error",
                 batch_sampler: str = "random", prompts: Mapping[str, str | None] | None = None) -> None:
        super().__init__(name, batch_size, source, collection, queries, hub_subset, max_examples, val_size,
                         eval_batch_size, dev, on_bad_row, batch_sampler, prompts)
        self.teacher_scores = teacher_scores

    @property
    def provides(self) -> Provides:
        if self.is_hub() and self.hub_subset == "bert-ensemble-mse":
            return SCORED_PAIRS
        return TEACHER

    def build_sets(self) -> tuple[ExampleSet, ExampleSet | None]:
        if self.is_hub():
            subset, kind = self.hub_kind("bert-ensemble-margin-mse")
            if kind not in ("margin", "scored-pairs"):
                raise DataError(f"data.hub_subset={subset} has no teacher scores: use bert-ensemble-margin-mse "
                                "or bert-ensemble-mse")
            source = HubScored(self.load_hub(subset), *self.hub_lookups(), f"{self.source}:{subset}",
                               margin=kind == "margin")
        else:
            teacher = TeacherScores(self.path("teacher_scores", self.teacher_scores), "data.teacher_scores")
            source = JoinedTeacher(teacher, *self.file_lookups())
        train, val = split_rows(len(source), self.max_examples, self.val_size)
        make = ScoredPairSet if self.provides is SCORED_PAIRS else TeacherSet
        return make(source, train), make(source, val) if val else None
