"""Triplet loss on (anchor, positive, negative) embeddings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor

from pairlab.losses.functional import TRIPLET_DISTANCE, Distance, non_negative, pick
from pairlab.losses.matryoshka import EmbeddingLoss
from pairlab.losses.spec import LossSpec


class TripletLoss(EmbeddingLoss):
    """ST's TripletLoss: mean over rows of relu(d(anchor, pos) - d(anchor, neg) + margin).

    distance: euclidean (ST's default, with margin 5), cosine (1 - cos) or manhattan, as ST's
    TripletDistanceMetric.
    """

    spec: ClassVar[LossSpec] = LossSpec(model="bi", min_columns=3, max_columns=3, label="none")

    def __init__(self, margin: float = 5.0, distance: Distance = "euclidean",
                 matryoshka: Mapping | None = None) -> None:
        super().__init__(matryoshka)
        self.margin, self.distance = non_negative(margin, "margin"), distance
        self.dist = pick(TRIPLET_DISTANCE, distance, "distance")

    def forward(self, outputs: list[Tensor], labels: Tensor | None = None) -> Tensor:
        if len(outputs) != 3:
            raise ValueError(f"TripletLoss needs (anchor, positive, negative) columns, got {len(outputs)}")
        anchor, pos, neg = outputs
        return F.relu(self.dist(anchor, pos) - self.dist(anchor, neg) + self.margin).mean()

    def extra_repr(self) -> str:
        return f"margin={self.margin}, distance={self.distance!r}"
