"""MaxSim (late interaction, ColBERT): how token vectors score, shared by the losses and the evaluators."""

from __future__ import annotations

import torch
from torch import Tensor


def maxsim(a: Tensor, b: Tensor) -> Tensor:
    """[N, S, D] x [M, T, D] token vectors -> [N, M] MaxSim (ColBERT, ST `util.maxsim`): for each token of a, its
    largest dot product with a token of b, summed over a's tokens. All-zero vectors are tokens that do not
    score (padding, skipped punctuation): b's are never a maximum, a's add 0."""
    scores = torch.einsum("ash,bth->abst", a, b)
    scores = scores.masked_fill(~(b != 0).any(-1)[None, :, None, :], torch.finfo(scores.dtype).min)
    return (scores.amax(-1) * (a != 0).any(-1)[:, None, :].to(scores.dtype)).sum(-1)


def pairwise_maxsim(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise MaxSim [B] of [B, S, D] and [B, T, D] token vectors (ST `util.maxsim_pairwise`)."""
    scores = torch.einsum("bsh,bth->bst", a, b)
    scores = scores.masked_fill(~(b != 0).any(-1)[:, None, :], torch.finfo(scores.dtype).min)
    return (scores.amax(-1) * (a != 0).any(-1).to(scores.dtype)).sum(-1)


@torch.no_grad()
def maxsim_blocks(queries: Tensor, documents: Tensor, block: int = 256) -> Tensor:
    """`maxsim` [Q, N] computed a block of documents at a time (the [Q, block, S, T] products bounded)."""
    return torch.cat([maxsim(queries, documents[start:start + block]) for start in range(0, len(documents), block)],
                     dim=1)
