"""Guided in-batch negatives (GISTEmbed, Solatorio 2024): a frozen guide model's similarities tell which
in-batch candidates are likely false negatives, and those are left out of the softmax.

The loss reads the guide's embeddings of the same columns (`guide_outputs`); the module computes them
with the model named by `loss.guide` (`spec.guided`), so losses still never call a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from pairlab.losses.functional import pick
from pairlab.losses.matryoshka import EmbeddingLoss
from pairlab.losses.spec import LossSpec, RunNeeds

MarginStrategy = Literal["absolute", "relative"]


def _cos_matrix(a: Tensor, b: Tensor) -> Tensor:
    """[N, D] x [M, D] -> [N, M] cosine similarities, as ST's GISTEmbedLoss computes them."""
    return F.cosine_similarity(a.unsqueeze(1), b.unsqueeze(0), dim=-1)


class GISTEmbedLoss(EmbeddingLoss):
    """ST's GISTEmbedLoss: MNRL-style softmax cross-entropy (temperature 0.01) of anchor i over the batch's
    positives, anchors, positives again (positive-positive) and negatives, where every candidate the guide
    scores above the guide's own anchor-positive similarity (minus `margin`) is masked out.

    guide: the guide model, a hub id or folder of a bi-encoder (loaded frozen by the module).
    margin_strategy: absolute (guide sim > pos sim - margin) or relative (> pos sim - |pos sim| * margin).
    contrast_anchors / contrast_positives: add the anchor-anchor / positive-positive similarities.
    """

    spec: ClassVar[LossSpec] = LossSpec(model="bi", min_columns=2, max_columns=3, label="none", in_batch=True,
                                        guided=True)

    def __init__(self, guide: str, temperature: float = 0.01, margin_strategy: MarginStrategy = "absolute",
                 margin: float = 0.0, contrast_anchors: bool = True, contrast_positives: bool = True,
                 matryoshka: Mapping | None = None) -> None:
        super().__init__(matryoshka)
        if not guide:
            raise ValueError("loss.guide is not set: name the guide bi-encoder (hub id or folder)")
        if not temperature > 0:
            raise ValueError(f"loss.temperature must be > 0, got {temperature}")
        pick(dict.fromkeys(("absolute", "relative")), margin_strategy, "loss.margin_strategy")
        self.guide, self.temperature = guide, temperature
        self.margin_strategy, self.margin = margin_strategy, margin
        self.contrast_anchors, self.contrast_positives = contrast_anchors, contrast_positives

    def run_needs(self) -> RunNeeds:
        return RunNeeds(guide=self.guide)

    def forward(self, outputs: list[Tensor], labels: Tensor | None, guide_outputs: list[Tensor] | None = None
                ) -> Tensor:
        if len(outputs) not in (2, 3):
            raise ValueError(f"GISTEmbedLoss needs (anchor, positive[, negative]) columns, got {len(outputs)}")
        if guide_outputs is None or len(guide_outputs) != len(outputs):
            raise ValueError("GISTEmbedLoss needs the guide's embeddings of every column (guide_outputs)")
        anchor, positive, *negative = outputs
        anchor_guide, positive_guide, *negative_guide = (g.detach() for g in guide_outputs)
        guided_ap = _cos_matrix(anchor_guide, positive_guide)
        threshold = guided_ap.diagonal().view(-1, 1)
        if self.margin_strategy == "absolute":
            threshold = threshold - self.margin
        else:
            threshold = threshold - threshold.abs() * self.margin
        own_positive = torch.eye(len(anchor), dtype=torch.bool, device=anchor.device)

        def masked(sim: Tensor, guided: Tensor, keep: Tensor | None = None) -> Tensor:
            drop = guided > threshold
            return sim.masked_fill(drop & ~keep if keep is not None else drop, float("-inf"))

        scores = [masked(_cos_matrix(anchor, positive), guided_ap, own_positive)]
        if self.contrast_anchors:
            scores.append(masked(_cos_matrix(anchor, anchor), _cos_matrix(anchor_guide, anchor_guide)))
        if self.contrast_positives:
            scores.append(masked(_cos_matrix(positive, positive), _cos_matrix(positive_guide, positive_guide)))
        if negative:
            scores.append(masked(_cos_matrix(anchor, negative[0]), _cos_matrix(anchor_guide, negative_guide[0])))
        logits = torch.cat(scores, dim=1) / self.temperature
        return F.cross_entropy(logits, torch.arange(len(anchor), device=anchor.device))

    def extra_repr(self) -> str:
        return (f"guide={self.guide!r}, temperature={self.temperature}, margin_strategy={self.margin_strategy!r}, "
                f"margin={self.margin}, contrast_anchors={self.contrast_anchors}, "
                f"contrast_positives={self.contrast_positives}")
