"""The small shared contracts: what evaluators see of a model, what they return, what labels are."""

from __future__ import annotations

from typing import Literal, Protocol

from torch import Tensor

LabelKind = Literal["none", "binary", "float", "scores"]
"""none: no label; binary: 0/1 per row; float: one score per row;
scores: one teacher score per candidate column (e.g. pos_score, neg_score)."""


class Encoder(Protocol):
    """What evaluators see of a model: `kind` is "bi" (embeddings) or "cross" (relevance logits)."""

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
