"""Evaluation under DDP: every rank encodes a shard of the texts, then all ranks hold all outputs.

Evaluators call `encoder.encode(texts)` / `encoder.score(queries, passages)`; `ShardedEncoder` gives
them that interface while each rank runs the model on every world_size-th item only (strided, so the
ranks see similar lengths) and an all-gather puts the pieces back in input order. The gathered tensor
is bitwise the same on every rank, so metrics computed from it agree and checkpoint monitors match.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist
from torch import Tensor

from pairlab.protocols import Encoder, EncoderView


class ShardedEncoder(EncoderView):
    """An `Encoder` whose `encode` / `score` split the work across the ranks of the default process group."""

    def __init__(self, encoder: Encoder, rank: int, world_size: int, device: torch.device) -> None:
        super().__init__(encoder)
        self.rank, self.world_size = rank, world_size
        self.device = device  # where collectives run: NCCL gathers CUDA tensors, gloo CPU ones

    def encode(self, texts: list[str], batch_size: int = 64, prompt_name: str | None = None) -> Tensor:
        return self._sharded(len(texts), lambda rows: self.encoder.encode([texts[i] for i in rows], batch_size,
                                                                          prompt_name=prompt_name))

    def score(self, queries: list[str], passages: list[str], batch_size: int = 64) -> Tensor:
        return self._sharded(len(queries), lambda rows: self.encoder.score(
            [queries[i] for i in rows], [passages[i] for i in rows], batch_size))

    def _sharded(self, total: int, run: Callable[[Sequence[int]], Tensor]) -> Tensor:
        rows = list(range(self.rank, total, self.world_size))
        width = -(-total // self.world_size)  # the largest shard: every rank runs as many rows (a sharded model
        padded = run(rows + rows[-1:] * (width - len(rows)) if total else rows)  # needs the same forward calls)
        mine = padded[:len(rows)]
        parts = [torch.empty_like(padded, device=self.device) for _ in range(self.world_size)]
        dist.all_gather(parts, padded.to(self.device))
        out = mine.new_empty(total, *mine.shape[1:])
        for rank, part in enumerate(parts):
            out[rank::self.world_size] = part[:len(range(rank, total, self.world_size))].cpu()
        return out
