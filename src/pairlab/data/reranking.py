"""Reranking evaluators from files: a TREC run + collection + queries, or a candidates jsonl, judged by qrels.

`keys` names the config key behind each file (`data.dev.run` in training, `eval.run` in eval.py), so a
missing or malformed file is reported under the key the user actually set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from pairlab.evaluation.rerank import RerankEvaluator
from pairlab.io.indexed import KeyedTsv
from pairlab.io.trec import as_int, read_candidates_jsonl, read_qrels, read_run

TRAINING_KEYS = {"run": "data.dev.run", "collection": "data.collection", "queries": "data.dev.queries",
                 "qrels": "data.dev.qrels", "candidates": "data.dev.candidates"}


def from_run(run: Path, collection: Path, queries: Path, qrels: Path, max_queries: int | None = None,
             depth: int | None = None, batch_size: int = 64, k_values: Iterable[int] = (10, 100),
             measures: Iterable[str] = (), keys: Mapping[str, str] = TRAINING_KEYS) -> RerankEvaluator:
    """Candidates from a TREC run, texts from the collection and queries files.

    `max_queries` keeps the first queries of the run that have a relevant passage (a dev slice);
    `depth` keeps each query's top candidates of the run.
    """
    judged = read_qrels(qrels, keys["qrels"])
    relevant = {qid for qid, rels in judged.items() if any(r > 0 for r in rels.values())}
    ranked = read_run(run, max_queries, depth, keep=relevant.__contains__, hint=keys["run"])
    passages = KeyedTsv(collection, keys["collection"], what="pid")
    query_texts = KeyedTsv(queries, keys["queries"], what="qid")

    def text(table: KeyedTsv, key: str, qid: str) -> str:
        where = f"{run} (query {qid})"
        return table.get(as_int(key, "id", where), where)

    candidates = {qid: [(pid, text(passages, pid, qid)) for pid, _ in cands] for qid, cands in ranked.items()}
    return RerankEvaluator({qid: text(query_texts, qid, qid) for qid in ranked}, candidates, judged,
                           batch_size=batch_size, k_values=k_values, measures=measures)


def from_jsonl(path: Path, qrels: Path, max_queries: int | None = None, depth: int | None = None,
               batch_size: int = 64, k_values: Iterable[int] = (10, 100), measures: Iterable[str] = (),
               keys: Mapping[str, str] = TRAINING_KEYS) -> RerankEvaluator:
    """From a jsonl of `{"qid", "query", "candidates": [{"pid", "text"}, ...]}` and qrels."""
    queries, candidates = read_candidates_jsonl(path, max_queries, depth, keys["candidates"])
    return RerankEvaluator(queries, candidates, read_qrels(qrels, keys["qrels"]), batch_size=batch_size,
                           k_values=k_values, measures=measures)
