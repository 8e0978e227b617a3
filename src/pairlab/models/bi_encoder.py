"""Bi-encoder: transformer -> pooling -> optional L2 normalize, one embedding per text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from pairlab.models.batching import in_length_order
from pairlab.models.checkpointing import enable_checkpointing
from pairlab.models.decoder import attends_causally, packed_hidden, prepare_tokenizer
from pairlab.models.hub import check_max_length, resolve_model_path
from pairlab.models.lora import LoraSettings, backbone, with_lora
from pairlab.models.packed import packed_pooled, packs
from pairlab.models.pooling import POOLINGS, Pooling, pool
from pairlab.models.tiny import TOKENIZER, tiny_decoder, tiny_transformer

POOLING_KEYS = {"mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens",
                "lasttoken": "pooling_mode_lasttoken", "weightedmean": "pooling_mode_weightedmean_tokens"}
"""sentence-transformers' Pooling config key for each pooling mode."""


def read_sentence_transformers_settings(path: str) -> dict:
    """Pooling, normalize, max length, prompts and truncate_dim from a sentence-transformers folder ({} if not one)."""
    folder = Path(path)
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return {}
    modules = json.loads(modules_file.read_text())
    settings: dict = {"normalize": any(m["type"].endswith("Normalize") for m in modules)}
    for m in modules:
        if m["type"].endswith("Pooling"):
            pooling_cfg = json.loads((folder / m["path"] / "config.json").read_text())
            for mode, key in POOLING_KEYS.items():
                if pooling_cfg.get(key) or pooling_cfg.get("pooling_mode") == mode:
                    settings["pooling"] = mode
    st_cfg = folder / "sentence_bert_config.json"
    if st_cfg.is_file():
        settings["max_length"] = json.loads(st_cfg.read_text()).get("max_seq_length")
    model_cfg = folder / "config_sentence_transformers.json"
    if model_cfg.is_file():
        saved = json.loads(model_cfg.read_text())
        settings["prompts"] = {k: v for k, v in (saved.get("prompts") or {}).items() if v}
        settings["truncate_dim"] = saved.get("truncate_dim")
    return settings


