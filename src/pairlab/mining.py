"""Hard-negative mining with sentence-transformers' `mine_hard_negatives` semantics, at memory flat in corpus size.

For every distinct anchor, the bi-encoder (dense, sparse or multi-vector) retrieves the top
`range_max + max_positives + 1` corpus texts; the anchor itself (when the corpus holds it, as a corpus of questions
does) and its known positives are removed, then the false-negative
filters (`absolute_margin`, `relative_margin`, `max_score`, `min_score`; on cross-encoder scores when one
rescores), then the first `range_min` survivors, and `num_negatives` are taken from the top or at random. The
corpus (file rows, then the positives; each distinct text once) is hashed and encoded in streaming passes:
memory holds 8 bytes a corpus text plus the candidates, and the embeddings live on disk (a sparse encoder's
non-zero weights in memory; a multi-vector encoder's token vectors a window at a time).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pairlab.evaluation.corpus import cache_key
from pairlab.evaluation.dense import EmbeddingFile, Similarity, faiss_search, search, write_embeddings
from pairlab.evaluation.multi_vector import maxsim_search
from pairlab.evaluation.sparse import SparseIndex
from pairlab.protocols import Encoder, for_role, representation, similarity_for
from pairlab.scoring import pairwise_maxsim

Format = Literal["triplet", "n-tuple", "n-tuple-scores"]
FORMATS = ("triplet", "n-tuple", "n-tuple-scores")
TextStream = Callable[[], Iterator[str]]


@dataclass(frozen=True)
class MiningSettings:
    """The `mine.*` keys; defaults and meanings as sentence-transformers' `mine_hard_negatives`."""

    num_negatives: int = 3
    range_min: int = 0
    range_max: int | None = None
    max_score: float | None = None
    min_score: float | None = None
    absolute_margin: float | None = None
    relative_margin: float | None = None
    sampling_strategy: Literal["top", "random"] = "top"
    format: Format = "triplet"
    similarity: Similarity = "cos"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_negatives < 1:
            raise ValueError(f"mine.num_negatives must be >= 1, got {self.num_negatives}")
        if self.range_min < 0:
            raise ValueError(f"mine.range_min must be >= 0, got {self.range_min}")
        if self.sampling_strategy not in ("top", "random"):
            raise ValueError(f"mine.sampling_strategy={self.sampling_strategy!r} is unknown: use top or random")
        if self.format not in FORMATS:
            raise ValueError(f"mine.format={self.format!r} is unknown: use one of {', '.join(FORMATS)}")
        if self.similarity not in ("cos", "dot"):
            raise ValueError(f"mine.similarity={self.similarity!r} is unknown: use cos or dot")

    @property
    def filters(self) -> dict[str, float]:
        return {name: value for name in ("absolute_margin", "relative_margin", "max_score", "min_score")
                if (value := getattr(self, name)) is not None}

    def window(self, max_positives: int, rescored: bool = False) -> int:
        """range_max, derived as sentence-transformers does when it is not given (wider when filters may drop
        candidates: a margin, max_score, or min_score on a cross-encoder's scores)."""
        if self.range_max is not None:
            range_max = self.range_max
        elif (self.absolute_margin is not None or self.relative_margin is not None or self.max_score is not None
              or (rescored and self.min_score is not None)):
            range_max = self.range_min + self.num_negatives * 10 + max_positives
        else:
            range_max = self.range_min + self.num_negatives + max_positives
        if self.range_min >= range_max:
            raise ValueError(f"mine.range_min={self.range_min} must be smaller than mine.range_max={range_max}")
        if self.num_negatives > range_max - self.range_min:
            raise ValueError(f"cannot mine {self.num_negatives} negatives from ranks {self.range_min}..{range_max}: "
                             "lower mine.num_negatives or mine.range_min, or raise mine.range_max")
        return range_max


@dataclass
class Mined:
    """Rows in the hub column format, and what the summary reports."""

    rows: list[dict]
    anchors: int
    anchors_complete: int
    positive_scores: Tensor
    negative_scores: Tensor
    skipped: dict[str, int] = field(default_factory=dict)
    candidates: int = 0

    def summary(self, settings: MiningSettings) -> dict:
        def stats(x: Tensor) -> dict[str, float]:
            if x.numel() == 0:
                return {"count": 0}
            q = torch.quantile(x.float(), torch.tensor([0.25, 0.5, 0.75])).tolist()
            return {"count": x.numel(), "mean": x.mean().item(), "std": x.std().item() if x.numel() > 1 else 0.0,
                    "min": x.min().item(), "25%": q[0], "50%": q[1], "75%": q[2], "max": x.max().item()}

        return {"rows": len(self.rows), "anchors": self.anchors,
                f"anchors_with_{settings.num_negatives}_negatives": self.anchors_complete,
                "positive_scores": stats(self.positive_scores), "negative_scores": stats(self.negative_scores),
                "skipped_candidates": {k: {"count": v, "ratio": v / max(self.candidates, 1)}
                                       for k, v in self.skipped.items()}}


