"""Capability probes (`pairlab.models.kernels`): each hardware-specific kernel runs only where its probe
passes, and the fallback is torch's standard op with the same outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from pairlab.models import kernels
from pairlab.models.kernels import linear, native_bf16, onednn_linear_works
from pairlab.models.precision import resolve_precision

ONEDNN_FP32 = "oneDNN's fp32 inner product (probe: pairlab.models.kernels.onednn_linear_works)"


@pytest.fixture
def onednn_fails(monkeypatch):
    """oneDNN refuses every primitive, as it does for bf16 on a CPU without AVX-512; the probes' cache is cleared
    around the test."""

    def refuse(*args, **kwargs):
        raise RuntimeError("could not create a primitive descriptor for the inner product forward propagation")

    onednn_linear_works.cache_clear()
    monkeypatch.setattr(kernels, "onednn_linear_op", refuse)
    yield
    onednn_linear_works.cache_clear()


def inputs(with_bias: bool) -> tuple[list[torch.Tensor], torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x, weight, bias = (torch.randn(*shape, generator=generator) for shape in ((70, 48), (96, 48), (96,)))
    return ([x, weight, bias] if with_bias else [x, weight]), torch.randn(70, 96, generator=generator)


def outputs_and_grads(leaves: list[torch.Tensor], grad_out: torch.Tensor,
                      onednn: bool) -> tuple[list[torch.Tensor], str]:
    found = [t.clone().requires_grad_() for t in leaves]
    out = linear(*found, onednn=onednn)
    (out * grad_out).sum().backward()
    return [out, *(t.grad for t in found)], type(out.grad_fn).__name__


@pytest.mark.skipif(not onednn_linear_works(torch.float32), reason=f"needs {ONEDNN_FP32}")
@pytest.mark.parametrize("with_bias", [True, False])
def test_onednn_linear_equals_torch_linear_outputs_and_gradients(with_bias):
    leaves, grad_out = inputs(with_bias)
    onednn, kernel = outputs_and_grads(leaves, grad_out, onednn=True)
    assert kernel == "_OneDnnLinearBackward"  # the oneDNN path did run
    reference, kernel = outputs_and_grads(leaves, grad_out, onednn=False)
    assert kernel != "_OneDnnLinearBackward"
    for found, expected in zip(onednn, reference, strict=True):
        assert torch.allclose(found, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("with_bias", [True, False])
def test_a_failing_probe_falls_back_to_torch_linear_with_the_same_outputs(onednn_fails, with_bias):
    assert not onednn_linear_works(torch.float32) and not onednn_linear_works(torch.bfloat16)
    leaves, grad_out = inputs(with_bias)
    found, kernel = outputs_and_grads(leaves, grad_out, onednn=True)
    assert kernel != "_OneDnnLinearBackward"
    expected = F.linear(*leaves)
    assert torch.equal(found[0], expected)


def test_without_onednn_bf16_precision_auto_is_fp32(onednn_fails, monkeypatch):
    monkeypatch.setattr(kernels, "cpu_flags", lambda: {"avx512_bf16", "amx_bf16"})  # flags alone do not decide
    assert not native_bf16(torch.device("cpu"))
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"


def test_onednn_linear_leaves_autocast_and_inference_to_torch():
    x, weight = torch.randn(8, 16), torch.randn(4, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert linear(x, weight, onednn=True).dtype == torch.bfloat16
    with torch.inference_mode():
        assert torch.allclose(linear(x, weight, onednn=True), x @ weight.T, atol=1e-5)


def test_probes_follow_onednn_capped_to_avx2():
    """`ONEDNN_MAX_CPU_ISA=AVX2` (a real oneDNN switch) gives oneDNN a CPU without AVX-512: its bf16 inner
    product is refused, fp32 still runs, and bf16 is not taken for native on any machine."""
    code = ("import json, torch; from pairlab.models.kernels import native_bf16, onednn_linear_works as w; "
            "print(json.dumps([w(torch.float32), w(torch.bfloat16), native_bf16(torch.device('cpu'))]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert done.returncode == 0, done.stderr[-2000:]
    fp32, bf16, native = json.loads(done.stdout.strip().splitlines()[-1])
    assert fp32 is torch.backends.mkldnn.is_available()
    assert not bf16 and not native
