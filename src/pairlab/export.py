"""Export trained encoders in the formats the ecosystem loads, atomically, with a model card.

Bi-encoders become sentence-transformers folders (`SentenceTransformer(path)`; the transformer
sits at the root, so plain `transformers.AutoModel` loads it too). Cross-encoders become
`AutoModelForSequenceClassification` folders that `sentence_transformers.CrossEncoder(path)`
loads with raw logits (identity activation), the same scores pairlab computes.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from pathlib import Path

from pairlab.atomic import atomic_dir
from pairlab.models import BiEncoder, CrossEncoder
from pairlab.models.bi_encoder import POOLING_KEYS
from pairlab.models.llm_reranker import LLMReranker
from pairlab.models.lora import backbone, merged
from pairlab.models.multi_vector_encoder import MARKERS, MultiVectorEncoder
from pairlab.models.sparse_encoder import SparseEncoder


def _write_json(path: Path, obj: Mapping) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")


def _save_transformer(model: BiEncoder | CrossEncoder | LLMReranker, folder: Path) -> None:
    """The weights: with LoRA adapters merged into them (default) or as the peft adapter folder."""
    if model.lora is not None and model.lora.export == "adapter":
        model.transformer.save_pretrained(folder)
    else:
        merged(model.transformer).save_pretrained(folder)
    model.tokenizer.save_pretrained(folder)


def _save_bi_encoder(model: BiEncoder, folder: Path) -> None:
    _save_transformer(model, folder)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if model.normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        (folder / "2_Normalize").mkdir()
    _write_json(folder / "modules.json", modules)
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": model.max_length, "do_lower_case": False})
    (folder / "1_Pooling").mkdir()
    _write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": model.dim,
        **{key: model.pooling == mode for mode, key in POOLING_KEYS.items()},
        "pooling_mode_mean_sqrt_len_tokens": False,
    })
    config = {"model_type": "SentenceTransformer", "similarity_fn_name": "cosine", "prompts": dict(model.prompts),
              "default_prompt_name": None}
    if model.truncate_dim:
        config["truncate_dim"] = model.truncate_dim
    _write_json(folder / "config_sentence_transformers.json", config)


def _save_cross_encoder(model: CrossEncoder | LLMReranker, folder: Path) -> None:
    backbone(model.transformer).config.sentence_transformers = {"activation_fn": "torch.nn.modules.linear.Identity"}
    _save_transformer(model, folder)
    if isinstance(model, LLMReranker):  # sentence-transformers scores a causal LM with a LogitScore module
        _write_json(folder / "modules.json", [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.Transformer"},
            {"idx": 1, "name": "1", "path": "1_LogitScore",
             "type": "sentence_transformers.cross_encoder.modules.LogitScore"}])
        forward = {"method": "forward", "method_output_name": "logits"}
        _write_json(folder / "sentence_bert_config.json", {  # pairs go through the chat template (message)
            "transformer_task": "text-generation", "max_seq_length": model.max_length,
            "modality_config": {"text": forward, "message": {**forward, "format": "flat"}},
            "module_output_name": "causal_logits"})
        (folder / "1_LogitScore").mkdir()
        _write_json(folder / "1_LogitScore" / "config.json", {
            "true_token_id": model.true_id, "false_token_id": model.false_id, "module_input_name": "causal_logits"})
    _write_json(folder / "config_sentence_transformers.json",
                {"model_type": "CrossEncoder", "max_length": model.max_length,
                 "activation_fn": "torch.nn.modules.linear.Identity"})


ST_SPARSE = "sentence_transformers.sparse_encoder.modules"


def _save_sparse_encoder(model: SparseEncoder, folder: Path) -> None:
    """sentence-transformers 6's SparseEncoder layout: the masked LM (transformer_task fill-mask) and SpladePooling;
    inference-free, a Router sending queries to a SparseStaticEmbedding of the query weights and documents there."""
    mlm_config = {"transformer_task": "fill-mask",
                  "modality_config": {"text": {"method": "forward", "method_output_name": "logits"}},
                  "module_output_name": "token_embeddings"}
    pooling = {"pooling_strategy": model.pooling, "activation_function": "relu", "embedding_dimension": model.dim}
    model.tokenizer.model_max_length = model.max_length
    if not model.inference_free:
        _save_transformer(model, folder)
        _write_json(folder / "sentence_bert_config.json", mlm_config)
        (folder / "1_SpladePooling").mkdir()
        _write_json(folder / "1_SpladePooling" / "config.json", pooling)
        _write_json(folder / "modules.json", [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
            {"idx": 1, "name": "1", "path": "1_SpladePooling", "type": f"{ST_SPARSE}.splade_pooling.SpladePooling"}])
    else:
        from safetensors.torch import save_file

        query, document, pool = "query_0_SparseStaticEmbedding", "document_0_Transformer", "document_1_SpladePooling"
        for name in (query, document, pool):
            (folder / name).mkdir()
        _save_transformer(model, folder / document)
        _write_json(folder / document / "sentence_bert_config.json", mlm_config)
        _write_json(folder / pool / "config.json", pooling)
        _write_json(folder / query / "config.json", {"frozen": not model.query_weights.requires_grad})
        save_file({"weight": model.query_weights.detach().float().contiguous().cpu()},
                  str(folder / query / "model.safetensors"))
        model.tokenizer.save_pretrained(folder / query)
        _write_json(folder / "router_config.json", {
            "types": {query: f"{ST_SPARSE}.sparse_static_embedding.SparseStaticEmbedding",
                      document: "sentence_transformers.base.modules.transformer.Transformer",
                      pool: f"{ST_SPARSE}.splade_pooling.SpladePooling"},
            "structure": {"query": [query], "document": [document, pool]},
            "parameters": {"default_route": "document", "allow_empty_key": True, "route_mappings": {}}})
        _write_json(folder / "modules.json", [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.router.Router"}])
    config = {"model_type": "SparseEncoder", "similarity_fn_name": "dot", "prompts": dict(model.prompts),
              "default_prompt_name": None}
    if model.max_active_dims:
        config["max_active_dims"] = model.max_active_dims
    _write_json(folder / "config_sentence_transformers.json", config)


def _save_multi_vector_encoder(model: MultiVectorEncoder, folder: Path) -> None:
    """sentence-transformers 6's MultiVectorEncoder layout: Transformer (query / document lengths, [MASK] query
    expansion), Dense projection, MultiVectorMask (punctuation skipped on documents), Normalize; the markers as
    the query / document prompts."""
    from safetensors.torch import save_file

    columns = model.column_tokenizer
    _save_transformer(model, folder)
    _write_json(folder / "sentence_bert_config.json", {
        "transformer_task": "feature-extraction",
        "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
        "module_output_name": "token_embeddings", "query_length": columns.query_length,
        "document_length": columns.document_length,
        "query_expansion": {"strategy": "fixed", "attend": columns.attend_expansion, "token": None,
                            "length": columns.query_length}})
    for name in ("1_Dense", "2_MultiVectorMask", "3_Normalize"):
        (folder / name).mkdir()
    _write_json(folder / "1_Dense" / "config.json", {
        "in_features": model.projection.in_features, "out_features": model.dim, "bias": False,
        "activation_function": "torch.nn.modules.linear.Identity", "module_input_name": "token_embeddings",
        "module_output_name": "token_embeddings"})
    save_file({"linear.weight": model.projection.weight.detach().float().contiguous().cpu()},
              str(folder / "1_Dense" / "model.safetensors"))
    _write_json(folder / "2_MultiVectorMask" / "config.json", {
        "skiplist_words": list(string.punctuation), "skiplist_tasks": ["document"], "keep_only_token_ids": None})
    _write_json(folder / "3_Normalize" / "config.json",
                {"module_input_name": "token_embeddings", "module_output_name": "token_embeddings"})
    base = "sentence_transformers.base.modules"
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": f"{base}.transformer.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Dense", "type": f"{base}.dense.Dense"},
        {"idx": 2, "name": "2", "path": "2_MultiVectorMask",
         "type": "sentence_transformers.multi_vector_encoder.modules.multi_vector_mask.MultiVectorMask"},
        {"idx": 3, "name": "3", "path": "3_Normalize", "type": f"{base}.normalize.Normalize"}])
    _write_json(folder / "config_sentence_transformers.json", {
        "model_type": "MultiVectorEncoder", "similarity_fn_name": "maxsim", "prompts": dict(MARKERS),
        "default_prompt_name": None})


def model_card(model: BiEncoder | CrossEncoder, info: Mapping) -> str:
    """README.md: what was trained, on what, how well, and the command that made it."""
    kind = "bi-encoder (sentence embeddings)" if model.kind == "bi" else "cross-encoder (reranker)"
    loader = ("from sentence_transformers import SentenceTransformer\nmodel = SentenceTransformer(path)"
              if model.kind == "bi" else
              "from sentence_transformers import CrossEncoder\nmodel = CrossEncoder(path)")
    if isinstance(model, SparseEncoder):
        kind = "sparse encoder (SPLADE: vocabulary-sized term weights)"
        loader = "from sentence_transformers import SparseEncoder\nmodel = SparseEncoder(path)"
    if isinstance(model, MultiVectorEncoder):
        kind = "multi-vector encoder (ColBERT: one vector per token, MaxSim scoring)"
        loader = "from sentence_transformers import MultiVectorEncoder\nmodel = MultiVectorEncoder(path)"
    metrics = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(info.get("metrics", {}).items()))
    return f"""---
library_name: sentence-transformers
tags: [pairlab, {model.kind}-encoder]
---
# {info.get("run_name", "pairlab model")}

A {kind} trained with pairlab.

- base model: `{model.base_model}`
- loss: {info.get("loss", "?")}
- data: {info.get("data", "?")}

## Final validation metrics
| metric | value |
|---|---|
{metrics}

## Reproduce
```
{info.get("command", "")}
```

## Load
```python
{loader}
```
"""


def export_model(model: BiEncoder | CrossEncoder, target: str | Path, info: Mapping | None = None) -> Path:
    """Write `model` to `target` atomically (any previous export there is replaced whole)."""
    target = Path(target)
    with atomic_dir(target) as tmp:
        if isinstance(model, BiEncoder):
            _save_bi_encoder(model, tmp)
        elif isinstance(model, SparseEncoder):
            _save_sparse_encoder(model, tmp)
        elif isinstance(model, MultiVectorEncoder):
            _save_multi_vector_encoder(model, tmp)
        else:
            _save_cross_encoder(model, tmp)
        (tmp / "README.md").write_text(model_card(model, info or {}))
    return target