def text_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little", signed=True)


class Corpus:
    """Distinct texts of `stream()` (the corpus file's, then the positives), seen through hashes only."""

    def __init__(self, stream: TextStream) -> None:
        self.stream = stream
        hashes = np.fromiter((text_hash(t) for t in stream()), dtype=np.int64)
        _, first = np.unique(hashes, return_index=True)
        self.keep = np.zeros(len(hashes), dtype=bool)
        self.keep[first] = True
        self.hashes = hashes[self.keep]  # row i of the embeddings: the i-th distinct text

    def __len__(self) -> int:
        return len(self.hashes)

    def texts(self) -> Iterator[str]:
        return (t for t, keep in zip(self.stream(), self.keep, strict=True) if keep)

    def rows(self, indices: Iterable[int]) -> dict[int, str]:
        wanted = set(indices)
        return {i: t for i, t in enumerate(self.texts()) if i in wanted}


def similarity(a: Tensor, b: Tensor, kind: str) -> Tensor:
    """Row-wise similarity of two [N, D] embeddings (MaxSim of [N, T, D] token vectors)."""
    if kind == "maxsim":
        return pairwise_maxsim(a.float(), b.float())
    return F.cosine_similarity(a.float(), b.float(), dim=-1) if kind == "cos" else (a.float() * b.float()).sum(-1)


