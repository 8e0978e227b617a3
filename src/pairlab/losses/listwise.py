"""Learning-to-rank losses over each query's candidate list: LambdaLoss, RankNet, ListNet, ListMLE, PListMLE,
and listwise distillation (KL divergence from a teacher's scores).

A row is one query with its candidate columns (1 positive + mined negatives, or graded candidates): the
model's logits [B] per candidate column form a list [B, C]. Labels are graded relevance per candidate
[B, C] (0/1, grades or teacher scores), or none: then the first candidate is the relevant one (1, the
others 0). A candidate labelled -inf is padding (a query with fewer candidates than the batch's
longest list): it takes no part in the loss and gets no gradient, as in sentence-transformers (ST), where
the lists vary in length.

The math is ST's cross-encoder loss of the same name (`sentence_transformers.cross_encoder.losses`),
operation for operation, so its recommended settings carry over.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pairlab.losses.functional import pick
from pairlab.losses.spec import LossSpec

Activation = Literal["identity", "sigmoid"]
ACTIVATIONS = dict.fromkeys(("identity", "sigmoid"))
REDUCTION_LOGS = dict.fromkeys(("binary", "natural"))
Weighting = Literal["ndcg_loss2pp", "ndcg_loss2", "ndcg_loss1", "lambdarank", "none"]
_LIST = LossSpec(model="cross", min_columns=3, max_columns=None, label="list")
PADDED_LOGIT = -1e16  # what ST places at padded positions before sorting (LambdaLoss, ListNet)


def ranking_lists(outputs: list[Tensor], labels: Tensor | None, loss: str) -> tuple[Tensor, Tensor, Tensor]:
    """(logits [B, C], labels [B, C], valid [B, C]) in float32 or wider; padded logits set to -1e16."""
    if len(outputs) < 2:
        raise ValueError(f"{loss} ranks a list: it needs at least 2 candidate columns, got {len(outputs)}")
    if any(o.dim() != 1 for o in outputs):
        raise ValueError(f"{loss} expects one score [B] per candidate column, got shapes "
                         f"{[tuple(o.shape) for o in outputs]}")
    logits = torch.stack(outputs, dim=1)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    if labels is None:
        labels = torch.zeros_like(logits)
        labels[:, 0] = 1.0
    elif labels.shape != logits.shape:
        raise ValueError(f"{loss} expects labels of shape {tuple(logits.shape)} (one per candidate column; -inf "
                         f"marks padding), got {tuple(labels.shape)}")
    labels = labels.detach().to(logits.dtype)
    valid = labels > float("-inf")
    if not valid.any(dim=1).all():
        raise ValueError(f"{loss}: a row has no candidates (every label is -inf)")
    return torch.where(valid, logits, PADDED_LOGIT), labels, valid


# ---- LambdaLoss weighting schemes: (gain [B, C], discount [1, C]) -> pair weights -----------------------
def _ndcg_loss1(gain: Tensor, discount: Tensor) -> Tensor:
    return (gain / discount)[:, :, None]


def _ndcg_loss2(gain: Tensor, discount: Tensor) -> Tensor:
    positions = torch.arange(1, gain.shape[1] + 1, device=gain.device)
    delta = torch.abs(positions[:, None] - positions[None, :])
    deltas = torch.abs(discount[0, delta - 1].abs().pow(-1.0) - discount[0, delta].abs().pow(-1.0))
    deltas.diagonal().zero_()
    return deltas[None, :, :] * torch.abs(gain[:, :, None] - gain[:, None, :])


def _lambdarank(gain: Tensor, discount: Tensor) -> Tensor:
    return (torch.abs(discount[:, :, None].pow(-1.0) - discount[:, None, :].pow(-1.0))
            * torch.abs(gain[:, :, None] - gain[:, None, :]))


class LambdaLoss(nn.Module):
    """ST's LambdaLoss (Wang et al. 2018): pairwise logistic losses between candidates ordered by the
    model, each pair weighted by how much swapping it changes NDCG (`weighting`).

    weighting: ndcg_loss2pp (NDCG-Loss2++, `mu` * NDCG-Loss2 + LambdaRank; the default and the paper's
        best), ndcg_loss2, ndcg_loss1, lambdarank, or none (RankNet).
    k: only pairs with a candidate in the model's top k count (NDCG@k); None: every pair.
    sigma: slope of the pairwise sigmoid. reduction_log: binary (log2) or natural.
    activation: identity or sigmoid, applied to the logits first.
    """

    spec: ClassVar[LossSpec] = _LIST

    def __init__(self, weighting: Weighting = "ndcg_loss2pp", mu: float = 10.0, k: int | None = None,
                 sigma: float = 1.0, eps: float = 1e-10, reduction_log: Literal["binary", "natural"] = "binary",
                 activation: Activation = "identity") -> None:
        super().__init__()
        schemes = {"ndcg_loss2pp": self._ndcg_loss2pp, "ndcg_loss2": _ndcg_loss2, "ndcg_loss1": _ndcg_loss1,
                   "lambdarank": _lambdarank, "none": None}
        self.scheme = pick(schemes, weighting, "loss.weighting")
        pick(REDUCTION_LOGS, reduction_log, "loss.reduction_log")
        pick(ACTIVATIONS, activation, "loss.activation")
        if k is not None and k < 1:
            raise ValueError(f"loss.k must be >= 1 or null, got {k}")
        self.weighting, self.mu, self.k, self.sigma, self.eps = weighting, mu, k, sigma, eps
        self.reduction_log, self.activation = reduction_log, activation

    def _ndcg_loss2pp(self, gain: Tensor, discount: Tensor) -> Tensor:
        return self.mu * _ndcg_loss2(gain, discount) + _lambdarank(gain, discount)

    def forward(self, outputs: list[Tensor], labels: Tensor | None) -> Tensor:
        logits, labels, valid = ranking_lists(outputs, labels, type(self).__name__)
        if self.activation == "sigmoid":
            logits = torch.where(valid, torch.sigmoid(logits), PADDED_LOGIT)
        size = logits.shape[1]
        logits_sorted, by_prediction = logits.sort(descending=True, dim=-1)
        ideal = labels.sort(descending=True, dim=-1).values.clamp(min=0.0)
        true_by_prediction = labels.gather(1, by_prediction)
        true_diffs = true_by_prediction[:, :, None] - true_by_prediction[:, None, :]
        pairs = torch.isfinite(true_diffs)
        if self.weighting != "ndcg_loss1":
            pairs = pairs & (true_diffs > 0)
        k = self.k or size
        top_k = torch.zeros(size, size, dtype=torch.bool, device=logits.device)
        top_k[:k, :] = True
        top_k[:, :k] = True

        true_by_prediction = true_by_prediction.clamp(min=0.0)
        discount = torch.log2(1.0 + torch.arange(1, size + 1, device=logits.device, dtype=logits.dtype))[None, :]
        max_dcg = ((torch.pow(2, ideal) - 1) / discount)[:, :k].sum(dim=-1).clamp(min=self.eps)
        gain = (torch.pow(2, true_by_prediction) - 1) / max_dcg[:, None]
        weights = 1.0 if self.scheme is None else self.scheme(gain, discount)

        diffs = (logits_sorted[:, :, None] - logits_sorted[:, None, :]).clamp(min=-1e8, max=1e8)
        diffs = diffs.masked_fill(torch.isnan(diffs), 0.0)
        losses = weights * F.logsigmoid(self.sigma * diffs)
        if self.reduction_log == "binary":
            losses = losses / math.log(2)
        kept = losses[pairs & top_k]
        return -kept.sum() / max(kept.numel(), 1)

    def extra_repr(self) -> str:
        return (f"weighting={self.weighting!r}, mu={self.mu}, k={self.k}, sigma={self.sigma}, "
                f"reduction_log={self.reduction_log!r}, activation={self.activation!r}")


class RankNetLoss(LambdaLoss):
    """ST's RankNetLoss (Burges et al. 2005): LambdaLoss without pair weights, i.e. the mean pairwise
    logistic loss over candidate pairs with different labels."""

    def __init__(self, k: int | None = None, sigma: float = 1.0, eps: float = 1e-10,
                 reduction_log: Literal["binary", "natural"] = "binary",
                 activation: Activation = "identity") -> None:
        super().__init__(weighting="none", k=k, sigma=sigma, eps=eps, reduction_log=reduction_log,
                         activation=activation)


class ListNetLoss(nn.Module):
    """ST's ListNetLoss (Cao et al. 2007): cross-entropy between the softmax of the labels and the
    softmax of the logits over each query's list."""

    spec: ClassVar[LossSpec] = _LIST

    def __init__(self, activation: Activation = "identity") -> None:
        super().__init__()
        pick(ACTIVATIONS, activation, "loss.activation")
        self.activation = activation

    def forward(self, outputs: list[Tensor], labels: Tensor | None) -> Tensor:
        logits, labels, valid = ranking_lists(outputs, labels, type(self).__name__)
        if self.activation == "sigmoid":
            logits = torch.where(valid, torch.sigmoid(logits), PADDED_LOGIT)
        return F.cross_entropy(logits, labels.softmax(dim=1))

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}"


