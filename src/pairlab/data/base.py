"""The contract every data family (quora, msmarco, ...) implements.

A data config instantiates a `TaskData` cheaply (no I/O in `__init__`), so `provides` can be
checked against the loss before anything is read or any model loads. Reading happens in
`train_set()` / `val_set()`; `evaluator()` returns what validation runs on the model.
"""

from __future__ import annotations

from typing import Protocol

from pairlab.data.example import ExampleSet, Provides
from pairlab.protocols import Evaluator


class TaskData(Protocol):
    """One stream of training examples, its validation part and its evaluator."""

    name: str
    batch_size: int

    @property
    def provides(self) -> Provides: ...

    def train_set(self) -> ExampleSet: ...

    def val_set(self) -> ExampleSet | None: ...

    def evaluator(self) -> Evaluator | None: ...