def mine_hard_negatives(
    pairs: Sequence[tuple[str, str]], encoder: Encoder, corpus: Corpus, folder: Path, settings: MiningSettings,
    cross_encoder: Encoder | None = None, batch_size: int = 64, index: Literal["exact", "faiss"] = "exact",
    faiss: Mapping | None = None,
) -> Mined:
    """Negatives for each pair (see the module docstring); the corpus embeddings are written to `folder`
    unless a finished encoding is there."""
    if index not in ("exact", "faiss"):
        raise ValueError(f"mine.index={index!r} is unknown: use exact or faiss")
    anchors = list(dict.fromkeys(a for a, _ in pairs))
    anchor_row = {a: i for i, a in enumerate(anchors)}
    positives: list[list[str]] = [[] for _ in anchors]
    for a, p in pairs:
        if p not in positives[anchor_row[a]]:
            positives[anchor_row[a]].append(p)
    counts = np.bincount([anchor_row[a] for a, _ in pairs], minlength=len(anchors))
    max_positives = int(counts.max())
    range_max = settings.window(max_positives, rescored=cross_encoder is not None)
    excluded = [{text_hash(anchor), *(text_hash(p) for p in ps)} for anchor, ps in zip(anchors, positives, strict=True)]

    anchor_emb = for_role(encoder, "query").encode(anchors, batch_size=batch_size)
    width = range_max + max_positives + 1  # room for the positives and the anchor, which are taken out
    kind = similarity_for(encoder, settings.similarity)
    documents = for_role(encoder, "document")
    if representation(encoder) == "sparse":  # an index of the non-zero weights, exact dot products
        sparse_index = SparseIndex.build(documents, corpus.texts(), batch_size=batch_size, total=len(corpus))
        scores, indices = sparse_index.search(anchor_emb, width)
    elif representation(encoder) == "multi":  # exact MaxSim, a window of the corpus at a time
        scores, indices = maxsim_search(documents, anchor_emb, corpus.texts(), width, batch_size=batch_size,
                                        total=len(corpus))
    else:
        embeddings = (EmbeddingFile(folder) if EmbeddingFile.exists(folder)
                      else write_embeddings(documents, corpus.texts(), folder, batch_size=batch_size,
                                            total=len(corpus)))
        if index == "faiss":
            scores, indices = faiss_search(anchor_emb, embeddings, width, kind, **dict(faiss or {}))
        else:
            scores, indices = search(anchor_emb, embeddings, width, kind)
    if scores.shape[1] < width:  # a corpus smaller than the window: pad as no candidate
        pad = width - scores.shape[1]
        scores = torch.cat([scores, scores.new_full((len(anchors), pad), float("-inf"))], 1)
        indices = torch.cat([indices, indices.new_full((len(anchors), pad), -1)], 1)

    flat_anchors = [a for a, ps in zip(anchors, positives, strict=True) for _ in ps]
    flat_positives = [p for ps in positives for p in ps]
    if cross_encoder is not None:  # its scores choose, filter and are written (n-tuple-scores), as in ST
        scores = scores.float()  # the search may have run in bf16; the cross-encoder's scores replace them
        texts = corpus.rows(indices[indices >= 0].tolist())
        for row, anchor in enumerate(anchors):
            valid = indices[row] >= 0
            docs = [texts[i] for i in indices[row][valid].tolist()]
            scores[row, valid] = cross_encoder.score([anchor] * len(docs), docs, batch_size=batch_size).float()
        positive_scores = cross_encoder.score(flat_anchors, flat_positives, batch_size=batch_size).float()
    else:
        positive_emb = for_role(encoder, "document").encode(flat_positives, batch_size=batch_size)
        positive_scores = similarity(anchor_emb[[anchor_row[a] for a in flat_anchors]], positive_emb, kind)
    scores[indices < 0] = float("-inf")
    candidate_hashes = torch.from_numpy(corpus.hashes)[indices.clamp(min=0)]
    for row in range(len(anchors)):
        scores[row, torch.isin(candidate_hashes[row], torch.tensor(sorted(excluded[row])))] = float("-inf")

    skipped: dict[str, int] = {}
    candidates = scores.numel()
    first = np.cumsum([0, *[len(ps) for ps in positives]])
    hardest_positive = torch.stack([positive_scores[first[i]:first[i + 1]].min() for i in range(len(anchors))])
    finite = torch.isfinite(scores)
    rules = {"absolute_margin": lambda v: scores + v > hardest_positive[:, None],
             "relative_margin": lambda v: scores > (hardest_positive - hardest_positive.abs() * v)[:, None],
             "max_score": lambda v: scores > v,
             "min_score": lambda v: scores < v}
    for name, value in settings.filters.items():
        removed = rules[name](value) & finite
        skipped[name] = int(removed.sum())
        scores[removed] = float("-inf")
        finite &= ~removed

    negative_scores, local = scores.topk(range_max, dim=1)
    chosen = indices.gather(1, local)[:, settings.range_min:]
    negative_scores = negative_scores[:, settings.range_min:]
    n = settings.num_negatives
    if settings.sampling_strategy == "top":
        chosen, negative_scores = chosen[:, :n], negative_scores[:, :n]
    else:
        rng = np.random.default_rng(settings.seed)
        options = (chosen.shape[1] - torch.isinf(negative_scores).sum(1)).clamp(min=n).tolist()
        picks = torch.tensor(np.array([np.sort(rng.choice(k, size=n, replace=False)) for k in options]))
        chosen, negative_scores = chosen.gather(1, picks), negative_scores.gather(1, picks)

    found = torch.isfinite(negative_scores)
    texts = corpus.rows(chosen[found].tolist())
    rows: list[dict] = []
    for row, anchor in enumerate(anchors):
        negatives = [(texts[i], s) for i, s, ok in zip(chosen[row].tolist(), negative_scores[row].tolist(),
                                                      found[row].tolist(), strict=True) if ok]
        for j, positive in enumerate(positives[row]):
            pos_score = float(positive_scores[first[row] + j])
            if settings.format == "triplet":
                rows += [{"anchor": anchor, "positive": positive, "negative": text} for text, _ in negatives]
            elif len(negatives) == n:
                out = {"anchor": anchor, "positive": positive,
                       **{f"negative_{k}": text for k, (text, _) in enumerate(negatives, 1)}}
                if settings.format == "n-tuple-scores":
                    out["scores"] = [pos_score] + [s for _, s in negatives]
                rows.append(out)
    return Mined(rows, len(anchors), int(found.all(1).sum()), positive_scores.cpu(), negative_scores[found].cpu(),
                 skipped, candidates)


def embeddings_key(model_fingerprint: str, corpus: Corpus) -> str:
    """The corpus embeddings' cache entry: model version and the exact distinct texts encoded."""
    return cache_key("mine", model_fingerprint, hashlib.sha256(corpus.hashes.tobytes()).hexdigest())
