"""The small shared contracts: what a training step sees (`Batch`), what evaluators see of a model, what they
return, what labels are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from torch import Tensor

LabelKind = Literal["none", "binary", "float", "scores"]
"""none: no label; binary: 0/1 per row; float: one score per row;
scores: one teacher score per candidate column (e.g. pos_score, neg_score)."""


@dataclass
class Batch:
    """One step's rows of one task, tokenized: what the module encodes and the task's loss scores.

    inputs: per text column (bi-encoders) or candidate column (cross-encoders, each (query, candidate)
    pairs; other rows' candidates follow as extra columns for losses with `spec.pairs_in_batch`), the
    tokenizer's features (`input_ids`, `attention_mask`, ...), each [B, T].
    labels: [B] one label per row, [B, C] one per candidate, or None for unlabelled rows.
    """

    task: str
    inputs: list[dict[str, Tensor]]
    labels: Tensor | None

    @property
    def size(self) -> int:
        """B, the number of rows."""
        return len(self.inputs[0]["input_ids"])

    def pin_memory(self) -> Batch:
        """Page-locked copies (the DataLoader calls it with `pin_memory=True`): host-to-GPU copies run async."""
        return Batch(self.task, [{k: v.pin_memory() for k, v in features.items()} for features in self.inputs],
                     None if self.labels is None else self.labels.pin_memory())


class Encoder(Protocol):
    """What evaluators see of a model: `kind` is "bi" (embeddings) or "cross" (relevance logits)."""

    kind: str

    def encode(self, texts: list[str], batch_size: int = 64, prompt_name: str | None = None) -> Tensor:
        """Bi-encoders: one embedding per text, [N, D], after the model's prompt `prompt_name` if given."""
        ...

    def score(self, queries: list[str], passages: list[str], batch_size: int = 64) -> Tensor:
        """Cross-encoders: one relevance logit per (query, passage), [N]."""
        ...


class EncoderView:
    """Base of encoders that wrap one: its kind and its prompts are the wrapped encoder's."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder

    @property
    def kind(self) -> str:
        return self.encoder.kind

    @property
    def prompts(self) -> dict[str, str]:
        return getattr(self.encoder, "prompts", None) or {}  # cross-encoders have none

    @property
    def representation(self) -> str:
        return representation(self.encoder)

    @property
    def inference_free(self) -> bool:
        return getattr(self.encoder, "inference_free", False)


class _Prompted(EncoderView):
    """An encoder that puts one of the model's prompts before every text it encodes."""

    def __init__(self, encoder: Encoder, prompt_name: str) -> None:
        super().__init__(encoder)
        self.prompt_name = prompt_name

    def encode(self, texts: list[str], batch_size: int = 64) -> Tensor:
        return self.encoder.encode(texts, batch_size, prompt_name=self.prompt_name)


def prompt_text(encoder: Encoder, name: str) -> str | None:
    """The encoder's prompt of that name (None: it has none; cross-encoders have no prompts)."""
    return (getattr(encoder, "prompts", None) or {}).get(name)


def for_role(encoder: Encoder, role: Literal["query", "document"]) -> Encoder:
    """`encoder` for texts in one role: with the model's prompt of that name when it has one (sentence-
    transformers' names: "query", "document"), or when it reads queries its own way (an inference-free sparse
    encoder), else unchanged."""
    reads_queries = role == "query" and (getattr(encoder, "inference_free", False)
                                         or representation(encoder) == "multi")
    return _Prompted(encoder, role) if prompt_text(encoder, role) is not None or reads_queries else encoder


def roles_differ(encoder: Encoder) -> bool:
    """Whether a text encodes differently as a query and as a document."""
    return (prompt_text(encoder, "query") != prompt_text(encoder, "document")
            or getattr(encoder, "inference_free", False) or representation(encoder) == "multi")


def representation(encoder: Encoder) -> str:
    """"sparse" for vocabulary-sized term weights (scored by dot product), "multi" for token vectors (MaxSim),
    "dense" for embeddings."""
    return getattr(encoder, "representation", "dense")


def similarity_for(encoder: Encoder, configured: str = "cos") -> str:
    """The similarity retrieval uses with this encoder: dot product for sparse vectors, MaxSim for token
    vectors, else `configured`."""
    return {"sparse": "dot", "multi": "maxsim"}.get(representation(encoder), configured)


class Evaluator(Protocol):
    """Runs a model over held-out data and returns metrics named without prefix (`mrr@10`)."""

    def __call__(self, encoder: Encoder) -> dict[str, float]: ...
