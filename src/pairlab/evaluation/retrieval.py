"""Retrieval metrics with TREC semantics, and exact (brute-force) dense search."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import ir_measures
import torch
import torch.nn.functional as F
from ir_measures import AP, RR, P, R, nDCG
from torch import Tensor

from pairlab.scoring import maxsim_blocks

TREC_EVAL = ir_measures.pytrec_eval  # trec_eval's own code, for every measure
CUT_MEASURES = {"ndcg": nDCG, "recall": R, "map": AP, "precision": P}
"""pairlab's names for trec_eval's ndcg_cut.k, recall.k, map_cut.k and P.k; `mrr@k` is recip_rank on the top k."""


def trec_ranking(scores: dict[str, float]) -> list[str]:
    """Doc ids in trec_eval's order: score descending, ties by doc id descending (string order)."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)]


def ir_metrics(
    run: dict[str, dict[str, float]],
    qrels: dict[str, dict[str, int]],
    k_values: Iterable[int] = (1, 3, 5, 10, 100),
    measures: Iterable[str] = (),
) -> dict[str, float]:
    """Mean ``mrr@k``, ``ndcg@k``, ``recall@k``, ``map@k`` and ``precision@k`` for each k, computed by
    trec_eval's own code (pytrec_eval through ir-measures), so every per-query number is trec_eval's.

    ``measures`` adds any measure by its ir-measures name (``nDCG@20``, ``RR@100``, ``R@1000``, ``AP@100``,
    ``Judged@10``), reported under that name and averaged the same way.

    ``run`` maps query id -> {doc id: score}; ``qrels`` maps query id -> {doc id: relevance}.
    trec_eval's conventions hold: relevant means relevance > 0; ranking by score descending, ties by doc id
    descending; ``ndcg@k`` = ``ndcg_cut.k`` (graded gains); ``map@k`` = ``map_cut.k`` (divided by all relevant
    documents); ``precision@k`` divides by k; ``mrr@k`` = reciprocal rank within the top k.

    Where pairlab differs from plain trec_eval, and why:

    * The mean is over the qrels queries with at least one relevant document; a query without one has no
      defined recall or nDCG (sentence-transformers skips it too).
    * A judged query missing from ``run`` counts 0 on every metric (trec_eval skips it unless run with ``-c``):
      a model that retrieves nothing for a query must not score better for it.
    * Run queries absent from ``qrels`` are ignored.

    Raises ``ValueError`` when no qrels query has a relevant document.
    """
    ks = sorted(set(k_values))
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f"k_values must be positive integers, got {k_values!r}")
    extra = {name: parse_measure(name) for name in measures}
    judged = {str(q): {str(d): int(r) for d, r in rels.items()} for q, rels in qrels.items()
              if any(r > 0 for r in rels.values())}
    if not judged:
        raise ValueError("qrels has no query with a relevant document")
    scored = {str(q): {str(d): float(s) for d, s in docs.items()} for q, docs in run.items()
              if str(q) in judged and docs}
    names = {str(measure @ k): f"{name}@{k}" for name, measure in CUT_MEASURES.items() for k in ks}
    totals = dict.fromkeys([f"mrr@{k}" for k in ks] + list(names.values()), 0.0)
    for metric in TREC_EVAL.iter_calc([measure @ k for measure in CUT_MEASURES.values() for k in ks], judged, scored):
        totals[names[str(metric.measure)]] += metric.value
    for k in ks:  # trec_eval's recip_rank has no cutoff: it runs on each query's top k
        top = {q: {d: docs[d] for d in trec_ranking(docs)[:k]} for q, docs in scored.items()}
        for metric in TREC_EVAL.iter_calc([RR], judged, top):
            totals[f"mrr@{k}"] += metric.value
    if extra:
        totals.update(dict.fromkeys(extra, 0.0))
        by_measure = {str(measure): name for name, measure in extra.items()}
        for metric in ir_measures.iter_calc(list(extra.values()), judged, scored):
            totals[by_measure[str(metric.measure)]] += metric.value
    return {name: total / len(judged) for name, total in totals.items()}


def parse_measure(name: str) -> ir_measures.Measure:
    """An ir-measures measure from its name (`nDCG@10`); ValueError naming the measure otherwise."""
    try:
        return ir_measures.parse_measure(name)
    except (NameError, ValueError, SyntaxError, TypeError) as e:
        raise ValueError(f"metric {name!r} is not an ir-measures measure ({e}); e.g. nDCG@10, RR@10, R@1000, "
                         "AP@100, P@5, Judged@10") from None


