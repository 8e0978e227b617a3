"""Sparse encoder (SPLADE): a masked-LM head's logits -> log(1 + ReLU) -> max (or sum) over tokens: one
vocabulary-sized vector of term weights per text, mostly zeros, scored by dot product.

`inference_free`: queries skip the transformer; a query's vector is a per-token weight table at the tokens it
contains (sentence-transformers' `SparseStaticEmbedding`, initialised from IDF), documents go through the MLM.
The embedding losses train it unchanged (their `similarity: dot`), `losses.sparse.SpladeLoss` adds the FLOPS
regularizer, and the export loads in sentence-transformers 6's `SparseEncoder`.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn
from transformers import AutoModelForMaskedLM, AutoTokenizer, BertForMaskedLM, PreTrainedModel, PreTrainedTokenizerBase

from pairlab.models.batching import in_length_order
from pairlab.models.checkpointing import enable_checkpointing
from pairlab.models.hub import check_max_length, resolve_model_path
from pairlab.models.lora import LoraSettings, backbone, with_lora
from pairlab.models.packed import packed_bert_forward, packs
from pairlab.models.tiny import TOKENIZER, tiny_config

SparsePooling = Literal["max", "sum"]


def splade_pool(logits: Tensor, attention_mask: Tensor, pooling: SparsePooling) -> Tensor:
    """[B, T, V] MLM logits -> [B, V]: log(1 + ReLU(logit)) of the real tokens, max (or sum) over tokens."""
    weights = torch.log1p(torch.relu(logits * attention_mask.unsqueeze(-1).to(logits.dtype)))
    return weights.amax(1) if pooling == "max" else weights.sum(1)


def idf_weights(tokenizer: PreTrainedTokenizerBase, source: str | Path) -> Tensor:
    """Per-token IDF [V]: a JSON {token: weight} (sentence-transformers' idf.json) read as is, or a text corpus
    (one text per line; tsv: the last column) whose document frequencies give log(1 + (N - df + 0.5) / (df + 0.5))
    (BM25's IDF); tokens never seen weigh 0."""
    path = Path(source)
    weights = torch.zeros(len(tokenizer))
    if path.suffix == ".json":
        for token, weight in json.loads(path.read_text(encoding="utf-8")).items():
            token_id = tokenizer.convert_tokens_to_ids(token)
            if token_id is not None and token_id != tokenizer.unk_token_id:
                weights[token_id] = float(weight)
        return weights
    lines = [line.rsplit("\t", 1)[-1] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    frequency = Counter(t for ids in tokenizer(lines, add_special_tokens=False)["input_ids"] for t in set(ids))
    for token_id, df in frequency.items():
        weights[token_id] = math.log(1 + (len(lines) - df + 0.5) / (df + 0.5))
    return weights


def read_sparse_settings(folder: Path) -> dict:
    """What a sentence-transformers SparseEncoder folder says: pooling, max length, max active dims, prompts, and
    for a query/document Router (inference-free) the document MLM's folder and the query weight table."""
    if not (folder / "modules.json").is_file():
        return {}
    found: dict = {}
    router = folder / "router_config.json"
    pooling_dir = folder / "1_SpladePooling"
    if router.is_file():
        from safetensors.torch import load_file

        structure = json.loads(router.read_text())["structure"]
        found["mlm_path"] = folder / structure["document"][0]
        pooling_dir = folder / structure["document"][1]
        found["query_weights"] = load_file(folder / structure["query"][0] / "model.safetensors")["weight"]
    if (pooling_dir / "config.json").is_file():
        found["pooling"] = json.loads((pooling_dir / "config.json").read_text()).get("pooling_strategy", "max")
    tokenizer_config = Path(found.get("mlm_path", folder)) / "tokenizer_config.json"
    if tokenizer_config.is_file():
        found["max_length"] = json.loads(tokenizer_config.read_text()).get("model_max_length")
    st_config = folder / "config_sentence_transformers.json"
    if st_config.is_file():
        saved = json.loads(st_config.read_text())
        found["max_active_dims"] = saved.get("max_active_dims")
        found["prompts"] = {k: v for k, v in (saved.get("prompts") or {}).items() if v}
    return found


class SparseEncoder(nn.Module):
    """Encodes each text into a [V] vector of non-negative term weights; `forward` takes one tokenized column.

    `pooling`: max (SPLADE v2 and later) or sum over tokens. `max_active_dims`: `encode` keeps each vector's
    largest that many weights (top-k pruning at inference; training sees all). `unpad`: a BERT backbone runs
    on the real tokens only and the MLM head reads only them (`pairlab.models.packed`). `inference_free`:
    queries are read from `query_weights` (see module docstring; `idf`: where its initial IDF comes from,
    `query_weights_trainable`). `lora`, `gradient_checkpointing`, `prompts`, `lr` as for `BiEncoder`.
    """

    kind = "bi"  # every embedding loss applies: its outputs are [B, V] vectors
    representation = "sparse"

    def __init__(self, mlm: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, pooling: SparsePooling = "max",
                 max_length: int = 256, max_active_dims: int | None = None, base_model: str = "", unpad: bool = True,
                 inference_free: bool = False, idf: str | None = None, query_weights_trainable: bool = False,
                 query_weights: Tensor | None = None, lora: Mapping | None = None,
                 gradient_checkpointing: bool = False, prompts: Mapping[str, str] | None = None,
                 compile: bool = False, lr: float | None = None) -> None:
        super().__init__()
        if pooling not in ("max", "sum"):
            raise ValueError(f"model.pooling={pooling!r} is unknown for a sparse encoder: use max or sum")
        if max_active_dims is not None and max_active_dims < 1:
            raise ValueError(f"model.max_active_dims must be >= 1 (or null), got {max_active_dims}")
        self.lora = LoraSettings.of(lora)
        if gradient_checkpointing:
            enable_checkpointing(mlm)
        self.transformer = mlm if self.lora is None else with_lora(mlm, self.lora)
        self.tokenizer, self.pooling, self.max_active_dims = tokenizer, pooling, max_active_dims
        self.max_length = check_max_length(max_length, mlm.config)
        self.base_model, self.unpad, self.gradient_checkpointing = base_model, unpad, gradient_checkpointing
        self.inference_free = inference_free
        self.special_ids = torch.tensor(tokenizer.all_special_ids)  # left out of inference-free queries
        if inference_free:
            weights = query_weights if query_weights is not None else (
                idf_weights(tokenizer, idf) if idf else torch.ones(len(tokenizer)))
            self.query_weights = nn.Parameter(weights.float(), requires_grad=query_weights_trainable)
        self.prompts = dict(prompts or {})
        self.normalize = False
        self.truncate_dim = None
        self.lr = lr
        if compile:
            self.compile(dynamic=True)

    @classmethod
    def from_pretrained(cls, name: str, pooling: SparsePooling | None = None, max_length: int | None = None,
                        max_active_dims: int | None = None, unpad: bool = True, inference_free: bool | None = None,
                        idf: str | None = None, query_weights_trainable: bool = False, lora: Mapping | None = None,
                        gradient_checkpointing: bool = False, prompts: Mapping[str, str] | None = None,
                        attn_implementation: str = "sdpa", compile: bool = False,
                        lr: float | None = None) -> SparseEncoder:
        """A masked LM (hub id or folder: a BERT / DistilBERT MLM, a SPLADE checkpoint) with the SPLADE head on
        top. A sentence-transformers SparseEncoder folder (a pairlab export) supplies the pooling, max active
        dims, prompts and, inference-free, the query weights, where they are not given."""
        folder = Path(resolve_model_path(name))
        found = read_sparse_settings(folder)
        mlm_path = found.get("mlm_path", folder)
        mlm = AutoModelForMaskedLM.from_pretrained(mlm_path, attn_implementation=attn_implementation)
        mlm.train()
        inference_free = found.get("query_weights") is not None if inference_free is None else inference_free
        return cls(mlm, AutoTokenizer.from_pretrained(mlm_path), pooling=pooling or found.get("pooling", "max"),
                   max_length=max_length or found.get("max_length") or 256,
                   max_active_dims=max_active_dims or found.get("max_active_dims"), base_model=name, unpad=unpad,
                   inference_free=inference_free, idf=idf, query_weights_trainable=query_weights_trainable,
                   query_weights=found.get("query_weights") if inference_free else None, lora=lora,
                   gradient_checkpointing=gradient_checkpointing, prompts=prompts or found.get("prompts"),
                   compile=compile, lr=lr)

    @classmethod
    def random_init(cls, size: Mapping[str, int], tokenizer: str = TOKENIZER, pooling: SparsePooling = "max",
                    max_length: int = 128, max_active_dims: int | None = None, unpad: bool = True,
                    inference_free: bool = False, idf: str | None = None, query_weights_trainable: bool = False,
                    seed: int = 0, lora: Mapping | None = None, gradient_checkpointing: bool = False,
                    prompts: Mapping[str, str] | None = None, compile: bool = False,
                    lr: float | None = None) -> SparseEncoder:
        """A random-init BERT masked LM of `size` with `tokenizer`'s vocabulary."""
        torch.manual_seed(seed)
        mlm = BertForMaskedLM(tiny_config(tokenizer=tokenizer, **dict(size)))
        return cls(mlm, AutoTokenizer.from_pretrained(resolve_model_path(tokenizer)), pooling=pooling,
                   max_length=max_length, max_active_dims=max_active_dims, base_model="random-init", unpad=unpad,
                   inference_free=inference_free, idf=idf, query_weights_trainable=query_weights_trainable,
                   lora=lora, gradient_checkpointing=gradient_checkpointing, prompts=prompts, compile=compile, lr=lr)

    @property
    def dim(self) -> int:
        return backbone(self.transformer).config.vocab_size

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        """Document vectors [B, V]: the MLM's logits pooled (`splade_pool`); a BERT with `unpad` runs the packed
        forward and its MLM head on the real tokens only (same vectors by test)."""
        mlm = backbone(self.transformer)
        bert = getattr(mlm, "bert", None)
        if self.unpad and not self.gradient_checkpointing and bert is not None and packs(bert):
            mask = features["attention_mask"]
            hidden, layout = packed_bert_forward(bert, features)
            weights = torch.log1p(torch.relu(mlm.cls(hidden)))  # [N, V], real tokens only
            sequence = layout.rows.div(mask.shape[1], rounding_mode="floor")
            out = weights.new_zeros(mask.shape[0], weights.shape[-1])
            if self.pooling == "sum":
                return out.index_add(0, sequence, weights)
            return out.scatter_reduce(0, sequence.unsqueeze(1).expand_as(weights), weights, "amax")
        inputs = {k: v for k, v in features.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        return splade_pool(self.transformer(**inputs).logits, features["attention_mask"], self.pooling)

    def query_forward(self, features: dict[str, Tensor]) -> Tensor:
        """Query vectors [B, V]: with `inference_free`, each query's weight-table entries at its tokens, special
        tokens left out (no transformer; as sentence-transformers' static embedding, which tokenizes queries
        without them); otherwise `forward`."""
        if not self.inference_free:
            return self(features)
        ids = features["input_ids"]
        real = features["attention_mask"].bool() & ~torch.isin(ids, self.special_ids.to(ids.device))
        present = torch.zeros(len(ids), self.dim, device=ids.device).scatter_add_(1, ids, real.float())
        return present.clamp(max=1) * self.query_weights

    def tokenize(self, texts: list[str]) -> dict[str, Tensor]:
        return self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")

    def prompted(self, texts: list[str], prompt_name: str | None) -> list[str]:
        if prompt_name is None or prompt_name not in self.prompts:
            return texts
        return [self.prompts[prompt_name] + text for text in texts]

    @torch.inference_mode()
    def encode(self, texts: list[str], batch_size: int = 64, prompt_name: str | None = None,
               sparse: bool = False) -> Tensor:
        """Vectors [N, V] in input order, on CPU, each cut to its `max_active_dims` largest weights; `sparse`: as
        a torch sparse COO tensor. `prompt_name="query"` reads queries as queries (the weight table when
        inference-free)."""
        query = prompt_name == "query"
        texts = self.prompted(texts, prompt_name)

        def vectors(features: dict[str, Tensor]) -> Tensor:
            return top_k_dims(self.query_forward(features) if query else self(features), self.max_active_dims
                              ).float().cpu().to_sparse()

        out = in_length_order(self, texts, [len(t) for t in texts], batch_size, self.tokenize, vectors)
        if out is None:
            out = torch.zeros(0, self.dim).to_sparse()
        return out.coalesce() if sparse else out.to_dense()


def top_k_dims(vectors: Tensor, k: int | None) -> Tensor:
    """Each row with all but its `k` largest-magnitude values set to 0 (unchanged without k)."""
    if k is None or k >= vectors.shape[-1]:
        return vectors
    kept = vectors.abs().topk(k, dim=-1).indices
    return torch.zeros_like(vectors).scatter(-1, kept, vectors.gather(-1, kept))
