"""Matryoshka representation learning (Kusupati et al. 2022) and the base of every bi-encoder loss.

Any bi-encoder loss also trains truncated embeddings when its config sets `matryoshka.dims`
(`loss.matryoshka.dims=[384,256,128,64]`): the loss takes the setting as a constructor argument, so the
loss config instantiates as written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class Matryoshka:
    """ST's MatryoshkaLoss: sum over `dims` of weight * loss(embeddings cut to their first d values and
    L2-normalized); labels that are embeddings of the model's size (embedding distillation) are cut alike,
    the loss's other inputs (a guide's embeddings) pass through unchanged.

    dims: the embedding sizes trained, largest first by convention (e.g. the model's full size, then halves).
    weights: one per size (all 1 when not given).
    """

    dims: tuple[int, ...]
    weights: tuple[float, ...]

    @classmethod
    def of(cls, settings: Mapping | None) -> Matryoshka | None:
        """The `loss.matryoshka` node ({dims, weights}); None when it names no dims."""
        if not settings or not settings.get("dims"):
            return None
        unknown = sorted(set(settings) - {"dims", "weights"})
        if unknown:
            raise ValueError(f"loss.matryoshka.{unknown[0]} is unknown: loss.matryoshka takes dims and weights")
        dims = tuple(int(d) for d in settings["dims"])
        if any(d < 1 for d in dims):
            raise ValueError(f"loss.matryoshka.dims must be positive sizes, got {list(dims)}")
        weights = settings.get("weights")
        weights = (1.0,) * len(dims) if weights is None else tuple(float(w) for w in weights)
        if len(weights) != len(dims):
            raise ValueError(f"loss.matryoshka.weights needs one weight per dim ({len(dims)}), got {len(weights)}")
        return cls(dims, weights)

    def __call__(self, loss: Callable[..., Tensor], outputs: list[Tensor], labels: Tensor | None,
                 *extra: object) -> Tensor:
        full = outputs[0].shape[-1]
        if max(self.dims) > full:
            raise ValueError(f"loss.matryoshka.dims {list(self.dims)} exceed the model's embedding size {full}")
        total = 0.0
        for dim, weight in zip(self.dims, self.weights, strict=True):
            cut = [F.normalize(out[..., :dim], p=2, dim=-1) for out in outputs]
            cut_labels = (labels[..., :dim] if labels is not None and labels.dim() in (2, 3)
                          and labels.shape[-1] == full else labels)
            total = total + weight * loss(cut, cut_labels, *extra)
        return total


class EmbeddingLoss(nn.Module):
    """Base of the bi-encoder losses: a subclass's `forward(outputs, labels, *extra)` is its math on full
    embeddings; calling the loss applies it at every Matryoshka size when `matryoshka` names dims."""

    def __init__(self, matryoshka: Mapping | None = None) -> None:
        super().__init__()
        self.matryoshka = Matryoshka.of(matryoshka)

    def __call__(self, outputs: list[Tensor], labels: Tensor | None = None, *extra: object) -> Tensor:
        if self.matryoshka is None:
            return super().__call__(outputs, labels, *extra)
        return self.matryoshka(super().__call__, outputs, labels, *extra)
