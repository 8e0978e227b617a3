"""Where and in which precision evaluation and mining run encoders, from what the hardware has."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Literal

import torch

from pairlab.models.kernels import native_bf16

Precision = Literal["fp32", "bf16", "auto"]


def pick_device(name: str = "auto") -> torch.device:
    """`auto`: the GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_precision(precision: Precision, device: torch.device) -> Literal["fp32", "bf16"]:
    if precision not in ("fp32", "bf16", "auto"):
        raise ValueError(f"precision={precision!r} is unknown: use fp32, bf16 or auto")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def inference_precision(precision: Precision, device: torch.device) -> AbstractContextManager:
    """bf16 autocast for the encoders' matmuls (embeddings and scores come back as float32), or nothing."""
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
