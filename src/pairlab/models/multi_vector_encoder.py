"""Multi-vector (late-interaction) encoder, ColBERT: every token's hidden state projected to `dim` values and
L2-normalized; a query and a document score by MaxSim (each query token's best match among the document's
tokens, summed).

Queries start with a `[Q]` marker and are filled with [MASK] tokens to `query_length` (query augmentation: the
masks get vectors of their own, `attend_expansion=false` keeps them out of the others' attention, as
sentence-transformers' default); documents start with `[D]`, and their punctuation tokens do not score. Every
output is padded with zero vectors to one width (`max(query_length, document_length)`), and a zero vector is a
token that does not score, so the embedding losses take these [B, T, dim] outputs with `similarity: maxsim`.
The export loads in sentence-transformers 6's `MultiVectorEncoder`.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from pairlab.models.batching import in_length_order
from pairlab.models.checkpointing import enable_checkpointing
from pairlab.models.hub import check_max_length, resolve_model_path
from pairlab.models.lora import LoraSettings, with_lora
from pairlab.models.tiny import TOKENIZER, tiny_transformer

MARKERS = {"query": "[Q] ", "document": "[D] "}


@dataclass
class ColumnTokenizer:
    """Texts -> the features one column feeds the encoder, queries (`query=True`) or documents: the marker
    prepended, truncated to the role's length; queries filled with [MASK] to `query_length`. `scoring_mask` marks
    the tokens that score (queries: real and mask tokens; documents: real tokens but punctuation). Holds no
    weights, so data-loader workers receive it cheaply."""

    tokenizer: PreTrainedTokenizerBase
    query_length: int
    document_length: int
    attend_expansion: bool = False
    skip_ids: list[int] = field(default_factory=list)

    def __call__(self, texts: list[str], query: bool) -> dict[str, Tensor]:
        role = "query" if query else "document"
        length = self.query_length if query else self.document_length
        features = dict(self.tokenizer([MARKERS[role] + text for text in texts], truncation=True, max_length=length,
                                       padding="max_length" if query else True, return_tensors="pt"))
        mask = features["attention_mask"].bool()
        if query:
            expansion = ~mask
            features["input_ids"] = features["input_ids"].masked_fill(expansion, self.tokenizer.mask_token_id)
            if self.attend_expansion:
                features["attention_mask"] = torch.ones_like(features["attention_mask"])
            features["scoring_mask"] = torch.ones_like(mask)
        else:
            features["scoring_mask"] = mask & ~torch.isin(features["input_ids"], torch.tensor(self.skip_ids))
        return features


class MultiVectorEncoder(nn.Module):
    """Encodes each text into token vectors [T, dim]; `forward` takes one tokenized column -> [B, width, dim].

    `dim`: the projection's size (ColBERT: 128). `query_length` / `document_length`: tokens per query (with the
    mask fill) and at most per document. `lora`, `gradient_checkpointing`, `lr` as for `BiEncoder`.
    """

    kind = "bi"  # the embedding losses apply, scoring with similarity=maxsim
    representation = "multi"

    def __init__(self, transformer: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, dim: int = 128,
                 query_length: int = 32, document_length: int = 180, attend_expansion: bool = False,
                 projection: nn.Linear | None = None, base_model: str = "", lora: Mapping | None = None,
                 gradient_checkpointing: bool = False, compile: bool = False, lr: float | None = None) -> None:
        super().__init__()
        if tokenizer.mask_token_id is None:
            raise ValueError("a multi-vector encoder fills queries with the tokenizer's [MASK] token: it has none")
        added = tokenizer.add_tokens([m.strip() for m in MARKERS.values()], special_tokens=True)
        if added:
            transformer.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        self.lora = LoraSettings.of(lora)
        if gradient_checkpointing:
            enable_checkpointing(transformer)
        self.transformer = transformer if self.lora is None else with_lora(transformer, self.lora)
        hidden = transformer.config.hidden_size
        self.projection = projection or nn.Linear(hidden, dim, bias=False)
        self.tokenizer = tokenizer
        self.max_length = check_max_length(max(query_length, document_length), transformer.config)
        skip = [tokenizer.convert_tokens_to_ids(c) for c in string.punctuation]
        self.column_tokenizer = ColumnTokenizer(tokenizer, query_length, document_length, attend_expansion,
                                                [i for i in skip if i is not None and i != tokenizer.unk_token_id])
        self.base_model, self.lr, self.prompts = base_model, lr, {}
        self.normalize, self.truncate_dim = True, None
        if compile:
            self.compile(dynamic=True)

    @classmethod
    def from_pretrained(cls, name: str, dim: int = 128, query_length: int = 32, document_length: int = 180,
                        attend_expansion: bool = False, lora: Mapping | None = None,
                        gradient_checkpointing: bool = False, attn_implementation: str = "sdpa",
                        compile: bool = False, lr: float | None = None) -> MultiVectorEncoder:
        """An encoder (hub id or folder) with a fresh projection, or a pairlab export with its own."""
        path = resolve_model_path(name)
        transformer = AutoModel.from_pretrained(path, attn_implementation=attn_implementation)
        transformer.train()
        projection = read_projection(path)
        return cls(transformer, AutoTokenizer.from_pretrained(path), dim=projection.out_features if projection else dim,
                   query_length=query_length, document_length=document_length, attend_expansion=attend_expansion,
                   projection=projection, base_model=name, lora=lora, gradient_checkpointing=gradient_checkpointing,
                   compile=compile, lr=lr)

    @classmethod
    def random_init(cls, size: Mapping[str, int], tokenizer: str = TOKENIZER, dim: int = 128, query_length: int = 32,
                    document_length: int = 180, attend_expansion: bool = False, seed: int = 0,
                    lora: Mapping | None = None, gradient_checkpointing: bool = False, compile: bool = False,
                    lr: float | None = None) -> MultiVectorEncoder:
        """A random-init BERT of `size` with `tokenizer`'s vocabulary and a random projection to `dim`."""
        transformer, tok = tiny_transformer(seed=seed, tokenizer=tokenizer, **dict(size))
        return cls(transformer, tok, dim=dim, query_length=query_length, document_length=document_length,
                   attend_expansion=attend_expansion, base_model="random-init", lora=lora,
                   gradient_checkpointing=gradient_checkpointing, compile=compile, lr=lr)

    @property
    def dim(self) -> int:
        return self.projection.out_features

    @property
    def width(self) -> int:
        return max(self.column_tokenizer.query_length, self.column_tokenizer.document_length)

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        """[B, width, dim]: the scoring tokens' normalized vectors, zero vectors elsewhere."""
        inputs = {k: v for k, v in features.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        vectors = F.normalize(self.projection(self.transformer(**inputs).last_hidden_state), dim=-1)
        vectors = vectors * features["scoring_mask"].unsqueeze(-1).to(vectors.dtype)
        return F.pad(vectors, (0, 0, 0, self.width - vectors.shape[1]))

    def tokenize(self, texts: list[str], query: bool = False) -> dict[str, Tensor]:
        return self.column_tokenizer(texts, query)

    @torch.inference_mode()
    def encode(self, texts: list[str], batch_size: int = 64, prompt_name: str | None = None) -> Tensor:
        """[N, width, dim] token vectors in input order, on CPU (zero vectors: tokens that do not score);
        `prompt_name="query"` encodes queries."""
        query = prompt_name == "query"
        out = in_length_order(self, texts, [len(t) for t in texts], batch_size,
                              lambda batch: self.tokenize(batch, query))
        return torch.zeros(0, self.width, self.dim) if out is None else out

    def token_vectors(self, vectors: Tensor) -> list[Tensor]:
        """[N, width, dim] -> one [tokens, dim] tensor per text (its scoring tokens), as sentence-transformers'
        `MultiVectorEncoder.encode` returns them."""
        return [v[(v != 0).any(-1)] for v in vectors]


def read_projection(path: str) -> nn.Linear | None:
    """A sentence-transformers multi-vector folder's projection (its Dense module), or None."""
    dense = Path(path) / "1_Dense"
    if not (dense / "config.json").is_file():
        return None
    config = json.loads((dense / "config.json").read_text())
    linear = nn.Linear(config["in_features"], config["out_features"], bias=False)
    linear.weight.data.copy_(load_file(str(dense / "model.safetensors"))["linear.weight"])
    return linear
