"""GFLOP/s of the packed forward's linear layers in torch's kernels and in oneDNN's, on this CPU.

The shapes of a MiniLM-L6 step on 64 Quora pairs (about 2,100 packed rows): the fused query/key/value
projection, the attention output, the feed-forward up and down projections; for each, the forward with
bias (`F.linear`: MKL's `addmm` in fp32 against oneDNN's `_linear_pointwise`), the input gradient and the
weight gradient (`torch.mm` against oneDNN). Variants are interleaved over rounds; medians are printed.
`model.onednn_linear` (the default) uses oneDNN for the forward and the input gradient in fp32 and keeps
`torch.mm` for the weight gradient; this script shows whether that split pays on the CPU at hand.

    python bench/linear_kernels.py --precision fp32
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

SHAPES = {"qkv": (384, 1152), "attention out": (384, 384), "ffn up": (384, 1536), "ffn down": (1536, 384)}


def onednn(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


def seconds(fn: Callable[[], torch.Tensor], calls: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def kernels(x: torch.Tensor, grad: torch.Tensor, weight: torch.Tensor,
            bias: torch.Tensor) -> dict[str, Callable[[], torch.Tensor]]:
    """Each timed variant: a layer's forward, input gradient and weight gradient in torch's kernels and oneDNN's."""
    return {
        "forward torch": lambda: F.linear(x, weight, bias),
        "forward onednn": lambda: onednn(x, weight, bias),
        "input grad torch": lambda: grad @ weight,
        "input grad onednn": lambda: onednn(grad, weight.t().contiguous()),
        "weight grad torch": lambda: grad.t() @ x,
        "weight grad onednn": lambda: onednn(grad.t(), x.t()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--rows", type=int, default=2112, help="packed rows (real tokens of a batch)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10, help="timed calls per variant and round")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = torch.float32 if args.precision == "fp32" else torch.bfloat16
    print(f"{args.rows} rows, {args.precision}, {args.threads} threads; GFLOP/s, median of {args.rounds} rounds")
    print("layer | forward torch | forward onednn | input grad torch | input grad onednn | weight grad torch "
          "| weight grad onednn")
    results = {}
    for name, (k, n) in SHAPES.items():
        x, grad = torch.randn(args.rows, k, dtype=dtype), torch.randn(args.rows, n, dtype=dtype)
        weight, bias = torch.randn(n, k, dtype=dtype), torch.randn(n, dtype=dtype)
        variants = kernels(x, grad, weight, bias)
        flops = 2 * args.rows * k * n
        rates: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(args.rounds):
            for variant, fn in variants.items():
                rates[variant].append(flops / seconds(fn, args.calls) / 1e9)
        results[name] = {v: round(statistics.median(r), 1) for v, r in rates.items()}
        print(" | ".join([name, *(f"{results[name][v]:.0f}" for v in variants)]))
    print(json.dumps({"precision": args.precision, "rows": args.rows, "gflops": results}))


if __name__ == "__main__":
    main()
