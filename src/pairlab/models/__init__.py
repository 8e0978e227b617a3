"""Encoders: bi-encoders (embeddings) and cross-encoders (relevance logits).

A `model` config is a call of one of their constructors (`_target_`): `from_pretrained` for a hub id or a
folder, `random_init` for a random-init BERT of a given size.
"""

from pairlab.models.bi_encoder import BiEncoder
from pairlab.models.cross_encoder import CrossEncoder

__all__ = ["BiEncoder", "CrossEncoder"]