class ListwiseKLDivLoss(nn.Module):
    """Listwise distillation for cross-encoders (`loss=ce_kl_div`): KL divergence (batch mean) from the softmax of
    the teacher's scores over each query's candidates to the softmax of the model's logits, both divided by
    `temperature`, times its square. The bi-encoders' DistillKLDivLoss on logits; equal to ListNet less the
    teacher distribution's entropy at temperature 1 (so its gradients are ListNet's). It reads teacher scores only:
    data without them fails at compose time."""

    spec: ClassVar[LossSpec] = LossSpec(model="cross", min_columns=3, max_columns=None, label="scores")

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"loss.temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, outputs: list[Tensor], labels: Tensor | None) -> Tensor:
        logits, labels, _ = ranking_lists(outputs, labels, type(self).__name__)
        teacher = torch.softmax(labels / self.temperature, dim=1)
        student = torch.log_softmax(logits / self.temperature, dim=1)
        kl = (torch.xlogy(teacher, teacher) - teacher * student).sum(dim=1).mean()  # padding: teacher 0, no term
        return kl * self.temperature ** 2

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


class PListMLELoss(nn.Module):
    """ST's PListMLELoss (Lan et al. 2014): the Plackett-Luce negative log-likelihood of the list's
    order, each position weighted by 2^(n - rank) - 1 (normalized per list); `weighted=False` is ListMLE.

    respect_input_order: the candidate columns are already in relevance order (true: the positive first,
    as mined data comes); false: order them by label first.
    """

    spec: ClassVar[LossSpec] = _LIST
    eps: ClassVar[float] = 1e-10

    def __init__(self, respect_input_order: bool = True, weighted: bool = True,
                 activation: Activation = "identity") -> None:
        super().__init__()
        pick(ACTIVATIONS, activation, "loss.activation")
        self.respect_input_order, self.weighted, self.activation = respect_input_order, weighted, activation

    def forward(self, outputs: list[Tensor], labels: Tensor | None) -> Tensor:
        logits, labels, valid = ranking_lists(outputs, labels, type(self).__name__)
        if self.activation == "sigmoid":
            logits = torch.sigmoid(logits)
        logits = torch.where(valid, logits, 1e-16)  # ST's padding value here
        if not self.respect_input_order:
            order = labels.sort(descending=True, dim=1).indices
            logits, valid = logits.gather(1, order), valid.gather(1, order)
        scores = logits.masked_fill(~valid, torch.finfo(logits.dtype).min)
        log_normalizers = torch.flip(torch.logcumsumexp(torch.flip(scores, [1]), dim=1), [1])
        log_probs = logits - log_normalizers
        if self.weighted:
            log_probs = log_probs * self.position_weights(valid, logits.dtype)
        per_query = -log_probs.masked_fill(~valid, 0.0).sum(dim=1)
        return per_query.mean()

    def position_weights(self, valid: Tensor, dtype: torch.dtype) -> Tensor:
        """2^(n - rank) - 1 at each list's valid positions, rescaled for lists over 127 long, normalized to sum 1."""
        n = valid.sum(dim=1, keepdim=True).to(dtype)
        ranks = torch.arange(1, valid.size(1) + 1, device=valid.device, dtype=dtype).expand_as(valid)
        scale = (n - 127).clamp_min(0)
        weights = (torch.pow(2.0, n - ranks - scale) - torch.pow(2.0, -scale)) * valid
        return weights / (weights.sum(dim=1, keepdim=True) + self.eps)

    def extra_repr(self) -> str:
        return (f"respect_input_order={self.respect_input_order}, weighted={self.weighted}, "
                f"activation={self.activation!r}")


class ListMLELoss(PListMLELoss):
    """ST's ListMLELoss (Xia et al. 2008): PListMLE without position weights."""

    def __init__(self, respect_input_order: bool = True, activation: Activation = "identity") -> None:
        super().__init__(respect_input_order=respect_input_order, weighted=False, activation=activation)
