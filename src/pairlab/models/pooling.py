"""Token embeddings [B, T, D] -> one sentence embedding [B, D], as sentence-transformers' Pooling module does."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Pooling = Literal["mean", "cls", "max"]
POOLINGS = ("mean", "cls", "max")


def pool(token_embeddings: Tensor, attention_mask: Tensor, mode: Pooling) -> Tensor:
    """Pool [B, T, D] token embeddings into [B, D] sentence embeddings."""
    if mode == "cls":
        return token_embeddings[:, 0]
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    if mode == "mean":
        return (token_embeddings * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    if mode == "max":
        return token_embeddings.masked_fill(mask == 0, torch.finfo(token_embeddings.dtype).min).max(1).values
    raise ValueError(f"model.pooling={mode!r} is unknown: use one of {', '.join(POOLINGS)}")
