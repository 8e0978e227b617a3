"""Corpus retrieval evaluators from files, NanoBEIR-style: a seeded sample of judged queries, the documents
judged for them, and seeded distractors from the rest of the corpus, small enough to validate on in training."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from pairlab.errors import DataError
from pairlab.evaluation.corpus import CorpusRetrievalEvaluator
from pairlab.evaluation.dense import Similarity
from pairlab.io.corpus import count_rows, iter_texts, read_texts
from pairlab.io.trec import read_qrels

TRAINING_KEYS = {"queries": "data.dev.queries", "qrels": "data.dev.qrels", "corpus": "data.dev.corpus"}


def sampled_corpus(corpus: Path, judged: set[str], distractors: int | None, seed: int,
                   hint: str | None = None) -> dict[str, str]:
    """The `judged` documents (all must be there) plus `distractors` other rows drawn uniformly (seeded) from
    the corpus file; all rows when `distractors` is None. Two streaming passes; only the kept texts are held."""
    if distractors is None:
        return dict(iter_texts(corpus, hint))
    rows = count_rows(corpus)
    drawn = set(np.random.default_rng(seed).choice(rows, size=min(distractors, rows), replace=False).tolist())
    kept = {doc_id: text for i, (doc_id, text) in enumerate(iter_texts(corpus, hint)) if i in drawn or doc_id in judged}
    missing = judged - set(kept)
    if missing:
        raise DataError(f"{corpus}: {len(missing)} relevant documents are not in the corpus, e.g. "
                        f"{sorted(missing)[0]!r} (check {hint or 'the corpus file'} against the qrels)")
    return kept


def corpus_evaluator(queries: Path, qrels: Path, corpus: Path, max_queries: int | None = 50,
                     distractors: int | None = 1000, seed: int = 0, similarity: Similarity = "cos",
                     batch_size: int = 64, k_values: Iterable[int] = (1, 10, 100),
                     keys: Mapping[str, str] = TRAINING_KEYS) -> CorpusRetrievalEvaluator:
    """Retrieval over a sampled corpus: `max_queries` judged queries (seeded sample; None: all) rank the
    documents judged for them plus `distractors` sampled others (None: the whole corpus)."""
    judgements = read_qrels(qrels, keys["qrels"])
    texts = read_texts(queries, keys["queries"])
    asked = [q for q in texts if any(r > 0 for r in judgements.get(q, {}).values())]
    if not asked:
        raise DataError(f"{queries}: no query has a relevant document in {qrels} (check {keys['qrels']})")
    if max_queries is not None and len(asked) > max_queries:
        picked = np.random.default_rng(seed).choice(len(asked), size=max_queries, replace=False)
        asked = [asked[i] for i in sorted(picked.tolist())]
    qrels_asked = {q: judgements[q] for q in asked}
    relevant = {doc for docs in qrels_asked.values() for doc, rel in docs.items() if rel > 0}
    documents = sampled_corpus(corpus, relevant, distractors, seed, keys["corpus"])
    return CorpusRetrievalEvaluator({q: texts[q] for q in asked}, documents, qrels_asked, tuple(k_values),
                                    similarity=similarity, batch_size=batch_size)
