"""In-batch ranking losses (InfoNCE): each anchor must rank its positive above every other
candidate in the batch, including the explicit hard negatives."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from pairlab.losses.functional import SIMILARITY, Similarity, pick
from pairlab.losses.matryoshka import EmbeddingLoss
from pairlab.losses.spec import LossSpec


class MultipleNegativesRankingLoss(EmbeddingLoss):
    """ST's MultipleNegativesRankingLoss (default directions): softmax cross-entropy of
    anchor i over [positives of all rows, negative_1 of all rows, ...], target its own positive.

    outputs: anchor [B, D], positive [B, D], then any number of negative columns [B, D].
    scale: multiplies the similarities (1 / temperature); 20 for cosine, about 1 for dot.
    """

    spec: ClassVar[LossSpec] = LossSpec(model="bi", min_columns=2, max_columns=None, label="none",
                                        in_batch=True)

    def __init__(self, scale: float = 20.0, similarity: Similarity = "cos", matryoshka: Mapping | None = None) -> None:
        super().__init__(matryoshka)
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.scale = scale
        self.similarity = similarity
        self.sim = pick(SIMILARITY, similarity, "similarity")

    def forward(self, outputs: list[Tensor], labels: Tensor | None = None) -> Tensor:
        scores = self.scores(outputs)
        return F.cross_entropy(scores, torch.arange(len(scores), device=scores.device))

    def scores(self, outputs: list[Tensor]) -> Tensor:
        """Scaled anchor-to-candidate similarities [B, B * (columns - 1)]; row i's positive is column i."""
        if len(outputs) < 2:
            raise ValueError(f"{type(self).__name__} needs an anchor and a positive column, got {len(outputs)}")
        return self.sim(outputs[0], torch.cat(outputs[1:])) * self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale}, similarity={self.similarity!r}"


class MultipleNegativesSymmetricRankingLoss(MultipleNegativesRankingLoss):
    """ST's MultipleNegativesSymmetricRankingLoss: the mean of the anchor->candidates loss (as in
    MultipleNegativesRankingLoss) and the positive->anchors loss (positive i over all anchors,
    target anchor i). Hard negatives only enter the first direction."""

    def forward(self, outputs: list[Tensor], labels: Tensor | None = None) -> Tensor:
        forward_scores = self.scores(outputs)
        backward_scores = self.sim(outputs[1], outputs[0]) * self.scale
        target = torch.arange(len(forward_scores), device=forward_scores.device)
        return (F.cross_entropy(forward_scores, target) + F.cross_entropy(backward_scores, target)) / 2
