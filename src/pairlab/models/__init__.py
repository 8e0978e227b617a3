"""Encoders: bi-encoders (embeddings; BERT-shaped or decoder LLMs), cross-encoders (relevance logits) and LLM
rerankers (a causal LM's logit(yes) - logit(no); a cross-encoder kind) and sparse encoders (SPLADE: vocabulary-sized
term weights; a bi-encoder kind whose vectors score by dot product) and multi-vector encoders (ColBERT: a vector
per token, scored by MaxSim).

A `model` config is a call of one of their constructors (`_target_`): `from_pretrained` for a hub id or a
folder, `random_init` for a random-init model of a given size and architecture.
"""

from pairlab.models.bi_encoder import BiEncoder
from pairlab.models.cross_encoder import CrossEncoder
from pairlab.models.llm_reranker import LLMReranker
from pairlab.models.multi_vector_encoder import MultiVectorEncoder
from pairlab.models.sparse_encoder import SparseEncoder

__all__ = ["BiEncoder", "CrossEncoder", "LLMReranker", "MultiVectorEncoder", "SparseEncoder"]
