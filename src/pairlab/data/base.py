"""The contract every data family (quora, msmarco, ...) implements.

A data config instantiates a `TaskData` cheaply (no I/O in `__init__`), so `provides` can be
checked against the loss before anything is read or any model loads. Reading happens in
`train_set()` / `val_set()`; `evaluator()` returns what validation runs on the model.
"""

from __future__ import annotations

from typing import Protocol

from torch import Tensor

from pairlab.data.example import ExampleSet, Provides


class Encoder(Protocol):
    """What evaluators see of a model: `kind` is "bi" or "cross"."""

    kind: str

    def encode(self, texts: list[str], batch_size: int = 64) -> Tensor:
        """Bi-encoders: one embedding per text, [N, D]."""
        ...

    def score(self, queries: list[str], passages: list[str], batch_size: int = 64) -> Tensor:
        """Cross-encoders: one relevance logit per (query, passage), [N]."""
        ...


class Evaluator(Protocol):
    """Runs a model over held-out data and returns metrics named without prefix (`mrr@10`)."""

    def __call__(self, encoder: Encoder) -> dict[str, float]: ...


class TaskData(Protocol):
    """One stream of training examples, its validation part and its evaluator."""

    name: str
    batch_size: int

    @property
    def provides(self) -> Provides: ...

    def train_set(self) -> ExampleSet: ...

    def val_set(self) -> ExampleSet | None: ...

    def evaluator(self) -> Evaluator | None: ...
