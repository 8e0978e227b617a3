"""Quora duplicate questions: hub dataset or local files -> pair / pair-class / triplet examples.

Local files may be the original release TSV or the Kaggle CSV (`question1, question2,
is_duplicate`), the hub's column format (`anchor, positive[, negative]` or `sentence1,
sentence2, label`) as csv/tsv/jsonl/parquet, or a headerless csv/tsv whose columns are named in
`data.columns` (`[label, sentence1, sentence2, id]` reads the BiMPM split). A folder is read as
`train.*` plus, if present, `dev.*` / `validation.*` as the validation split.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from pairlab.data.base import TaskData, held_out_count, kept_rows
from pairlab.data.example import Example, ExampleSet, ListExampleSet, Provides
from pairlab.errors import DataError
from pairlab.evaluation.evaluators import DuplicatesEvaluator, duplicate_clusters
from pairlab.io.pairs import Record, find_split, parse_record, read_records
from pairlab.io.tables import SUFFIXES, Row

log = logging.getLogger(__name__)

HUB_ID = "sentence-transformers/quora-duplicates"
SUBSETS: dict[str, Provides] = {
    "pair": Provides(("anchor", "positive"), "none"),
    "pair-class": Provides(("sentence1", "sentence2"), "binary"),
    "triplet": Provides(("anchor", "positive", "negative"), "none"),
}
class QuoraData(TaskData):
    """`TaskData` for Quora duplicate questions (see module docstring for the formats)."""

    def __init__(self, name: str = "quora", source: str = HUB_ID, subset: str | None = None,
                 columns: Sequence[str] | None = None, symmetric: bool = False, val_size: float = 1000,
                 max_examples: int | None = None, batch_size: int = 32, seed: int = 0,
                 on_bad_row: str = "error", eval_batch_size: int = 128, batch_sampler: str = "random",
                 prompts: Mapping[str, str | None] | None = None) -> None:
        if subset is not None and subset not in SUBSETS:
            raise ValueError(f"data.subset={subset!r} is unknown: use one of {', '.join(SUBSETS)}")
        super().__init__(name, batch_size, eval_batch_size, max_examples, val_size, batch_sampler, on_bad_row, prompts)
        self.source, self.subset = str(source), subset
        self.columns = list(columns) if columns else None
        self.symmetric, self.seed = symmetric, seed
        self._splits: tuple[list[Record], list[Record]] | None = None

    # ---- compose-time description -------------------------------------------------------
    @property
    def provides(self) -> Provides:
        if self.subset is None:
            raise ValueError("data.subset is not chosen yet (it is picked from the loss at compose time)")
        return SUBSETS[self.subset]

    choice_key = "subset"

    def choices(self) -> dict[str, Provides]:
        """Subsets this data can be read as; compose-time validation picks one for the loss."""
        return dict(SUBSETS)

    def is_hub(self) -> bool:
        return not Path(self.source).expanduser().exists()

    def check_available(self) -> None:
        """Fail early when the source cannot be read (missing path, or a hub id while offline)."""
        if self.is_hub() and os.environ.get("HF_DATASETS_OFFLINE") == "1":
            looks_like_path = any(self.source.endswith(s) for s in SUFFIXES) or self.source.startswith((".", "/"))
            what = "does not exist" if looks_like_path else "is a hub id and HF_DATASETS_OFFLINE=1"
            raise DataError(
                f"data.source={self.source!r} {what}. Point data.source at a local Quora file or folder "
                "(release TSV, Kaggle CSV, csv/tsv/jsonl/parquet), or use the bundled data=quora_sample.")

    # ---- reading --------------------------------------------------------------------------
    def _load(self) -> tuple[list[Record], list[Record]]:
        if self._splits is None:
            self.check_available()
            train, val = self._read_source()
            if val is None:
                train, val = self._split(train)
            self._splits = (train, val)
        return self._splits

    def _read_source(self) -> tuple[list[Record], list[Record] | None]:
        path = Path(self.source).expanduser()
        if self.is_hub():
            return self._read_hub(), None
        if path.is_dir():
            train_file = find_split(path, ("train",))
            if train_file is None:
                raise DataError(f"{path}: folder has no train.{{csv,tsv,jsonl,parquet}} (check data.source)")
            val_file = find_split(path, ("dev", "validation", "valid"))
            val = read_records(val_file, self.columns, self.bad_rows) if val_file else None
            return read_records(train_file, self.columns, self.bad_rows), val
        return read_records(path, self.columns, self.bad_rows), None

    def _read_hub(self) -> list[Record]:
        from datasets import load_dataset

        subset = "pair-class" if self.subset in (None, "pair-class") else self.subset
        rows = load_dataset(self.source, subset, split="train")
        return [r for i, values in enumerate(rows)
                if (r := parse_record(Row({k: str(v) for k, v in values.items()}, f"{self.source}:{i}"),
                                      self.bad_rows))]

    def _split(self, records: list[Record]) -> tuple[list[Record], list[Record]]:
        """Deterministic hold-out: `val_size` rows (or that fraction if < 1) chosen by seed."""
        n_val = held_out_count(self.val_size, len(records))
        held_out = np.random.default_rng(self.seed).permutation(len(records))[:n_val]
        is_val = np.zeros(len(records), dtype=bool)
        is_val[held_out] = True
        return ([r for r, v in zip(records, is_val, strict=True) if not v],
                [r for r, v in zip(records, is_val, strict=True) if v])

    def _examples(self, records: list[Record]) -> list[Example]:
        subset = self.subset
        self.provides  # noqa: B018 - raises if no subset was chosen
        if subset == "pair-class":
            if any(r.label is None for r in records):
                raise DataError(f"data.source={self.source!r} has no duplicate labels, so subset pair-class "
                                "cannot be built: use data.subset=pair (or triplet if it has negatives)")
            examples = [Example((r.text1, r.text2), float(r.label)) for r in records]
        elif subset == "pair":
            examples = [Example((r.text1, r.text2)) for r in records if r.label in (None, 1)]
        else:
            examples = self._triplets(records)
        if self.symmetric:
            examples += [Example((ex.texts[1], ex.texts[0], *ex.texts[2:]), ex.label) for ex in examples]
        return examples

    def _triplets(self, records: list[Record]) -> list[Example]:
        """Given negatives are kept; labelled pairs get a negative mined from the anchor's
        non-duplicate pairs (hard), else a random question of another duplicate cluster."""
        if all(r.negative is not None for r in records):
            return [Example((r.text1, r.text2, r.negative)) for r in records if r.label in (None, 1)]
        if any(r.label is None for r in records):
            raise DataError(f"data.source={self.source!r} has pairs without labels or negatives, so subset "
                            "triplet cannot be built: use data.subset=pair")
        rng = np.random.default_rng(self.seed)
        non_dup: dict[str, list[str]] = {}
        for r in records:
            if r.label == 0:
                non_dup.setdefault(r.text1, []).append(r.text2)
                non_dup.setdefault(r.text2, []).append(r.text1)
        cluster = duplicate_clusters([(r.text1, r.text2) for r in records if r.label == 1])
        questions = sorted({t for r in records for t in (r.text1, r.text2)})
        triplets = []
        for r in records:
            if r.label != 1:
                continue
            hard = non_dup.get(r.text1)
            if hard:
                negative = hard[rng.integers(len(hard))]
            else:
                negative = questions[rng.integers(len(questions))]
                while cluster.get(negative, negative) == cluster.get(r.text1, r.text1):
                    negative = questions[rng.integers(len(questions))]
            triplets.append(Example((r.text1, r.text2, negative)))
        return triplets

    # ---- TaskData interface ---------------------------------------------------------------
    def train_set(self) -> ExampleSet:
        examples = self._examples(self._load()[0])
        return ListExampleSet([examples[i] for i in kept_rows(len(examples), self.max_examples)], self.provides)

    def val_set(self) -> ExampleSet | None:
        val = self._load()[1]
        try:
            return ListExampleSet(self._examples(val), self.provides) if val else None
        except DataError as e:  # the evaluator still scores the held-out questions; only the loss is missing
            log.warning("pairlab: no validation loss for data=%s: its held-out rows cannot be read as "
                        "data.subset=%s (%s)", self.name, self.subset, e)
            return None

    @property
    def eval_key(self) -> tuple:
        """Tasks over the same source and split evaluate the same held-out questions."""
        return ("quora", self.source, tuple(self.columns or ()), self.val_size, self.seed)

    def evaluator(self) -> DuplicatesEvaluator | None:
        val = self._load()[1]
        return records_evaluator(val, self.eval_batch_size) if val else None


def records_evaluator(records: Sequence[Record], batch_size: int = 128) -> DuplicatesEvaluator:
    """Duplicate retrieval and pair classification over Quora records: their duplicates, labelled pairs and
    given negatives (as distractors)."""
    labelled = [(r.text1, r.text2, r.label) for r in records if r.label is not None]
    duplicates = [(r.text1, r.text2) for r in records if r.label in (None, 1)]
    distractors = [r.negative for r in records if r.negative is not None]
    return DuplicatesEvaluator(duplicates, labelled, distractors, batch_size=batch_size)
