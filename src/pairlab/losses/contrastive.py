"""Pair losses on (text1, text2, label): contrastive (binary labels) and CoSENT (graded labels)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pairlab.losses.functional import SIAMESE_DISTANCE, Distance, non_negative, pairwise_cos_sim, pick, row_labels
from pairlab.losses.matryoshka import EmbeddingLoss
from pairlab.losses.spec import LossSpec

_PAIR_BINARY = LossSpec(model="bi", min_columns=2, max_columns=2, label="binary")


def _pair(outputs: list[Tensor], loss: nn.Module) -> tuple[Tensor, Tensor]:
    if len(outputs) != 2:
        raise ValueError(f"{type(loss).__name__} needs exactly 2 columns, got {len(outputs)}")
    return outputs[0], outputs[1]


class ContrastiveLoss(EmbeddingLoss):
    """ST's ContrastiveLoss (Hadsell et al. 2006): per pair
    0.5 * (y * d^2 + (1 - y) * relu(margin - d)^2), averaged (or summed) over the batch.

    distance: cosine (1 - cos), euclidean or manhattan, as ST's SiameseDistanceMetric.
    """

    spec: ClassVar[LossSpec] = _PAIR_BINARY

    def __init__(self, margin: float = 0.5, distance: Distance = "cosine", size_average: bool = True,
                 matryoshka: Mapping | None = None) -> None:
        super().__init__(matryoshka)
        self.margin = non_negative(margin, "margin")
        self.distance = distance
        self.size_average = size_average
        self.dist = pick(SIAMESE_DISTANCE, distance, "distance")

    def forward(self, outputs: list[Tensor], labels: Tensor | None) -> Tensor:
        a, b = _pair(outputs, self)
        y = row_labels(labels, len(a), type(self).__name__).to(a.dtype)
        d = self.dist(a, b)
        losses = 0.5 * (y * d.pow(2) + (1 - y) * F.relu(self.margin - d).pow(2))
        return losses.mean() if self.size_average else losses.sum()

    def extra_repr(self) -> str:
        return f"margin={self.margin}, distance={self.distance!r}, size_average={self.size_average}"


class OnlineContrastiveLoss(EmbeddingLoss):
    """ST's OnlineContrastiveLoss: the contrastive loss summed over the hard pairs only, i.e.
    positives farther apart than the closest negative and negatives closer than the farthest
    positive (no 0.5 factor, no averaging). A batch without negatives keeps the positives above
    their mean distance, one without positives the negatives below theirs; rows with labels other
    than 0 and 1 are ignored.
    """

    spec: ClassVar[LossSpec] = _PAIR_BINARY

    def __init__(self, margin: float = 0.5, distance: Distance = "cosine",
                 matryoshka: Mapping | None = None) -> None:
        super().__init__(matryoshka)
        self.margin = non_negative(margin, "margin")
        self.distance = distance
        self.dist = pick(SIAMESE_DISTANCE, distance, "distance")

    def forward(self, outputs: list[Tensor], labels: Tensor | None) -> Tensor:
        a, b = _pair(outputs, self)
        y = row_labels(labels, len(a), type(self).__name__)
        d = self.dist(a, b)
        negs, poss = d[y == 0], d[y == 1]
        hard_negs = negs[negs < (poss.max() if len(poss) else negs.mean())]
        hard_poss = poss[poss > (negs.min() if len(negs) else poss.mean())]
        return hard_poss.pow(2).sum() + F.relu(self.margin - hard_negs).pow(2).sum()

    def extra_repr(self) -> str:
        return f"margin={self.margin}, distance={self.distance!r}"


class CoSENTLoss(EmbeddingLoss):
    """ST's CoSENTLoss (Su 2022): log(1 + sum over pairs (i, j) with label_i < label_j of
    exp(scale * (cos_i - cos_j))), i.e. a pair with a higher label must have a higher cosine."""

    spec: ClassVar[LossSpec] = LossSpec(model="bi", min_columns=2, max_columns=2, label="float")

    def __init__(self, scale: float = 20.0,
                 matryoshka: Mapping | None = None) -> None:
        super().__init__(matryoshka)
        self.scale = scale

    def forward(self, outputs: list[Tensor], labels: Tensor | None) -> Tensor:
        a, b = _pair(outputs, self)
        y = row_labels(labels, len(a), type(self).__name__)
        s = pairwise_cos_sim(a, b)
        if s.dtype in (torch.float16, torch.bfloat16):  # as ST: exp of scaled differences overflows in half
            s = s.float()
        s = s * self.scale
        diffs = (s[:, None] - s[None, :])[y[:, None] < y[None, :]]
        return torch.logsumexp(torch.cat((diffs.new_zeros(1), diffs)), dim=0)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
