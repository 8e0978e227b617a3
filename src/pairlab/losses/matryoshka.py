"""Matryoshka representation learning (Kusupati et al. 2022): one bi-encoder loss applied to the leading
`dims` of every embedding, so truncated embeddings keep working; any bi-encoder loss can be wrapped
(`loss.matryoshka.dims=[384,256,128,64]`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from pairlab.losses.spec import LossSpec, RunNeeds, run_needs


class MatryoshkaLoss(nn.Module):
    """ST's MatryoshkaLoss: sum over `dims` of weight * loss(embeddings cut to their first d values and
    L2-normalized); labels that are embeddings of the model's size (embedding distillation) are cut alike,
    the wrapped loss's other inputs (a guide's embeddings) pass through unchanged.

    dims: the embedding sizes trained, largest first by convention (e.g. the model's full size, then halves).
    weights: one per size (None: all 1).
    """

    def __init__(self, loss: nn.Module, dims: Sequence[int], weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if loss.spec.model != "bi":
            raise ValueError("loss.matryoshka applies to bi-encoder (embedding) losses only")
        dims = [int(d) for d in dims]
        if not dims or any(d < 1 for d in dims):
            raise ValueError(f"loss.matryoshka.dims must be positive sizes, got {dims}")
        weights = [1.0] * len(dims) if weights is None else [float(w) for w in weights]
        if len(weights) != len(dims):
            raise ValueError(f"loss.matryoshka.weights needs one weight per dim ({len(dims)}), got {len(weights)}")
        self.loss, self.dims, self.weights = loss, dims, weights

    @property
    def spec(self) -> LossSpec:
        return self.loss.spec

    def run_needs(self) -> RunNeeds:
        return run_needs(self.loss)

    def forward(self, outputs: list[Tensor], labels: Tensor | None, *extra: object) -> Tensor:
        full = outputs[0].shape[-1]
        if max(self.dims) > full:
            raise ValueError(f"loss.matryoshka.dims {self.dims} exceed the model's embedding size {full}")
        total = 0.0
        for dim, weight in zip(self.dims, self.weights, strict=True):
            cut = [F.normalize(out[..., :dim], p=2, dim=-1) for out in outputs]
            cut_labels = (labels[..., :dim] if labels is not None and labels.dim() in (2, 3)
                          and labels.shape[-1] == full else labels)
            total = total + weight * self.loss(cut, cut_labels, *extra)
        return total

    def extra_repr(self) -> str:
        return f"dims={self.dims}, weights={self.weights}"
