"""Tokenize a list of examples into the batch contract: a `Batch` (task, tokenized columns, labels).

Runs in DataLoader workers when `num_workers` > 0 (`auto`: on a GPU; on CPU it runs in the training
process, where workers would compete with the model for the cores). Padding is dynamic: each column
pads to its own longest text in the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from pairlab.data.example import Example
from pairlab.protocols import Batch


@dataclass
class Collator:
    """Bi-encoders get one tokenized entry per text column; cross-encoders one per candidate
    column, each tokenized as (query, candidate) pairs.

    in_batch_negatives: per task, how many other rows' candidates each query is also paired with
    (None: all), as extra candidate columns (cross-encoder losses with `spec.pairs_in_batch`).
    prompts: per task, the prompt put before each column's texts ("" for none), in column order.
    pair_tokenizer: tokenizes (queries, candidates) in the model's own way (an LLM reranker's prompt
    template, `LLMReranker.prompt_tokenizer`) instead of as tokenizer text pairs.
    column_tokenizer: tokenizes a bi-encoder column as queries (the first column) or documents, in the model's
    own way (a multi-vector encoder's markers and query fill, `MultiVectorEncoder.column_tokenizer`).
    """

    tokenizer: PreTrainedTokenizerBase
    max_length: int
    kind: str  # "bi" | "cross"
    in_batch_negatives: Mapping[str, int | None] = field(default_factory=dict)
    prompts: Mapping[str, Sequence[str]] = field(default_factory=dict)
    pair_tokenizer: Callable[[list[str], list[str]], dict[str, Tensor]] | None = None
    column_tokenizer: Callable[[list[str], bool], dict[str, Tensor]] | None = None

    def __call__(self, task: str, examples: list[Example]) -> Batch:
        columns = list(zip(*(ex.texts for ex in examples), strict=True))
        if task in self.prompts:
            columns = [tuple(prompt + text for text in column) if prompt else column
                       for prompt, column in zip(self.prompts[task], columns, strict=True)]
        if self.kind == "bi" and self.column_tokenizer is not None:
            inputs = [self.column_tokenizer(list(col), i == 0) for i, col in enumerate(columns)]
        elif self.kind == "bi":
            inputs = [self._tokenize(list(col)) for col in columns]
        else:
            queries, candidates = list(columns[0]), [list(col) for col in columns[1:]]
            if task in self.in_batch_negatives:
                candidates += in_batch_candidates(candidates, self.in_batch_negatives[task])
            tokenize = self.pair_tokenizer or self._tokenize
            inputs = [tokenize(queries, col) for col in candidates]
        return Batch(task, inputs, labels_tensor(examples))

    def _tokenize(self, texts: list[str], pairs: list[str] | None = None) -> dict[str, Tensor]:
        encoded = self.tokenizer(texts, pairs, padding=True, truncation=True if pairs is None else "longest_first",
                                 max_length=self.max_length, return_tensors="pt")
        return dict(encoded)


def in_batch_candidates(candidates: list[list[str]], count: int | None) -> list[list[str]]:
    """For each row, `count` candidates of the other rows (their positives and hard negatives), drawn
    without replacement with torch's RNG as sentence-transformers' cross-encoder MNRL draws them (None,
    or more than there are: all of them); returned as candidate columns."""
    batch, columns = len(candidates[0]), len(candidates)
    flat = [text for column in candidates for text in column]
    others = ~torch.eye(batch, dtype=torch.bool).repeat(1, columns)
    if count is not None and count < (batch - 1) * columns:
        picked = torch.multinomial(others.float(), count)
    else:
        picked = torch.arange(batch * columns).repeat(batch, 1)[others].reshape(batch, -1)
    return [[flat[j] for j in column] for column in picked.T.tolist()]


def labels_tensor(examples: list[Example]) -> Tensor | None:
    """[B] for one label per row, [B, C] for per-candidate scores, None for unlabelled rows."""
    if examples[0].label is None:
        return None
    return torch.tensor([ex.label for ex in examples], dtype=torch.float32)
