"""Activation (gradient) checkpointing: each transformer layer's activations recomputed in the backward pass."""

from __future__ import annotations

from transformers import PreTrainedModel


def enable_checkpointing(transformer: PreTrainedModel) -> None:
    """Non-reentrant checkpointing of every layer (works with frozen inputs, LoRA and GradCache's re-embedding),
    through transformers' `activation_checkpointing_enable` (its older name where that is all there is)."""
    kwargs = {"use_reentrant": False}
    if hasattr(transformer, "activation_checkpointing_enable"):
        transformer.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        transformer.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
