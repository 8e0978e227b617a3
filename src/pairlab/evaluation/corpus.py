"""Retrieval from a corpus: a bi-encoder ranks every document for every query, optionally a
cross-encoder re-ranks each query's top documents, and the run is scored with `ir_metrics`.

`retrieve` works on a corpus file of any size (embeddings on disk, see `pairlab.evaluation.dense`): memory
grows with the run (queries x top_k), not with the corpus. `CorpusRetrievalEvaluator` holds a small corpus
in memory for validation during training.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from pairlab.evaluation.dense import EmbeddingFile, Similarity, faiss_search, search, write_embeddings
from pairlab.evaluation.multi_vector import maxsim_search
from pairlab.evaluation.retrieval import exact_search, ir_metrics, run_from_search
from pairlab.evaluation.sparse import SparseIndex
from pairlab.io.corpus import count_rows, iter_texts
from pairlab.protocols import Encoder, for_role, representation, similarity_for

Run = dict[str, dict[str, float]]


def corpus_embeddings(encoder: Encoder, corpus: Path, folder: Path, batch_size: int = 64,
                      hint: str | None = None) -> EmbeddingFile:
    """The corpus file's embeddings in `folder`, encoded unless a finished earlier encoding is there."""
    if EmbeddingFile.exists(folder):
        return EmbeddingFile(folder)
    texts = (text for _, text in iter_texts(corpus, hint))
    return write_embeddings(for_role(encoder, "document"), texts, folder, batch_size=batch_size,
                            total=count_rows(corpus))


def cache_key(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:24]


def ids_at(corpus: Path, indices: Iterable[int]) -> dict[int, str]:
    """{row index: document id} for the wanted rows, in one pass over the file."""
    wanted = set(indices)
    found: dict[int, str] = {}
    if not wanted:
        return found
    last = max(wanted)
    for i, (doc_id, _) in enumerate(iter_texts(corpus)):
        if i in wanted:
            found[i] = doc_id
        if i >= last:
            break
    return found


def retrieve(encoder: Encoder, queries: Mapping[str, str], corpus: Path, folder: Path, top_k: int = 1000,
             similarity: Similarity = "cos", index: Literal["exact", "faiss"] = "exact",
             faiss: Mapping | None = None, batch_size: int = 64,
             hint: str | None = None) -> tuple[Run, EmbeddingFile | None]:
    """Each query's top `top_k` corpus documents by embedding similarity: a run {qid: {doc id: score}}. A sparse
    encoder's documents go into a `SparseIndex` instead (exact dot products), a multi-vector encoder's are scored
    by exact MaxSim window by window (nothing cached on disk for either)."""
    if representation(encoder) == "sparse":
        sparse_index = SparseIndex.build(for_role(encoder, "document"), (text for _, text in iter_texts(corpus, hint)),
                                   batch_size=batch_size, total=count_rows(corpus))
        query_vectors = for_role(encoder, "query").encode(list(queries.values()), batch_size=batch_size)
        scores, indices = sparse_index.search(query_vectors, top_k)
        return run_for(queries, corpus, scores, indices), None
    if representation(encoder) == "multi":  # token vectors: exact MaxSim, a window of the corpus at a time
        query_vectors = for_role(encoder, "query").encode(list(queries.values()), batch_size=batch_size)
        scores, indices = maxsim_search(for_role(encoder, "document"), query_vectors,
                                        (text for _, text in iter_texts(corpus, hint)), top_k, batch_size=batch_size,
                                        total=count_rows(corpus))
        return run_for(queries, corpus, scores, indices), None
    embeddings = corpus_embeddings(encoder, corpus, folder, batch_size, hint)
    query_emb = for_role(encoder, "query").encode(list(queries.values()), batch_size=batch_size)
    if index == "exact":
        scores, indices = search(query_emb, embeddings, top_k, similarity)
    elif index == "faiss":
        scores, indices = faiss_search(query_emb, embeddings, top_k, similarity, **dict(faiss or {}))
    else:
        raise ValueError(f"index={index!r} is unknown: use exact or faiss")
    return run_for(queries, corpus, scores, indices), embeddings


def run_for(queries: Mapping[str, str], corpus: Path, scores: Tensor, indices: Tensor) -> Run:
    """{qid: {doc id: score}} from top-k rows of corpus row indices (-1: none)."""
    ids = ids_at(corpus, indices[indices >= 0].unique().tolist())
    return {qid: {ids[i]: s for i, s in zip(row_idx, row_scores, strict=True) if i >= 0}
            for qid, row_idx, row_scores in zip(queries, indices.tolist(), scores.tolist(), strict=True)}


def rerank(cross_encoder: Encoder, run: Run, queries: Mapping[str, str], corpus: Path, depth: int,
           batch_size: int = 64) -> Run:
    """Re-score each query's top `depth` documents of `run` with a cross-encoder; the rest are dropped."""
    top = {qid: sorted(docs, key=docs.get, reverse=True)[:depth] for qid, docs in run.items()}
    wanted = {doc for docs in top.values() for doc in docs}
    texts = {doc_id: text for doc_id, text in iter_texts(corpus) if doc_id in wanted}
    pairs = [(qid, doc) for qid, docs in top.items() for doc in docs]
    scores = cross_encoder.score([queries[q] for q, _ in pairs], [texts[d] for _, d in pairs],
                                 batch_size=batch_size).tolist()
    reranked: Run = {qid: {} for qid in top}
    for (qid, doc), score in zip(pairs, scores, strict=True):
        reranked[qid][doc] = score
    return reranked


class CorpusRetrievalEvaluator:
    """Validation by retrieval from a small in-memory corpus: every query ranks every document.

    Reports `ir_metrics` (mrr@10, ndcg@10, recall@k, map@100, ...) for `k_values`.
    """

    def __init__(self, queries: Mapping[str, str], corpus: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]],
                 k_values: tuple[int, ...] = (1, 10, 100), similarity: Similarity = "cos", batch_size: int = 64,
                 measures: tuple[str, ...] = ()) -> None:
        self.query_ids, self.queries = list(queries), list(queries.values())
        self.corpus_ids, self.corpus = list(corpus), list(corpus.values())
        self.qrels = {q: dict(docs) for q, docs in qrels.items()}
        self.k_values, self.similarity, self.batch_size, self.measures = k_values, similarity, batch_size, measures

    def __call__(self, encoder: Encoder) -> dict[str, float]:
        if encoder.kind != "bi":
            raise ValueError("corpus retrieval needs a bi-encoder (cross-encoders re-rank: use dev.run)")
        if representation(encoder) == "sparse":
            index = SparseIndex.build(for_role(encoder, "document"), self.corpus, batch_size=self.batch_size)
            queries = for_role(encoder, "query").encode(self.queries, batch_size=self.batch_size)
            scores, indices = index.search(queries, max(self.k_values))
            run = run_from_search(self.query_ids, self.corpus_ids, scores, indices)
            return ir_metrics(run, self.qrels, self.k_values, self.measures)
        corpus = for_role(encoder, "document").encode(self.corpus, batch_size=self.batch_size)
        queries = for_role(encoder, "query").encode(self.queries, batch_size=self.batch_size)
        with torch.no_grad():
            scores, indices = exact_search(queries, corpus, max(self.k_values),
                                           similarity=similarity_for(encoder, self.similarity))
        run = run_from_search(self.query_ids, self.corpus_ids, scores, indices)
        return ir_metrics(run, self.qrels, self.k_values, self.measures)
