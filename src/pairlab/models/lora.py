"""LoRA adapters (Hu et al. 2021) through peft: only the adapters train; the export merges them into the
base weights (loads anywhere unchanged) or writes the adapter folder."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from torch import nn
from transformers import PreTrainedModel


@dataclass(frozen=True)
class LoraSettings:
    """`model.lora`: r (rank; null or 0: no adapters), alpha, dropout, target_modules (module names,
    null: peft's default for the architecture, e.g. query and value for BERT), export (merged: adapters
    folded into the weights, a plain model; adapter: the peft adapter folder over the base model)."""

    r: int | None = None
    alpha: float = 32.0
    dropout: float = 0.0
    target_modules: Sequence[str] | None = None
    export: str = "merged"

    @classmethod
    def of(cls, lora: Mapping | None) -> LoraSettings | None:
        if not lora or not lora.get("r"):
            return None
        unknown = sorted(set(lora) - {"r", "alpha", "dropout", "target_modules", "export"})
        if unknown:
            raise ValueError(f"model.lora.{unknown[0]} is unknown: model.lora takes r, alpha, dropout, "
                             "target_modules, export")
        settings = cls(int(lora["r"]), float(lora.get("alpha", 32.0)), float(lora.get("dropout", 0.0)),
                       list(lora["target_modules"]) if lora.get("target_modules") else None,
                       lora.get("export") or "merged")
        if settings.r < 1:
            raise ValueError(f"model.lora.r must be >= 1 (or null: no adapters), got {settings.r}")
        if settings.export not in ("merged", "adapter"):
            raise ValueError(f"model.lora.export={settings.export!r} is unknown: use merged or adapter")
        return settings


def with_lora(transformer: PreTrainedModel, settings: LoraSettings, task_type: str | None = None) -> nn.Module:
    """The transformer wrapped with fresh LoRA adapters (peft's PeftModel); everything else is frozen.
    `task_type="SEQ_CLS"` keeps a reranker's classification head trainable, as peft does for that task."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=settings.target_modules, task_type=task_type)
    return get_peft_model(transformer, config)


def is_lora(model: nn.Module) -> bool:
    return hasattr(model, "peft_config")


def backbone(model: nn.Module) -> nn.Module:
    """The transformer itself (with its adapters injected) under a peft wrapper, or the model."""
    return model.get_base_model() if is_lora(model) else model


def merged(model: nn.Module) -> PreTrainedModel:
    """A copy of the transformer with the adapters folded into its weights (a plain transformers model)."""
    return copy.deepcopy(model).merge_and_unload() if is_lora(model) else model
