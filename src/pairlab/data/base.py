"""The contract every data family (quora, msmarco, ...) implements.

A data config instantiates a `TaskData` cheaply (no I/O in `__init__`), so `provides` can be
checked against the loss before anything is read or any model loads. Reading happens in
`train_set()` / `val_set()`; `evaluator()` returns what validation runs on the model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping
from typing import Any, ClassVar

from pairlab.data.dev import check_dev_for, check_dev_keys
from pairlab.data.example import ExampleSet, Provides
from pairlab.io.tables import BadRows
from pairlab.options import Range
from pairlab.protocols import Evaluator


class TaskData(ABC):
    """One stream of training examples, its validation part and its evaluator.

    Data families subclass it: the options every family has are set and checked here, once; a family adds its
    source keys and how it reads them (`provides`, `train_set`, `val_set`, and `evaluator` if it validates).
    The optional hooks below have defaults that fit data with one layout.

    batch_sampler: no_duplicates: no text appears twice in a (global) batch, for losses with in-batch negatives.
    prompts: `data.prompts`, per column name a prompt the collate step puts before its texts (`prompts_of`).
    max_examples / val_size: see `kept_rows` and `held_out_count`; dev: `data.dev` (`pairlab.data.dev`).
    """

    choice_key: ClassVar[str | None] = None
    """The data's own option that selects a layout (`subset`, `mode`), when it has several."""

    def __init__(self, name: str, batch_size: int, eval_batch_size: int, max_examples: int | None,
                 val_size: float, batch_sampler: str, on_bad_row: str,
                 prompts: Mapping[str, str | None] | None, dev: Mapping[str, Any] | None = None) -> None:
        check_sizes(batch_size=batch_size, eval_batch_size=eval_batch_size, max_examples=max_examples,
                    val_size=val_size)
        self.name, self.batch_size, self.eval_batch_size = name, batch_size, eval_batch_size
        self.max_examples, self.val_size = max_examples, val_size
        self.batch_sampler = check_batch_sampler(batch_sampler)
        self.bad_rows = BadRows(on_bad_row)
        self.prompts = prompts_of(prompts)
        self.dev, self.model_kind = check_dev_keys(dev), "bi"

    @property
    @abstractmethod
    def provides(self) -> Provides: ...

    def choices(self) -> dict[str | None, Provides]:
        """Layouts this data can be read as, by `choice_key` value; compose-time checks pick one for the loss."""
        return {None: self.provides}

    def check_available(self) -> None:  # noqa: B027 - a hook: data without a source to check keeps it empty
        """Fail at compose time when the source cannot be read (a missing folder, a hub id offline)."""

    def check_model_kind(self, model_kind: str) -> None:
        """The kind of model ("bi" or "cross") the data trains, set at compose time: `data.dev` validation
        follows it, and fails here when it cannot run on that kind."""
        check_dev_for(self.dev, model_kind)
        self.model_kind = model_kind

    @property
    def eval_key(self) -> Hashable | None:
        """Tasks with equal keys evaluate the same held-out data: they share one evaluator (None: none)."""
        return None

    @abstractmethod
    def train_set(self) -> ExampleSet: ...

    @abstractmethod
    def val_set(self) -> ExampleSet | None: ...

    def evaluator(self) -> Evaluator | None:
        """What validation runs on the model (None: the validation loss only)."""
        return None


BATCH_SAMPLERS = ("random", "no_duplicates")


def prompts_of(prompts: Mapping[str, str | None] | None) -> dict[str, str]:
    """The set prompts of a `data.prompts` mapping (the configs list each column with null: no prompt)."""
    return {column: text for column, text in (prompts or {}).items() if text}


SIZES = {"batch_size": Range(1), "eval_batch_size": Range(1), "max_examples": Range(1, nullable=True),
         "val_size": Range(0, real=True)}


def check_sizes(**sizes: float | None) -> None:
    """The size options every data family has, checked once: `data.batch_size` and `data.eval_batch_size` >= 1,
    `data.max_examples` >= 1 or null, `data.val_size` a row count or a fraction of the rows (< 1)."""
    for key, value in sizes.items():
        if not SIZES[key].holds(value):
            raise ValueError(f"data.{key}={value!r} is out of range: use {SIZES[key].describe()}")


def kept_rows(rows: int, max_examples: int | None) -> range:
    """`data.max_examples`, one meaning in every family: at most that many of the `rows` training examples,
    spread evenly over them in their order (a cap still covers the whole file); the held-out rows stay whole."""
    if max_examples is None or max_examples >= rows:
        return range(rows)
    step = rows // max_examples
    return range(0, step * max_examples, step)


def held_out_count(val_size: float, rows: int) -> int:
    """How many of `rows` rows `data.val_size` holds out: that many (that fraction if < 1), at most a fifth."""
    count = int(round(val_size * rows)) if val_size < 1 else int(val_size)
    return min(count, rows // 5)


def check_batch_sampler(value: str) -> str:
    if value not in BATCH_SAMPLERS:
        raise ValueError(f"data.batch_sampler={value!r} is unknown: use {' or '.join(BATCH_SAMPLERS)}")
    return value
