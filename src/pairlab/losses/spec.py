"""What a loss consumes, so incompatible loss/data choices fail before a model loads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pairlab.protocols import LabelKind

ModelKind = Literal["bi", "cross"]
Needs = LabelKind | Literal["list"]
"""What a loss reads: a data label kind, or "list" (ranking losses): graded labels per candidate
column, or none (the first candidate is the relevant one)."""


@dataclass(frozen=True)
class RunNeeds:
    """What a loss instance asks of the run besides model outputs (its `run_needs()`, the one hook the training
    command reads): `in_batch_candidates`, other rows' candidates the collate step pairs with each query
    (None: all; with `spec.pairs_in_batch`); `guide`, the frozen bi-encoder whose embeddings the module
    computes (with `spec.guided`)."""

    in_batch_candidates: int | None = None
    guide: str | None = None


@dataclass(frozen=True)
class LossSpec:
    """Inputs a loss needs.

    model: which encoder produces its outputs (bi: one embedding [B, D] per column;
        cross: one score [B] per candidate column, query column excluded).
    min_columns / max_columns: number of text columns (None: no upper bound).
    label: the label kind it reads (see `pairlab.protocols.LabelKind`; "list": scores or none).
    in_batch: the loss uses other rows of the batch as negatives (gains from larger or
        cross-device batches; GradCache applies).
    pairs_in_batch: (cross-encoders) the collate step pairs each query with other rows' candidates
        (`run_needs().in_batch_candidates` of them), as extra candidate columns after the explicit ones.
    guided: the loss also reads a frozen guide model's embeddings of the same columns (`guide_outputs`),
        which the module computes with the bi-encoder `run_needs().guide` names.
    """

    model: ModelKind
    min_columns: int
    max_columns: int | None
    label: Needs
    in_batch: bool = False
    pairs_in_batch: bool = False
    guided: bool = False


def run_needs(loss: object) -> RunNeeds:
    """`loss.run_needs()`, or nothing asked for a loss without that hook."""
    hook = getattr(loss, "run_needs", None)
    return hook() if hook is not None else RunNeeds()
