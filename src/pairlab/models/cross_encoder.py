"""Cross-encoder: one transformer pass over (query, passage), one relevance logit."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from pairlab.models.batching import in_length_order
from pairlab.models.hub import check_max_length, resolve_model_path
from pairlab.models.lora import LoraSettings, backbone, with_lora
from pairlab.models.packed import packed_reranker_logits, packs_reranker
from pairlab.models.tiny import TOKENIZER, tiny_transformer


class PairScorer(nn.Module):
    """Base of the rerankers: `tokenize(queries, passages)` and `forward(features) -> [B]` scores, in subclasses;
    `score` runs them over any number of pairs."""

    kind = "cross"

    def tokenize(self, queries: list[str], passages: list[str]) -> dict[str, Tensor]:
        raise NotImplementedError

    @torch.inference_mode()
    def score(self, queries: list[str], passages: list[str], batch_size: int = 64) -> Tensor:
        """Logits for each (query, passage), in input order, on CPU."""
        pairs = list(zip(queries, passages, strict=True))
        scores = in_length_order(self, pairs, [len(q) + len(p) for q, p in pairs], batch_size,
                                 lambda batch: self.tokenize([q for q, _ in batch], [p for _, p in batch]))
        return torch.empty(0) if scores is None else scores


class CrossEncoder(PairScorer):
    """Scores (query, passage) pairs; `forward` takes one tokenized candidate column -> [B] logits.
    `unpad`: BERT rerankers run on the real tokens only (`pairlab.models.packed`), same logits;
    `onednn_linear`: that path's fp32 CPU projections run through oneDNN where its probe passes, same logits.
    `lora`: train LoRA adapters and the classification head only (`pairlab.models.lora`); `lr`: the learning
    rate this model fine-tunes at (the optimizer config reads it)."""

    def __init__(self, transformer: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 max_length: int = 256, base_model: str = "", compile: bool = False,
                 lora: Mapping | None = None, unpad: bool = True, onednn_linear: bool = False,
                 lr: float | None = None) -> None:
        super().__init__()
        if transformer.config.num_labels != 1:
            raise ValueError(f"a reranker needs num_labels=1, the model has {transformer.config.num_labels}")
        self.lora = LoraSettings.of(lora)
        self.transformer = transformer if self.lora is None else with_lora(transformer, self.lora, "SEQ_CLS")
        self.tokenizer = tokenizer
        self.max_length = check_max_length(max_length, transformer.config)
        self.base_model, self.unpad, self.onednn_linear, self.lr = base_model, unpad, onednn_linear, lr
        if compile:  # compiles the forward in place: parameter names, checkpoints and exports unchanged
            self.compile(dynamic=True)

    @classmethod
    def from_pretrained(cls, name: str, max_length: int | None = None, seed: int = 0, compile: bool = False,
                        attn_implementation: str = "sdpa", lora: Mapping | None = None,
                        unpad: bool = True, onednn_linear: bool = False, lr: float | None = None) -> CrossEncoder:
        """Load a reranker, or a plain encoder with a fresh seeded 1-logit head."""
        path = resolve_model_path(name)
        torch.manual_seed(seed)  # the fresh head, if any, is reproducible
        transformer = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=1, attn_implementation=attn_implementation)
        transformer.train()
        tokenizer = AutoTokenizer.from_pretrained(path)
        return cls(transformer, tokenizer, max_length=max_length or 256, base_model=name, compile=compile, lora=lora,
                   unpad=unpad, onednn_linear=onednn_linear, lr=lr)

    @classmethod
    def random_init(cls, size: Mapping[str, int], tokenizer: str = TOKENIZER, max_length: int = 256,
                    compile: bool = False, seed: int = 0, lora: Mapping | None = None,
                    unpad: bool = True, onednn_linear: bool = False, lr: float | None = None) -> CrossEncoder:
        """A random-init BERT reranker of `size` (hidden_size, num_hidden_layers, ...) with a 1-logit head."""
        transformer, tok = tiny_transformer(seed=seed, cross=True, tokenizer=tokenizer, **dict(size))
        return cls(transformer, tok, max_length=max_length, base_model="random-init", compile=compile, lora=lora,
                   unpad=unpad, onednn_linear=onednn_linear, lr=lr)

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        model = backbone(self.transformer)
        if self.unpad and packs_reranker(model) and bool(features["attention_mask"][:, 0].all()):  # right-padded
            return packed_reranker_logits(model, features, self.onednn_linear).squeeze(-1)
        return self.transformer(**features).logits.squeeze(-1)

    def tokenize(self, queries: list[str], passages: list[str]) -> dict[str, Tensor]:
        return self.tokenizer(queries, passages, padding=True, truncation="longest_first",
                              max_length=self.max_length, return_tensors="pt")
