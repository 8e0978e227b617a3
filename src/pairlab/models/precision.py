"""Where and in which precision evaluation and mining run encoders, from what the hardware has."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Literal

import torch

Precision = Literal["fp32", "bf16", "auto"]


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return next((set(line.split(":", 1)[1].split()) for line in text.splitlines() if line.startswith("flags")), set())


def native_bf16(device: torch.device) -> bool:
    """bf16 matmuls run in hardware: a GPU that supports them, or a CPU with AVX512-BF16 or AMX units."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


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