@torch.no_grad()
def exact_search(
    query_emb: Tensor,
    corpus_emb: Tensor,
    top_k: int,
    exclude: Tensor | None = None,
    chunk_size: int = 1024,
    similarity: Literal["cos", "dot", "maxsim"] = "cos",
) -> tuple[Tensor, Tensor]:
    """Exact top-k search of ``query_emb`` [Q, D] against ``corpus_emb`` [N, D] (with ``similarity="maxsim"``:
    token vectors [Q, S, D] and [N, T, D], scored by ``scoring.maxsim``).

    Returns ``(scores, indices)``, both [Q, k] on the query device, sorted by score descending with
    ties broken by the lower corpus index. Scores are computed in at least float32, ``chunk_size``
    queries at a time so the score matrix held is at most [chunk_size, N].
    ``exclude`` ([Q] corpus indices, -1 for none) removes one corpus entry per query, e.g. the query
    itself. k = min(top_k, N), or min(top_k, N - 1) when ``exclude`` is given.
    """
    rank = 3 if similarity == "maxsim" else 2
    if query_emb.ndim != rank or corpus_emb.ndim != rank or query_emb.shape[-1] != corpus_emb.shape[-1]:
        raise ValueError(f"expected {'[Q, S, D] and [N, T, D] token vectors' if rank == 3 else '[Q, D] and [N, D]'} "
                         f"embeddings, got {query_emb.shape}, {corpus_emb.shape}")
    if similarity not in ("cos", "dot", "maxsim"):
        raise ValueError(f"similarity must be 'cos', 'dot' or 'maxsim', got {similarity!r}")
    if top_k < 1 or chunk_size < 1:
        raise ValueError(f"top_k and chunk_size must be >= 1, got {top_k} and {chunk_size}")
    n_corpus = corpus_emb.shape[0]
    if exclude is not None:
        exclude = exclude.to(device=query_emb.device, dtype=torch.long)
        if exclude.shape != (query_emb.shape[0],):
            raise ValueError(f"exclude must have shape [{query_emb.shape[0]}], got {tuple(exclude.shape)}")
        if bool(((exclude < -1) | (exclude >= n_corpus)).any()):
            raise ValueError("exclude holds indices outside [-1, N)")
    k = min(top_k, n_corpus - (exclude is not None))
    if k < 1:
        raise ValueError("the corpus has no entry left to retrieve")
    dtype = torch.promote_types(query_emb.dtype, torch.float32)
    queries = query_emb.to(dtype)
    corpus = corpus_emb.to(device=query_emb.device, dtype=dtype)
    if similarity == "cos":
        queries, corpus = F.normalize(queries, dim=-1), F.normalize(corpus, dim=-1)
    all_scores, all_indices = [], []
    if similarity == "maxsim":
        chunk_size = min(chunk_size, 16)  # [chunk, block, S, T] products
    for start in range(0, queries.shape[0], chunk_size):
        chunk = queries[start : start + chunk_size]
        scores = maxsim_blocks(chunk, corpus) if similarity == "maxsim" else chunk @ corpus.T
        if exclude is not None:
            ex = exclude[start : start + chunk_size]
            rows = torch.nonzero(ex >= 0).squeeze(1)
            scores[rows, ex[rows]] = float("-inf")
        top_scores, top_indices = scores.topk(k, dim=1)
        # topk orders ties arbitrarily: re-rank rows with ties inside or at the edge of the top k.
        boundary = (scores >= top_scores[:, -1:]).sum(dim=1) > k
        tied = boundary | (top_scores[:, 1:] == top_scores[:, :-1]).any(dim=1)
        if bool(tied.any()):
            sorted_scores, order = scores[tied].sort(dim=1, descending=True, stable=True)
            top_scores[tied], top_indices[tied] = sorted_scores[:, :k], order[:, :k]
        all_scores.append(top_scores)
        all_indices.append(top_indices)
    if not all_scores:
        empty = queries.new_empty((0, k))
        return empty, empty.long()
    return torch.cat(all_scores), torch.cat(all_indices)


def merge_top_k(best: tuple[Tensor, Tensor] | None, scores: Tensor, indices: Tensor,
                top_k: int) -> tuple[Tensor, Tensor]:
    """A running top-k over corpus blocks: the best (scores, indices) so far merged with a later block's; a stable
    sort keeps the earlier block's (lower) indices ahead on ties."""
    if best is None:
        return scores, indices
    scores, order = torch.cat([best[0], scores], 1).sort(dim=1, descending=True, stable=True)
    indices = torch.cat([best[1], indices], 1).gather(1, order)
    return scores[:, :top_k], indices[:, :top_k]


def run_from_search(
    query_ids: Sequence[str], corpus_ids: Sequence[str], scores: Tensor, indices: Tensor
) -> dict[str, dict[str, float]]:
    """Turn ``exact_search`` output into a run {query id: {corpus id: score}} for ``ir_metrics``."""
    if scores.shape != indices.shape or scores.ndim != 2 or scores.shape[0] != len(query_ids):
        raise ValueError(
            f"expected scores and indices of shape [{len(query_ids)}, k], got {scores.shape}, {indices.shape}"
        )
    return {
        qid: {corpus_ids[i]: s for i, s in zip(row_idx, row_scores, strict=True)}
        for qid, row_idx, row_scores in zip(query_ids, indices.tolist(), scores.tolist(), strict=True)
    }
