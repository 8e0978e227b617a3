"""Retrieval with token vectors (ColBERT): exact MaxSim of every query against every document, the corpus
encoded and scored a window at a time with a running top-k, so memory stays flat in the corpus size."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import torch
from torch import Tensor
from tqdm.auto import tqdm

from pairlab.evaluation.dense import release_freed_memory
from pairlab.evaluation.retrieval import exact_search, merge_top_k
from pairlab.protocols import Encoder


@torch.no_grad()
def maxsim_search(encoder: Encoder, queries: Tensor, texts: Iterable[str], top_k: int, batch_size: int = 64,
                  window: int = 1024, total: int | None = None) -> tuple[Tensor, Tensor]:
    """Each query's (`queries` [Q, S, D] token vectors) top-k documents of `texts` by exact MaxSim: (scores,
    indices) [Q, min(k, n)], best first, ties by the lower document index."""
    stream = iter(texts)
    best, start = None, 0
    with tqdm(total=total, desc="score corpus", unit="text", disable=None) as bar:
        while chunk := list(islice(stream, window)):
            scores, indices = exact_search(queries, encoder.encode(chunk, batch_size=batch_size), top_k,
                                           similarity="maxsim")
            best = merge_top_k(best, scores, indices + start, top_k)
            start += len(chunk)
            bar.update(len(chunk))
            release_freed_memory()
    if best is None:
        raise ValueError("no texts to score")
    return best
