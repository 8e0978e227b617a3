"""Stateless helpers shared by the losses: similarities, distances and label shaping.

Each function computes what the sentence-transformers (ST) helper in the same role computes, with
the same operations, so losses built on them match ST's values and gradients, not only the math:
e.g. ContrastiveLoss's euclidean distance is `F.pairwise_distance` (which adds eps=1e-6 to the
difference) while TripletLoss's is a plain vector norm, as in ST.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

from pairlab.scoring import maxsim, pairwise_maxsim

Similarity = Literal["cos", "dot", "maxsim"]
Distance = Literal["cosine", "euclidean", "manhattan"]
PairFn = Callable[[Tensor, Tensor], Tensor]
_T = TypeVar("_T")


def cos_sim(a: Tensor, b: Tensor) -> Tensor:
    """[N, D] x [M, D] -> [N, M] cosine similarities (ST `util.cos_sim`)."""
    return F.normalize(a, p=2, dim=-1) @ F.normalize(b, p=2, dim=-1).T


def dot_score(a: Tensor, b: Tensor) -> Tensor:
    """[N, D] x [M, D] -> [N, M] dot products (ST `util.dot_score`)."""
    return a @ b.T


def pairwise_cos_sim(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise cosine similarity [B] (ST `util.pairwise_cos_sim`)."""
    return pairwise_dot_score(F.normalize(a, p=2, dim=-1), F.normalize(b, p=2, dim=-1))


def pairwise_dot_score(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise dot product [B] (ST `util.pairwise_dot_score`)."""
    return (a * b).sum(dim=-1)


SIMILARITY: dict[str, PairFn] = {"cos": cos_sim, "dot": dot_score, "maxsim": maxsim}
PAIRWISE_SIMILARITY: dict[str, PairFn] = {"cos": pairwise_cos_sim, "dot": pairwise_dot_score,
                                          "maxsim": pairwise_maxsim}

# ST `SiameseDistanceMetric` (ContrastiveLoss, OnlineContrastiveLoss).
SIAMESE_DISTANCE: dict[str, PairFn] = {
    "cosine": lambda x, y: 1 - F.cosine_similarity(x, y),
    "euclidean": lambda x, y: F.pairwise_distance(x, y, p=2),
    "manhattan": lambda x, y: F.pairwise_distance(x, y, p=1),
}

# ST `TripletDistanceMetric` (TripletLoss).
TRIPLET_DISTANCE: dict[str, PairFn] = {
    "cosine": lambda x, y: 1 - pairwise_cos_sim(x, y),
    "euclidean": lambda x, y: torch.linalg.vector_norm(x - y, dim=-1),
    "manhattan": lambda x, y: (x - y).abs().sum(dim=-1),
}


def non_negative(value: float, key: str) -> float:
    """Validate a margin-like hyperparameter; the message names the config key."""
    if not value >= 0:
        raise ValueError(f"loss.{key} must be >= 0, got {value}")
    return value


def pick(table: dict[str, _T], name: str, what: str) -> _T:
    """`table[name]`, or a ValueError listing the valid names."""
    if name not in table:
        raise ValueError(f"{what}={name!r} is unknown: use one of {', '.join(table)}")
    return table[name]


def row_labels(labels: Tensor | None, batch_size: int, loss: str) -> Tensor:
    """One label per row as a [B] tensor; a clear error when labels are missing or misshaped."""
    if labels is None:
        raise ValueError(f"{loss} needs a label per row, but the batch has no labels")
    if labels.numel() != batch_size:
        raise ValueError(f"{loss} expects {batch_size} labels (one per row), got shape {tuple(labels.shape)}")
    return labels.reshape(-1)


def margin_targets(labels: Tensor | None, batch_size: int, num_negatives: int, loss: str) -> Tensor:
    """Teacher margins [B, k] for k negatives, as ST's MarginMSELoss reads its labels.

    Accepts teacher scores [B, 1 + k] (pos, neg_1..neg_k -> pos - neg_i), margins [B, k], or a
    single margin [B] when k == 1.
    """
    if labels is None:
        raise ValueError(f"{loss} needs teacher scores (pos, neg...) or margins, but the batch has no labels")
    if labels.shape == (batch_size, num_negatives + 1):
        labels = labels[:, :1] - labels[:, 1:]
    elif labels.shape == (batch_size,):
        labels = labels.unsqueeze(1)
    if labels.shape != (batch_size, num_negatives):
        raise ValueError(
            f"{loss} expects labels of shape {(batch_size, num_negatives + 1)} (teacher scores: pos, then each "
            f"negative) or {(batch_size, num_negatives)} (margins pos - neg), got {tuple(labels.shape)}")
    return labels.detach()
