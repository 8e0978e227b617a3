"""Reranking evaluation: score each query's candidate passages with the model, then IR metrics.

Cross-encoders score every (query, passage) pair; bi-encoders use the cosine similarity of the
query and passage embeddings. The run that was scored is kept in `last_run` (and returned by
`rerank`) for callers that save it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F

from pairlab.evaluation.retrieval import ir_metrics
from pairlab.protocols import Encoder, for_role, similarity_for
from pairlab.scoring import pairwise_maxsim


class RerankEvaluator:
    """Reranks `candidates` (qid -> [(pid, passage text)]) of `queries` (qid -> text), judged by `qrels`.

    Metrics are `pairlab.evaluation.retrieval.ir_metrics` at `k_values` (mrr, ndcg, recall, map,
    precision), averaged over the candidate queries that have a relevant passage in `qrels`.
    """

    def __init__(self, queries: Mapping[str, str], candidates: Mapping[str, Sequence[tuple[str, str]]],
                 qrels: Mapping[str, Mapping[str, int]], batch_size: int = 64,
                 k_values: Iterable[int] = (10, 100), measures: Iterable[str] = ()) -> None:
        missing = [qid for qid in candidates if qid not in queries]
        if missing:
            raise ValueError(f"{len(missing)} candidate queries have no query text (first: qid {missing[0]})")
        self.candidates = {qid: list(cands) for qid, cands in candidates.items() if cands}
        self.queries = {qid: queries[qid] for qid in self.candidates}
        self.qrels = {qid: dict(qrels[qid]) for qid in self.candidates if qid in qrels}
        if not any(rel > 0 for judged in self.qrels.values() for rel in judged.values()):
            raise ValueError("no candidate query has a relevant passage in the qrels: check that the run/candidates "
                             "and the qrels come from the same query set")
        self.batch_size = batch_size
        self.k_values = tuple(k_values)
        self.measures = tuple(measures)  # more ir-measures names (`nDCG@20`), reported as given
        self.last_run: dict[str, dict[str, float]] | None = None

    @torch.no_grad()
    def rerank(self, encoder: Encoder) -> dict[str, dict[str, float]]:
        """The run {qid: {pid: model score}} over every candidate."""
        pairs = [(qid, pid, text) for qid, cands in self.candidates.items() for pid, text in cands]
        if encoder.kind == "cross":
            scores = encoder.score([self.queries[q] for q, _, _ in pairs], [t for _, _, t in pairs],
                                   batch_size=self.batch_size)
        elif encoder.kind == "bi":
            qids = list(self.queries)
            texts = sorted({t for _, _, t in pairs})
            row = {t: i for i, t in enumerate(texts)}
            q_emb = for_role(encoder, "query").encode([self.queries[q] for q in qids], batch_size=self.batch_size)
            p_emb = for_role(encoder, "document").encode(texts, batch_size=self.batch_size)
            if similarity_for(encoder) == "cos":
                q_emb, p_emb = F.normalize(q_emb.float(), dim=-1), F.normalize(p_emb.float(), dim=-1)
            q_index = {q: i for i, q in enumerate(qids)}
            q_rows, p_rows = q_emb[[q_index[q] for q, _, _ in pairs]], p_emb[[row[t] for _, _, t in pairs]]
            scores = (pairwise_maxsim(q_rows, p_rows) if similarity_for(encoder) == "maxsim"
                      else (q_rows * p_rows).sum(-1))
        else:
            raise ValueError(f"encoder.kind must be 'bi' or 'cross', got {encoder.kind!r}")
        run: dict[str, dict[str, float]] = {}
        for (qid, pid, _), score in zip(pairs, scores.float().cpu().tolist(), strict=True):
            run.setdefault(qid, {})[pid] = score
        return run

    def __call__(self, encoder: Encoder) -> dict[str, float]:
        self.last_run = self.rerank(encoder)
        return ir_metrics(self.last_run, self.qrels, self.k_values, self.measures)
