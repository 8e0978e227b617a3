"""Cross-encoder losses: they read the logits [B] the model gives each (query, candidate) column.

The names are ST's cross-encoder loss names (`sentence_transformers.cross_encoder.losses`);
`MSELoss` and `MarginMSELoss` share their names with the bi-encoder losses, so import them
from this module (`pairlab.losses.cross.MSELoss`).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pairlab.losses.functional import margin_targets, row_labels
from pairlab.losses.spec import LossSpec, RunNeeds


def _stack(outputs: list[Tensor], loss: nn.Module, min_candidates: int) -> Tensor:
    """Candidate-column scores [B] each -> [B, C]."""
    if len(outputs) < min_candidates:
        raise ValueError(f"{type(loss).__name__} needs at least {min_candidates} candidate column(s), "
                         f"got {len(outputs)}")
    if any(o.dim() != 1 for o in outputs):
        raise ValueError(f"{type(loss).__name__} expects one score [B] per candidate column, got shapes "
                         f"{[tuple(o.shape) for o in outputs]}")
    return torch.stack(outputs, dim=1)


class BinaryCrossEntropyLoss(nn.Module):
    """ST's cross-encoder BinaryCrossEntropyLoss: BCE-with-logits of the (query, passage) logit
    against a 0/1 (or soft, in [0, 1]) label; pos_weight scales the positive term."""

    spec: ClassVar[LossSpec] = LossSpec(model="cross", min_columns=2, max_columns=2, label="float")

    pos_weight: Tensor | None

    def __init__(self, pos_weight: float | None = None) -> None:
        super().__init__()
        weight = None if pos_weight is None else torch.tensor(float(pos_weight))
        self.register_buffer("pos_weight", weight, persistent=False)

    def forward(self, outputs: list[Tensor], labels: Tensor | None) -> Tensor:
        if len(outputs) != 1:
            raise ValueError(f"BinaryCrossEntropyLoss needs one candidate column, got {len(outputs)}")
        logits = _stack(outputs, self, 1)[:, 0]
        target = row_labels(labels, len(logits), type(self).__name__)
        dtype = torch.promote_types(logits.dtype, target.dtype)  # bf16 logits: computed in float32
        logits, target = logits.to(dtype), target.to(dtype)
        weight = None if self.pos_weight is None else self.pos_weight.to(dtype)
        return F.binary_cross_entropy_with_logits(logits, target, pos_weight=weight)

    def extra_repr(self) -> str:
        return f"pos_weight={None if self.pos_weight is None else self.pos_weight.item()}"


class CrossEntropyLoss(nn.Module):
    """Listwise softmax cross-entropy over [positive, negative_1..k] logits, target the positive.

    Defaults (identity, scale 1): plain softmax cross-entropy on the logits, as ST's cross-encoder
    CrossEntropyLoss applied to the k + 1 candidate logits with class 0. With
    activation="sigmoid", scale=10 it is ST's cross-encoder MultipleNegativesRankingLoss scoring
    restricted to the explicit negatives (ST also scores other rows' candidates, which needs
    model calls a loss here does not make).
    """

    spec: ClassVar[LossSpec] = LossSpec(model="cross", min_columns=3, max_columns=None, label="none")
    min_candidates: ClassVar[int] = 2

    def __init__(self, scale: float = 1.0, activation: Literal["identity", "sigmoid"] = "identity") -> None:
        super().__init__()
        if activation not in ("identity", "sigmoid"):
            raise ValueError(f"activation={activation!r} is unknown: use identity or sigmoid")
        self.scale = scale
        self.activation = activation

    def forward(self, outputs: list[Tensor], labels: Tensor | None = None) -> Tensor:
        logits = _stack(outputs, self, self.min_candidates)
        if self.activation == "sigmoid":
            logits = torch.sigmoid(logits)
        logits = logits * self.scale
        return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))

    def extra_repr(self) -> str:
        return f"scale={self.scale}, activation={self.activation!r}"


class MultipleNegativesRankingLoss(CrossEntropyLoss):
    """ST's cross-encoder MultipleNegativesRankingLoss: softmax cross-entropy of scale * sigmoid(logit)
    over the query's positive, its hard negatives and `num_negatives` candidates of other rows.

    The other rows' candidates are paired with the query by the collate step (`spec.pairs_in_batch`),
    drawn as ST draws them, and arrive as extra candidate columns after the explicit ones.
    num_negatives: in-batch candidates per query (None: all of them).
    """

    spec: ClassVar[LossSpec] = LossSpec(model="cross", min_columns=2, max_columns=None, label="none",
                                        pairs_in_batch=True)
    min_candidates: ClassVar[int] = 1

    def __init__(self, num_negatives: int | None = 4, scale: float = 10.0,
                 activation: Literal["identity", "sigmoid"] = "sigmoid") -> None:
        super().__init__(scale=scale, activation=activation)
        if num_negatives is not None and num_negatives < 1:
            raise ValueError(f"loss.num_negatives must be >= 1 or null (all in-batch candidates), got {num_negatives}")
        self.num_negatives = num_negatives

    def run_needs(self) -> RunNeeds:
        return RunNeeds(in_batch_candidates=self.num_negatives)

    def extra_repr(self) -> str:
        return f"num_negatives={self.num_negatives}, {super().extra_repr()}"


class MSELoss(nn.Module):
    """ST's cross-encoder MSELoss, pointwise: MSE between each candidate column's logit and its
    teacher score, averaged over rows and candidate columns.

    labels: teacher scores [B, C], one per candidate column ([B] allowed when C = 1).
    """

    spec: ClassVar[LossSpec] = LossSpec(model="cross", min_columns=2, max_columns=None, label="scores")

    def forward(self, outputs: list[Tensor], labels: Tensor | None) -> Tensor:
        logits = _stack(outputs, self, 1)
        if labels is None:
            raise ValueError("MSELoss needs teacher scores, but the batch has no labels")
        if labels.dim() == 1 and logits.size(1) == 1:
            labels = labels.unsqueeze(1)
        if labels.shape != logits.shape:
            raise ValueError(f"MSELoss expects teacher scores of shape {tuple(logits.shape)} (one per candidate "
                             f"column), got {tuple(labels.shape)}")
        return F.mse_loss(logits, labels.detach())  # in the promoted dtype (bf16 logits: float32)


class MarginMSELoss(nn.Module):
    """ST's cross-encoder MarginMSELoss: MSE between the logit margins pos - neg_i and the
    teacher margins.

    labels: teacher scores [B, 1 + k] (pos, neg_1..neg_k), or margins [B, k] or [B] (k = 1).
    """

    spec: ClassVar[LossSpec] = LossSpec(model="cross", min_columns=3, max_columns=None, label="scores")

    def forward(self, outputs: list[Tensor], labels: Tensor | None) -> Tensor:
        logits = _stack(outputs, self, 2)
        margins = logits[:, :1] - logits[:, 1:]
        target = margin_targets(labels, len(logits), margins.size(1), type(self).__name__)
        return F.mse_loss(margins, target)
