"""Validation evaluators for duplicate-question data: retrieval and pair classification."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from pairlab.evaluation.classification import pair_classification_metrics
from pairlab.evaluation.retrieval import exact_search, ir_metrics, run_from_search
from pairlab.protocols import Encoder, for_role, roles_differ, similarity_for
from pairlab.scoring import pairwise_maxsim

RETRIEVAL_METRICS = ("mrr@10", "ndcg@10", "recall@1", "recall@10", "recall@100", "map@100")


class DuplicatesEvaluator:
    """Duplicate retrieval + pair classification on held-out question pairs.

    Retrieval: every question that has a duplicate queries the corpus of all held-out questions
    (itself excluded); the questions of its duplicate cluster are relevant. Reports MRR@10,
    NDCG@10, Recall@1/10/100, MAP@100. Pair classification (when labels exist): cosine
    similarity of each labelled pair (a cross-encoder's score) -> AP, best F1 and accuracy with their thresholds.
    """

    def __init__(self, duplicates: Sequence[tuple[str, str]], labelled: Sequence[tuple[str, str, int]] = (),
                 distractors: Sequence[str] = (), batch_size: int = 128) -> None:
        self.corpus = sorted({q for pair in duplicates for q in pair}
                             | {q for a, b, _ in labelled for q in (a, b)} | set(distractors))
        self.index = {q: i for i, q in enumerate(self.corpus)}
        cluster = duplicate_clusters(duplicates)
        members: dict[str, list[str]] = {}
        for q, root in cluster.items():
            members.setdefault(root, []).append(q)
        self.qrels = {str(self.index[q]): {str(self.index[d]): 1 for d in members[cluster[q]] if d != q}
                      for q in cluster}
        self.labelled = list(labelled)
        self.batch_size = batch_size

    def __call__(self, encoder: Encoder) -> dict[str, float]:
        """Questions query and are retrieved, so with query/document prompts each is encoded in both roles:
        queries and first texts of pairs with the query prompt, corpus and second texts with the document one.
        A cross-encoder classifies the labelled pairs by its score and retrieves nothing."""
        if encoder.kind == "cross":
            if not self.labelled:
                return {}
            pair_scores = encoder.score([a for a, _, _ in self.labelled], [b for _, b, _ in self.labelled],
                                        batch_size=self.batch_size)
            return pair_classification_metrics(pair_scores.float().numpy(), [label for _, _, label in self.labelled])
        embeddings = for_role(encoder, "document").encode(self.corpus, batch_size=self.batch_size)
        as_queries = (for_role(encoder, "query").encode(self.corpus, batch_size=self.batch_size)
                      if roles_differ(encoder) else embeddings)
        metrics: dict[str, float] = {}
        if self.qrels:
            query_rows = torch.tensor([int(q) for q in self.qrels])
            scores, indices = exact_search(as_queries[query_rows], embeddings, top_k=min(100, len(self.corpus)),
                                           exclude=query_rows, similarity=similarity_for(encoder))
            corpus_ids = [str(i) for i in range(len(self.corpus))]
            run = run_from_search([str(i) for i in query_rows.tolist()], corpus_ids, scores, indices)
            found = ir_metrics(run, self.qrels, k_values=(1, 10, 100))
            metrics.update({k: found[k] for k in RETRIEVAL_METRICS})
        if self.labelled:
            a = as_queries[[self.index[x] for x, _, _ in self.labelled]]
            b = embeddings[[self.index[y] for _, y, _ in self.labelled]]
            pair_scores = (pairwise_maxsim(a, b) if similarity_for(encoder) == "maxsim"
                           else F.cosine_similarity(a, b, dim=-1))
            labels = torch.tensor([label for _, _, label in self.labelled])
            metrics.update(pair_classification_metrics(pair_scores.numpy(), labels.numpy()))
        return metrics


def duplicate_clusters(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Union-find over duplicate pairs: question -> representative of its duplicate cluster."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[find(a)] = find(b)
    return {q: find(q) for q in parent}
