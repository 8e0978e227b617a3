"""Hardware-specific kernels, each chosen by a capability probe, with torch's standard op as the fallback.

A probe runs its kernel once on a tiny input and checks the answer against the standard op; the verdict is
cached for the process. A CPU's feature flags alone do not decide: oneDNN can refuse a primitive the flags
suggest (bf16 on a CPU without AVX-512, or under `ONEDNN_MAX_CPU_ISA`). Every private torch op the package
calls is called from this module, behind a probe.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

BF16_UNITS = frozenset({"avx512_bf16", "amx_bf16"})  # CPU flags of bf16 matrix instructions


def onednn_linear_op(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """oneDNN's inner product, `x @ weight.T + bias` (a private op: call it only where `onednn_linear_works`)."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


@functools.cache
def onednn_linear_works(dtype: torch.dtype) -> bool:
    """Whether oneDNN builds an inner product for `dtype` on this CPU and it agrees with `F.linear`."""
    if not torch.backends.mkldnn.is_available():
        return False
    generator = torch.Generator().manual_seed(0)
    x, weight, bias = (torch.randn(*shape, generator=generator) for shape in ((8, 16), (4, 16), (4,)))
    expected = F.linear(x, weight, bias)
    try:
        out = onednn_linear_op(x.to(dtype), weight.to(dtype), bias.to(dtype)).float()
    except RuntimeError:  # "could not create a primitive descriptor ..."
        return False
    tolerance = 1e-4 if dtype == torch.float32 else 0.1
    return out.shape == expected.shape and bool(torch.allclose(out, expected, rtol=tolerance, atol=tolerance))


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return next((set(line.split(":", 1)[1].split()) for line in text.splitlines() if line.startswith("flags")), set())


def native_bf16(device: torch.device) -> bool:
    """bf16 matmuls run in hardware: a GPU that supports them, or a CPU with bf16 matrix instructions
    (AVX512-BF16, AMX) that oneDNN's bf16 kernels run on. Elsewhere torch emulates bf16, tens of times
    slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and bool(cpu_flags() & BF16_UNITS) and onednn_linear_works(torch.bfloat16)


class _OneDnnLinear(torch.autograd.Function):
    """`F.linear` for 2-D fp32 CPU inputs with the forward and the input gradient in oneDNN; the weight
    gradient stays with `torch.mm`."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return onednn_linear_op(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        x, weight = ctx.saved_tensors
        needs_x, needs_weight, needs_bias = ctx.needs_input_grad
        grad_x = onednn_linear_op(grad, weight.t().contiguous()) if needs_x else None
        grad_weight = grad.t() @ x if needs_weight else None
        grad_bias = grad.sum(0) if needs_bias and ctx.has_bias else None
        return grad_x, grad_weight, grad_bias


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, onednn: bool = False) -> Tensor:
    """`F.linear(x, weight, bias)`. With `onednn`, 2-D fp32 CPU inputs go through oneDNN where its probe
    passes (same outputs; bf16 autocast already runs there, compiled graphs pick their own kernels)."""
    if (onednn and x.dim() == 2 and x.device.type == "cpu" and x.dtype == weight.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling()
            and onednn_linear_works(torch.float32)):
        return _OneDnnLinear.apply(x, weight, bias)
    return F.linear(x, weight, bias)
