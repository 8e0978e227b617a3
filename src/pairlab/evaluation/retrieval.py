"""Retrieval metrics with TREC semantics, and exact (brute-force) dense search."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor


def _ranking(scores: dict[str, float]) -> list[str]:
    """Doc ids by score descending, ties broken by doc id descending (trec_eval's order)."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)]


def ir_metrics(
    run: dict[str, dict[str, float]],
    qrels: dict[str, dict[str, int]],
    k_values: Iterable[int] = (1, 3, 5, 10, 100),
) -> dict[str, float]:
    """Mean ``mrr@k``, ``ndcg@k``, ``recall@k``, ``map@k`` and ``precision@k`` for each k.

    ``run`` maps query id -> {doc id: score}; ``qrels`` maps query id -> {doc id: relevance}.

    Conventions:

    * A document is relevant when its relevance is > 0; documents absent from the qrels are not.
    * Ranking: score descending, ties broken by doc id descending (string order), as trec_eval does.
    * Averaging: over the qrels queries with at least one relevant document. Qrels queries without
      one are skipped (as sentence-transformers does); a qrels query missing from ``run`` scores 0
      on every metric (trec_eval would skip it); run queries absent from ``qrels`` are ignored.
    * ``ndcg@k`` is trec_eval's ``ndcg_cut``: gain = relevance (graded; relevance <= 0 gives 0),
      discount 1 / log2(rank + 1), ideal DCG from all judged documents sorted by relevance.
    * ``map@k``: sum of precision@rank over the relevant hits in the top k, divided by
      min(k, #relevant), as sentence-transformers' InformationRetrievalEvaluator does
      (trec_eval's ``map_cut`` divides by #relevant).
    * ``precision@k`` divides by k even when fewer than k documents were retrieved;
      ``recall@k`` = relevant hits in the top k / #relevant; ``mrr@k`` = 1 / rank of the first
      relevant hit in the top k, 0 if there is none.

    Raises ``ValueError`` when no qrels query has a relevant document.
    """
    ks = sorted(set(k_values))
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f"k_values must be positive integers, got {k_values!r}")
    totals = {f"{m}@{k}": 0.0 for m in ("mrr", "ndcg", "recall", "map", "precision") for k in ks}
    n_queries = 0
    for qid, judged in qrels.items():
        ideal_gains = sorted((rel for rel in judged.values() if rel > 0), reverse=True)
        if not ideal_gains:
            continue
        n_queries += 1
        n_relevant = len(ideal_gains)
        ranking = _ranking(run.get(qid, {}))[: ks[-1]]
        # prefix[r] = (rank of first hit, DCG, ideal DCG, hits, sum of precisions) over the top r.
        prefix = [(0, 0.0, 0.0, 0, 0.0)]
        first_hit, dcg, idcg, hits, sum_precisions = prefix[0]
        for rank in range(1, min(ks[-1], max(len(ranking), n_relevant)) + 1):
            discount = 1.0 / math.log2(rank + 1)
            if rank <= n_relevant:
                idcg += ideal_gains[rank - 1] * discount
            if rank <= len(ranking) and judged.get(ranking[rank - 1], 0) > 0:
                hits += 1
                sum_precisions += hits / rank
                dcg += judged[ranking[rank - 1]] * discount
                first_hit = first_hit or rank
            prefix.append((first_hit, dcg, idcg, hits, sum_precisions))
        for k in ks:
            first_hit, dcg, idcg, hits, sum_precisions = prefix[min(k, len(prefix) - 1)]
            totals[f"mrr@{k}"] += 1.0 / first_hit if first_hit else 0.0
            totals[f"ndcg@{k}"] += dcg / idcg
            totals[f"recall@{k}"] += hits / n_relevant
            totals[f"map@{k}"] += sum_precisions / min(k, n_relevant)
            totals[f"precision@{k}"] += hits / k
    if n_queries == 0:
        raise ValueError("qrels has no query with a relevant document")
    return {name: total / n_queries for name, total in totals.items()}


@torch.no_grad()
def exact_search(
    query_emb: Tensor,
    corpus_emb: Tensor,
    top_k: int,
    exclude: Tensor | None = None,
    chunk_size: int = 1024,
    similarity: Literal["cos", "dot"] = "cos",
) -> tuple[Tensor, Tensor]:
    """Exact top-k search of ``query_emb`` [Q, D] against ``corpus_emb`` [N, D].

    Returns ``(scores, indices)``, both [Q, k] on the query device, sorted by score descending with
    ties broken by the lower corpus index. Scores are computed in at least float32, ``chunk_size``
    queries at a time so the score matrix held is at most [chunk_size, N].
    ``exclude`` ([Q] corpus indices, -1 for none) removes one corpus entry per query, e.g. the query
    itself. k = min(top_k, N), or min(top_k, N - 1) when ``exclude`` is given.
    """
    if query_emb.ndim != 2 or corpus_emb.ndim != 2 or query_emb.shape[1] != corpus_emb.shape[1]:
        raise ValueError(f"expected [Q, D] and [N, D] embeddings, got {query_emb.shape}, {corpus_emb.shape}")
    if similarity not in ("cos", "dot"):
        raise ValueError(f"similarity must be 'cos' or 'dot', got {similarity!r}")
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
    for start in range(0, queries.shape[0], chunk_size):
        scores = queries[start : start + chunk_size] @ corpus.T
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
