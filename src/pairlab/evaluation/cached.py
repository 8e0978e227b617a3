"""An `Encoder` that remembers its embeddings, so the same evaluators can score truncated sizes
(Matryoshka) without encoding again."""

from __future__ import annotations

from torch import Tensor

from pairlab.protocols import Encoder, EncoderView


class CachedEncoder(EncoderView):
    """Encodes each distinct call once; `truncated(dim)` views the same embeddings cut to their first `dim`
    values (as `SentenceTransformer(..., truncate_dim=dim)` cuts them)."""

    def __init__(self, encoder: Encoder, dim: int | None = None, cache: dict | None = None) -> None:
        super().__init__(encoder)
        self.dim = dim
        self.cache: dict = {} if cache is None else cache

    def encode(self, texts: list[str], batch_size: int = 64, prompt_name: str | None = None) -> Tensor:
        key = (tuple(texts), prompt_name)
        if key not in self.cache:
            self.cache[key] = self.encoder.encode(texts, batch_size, prompt_name=prompt_name)
        embeddings = self.cache[key]
        return embeddings if self.dim is None else embeddings[:, :self.dim]

    def score(self, queries: list[str], passages: list[str], batch_size: int = 64) -> Tensor:
        return self.encoder.score(queries, passages, batch_size)

    def truncated(self, dim: int) -> CachedEncoder:
        return CachedEncoder(self.encoder, dim, self.cache)
