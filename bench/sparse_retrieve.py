"""Sparse-index retrieval (`pairlab.evaluation.sparse.SparseIndex`): build time, queries/s and peak RSS over 10k /
100k / 1M generated passages.

Passages and queries are generated SPLADE-like vectors (no model: the bench times the index, not an encoder):
`--doc-dims` non-zero weights a passage and `--query-dims` a query over a 30,522-term vocabulary, terms drawn
from a Zipf distribution (as words are), weights log(1 + ReLU)-like. Each size runs in its own process; the
index is built from windows of 4,096 passages, as `eval=retrieve` builds it.

    python bench/sparse_retrieve.py
    python bench/sparse_retrieve.py --sizes 10000,100000 --queries 200

The last line printed is one JSON object: per size, build seconds, queries/s, index MB and peak RSS MB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

VOCAB = 30522
RESULT = "BENCH-RESULT "


class GeneratedVectors:
    """An encoder stand-in: `encode(texts)` returns the sparse vectors of those row numbers."""

    def __init__(self, dims: int, seed: int) -> None:
        self.dims, self.seed = dims, seed

    def vectors(self, rows: list[int]) -> torch.Tensor:
        """Sparse COO [len(rows), VOCAB]: no dense window is ever made (as a model's sparse encode)."""
        row_ids, term_ids, weights = [], [], []
        for i, row in enumerate(rows):
            rng = np.random.default_rng(self.seed * 1_000_003 + row)
            terms = np.unique(np.minimum(rng.zipf(1.3, size=self.dims * 2), VOCAB) - 1)[:self.dims]
            row_ids.append(np.full(len(terms), i))
            term_ids.append(terms)
            weights.append(np.log1p(rng.gamma(2.0, 1.0, len(terms))))
        indices = torch.from_numpy(np.stack([np.concatenate(row_ids), np.concatenate(term_ids)]))
        values = torch.from_numpy(np.concatenate(weights)).float()
        return torch.sparse_coo_tensor(indices, values, (len(rows), VOCAB)).coalesce()

    def encode(self, texts: list[str], batch_size: int = 64, sparse: bool = False) -> torch.Tensor:
        vectors = self.vectors([int(t) for t in texts])
        return vectors if sparse else vectors.to_dense()


def worker(size: int, queries: int, doc_dims: int, query_dims: int, top_k: int) -> dict:
    from pairlab.evaluation.sparse import SparseIndex

    start = time.perf_counter()
    index = SparseIndex.build(GeneratedVectors(doc_dims, 0), (str(i) for i in range(size)), total=size)
    built = time.perf_counter() - start
    query_vectors = GeneratedVectors(query_dims, 1).vectors(list(range(queries)))
    start = time.perf_counter()
    index.search(query_vectors, top_k)
    searched = time.perf_counter() - start
    index_mb = index.nnz * (index.matrix.col_indices().element_size() + 4) / 2**20
    return {"passages": size, "build_s": round(built, 2), "queries_per_s": round(queries / searched, 1),
            "nnz": index.nnz, "index_mb": round(index_mb, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--doc-dims", type=int, default=128, help="non-zero weights a passage")
    parser.add_argument("--query-dims", type=int, default=24, help="non-zero weights a query")
    parser.add_argument("--top-k", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.worker:
        print(RESULT + json.dumps(worker(args.worker, args.queries, args.doc_dims, args.query_dims, args.top_k)))
        return
    print(f"{args.queries} queries x {args.query_dims} terms, passages x {args.doc_dims} terms, top {args.top_k}, "
          f"{args.threads} threads")
    print("passages | build s | queries/s | index MB | peak RSS MB")
    results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", str(size),
                               "--queries", str(args.queries), "--doc-dims", str(args.doc_dims),
                               "--query-dims", str(args.query_dims), "--top-k", str(args.top_k),
                               "--threads", str(args.threads)], capture_output=True, text=True, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
        if done.returncode != 0 or not lines:
            raise SystemExit(f"size {size} failed:\n{done.stderr[-3000:]}")
        result = json.loads(lines[-1][len(RESULT):])
        results[size] = result
        print(f"{size} | {result['build_s']} | {result['queries_per_s']} | {result['index_mb']} | "
              f"{result['peak_rss_mb']}", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
