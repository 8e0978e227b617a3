"""Corpus embeddings on disk and top-k search over them, at memory flat in the corpus size.

`write_embeddings` encodes a stream of texts a window at a time (the encoder sorts each window by
length) and appends float32 rows to `embeddings.f32` in a folder that appears atomically with its
`meta.json`. `search` streams that file in blocks and keeps a running top k per query; `faiss_search`
builds a faiss index instead (flat or HNSW; its memory grows with the corpus, as faiss indexes do).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from pairlab.atomic import atomic_dir
from pairlab.evaluation.retrieval import exact_search, merge_top_k
from pairlab.protocols import Encoder

Similarity = Literal["cos", "dot"]
DATA, META = "embeddings.f32", "meta.json"


class EmbeddingFile:
    """Float32 rows [n, dim] in `folder/embeddings.f32`, row i = the i-th text encoded."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        meta = json.loads((self.folder / META).read_text())
        self.n, self.dim = int(meta["n"]), int(meta["dim"])

    @staticmethod
    def exists(folder: Path) -> bool:
        return (Path(folder) / META).is_file()

    def blocks(self, rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, [<= rows, dim] array) over the whole file, read into fresh buffers."""
        with open(self.folder / DATA, "rb") as f:
            for start in range(0, self.n, rows):
                block = np.empty((min(rows, self.n - start), self.dim), dtype=np.float32)
                f.readinto(memoryview(block).cast("B"))
                yield start, block


def release_freed_memory() -> None:
    """Hand freed heap pages back to the OS: glibc keeps them after many variable-shape batches, and the
    process would grow with the corpus (a no-op where libc has no malloc_trim)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def write_embeddings(encoder: Encoder, texts: Iterable[str], folder: Path, batch_size: int = 64,
                     window: int = 4096, total: int | None = None, desc: str = "encode corpus") -> EmbeddingFile:
    """Encode `texts` into `folder` (replaced atomically), `window` texts in memory at a time."""
    stream = iter(texts)
    n, dim = 0, None
    with atomic_dir(Path(folder)) as tmp, open(tmp / DATA, "wb") as f, \
            tqdm(total=total, desc=desc, unit="text", disable=None) as bar:
        while chunk := list(islice(stream, window)):
            embeddings = encoder.encode(chunk, batch_size=batch_size).float().numpy()
            dim = embeddings.shape[1]
            f.write(np.ascontiguousarray(embeddings, dtype=np.float32).tobytes())
            n += len(chunk)
            bar.update(len(chunk))
            release_freed_memory()
        f.flush()
        if dim is None:
            raise ValueError("no texts to encode")
        (tmp / META).write_text(json.dumps({"n": n, "dim": dim}))
    return EmbeddingFile(folder)


def _prepare(queries: Tensor, similarity: Similarity) -> Tensor:
    if similarity not in ("cos", "dot"):
        raise ValueError(f"similarity must be cos or dot, got {similarity!r}")
    queries = queries.float()
    return F.normalize(queries, dim=-1) if similarity == "cos" else queries


@torch.no_grad()
def search(queries: Tensor, corpus: EmbeddingFile, top_k: int, similarity: Similarity = "cos",
           block_rows: int = 16384, query_chunk: int = 256) -> tuple[Tensor, Tensor]:
    """Exact top-k of each query [Q, D] over the corpus file: (scores, indices) [Q, min(k, n)], best first,
    ties by the lower corpus index. Holds one block of the corpus and [Q, 2k] running results."""
    queries = _prepare(queries, similarity)
    best = None
    with tqdm(total=corpus.n, desc="search", unit="doc", disable=None) as bar:
        for start, block in corpus.blocks(block_rows):
            emb = _prepare(torch.from_numpy(block), similarity)
            scores, indices = exact_search(queries, emb, top_k, chunk_size=query_chunk, similarity="dot")
            best = merge_top_k(best, scores, indices + start, top_k)
            bar.update(len(block))
    return best


def faiss_search(queries: Tensor, corpus: EmbeddingFile, top_k: int, similarity: Similarity = "cos",
                 kind: Literal["flat", "hnsw"] = "flat", hnsw_m: int = 32, ef_search: int = 128,
                 block_rows: int = 16384) -> tuple[Tensor, Tensor]:
    """Top-k through a faiss inner-product index (exact `flat`, or approximate `hnsw`)."""
    try:
        import faiss
    except ImportError as e:
        raise ImportError("index=faiss needs faiss: pip install 'pairlab[faiss]' (faiss-cpu)") from e
    if kind == "flat":
        index = faiss.IndexFlatIP(corpus.dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(corpus.dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = max(ef_search, top_k)
    else:
        raise ValueError(f"faiss index kind {kind!r} is unknown: use flat or hnsw")
    for _, block in tqdm(corpus.blocks(block_rows), total=-(-corpus.n // block_rows), desc="index", disable=None):
        index.add(_prepare(torch.from_numpy(block), similarity).numpy())
    scores, indices = index.search(_prepare(queries, similarity).numpy(), min(top_k, corpus.n))
    return torch.from_numpy(scores), torch.from_numpy(indices).long()