class BiEncoder(nn.Module):
    """Embeds each text independently; `forward` takes one tokenized column.

    Any `AutoModel` backbone: BERT-shaped encoders and decoder LLMs (Qwen3, Llama, Mistral, ...; see
    `pairlab.models.decoder`), which tokenize with left padding and an appended end-of-sequence token and pool
    the last token (`pooling="lasttoken"`). `unpad`: run on the real tokens only: BERT-layout encoders through
    `pairlab.models.packed`, decoders as texts laid end to end (`pairlab.models.decoder`); same outputs.
    `onednn_linear`: the packed BERT path's fp32 CPU projections run through oneDNN where its probe passes.
    `gradient_checkpointing`: recompute each layer's activations in the backward pass (non-reentrant; less
    memory, about a third more compute; BERTs then run transformers' forward). `prompts`: named prefixes
    (`{"query": "Instruct: ...\\nQuery: "}`) that `encode(prompt_name=...)` puts before texts and the export
    saves; `truncate_dim`: `encode` returns the first that many values (the export's default, as
    sentence-transformers' truncate_dim); `lora`: train LoRA adapters only (`pairlab.models.lora`); `lr`: the
    learning rate this model fine-tunes at (the optimizer config reads it).
    """

    kind = "bi"

    def __init__(self, transformer: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 pooling: Pooling = "mean", normalize: bool = True, max_length: int = 128,
                 base_model: str = "", unpad: bool = True, onednn_linear: bool = False, compile: bool = False,
                 prompts: Mapping[str, str] | None = None, truncate_dim: int | None = None,
                 lora: Mapping | None = None, gradient_checkpointing: bool = False,
                 append_eos: bool | None = None, lr: float | None = None) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"model.pooling={pooling!r} is unknown: use one of {', '.join(POOLINGS)}")
        if truncate_dim is not None and not 0 < truncate_dim <= transformer.config.hidden_size:
            raise ValueError(f"model.truncate_dim must be in 1..{transformer.config.hidden_size} (or null), "
                             f"got {truncate_dim}")
        self.decoder = attends_causally(transformer)
        if self.decoder:
            if pooling in ("cls", "max"):
                raise ValueError(f"model.pooling={pooling} on a decoder LM: its first token has read nothing of "
                                 "the text: use model.pooling=lasttoken (or mean, weightedmean)")
            tokenizer = prepare_tokenizer(tokenizer, append_eos=append_eos is not False)
        elif pooling == "cls" and tokenizer.padding_side == "left":
            raise ValueError("model.pooling=cls reads the first position, which left padding fills with padding: "
                             "set the tokenizer's padding_side to right, or use model.pooling=mean")
        self.lora = LoraSettings.of(lora)
        if gradient_checkpointing:
            enable_checkpointing(transformer)
        self.transformer = transformer if self.lora is None else with_lora(transformer, self.lora)
        self.tokenizer = tokenizer
        self.pooling: Pooling = pooling
        self.normalize = normalize
        self.max_length = check_max_length(max_length, transformer.config)
        self.base_model = base_model
        self.unpad = unpad
        self.onednn_linear = onednn_linear
        self.gradient_checkpointing = gradient_checkpointing
        self.prompts = dict(prompts or {})
        self.truncate_dim = truncate_dim
        self.lr = lr
        if compile:  # compiles the forward in place: parameter names, checkpoints and exports unchanged
            self.compile(dynamic=True)

    @classmethod
    def from_pretrained(cls, name: str, pooling: Pooling | None = None, normalize: bool | None = None,
                        max_length: int | None = None, unpad: bool = True, onednn_linear: bool = False,
                        compile: bool = False, attn_implementation: str = "sdpa",
                        prompts: Mapping[str, str] | None = None, truncate_dim: int | None = None,
                        lora: Mapping | None = None, gradient_checkpointing: bool = False,
                        append_eos: bool | None = None, torch_dtype: str | None = None,
                        lr: float | None = None) -> BiEncoder:
        """Load a hub id or local folder; a sentence-transformers folder supplies the pooling,
        normalize, max length, prompts and truncate_dim that are not given explicitly. `torch_dtype`
        (e.g. bfloat16) loads the weights in that type (null: float32)."""
        path = resolve_model_path(name)
        found = read_sentence_transformers_settings(path)
        transformer = AutoModel.from_pretrained(path, attn_implementation=attn_implementation,
                                                dtype=getattr(torch, torch_dtype) if torch_dtype else None)
        transformer.train()  # from_pretrained returns eval mode: dropout would stay off in training
        decoder = attends_causally(transformer)
        return cls(
            transformer,
            AutoTokenizer.from_pretrained(path),
            pooling=pooling or found.get("pooling", "lasttoken" if decoder else "mean"),
            normalize=normalize if normalize is not None else found.get("normalize", decoder),
            max_length=max_length or found.get("max_length") or 128,
            base_model=name, unpad=unpad, onednn_linear=onednn_linear, compile=compile,
            prompts=prompts or found.get("prompts"),
            truncate_dim=truncate_dim if truncate_dim is not None else found.get("truncate_dim"), lora=lora,
            gradient_checkpointing=gradient_checkpointing, append_eos=append_eos, lr=lr,
        )

    @classmethod
    def random_init(cls, size: Mapping[str, int], tokenizer: str | None = TOKENIZER, pooling: Pooling = "mean",
                    normalize: bool = True, max_length: int = 128, unpad: bool = True, onednn_linear: bool = False,
                    compile: bool = False, seed: int = 0, prompts: Mapping[str, str] | None = None,
                    truncate_dim: int | None = None, lora: Mapping | None = None, architecture: str = "bert",
                    attn_implementation: str = "sdpa", gradient_checkpointing: bool = False,
                    append_eos: bool | None = None, lr: float | None = None) -> BiEncoder:
        """A random-init transformer of `size` (hidden_size, num_hidden_layers, ...): a BERT with `tokenizer`'s
        vocabulary, or a decoder of `architecture` (qwen3, llama, mistral) with `tokenizer` (null: a byte-level
        BPE trained on the packaged sample text)."""
        if architecture == "bert":
            transformer, tok = tiny_transformer(seed=seed, tokenizer=tokenizer or TOKENIZER, **dict(size))
        else:
            transformer, tok = tiny_decoder(architecture, seed=seed, tokenizer=tokenizer,
                                            attn_implementation=attn_implementation, **dict(size))
        return cls(transformer, tok, pooling=pooling, normalize=normalize, max_length=max_length,
                   base_model="random-init", unpad=unpad, onednn_linear=onednn_linear, compile=compile,
                   prompts=prompts, truncate_dim=truncate_dim, lora=lora,
                   gradient_checkpointing=gradient_checkpointing, append_eos=append_eos, lr=lr)

    @property
    def dim(self) -> int:
        return backbone(self.transformer).config.hidden_size

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        """transformers' forward, then pooling (and normalization). With `unpad`, a BERT-layout model runs the
        packed forward instead: the same math on the real tokens only (the accelerator seam, `models/packed.py`;
        equal outputs by test); a decoder runs its texts end to end, padding-free (`models/decoder.py`)."""
        transformer = backbone(self.transformer)
        if self.unpad and not self.gradient_checkpointing and packs(transformer):
            emb = packed_pooled(transformer, features, self.pooling, self.onednn_linear)
        elif self.unpad and self.decoder:
            emb = packed_hidden(self.transformer, features, lambda hidden, mask: pool(hidden, mask, self.pooling))
        else:
            inputs = {k: v for k, v in features.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
            if self.decoder:
                inputs["use_cache"] = False  # no key/value cache: one forward, nothing generated
            emb = pool(self.transformer(**inputs).last_hidden_state, features["attention_mask"], self.pooling)
        return F.normalize(emb, p=2, dim=-1) if self.normalize else emb

    def tokenize(self, texts: list[str]) -> dict[str, Tensor]:
        return self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                              return_tensors="pt")

    def prompted(self, texts: list[str], prompt_name: str | None) -> list[str]:
        """`texts` with the named prompt before each (unchanged without a name)."""
        if prompt_name is None:
            return texts
        if prompt_name not in self.prompts:
            raise ValueError(f"prompt_name={prompt_name!r} is not among the model's prompts {sorted(self.prompts)}")
        return [self.prompts[prompt_name] + text for text in texts]

    @torch.inference_mode()
    def encode(self, texts: list[str], batch_size: int = 64, prompt_name: str | None = None) -> Tensor:
        """Embed texts (after the named prompt) in length-sorted batches (less padding), returned in input
        order, on CPU, cut to `truncate_dim` when set."""
        texts = self.prompted(texts, prompt_name)
        embeddings = in_length_order(self, texts, [len(t) for t in texts], batch_size, self.tokenize)
        if embeddings is None:
            return torch.empty(0, self.truncate_dim or self.dim)
        return embeddings[:, :self.truncate_dim] if self.truncate_dim else embeddings
