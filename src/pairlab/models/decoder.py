"""Decoder-LLM backbones (Qwen3, Llama, Mistral, Gemma, ...): what embedding and reranking with a causal LM
needs beyond a BERT-shaped encoder.

- `attends_causally`: a backbone whose tokens see only the tokens before them, so the last token is the one
  that has read the whole text (last-token pooling) and the first has read nothing (no `cls` pooling).
- `prepare_tokenizer`: left padding (the last position of every row is a real token) and an end-of-sequence
  token appended by the tokenizer itself, as Qwen3-Embedding's tokenizer does, so an export tokenizes alike
  in sentence-transformers.
- `packed_hidden`: the forward without padding: texts laid end to end with their own position ids, which
  transformers' attention keeps apart (flash-attention's varlen kernels; a block-diagonal mask for sdpa and
  eager). A batch of short questions with one long one no longer pays for the long one's length in every row.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from tokenizers import processors
from torch import Tensor, nn
from transformers import PreTrainedTokenizerBase


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


PACKED_TOKENS = 512
"""Real tokens per packed row: attention is quadratic in a row's length, so rows are cut here (measured in
bench/README.md: fewer tokens per row lose to per-call overhead, one row per batch to attention cost)."""


def packed_hidden(transformer: nn.Module, features: dict[str, Tensor], pool: Callable[[Tensor, Tensor], Tensor],
                  row_tokens: int = PACKED_TOKENS) -> Tensor:
    """`pool(last_hidden_state, attention_mask)` computed without padding: the batch's texts, in order, are laid
    end to end in rows of about `row_tokens` real tokens, each text with its own position ids 0, 1, ... (from
    which transformers' attention keeps texts apart: flash-attention's varlen kernels, or a block-diagonal
    causal mask), and the hidden states are put back into the padded layout for `pool`. Equal to the padded
    forward by test."""
    mask = features["attention_mask"].bool()
    lengths = mask.sum(1).tolist()
    pieces, row, used = [], [], 0
    for i, n in enumerate(lengths):
        if row and used + n > row_tokens:
            pieces.append(row)
            row, used = [], 0
        row.append(i)
        used += n
    pieces.append(row)
    states = []
    for rows in pieces:
        ids = features["input_ids"][rows][mask[rows]].unsqueeze(0)
        positions = torch.cat([torch.arange(lengths[i], device=ids.device) for i in rows]).unsqueeze(0)
        states.append(transformer(input_ids=ids, position_ids=positions, use_cache=False).last_hidden_state[0])
    hidden = torch.cat(states)
    padded = hidden.new_zeros(*mask.shape, hidden.shape[-1])
    padded[mask] = hidden
    return pool(padded, features["attention_mask"])
