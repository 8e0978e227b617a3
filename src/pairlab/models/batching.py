"""Inference in length-sorted batches: the rows of one batch have similar lengths, so little of it is padding."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn


@torch.inference_mode()
def in_length_order(model: nn.Module, rows: Sequence, lengths: Sequence[int], batch_size: int,
                    run: Callable[[list], dict[str, Tensor]],
                    output: Callable[[dict[str, Tensor]], Tensor] | None = None) -> Tensor | None:
    """`output(features)` (default: `model(features)`) of `run(batch)`'s tokenized features for batches of `rows`,
    longest first, in eval mode on the model's device; the results (dense or sparse) back in input order on the
    CPU, float32; None for no rows."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(rows)), key=lambda i: lengths[i], reverse=True)
    chunks = []
    for start in range(0, len(order), batch_size):
        features = {k: v.to(device) for k, v in run([rows[i] for i in order[start:start + batch_size]]).items()}
        chunks.append((output or model)(features).float().cpu())
    model.train(was_training)
    if not chunks:
        return None
    return torch.cat(chunks).index_select(0, torch.argsort(torch.tensor(order)))
