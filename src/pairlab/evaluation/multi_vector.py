"""Retrieval with token vectors (ColBERT): exact MaxSim of every query against every document, the corpus
encoded and scored a window at a time with a running top-k, so memory stays flat in the corpus size."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import torch
from torch import Tensor
from tqdm.auto import tqdm

from pairlab.evaluation.dense import release_freed_memory
from pairlab.evaluation.retrieval import exact_search
from pairlab.protocols import Encoder


@torch.no_grad()
def maxsim_search(encoder: Encoder, queries: Tensor, texts: Iterable[str], top_k: int, batch_size: int = 64,
                  window: int = 1024, total: int | None = None) -> tuple[Tensor, Tensor]:
    """Each query's (`queries` [Q, S, D] token vectors) top-k documents of `texts` by exact MaxSim: (scores,
    indices) [Q, min(k, n)], best first, ties by the lower document index."""
    stream = iter(texts)
    best_scores = best_indices = None
    start = 0
    with tqdm(total=total, desc="score corpus", unit="text", disable=None) as bar:
        while chunk := list(islice(stream, window)):
            documents = encoder.encode(chunk, batch_size=batch_size)
            scores, indices = exact_search(queries, documents, top_k, similarity="maxsim")
            indices += start
            if best_scores is not None:  # earlier windows first: a stable sort keeps lower indices ahead on ties
                scores, order = torch.cat([best_scores, scores], 1).sort(dim=1, descending=True, stable=True)
                indices = torch.cat([best_indices, indices], 1).gather(1, order)
                scores, indices = scores[:, :top_k], indices[:, :top_k]
            best_scores, best_indices = scores, indices
            start += len(chunk)
            bar.update(len(chunk))
            release_freed_memory()
    if best_scores is None:
        raise ValueError("no texts to score")
    return best_scores, best_indices
