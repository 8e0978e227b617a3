"""Encoders: bi-encoders (embeddings) and cross-encoders (relevance logits)."""

from __future__ import annotations

from collections.abc import Mapping

from pairlab.models.bi_encoder import BiEncoder
from pairlab.models.cross_encoder import CrossEncoder
from pairlab.models.tiny import TOKENIZER, tiny_transformer


def build_model(cfg: Mapping, seed: int = 0) -> BiEncoder | CrossEncoder:
    """Build the encoder a `model` config describes (`kind`: bi | cross; `tiny`: random init)."""
    kind = cfg["kind"]
    if kind not in ("bi", "cross"):
        raise ValueError(f"model.kind={kind!r} is unknown: use bi or cross")
    tiny = cfg.get("tiny")
    if tiny:
        transformer, tokenizer = tiny_transformer(seed=seed, cross=kind == "cross",
                                                  tokenizer=cfg.get("tokenizer") or TOKENIZER, **dict(tiny))
        if kind == "cross":
            return CrossEncoder(transformer, tokenizer, max_length=cfg["max_length"], base_model="tiny")
        return BiEncoder(transformer, tokenizer, pooling=cfg.get("pooling") or "mean",
                         normalize=bool(cfg.get("normalize", True)), max_length=cfg["max_length"],
                         base_model="tiny")
    if kind == "cross":
        return CrossEncoder.from_pretrained(cfg["name"], max_length=cfg.get("max_length"), seed=seed)
    return BiEncoder.from_pretrained(cfg["name"], pooling=cfg.get("pooling"), normalize=cfg.get("normalize"),
                                     max_length=cfg.get("max_length"))


__all__ = ["BiEncoder", "CrossEncoder", "build_model"]
