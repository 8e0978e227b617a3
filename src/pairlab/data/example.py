"""The unit of training data and the description of what a data set provides.

Every source (Quora files, hub datasets, MS MARCO id joins) resolves to an `ExampleSet`: a
map-style dataset of `Example`s plus a `Provides` that says what its columns and labels are.
Losses declare what they consume (`pairlab.losses.spec.LossSpec`); the two are matched at
compose time, before any model loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pairlab.protocols import LabelKind


@dataclass(frozen=True, slots=True)
class Example:
    """One row: a text per column (task's column order) and an optional label."""

    texts: tuple[str, ...]
    label: float | tuple[float, ...] | None = None


@dataclass(frozen=True)
class Provides:
    """What an example set yields: column names (in order) and the label kind."""

    columns: tuple[str, ...]
    label: LabelKind = "none"

    def describe(self) -> str:
        cols = ", ".join(self.columns)
        return f"({cols}, label)" if self.label != "none" else f"({cols})"


class ExampleSet(Protocol):
    """Map-style dataset of examples; `provides` describes every row."""

    provides: Provides

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Example: ...


class ListExampleSet:
    """An in-memory `ExampleSet` (Quora-sized data: up to a few million short rows)."""

    def __init__(self, examples: Sequence[Example], provides: Provides) -> None:
        self.examples = list(examples)
        self.provides = provides

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Example:
        return self.examples[index]
