"""Decoder-LLM backbones (Qwen3, Llama, Mistral, Gemma, ...): what embedding and reranking with a causal LM
needs beyond a BERT-shaped encoder.

- `attends_causally`: a backbone whose tokens see only the tokens before them, so the last token is the one
  that has read the whole text (last-token pooling) and the first has read nothing (no `cls` pooling).
- `prepare_tokenizer`: left padding (the last position of every row is a real token) and an end-of-sequence
  token appended by the tokenizer itself, as Qwen3-Embedding's tokenizer does, so an export tokenizes alike
  in sentence-transformers.
- `bucketed_hidden`: the padded forward, run per length bucket (rows of similar length together, grouped as
  `packed.length_buckets` groups them), so a batch of short and long texts pays little for padding.
- `packed_hidden`: all rows as one padding-free row with per-sequence position ids (flash-attention's varlen
  kernels, or a block-diagonal mask otherwise).
"""

from __future__ import annotations

import torch
from tokenizers import processors
from torch import Tensor, nn
from transformers import PreTrainedTokenizerBase

from pairlab.models.packed import length_buckets


def attends_causally(transformer: nn.Module) -> bool:
    """True when the backbone's attention is causal (a decoder LM), read from its attention modules."""
    return any(getattr(module, "is_causal", False) is True for module in transformer.modules())


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase, append_eos: bool) -> PreTrainedTokenizerBase:
    """Left padding, a pad token (the EOS token where the model has none), and with `append_eos` an EOS token
    after every text, written into the fast tokenizer's post-processor (saved with the export)."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if append_eos and not appends_eos(tokenizer):
        if tokenizer.eos_token is None:
            raise ValueError("model.append_eos=true, but the tokenizer has no eos_token: set one, or append_eos=false")
        eos = (tokenizer.eos_token, tokenizer.eos_token_id)
        bos = [(tokenizer.bos_token, tokenizer.bos_token_id)] if starts_with_bos(tokenizer) else []
        head = f"{bos[0][0]}:0 " if bos else ""
        tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{head}$A:0 {eos[0]}:0", pair=f"{head}$A:0 $B:1 {eos[0]}:1", special_tokens=[*bos, eos])
    return tokenizer


def appends_eos(tokenizer: PreTrainedTokenizerBase) -> bool:
    ids = tokenizer("a")["input_ids"]
    return tokenizer.eos_token_id is not None and ids[-1] == tokenizer.eos_token_id


def starts_with_bos(tokenizer: PreTrainedTokenizerBase) -> bool:
    ids = tokenizer("a")["input_ids"]
    return tokenizer.bos_token_id is not None and ids[0] == tokenizer.bos_token_id


def trim(features: dict[str, Tensor], rows: Tensor) -> dict[str, Tensor]:
    """The rows' features without the columns that are padding in all of them (either padding side)."""
    mask = features["attention_mask"][rows]
    used = mask.any(0).nonzero().squeeze(-1)
    cols = slice(int(used[0]), int(used[-1]) + 1)
    return {k: v[rows][:, cols] for k, v in features.items() if k in ("input_ids", "attention_mask")}


def bucketed_hidden(transformer: nn.Module, features: dict[str, Tensor], pool) -> Tensor:
    """`pool(last_hidden_state, attention_mask)` per length bucket, rows back in batch order."""
    lengths = features["attention_mask"].sum(1)
    out: Tensor | None = None
    for group in length_buckets(lengths.tolist()):
        rows = torch.tensor(group, device=lengths.device)
        part = trim(features, rows)
        pooled = pool(transformer(**part, use_cache=False).last_hidden_state, part["attention_mask"])
        if out is None:
            out = pooled.new_empty(len(lengths), *pooled.shape[1:])
        out[rows] = pooled
    return out


def packed_hidden(transformer: nn.Module, features: dict[str, Tensor], pool) -> Tensor:
    """All rows' real tokens as one row with per-sequence position ids (no padding anywhere); the hidden states
    are put back into the padded layout for `pool`. Equal to the padded forward by test."""
    mask = features["attention_mask"].bool()
    lengths = mask.sum(1)
    ids = features["input_ids"][mask].unsqueeze(0)
    positions = torch.cat([torch.arange(int(n), device=ids.device) for n in lengths]).unsqueeze(0)
    hidden = transformer(input_ids=ids, position_ids=positions, use_cache=False).last_hidden_state[0]
    padded = hidden.new_zeros(*mask.shape, hidden.shape[-1])
    padded[mask] = hidden
    return pool(padded, features["attention_mask"])
