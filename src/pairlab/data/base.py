"""The contract every data family (quora, msmarco, ...) implements.

A data config instantiates a `TaskData` cheaply (no I/O in `__init__`), so `provides` can be
checked against the loss before anything is read or any model loads. Reading happens in
`train_set()` / `val_set()`; `evaluator()` returns what validation runs on the model.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import ClassVar, Literal, Protocol

from pairlab.data.example import ExampleSet, Provides
from pairlab.options import Range
from pairlab.protocols import Evaluator


class TaskData(Protocol):
    """One stream of training examples, its validation part and its evaluator.

    Data families subclass it; the optional hooks below have defaults that fit data with one layout.
    """

    name: str
    batch_size: int
    batch_sampler: Literal["random", "no_duplicates"] = "random"
    """no_duplicates: no text appears twice in a (global) batch, for losses that use in-batch negatives."""
    choice_key: ClassVar[str | None] = None
    """The data's own option that selects a layout (`subset`, `mode`), when it has several."""
    prompts: dict[str, str] = {}
    """`data.prompts`: per column name, a prompt the collate step puts before its texts (`prompts_of`)."""

    @property
    def provides(self) -> Provides: ...

    def choices(self) -> dict[str | None, Provides]:
        """Layouts this data can be read as, by `choice_key` value; compose-time checks pick one for the loss."""
        return {None: self.provides}

    def check_available(self) -> None:
        """Fail at compose time when the source cannot be read (a missing folder, a hub id offline)."""

    def check_model_kind(self, model_kind: str) -> None:
        """Fail at compose time when validation cannot run on this kind of model ("bi" or "cross")."""

    @property
    def eval_key(self) -> Hashable | None:
        """Tasks with equal keys evaluate the same held-out data: they share one evaluator (None: none)."""
        return None

    def train_set(self) -> ExampleSet: ...

    def val_set(self) -> ExampleSet | None: ...

    def evaluator(self) -> Evaluator | None: ...


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
