"""Tokenize a list of examples into the batch contract: {task, inputs, labels}.

Runs in DataLoader workers when `num_workers` > 0 (`auto`: on a GPU; on CPU it runs in the training
process, where workers would compete with the model for the cores). Padding is dynamic: each column
pads to its own longest text in the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from pairlab.data.example import Example

Batch = dict  # {"task": str, "inputs": list[dict[str, Tensor]], "labels": Tensor | None}


@dataclass
class Collator:
    """Bi-encoders get one tokenized entry per text column; cross-encoders one per candidate
    column, each tokenized as (query, candidate) pairs."""

    tokenizer: PreTrainedTokenizerBase
    max_length: int
    kind: str  # "bi" | "cross"

    def __call__(self, task: str, examples: list[Example]) -> Batch:
        columns = list(zip(*(ex.texts for ex in examples), strict=True))
        if self.kind == "bi":
            inputs = [self._tokenize(list(col)) for col in columns]
        else:
            queries = list(columns[0])
            inputs = [self._tokenize(queries, list(col)) for col in columns[1:]]
        return {"task": task, "inputs": inputs, "labels": labels_tensor(examples)}

    def _tokenize(self, texts: list[str], pairs: list[str] | None = None) -> dict[str, Tensor]:
        encoded = self.tokenizer(texts, pairs, padding=True, truncation=True if pairs is None else "longest_first",
                                 max_length=self.max_length, return_tensors="pt")
        return dict(encoded)


def labels_tensor(examples: list[Example]) -> Tensor | None:
    """[B] for one label per row, [B, C] for per-candidate scores, None for unlabelled rows."""
    if examples[0].label is None:
        return None
    return torch.tensor([ex.label for ex in examples], dtype=torch.float32)
