"""Token embeddings [B, T, D] -> one sentence embedding [B, D], as sentence-transformers' Pooling module does."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Pooling = Literal["mean", "cls", "max", "lasttoken", "weightedmean"]
POOLINGS = ("mean", "cls", "max", "lasttoken", "weightedmean")


def pool(token_embeddings: Tensor, attention_mask: Tensor, mode: Pooling) -> Tensor:
    """Pool [B, T, D] token embeddings into [B, D] sentence embeddings (right or left padded).

    cls: the first token (right padding); mean / max over the real tokens; lasttoken: the last real token
    (decoders, whose last token has read the whole text); weightedmean: the mean weighted by position 1, 2, ...
    from each text's first token (SGPT), so later tokens, which have read more, count more.
    """
    if mode == "cls":
        return token_embeddings[:, 0]
    if mode == "lasttoken":
        last = attention_mask.shape[1] - 1 - attention_mask.flip(1).to(torch.int32).argmax(1)
        return token_embeddings[torch.arange(len(last), device=last.device), last]
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    if mode == "mean":
        return (token_embeddings * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    if mode == "max":
        return token_embeddings.masked_fill(mask == 0, torch.finfo(token_embeddings.dtype).min).max(1).values
    if mode == "weightedmean":
        left_pad = attention_mask.to(torch.int32).argmax(1, keepdim=True)
        positions = torch.arange(1, attention_mask.shape[1] + 1, device=mask.device).unsqueeze(0) - left_pad
        weights = mask * positions.unsqueeze(-1).to(mask.dtype)
        return (token_embeddings * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    raise ValueError(f"model.pooling={mode!r} is unknown: use one of {', '.join(POOLINGS)}")
