"""Losses: `forward(outputs, labels) -> scalar`, each declaring what it consumes in `spec`.

`outputs` is the model output per column (bi-encoder: embeddings [B, D] per text column;
cross-encoder: logits [B] per candidate column). The math matches the sentence-transformers
loss of the same name, so published hyperparameters carry over. The cross-encoder losses live in
`pairlab.losses.cross` (three of their names repeat bi-encoder ones), the learning-to-rank losses over a
query's candidate list in `pairlab.losses.listwise`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from pairlab.losses import cross, listwise
from pairlab.losses.contrastive import ContrastiveLoss, CoSENTLoss, OnlineContrastiveLoss
from pairlab.losses.cross import BinaryCrossEntropyLoss, CrossEntropyLoss
from pairlab.losses.distillation import MarginMSELoss, MSELoss
from pairlab.losses.matryoshka import MatryoshkaLoss
from pairlab.losses.ranking import MultipleNegativesRankingLoss, MultipleNegativesSymmetricRankingLoss
from pairlab.losses.spec import LossSpec
from pairlab.losses.triplet import TripletLoss


def build_loss(cfg: Mapping[str, Any]) -> nn.Module:
    """Instantiate the loss a `loss` config describes: `_target_`, its parameters and an optional
    `matryoshka: {dims, weights}` that wraps it in `MatryoshkaLoss`."""
    params = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    matryoshka = params.pop("matryoshka", None)
    if "_target_" not in params:
        raise ValueError(f"a loss config needs a _target_ (e.g. pairlab.losses.MultipleNegativesRankingLoss), "
                         f"got keys {sorted(params)}")
    loss = instantiate(params)
    if not isinstance(getattr(type(loss), "spec", None), LossSpec):
        raise TypeError(f"{params['_target_']} is not a pairlab loss (it has no `spec: LossSpec`)")
    if matryoshka and matryoshka.get("dims"):
        unknown = sorted(set(matryoshka) - {"dims", "weights"})
        if unknown:
            raise ValueError(f"loss.matryoshka.{unknown[0]} is unknown: loss.matryoshka takes dims and weights")
        loss = MatryoshkaLoss(loss, matryoshka["dims"], matryoshka.get("weights"))
    return loss


__all__ = [
    "BinaryCrossEntropyLoss",
    "CoSENTLoss",
    "ContrastiveLoss",
    "CrossEntropyLoss",
    "LossSpec",
    "MSELoss",
    "MarginMSELoss",
    "MatryoshkaLoss",
    "MultipleNegativesRankingLoss",
    "MultipleNegativesSymmetricRankingLoss",
    "OnlineContrastiveLoss",
    "TripletLoss",
    "build_loss",
    "cross",
    "listwise",
]
