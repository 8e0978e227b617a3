"""Load any encoder folder or hub id for evaluation and mining, telling bi- from cross-encoders by the folder."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from pairlab.errors import ConfigError
from pairlab.models.bi_encoder import BiEncoder
from pairlab.models.cross_encoder import CrossEncoder
from pairlab.models.hub import resolve_model_path
from pairlab.models.llm_reranker import LLMReranker
from pairlab.models.multi_vector_encoder import MultiVectorEncoder
from pairlab.models.sparse_encoder import SparseEncoder


def detect_kind(path: str) -> str:
    """"cross" for sequence-classification models and sentence-transformers CrossEncoder folders (an LLM
    reranker's), "bi" for other sentence-transformers folders and plain encoders."""
    folder = Path(path)
    if model_type(folder) == "CrossEncoder":
        return "cross"
    if (folder / "modules.json").is_file():
        return "bi"
    if (folder / "config.json").is_file():
        return "cross" if any("ForSequenceClassification" in a for a in architectures(folder)) else "bi"
    raise ConfigError(f"model.name={path!r}: cannot tell a bi- from a cross-encoder (no modules.json or "
                      "config.json there); set eval.model_kind=bi or eval.model_kind=cross")


def model_kind(path: str, kind: str | None) -> str:
    """`kind` (eval.model_kind: bi | cross) checked, or detected from the folder when null."""
    if kind not in (None, "bi", "cross"):
        raise ConfigError(f"eval.model_kind={kind!r} is unknown: use bi or cross (or null: detected)")
    return kind or detect_kind(path)


def model_type(folder: Path) -> str | None:
    """The sentence-transformers class a folder was saved as (SentenceTransformer, CrossEncoder, SparseEncoder)."""
    st_config = folder / "config_sentence_transformers.json"
    return json.loads(st_config.read_text()).get("model_type") if st_config.is_file() else None


def read_lengths(folder: Path) -> dict[str, int]:
    """A multi-vector folder's query and document lengths (its Transformer's config)."""
    config = json.loads((folder / "sentence_bert_config.json").read_text())
    return {k: config[k] for k in ("query_length", "document_length") if config.get(k)}


def architectures(folder: Path) -> list[str]:
    config = folder / "config.json"
    return (json.loads(config.read_text()).get("architectures") or []) if config.is_file() else []


def resolve(name: str) -> str:
    """A loadable path for a folder or hub id; a `ConfigError` naming `model.name` otherwise."""
    try:
        return resolve_model_path(name)
    except FileNotFoundError as e:
        raise ConfigError(str(e)) from e


def load_encoder(name: str, kind: str | None, max_length: int | None = None,
                 device: torch.device | str = "cpu") -> BiEncoder | CrossEncoder | LLMReranker:
    """A bi- or cross-encoder (`kind`, or detected from the folder) with the folder's own settings, on
    `device`; BERT-layout encoders skip padding tokens (same outputs, less work)."""
    path = resolve(name)
    kind = model_kind(path, kind)
    try:
        if kind == "bi" and model_type(Path(path)) == "SparseEncoder":
            encoder = SparseEncoder.from_pretrained(path, max_length=max_length)
        elif kind == "bi" and model_type(Path(path)) == "MultiVectorEncoder":
            encoder = MultiVectorEncoder.from_pretrained(path, **read_lengths(Path(path)))
        elif kind == "bi":
            encoder = BiEncoder.from_pretrained(path, max_length=max_length)
        elif any(a.endswith("ForCausalLM") for a in architectures(Path(path))):
            encoder = LLMReranker.from_pretrained(path, max_length=max_length)
        else:
            encoder = CrossEncoder.from_pretrained(path, max_length=max_length)
    except ValueError as e:  # a setting the model cannot take (model.max_length beyond its positions)
        raise ConfigError(str(e)) from None
    return encoder.to(device)
