"""Sparse-retriever regularization (SPLADE, Formal et al. 2021): FLOPS, the expected cost of scoring a query
against a document through an inverted index, added to any embedding loss so term weights stay sparse."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pairlab.losses.spec import LossSpec, RunNeeds, run_needs


def flops(vectors: Tensor, threshold: int | None = None) -> Tensor:
    """ST's FlopsLoss: sum over the vocabulary of the squared mean weight over the batch ([B, V] -> scalar);
    with `threshold`, rows with at most that many non-zero weights count as zeros (still in the mean)."""
    if threshold is not None:
        vectors = vectors * ((vectors != 0).sum(-1, keepdim=True) > threshold).to(vectors.dtype)
    return vectors.mean(0).pow(2).sum()


class SpladeLoss(nn.Module):
    """ST's SpladeLoss: `loss` on the sparse vectors + document_weight * FLOPS(documents) + query_weight *
    FLOPS(queries). Queries are the first column, documents the others (`document_only`: all columns are
    documents and no query term, as inference-free models are trained). Both weights rise quadratically from 0
    over the first `warmup_ratio` of the run's steps (the SPLADE papers' schedule, as sentence-transformers'
    regularizer-weight scheduler), through `schedule(step, total)`, which the module calls each step.

    loss: the inner embedding loss (mnrl, margin_mse, kl_div, mse; `similarity: dot`, as sparse vectors score).
    query_weight / document_weight: the full FLOPS weights (null query_weight: no query term).
    """

    def __init__(self, loss: nn.Module, document_weight: float = 3e-5, query_weight: float | None = 5e-5,
                 warmup_ratio: float = 1 / 3, document_only: bool = False, document_threshold: int | None = None,
                 query_threshold: int | None = None) -> None:
        super().__init__()
        if getattr(loss.spec, "model", None) != "bi":
            raise ValueError("loss.loss must be an embedding (bi-encoder) loss, e.g. mnrl with similarity=dot")
        if not 0 <= warmup_ratio <= 1:
            raise ValueError(f"loss.warmup_ratio must be in 0..1, got {warmup_ratio}")
        self.loss = loss
        self.document_weight, self.query_weight = document_weight, None if document_only else query_weight
        self.warmup_ratio, self.document_only = warmup_ratio, document_only
        self.document_threshold, self.query_threshold = document_threshold, query_threshold
        self.scale = 1.0  # the warm-up factor; 1 outside a run (evaluation, parity tests)
        self.stats: dict[str, Tensor] = {}

    @property
    def spec(self) -> LossSpec:
        return self.loss.spec

    def run_needs(self) -> RunNeeds:
        return run_needs(self.loss)

    def schedule(self, step: int, total_steps: int) -> None:
        """The regularizer weights' warm-up factor at optimizer step `step` of `total_steps`."""
        warmup = max(1, int(total_steps * self.warmup_ratio))
        self.scale = min(1.0, step / warmup) ** 2 if self.warmup_ratio > 0 else 1.0

    def forward(self, outputs: list[Tensor], labels: Tensor | None, *extra: object) -> Tensor:
        total = self.loss(outputs, labels, *extra)
        documents = outputs if self.document_only else outputs[1:]
        document_flops = flops(torch.cat(documents), self.document_threshold)
        total = total + self.scale * self.document_weight * document_flops
        self.stats = {"document_flops": document_flops.detach(),  # tensors: logging them waits for no device
                      "document_active_dims": (torch.cat(documents).detach() != 0).sum(-1).float().mean()}
        if self.query_weight is not None:
            query_flops = flops(outputs[0], self.query_threshold)
            total = total + self.scale * self.query_weight * query_flops
            self.stats["query_flops"] = query_flops.detach()
        self.stats["query_active_dims"] = (outputs[0].detach() != 0).sum(-1).float().mean()
        return total

    def extra_repr(self) -> str:
        return (f"document_weight={self.document_weight}, query_weight={self.query_weight}, "
                f"warmup_ratio={self.warmup_ratio}, document_only={self.document_only}")
