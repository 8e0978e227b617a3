"""Retrieval with sparse (SPLADE) vectors: an index of every document's non-zero term weights, built in streaming
windows, and exact dot-product top-k over it.

The index is a CSR matrix [documents, vocabulary] holding only the non-zero weights (12 bytes each), so memory
grows with the index's size, not with documents x vocabulary as a dense matrix of the same vectors would; a
query chunk is scored against it with one sparse matrix product.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import torch
from torch import Tensor
from tqdm.auto import tqdm

from pairlab.evaluation.dense import release_freed_memory
from pairlab.protocols import Encoder


class SparseIndex:
    """Documents' term weights as a CSR matrix [n, V] (row i: the i-th document)."""

    def __init__(self, matrix: Tensor) -> None:
        self.matrix = matrix

    @property
    def n(self) -> int:
        return self.matrix.shape[0]

    @property
    def nnz(self) -> int:
        return int(self.matrix.values().numel())

    @classmethod
    def build(cls, encoder: Encoder, texts: Iterable[str], batch_size: int = 64, window: int = 4096,
              total: int | None = None) -> SparseIndex:
        """Encode `texts` (as documents) `window` at a time, keeping each window's non-zero weights only."""
        stream = iter(texts)
        rows, columns, values, dim, n = [torch.zeros(1, dtype=torch.int64)], [], [], None, 0
        with tqdm(total=total, desc="index corpus", unit="text", disable=None) as bar:
            while chunk := list(islice(stream, window)):
                vectors = encoder.encode(chunk, batch_size=batch_size, sparse=True).coalesce()
                dim = vectors.shape[1]
                row, column = vectors.indices()
                rows.append(torch.bincount(row, minlength=len(chunk)).cumsum(0) + rows[-1][-1])
                columns.append(column)
                values.append(vectors.values().float())
                n += len(chunk)
                bar.update(len(chunk))
                release_freed_memory()
        if dim is None:
            raise ValueError("no texts to index")
        matrix = torch.sparse_csr_tensor(torch.cat(rows), torch.cat(columns), torch.cat(values), size=(n, dim))
        return cls(matrix)

    @torch.no_grad()
    def search(self, queries: Tensor, top_k: int, score_elements: int = 1 << 24) -> tuple[Tensor, Tensor]:
        """Exact top-k dot products of each query vector [Q, V] (dense or sparse): (scores, indices)
        [Q, min(k, n)], best first, ties by the lower document index. Queries go in chunks whose score matrix
        holds at most `score_elements` values."""
        k = min(top_k, self.n)
        chunk_rows = max(1, score_elements // max(1, self.n))
        all_scores, all_indices = [], []
        for start in range(0, len(queries), chunk_rows):
            rows = torch.arange(start, min(start + chunk_rows, len(queries)))
            chunk = (queries.index_select(0, rows).to_dense() if queries.is_sparse else queries[rows]).float()
            with torch.autocast(chunk.device.type, enabled=False):  # exact fp32 scores inside a bf16 run too
                scores = torch.sparse.mm(self.matrix, chunk.T.contiguous()).T  # [chunk, n]
            top_scores, top_indices = scores.topk(k, dim=1)
            # topk orders ties arbitrarily: re-rank rows with ties inside or at the edge of the top k
            tied = ((scores >= top_scores[:, -1:]).sum(dim=1) > k) | (top_scores[:, 1:] == top_scores[:, :-1]).any(1)
            if bool(tied.any()):
                ordered, order = scores[tied].sort(dim=1, descending=True, stable=True)
                top_scores[tied], top_indices[tied] = ordered[:, :k], order[:, :k]
            all_scores.append(top_scores)
            all_indices.append(top_indices)
        return torch.cat(all_scores), torch.cat(all_indices)
