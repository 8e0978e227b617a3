"""GradCache (Gao et al., 2021): the gradient of a big-batch embedding loss in the memory of one chunk.

1. Embed every column in chunks without a graph, remembering each chunk's RNG state.
2. Compute the loss on the full set of embeddings and its gradient w.r.t. them (cheap: no encoder graph).
3. Re-embed each chunk with a graph, replaying its RNG state so dropout draws the same masks, and
   back-propagate the cached embedding gradient through it. The parameter gradients add up to those
   of the plain big-batch step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
from torch import Tensor

Features = dict[str, Tensor]


def split_features(features: Features, size: int) -> list[Features]:
    """Chunks of a tokenized column, each trimmed to its own longest row."""
    chunks = []
    for start in range(0, len(features["input_ids"]), size):
        chunk = {k: v[start:start + size] for k, v in features.items()}
        length = int(chunk["attention_mask"].sum(1).max())
        chunks.append({k: v[:, :length] for k, v in chunk.items()})
    return chunks


class RngState:
    """The CPU (and, on a GPU, that device's) RNG state at one moment, replayable without disturbing
    the random streams outside the replay."""

    def __init__(self, device: torch.device) -> None:
        self.devices = [device] if device.type == "cuda" else []
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state(device) if self.devices else None

    @contextmanager
    def replay(self) -> Iterator[None]:
        with torch.random.fork_rng(devices=self.devices):
            torch.set_rng_state(self.cpu)
            if self.cuda is not None:
                torch.cuda.set_rng_state(self.cuda, self.devices[0])
            yield


def grad_cache_backward(encode: Callable[[Features], Tensor], columns: list[Features],
                        loss_of: Callable[[list[Tensor]], Tensor], chunk_size: int,
                        backward: Callable[[Tensor], None] = Tensor.backward,
                        no_sync: Callable[[], AbstractContextManager] = nullcontext) -> Tensor:
    """Accumulate into `.grad` the gradient of `loss_of(embeddings of every column)`; returns the loss.

    `backward` runs each chunk's backward (Lightning's `manual_backward` scales it under fp16); `no_sync`
    holds DDP's gradient all-reduce back until the last chunk.
    """
    chunks = [split_features(features, chunk_size) for features in columns]
    device = columns[0]["input_ids"].device
    states: list[list[RngState]] = []
    embeddings = []
    with torch.no_grad():
        for column in chunks:
            states.append([])
            parts = []
            for chunk in column:
                states[-1].append(RngState(device))
                parts.append(encode(chunk))
            embeddings.append(torch.cat(parts).detach().requires_grad_())
    loss = loss_of(embeddings)
    grads = torch.autograd.grad(loss, embeddings)

    pending = [(c, i) for c, column in enumerate(chunks) for i in range(len(column))]
    for n, (c, i) in enumerate(pending):
        with states[c][i].replay():
            emb = encode(chunks[c][i])
        surrogate = (emb * grads[c][i * chunk_size:i * chunk_size + len(emb)]).sum()
        with nullcontext() if n == len(pending) - 1 else no_sync():
            backward(surrogate)
    return loss.detach()
