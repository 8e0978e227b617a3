"""Losses: `forward(outputs, labels) -> scalar`, each declaring what it consumes in `spec`.

`outputs` is the model output per column (bi-encoder: embeddings [B, D] per text column;
cross-encoder: logits [B] per candidate column). The math matches the sentence-transformers
loss of the same name, so published hyperparameters carry over. The cross-encoder losses live in
`pairlab.losses.cross` (three of their names repeat bi-encoder ones), the learning-to-rank losses over a
query's candidate list in `pairlab.losses.listwise`, the sparse retrievers' FLOPS regularization in
`pairlab.losses.sparse`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from pairlab.losses import cross, listwise, sparse
from pairlab.losses.contrastive import ContrastiveLoss, CoSENTLoss, OnlineContrastiveLoss
from pairlab.losses.cross import BinaryCrossEntropyLoss, CrossEntropyLoss
from pairlab.losses.distillation import DistillKLDivLoss, MarginMSELoss, MSELoss
from pairlab.losses.matryoshka import EmbeddingLoss, Matryoshka
from pairlab.losses.ranking import MultipleNegativesRankingLoss, MultipleNegativesSymmetricRankingLoss
from pairlab.losses.spec import LossSpec
from pairlab.losses.triplet import TripletLoss


def build_loss(cfg: Mapping[str, Any]) -> nn.Module:
    """Instantiate the loss a `loss` config describes, as written (`_target_` and its parameters)."""
    params = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    if "_target_" not in params:
        raise ValueError(f"a loss config needs a _target_ (e.g. pairlab.losses.MultipleNegativesRankingLoss), "
                         f"got keys {sorted(params)}")
    loss = instantiate(params)
    if not isinstance(getattr(loss, "spec", None), LossSpec):
        raise TypeError(f"{params['_target_']} is not a pairlab loss (it has no `spec: LossSpec`)")
    return loss


__all__ = [
    "BinaryCrossEntropyLoss",
    "CoSENTLoss",
    "ContrastiveLoss",
    "CrossEntropyLoss",
    "DistillKLDivLoss",
    "EmbeddingLoss",
    "LossSpec",
    "MSELoss",
    "MarginMSELoss",
    "Matryoshka",
    "MultipleNegativesRankingLoss",
    "MultipleNegativesSymmetricRankingLoss",
    "OnlineContrastiveLoss",
    "TripletLoss",
    "build_loss",
    "cross",
    "listwise",
    "sparse",
]
