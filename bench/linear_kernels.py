"""GFLOP/s of the packed forward's linear layers in torch's kernels and in oneDNN's, on this CPU.

The shapes of a MiniLM-L6 step on 64 Quora pairs (about 2,100 packed rows): the fused query/key/value
projection, the attention output, the feed-forward up and down projections; for each, the forward with
bias (`F.linear`: MKL's `addmm` in fp32 against oneDNN's `_linear_pointwise`), the input gradient and the
weight gradient (`torch.mm` against oneDNN). Variants are interleaved over rounds; medians are printed.
`model.onednn_linear=true` uses oneDNN for the forward and the input gradient in fp32 and keeps `torch.mm`
for the weight gradient; this script shows whether that split pays on the CPU at hand. oneDNN's columns
are timed where its probe passes for the precision (`pairlab.models.kernels`), else reported unavailable.

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

from pairlab.models.kernels import onednn_linear_op, onednn_linear_works

SHAPES = {"qkv": (384, 1152), "attention out": (384, 384), "ffn up": (384, 1536), "ffn down": (1536, 384)}


def seconds(fn: Callable[[], torch.Tensor], calls: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def kernels(x: torch.Tensor, grad: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
            onednn: bool) -> dict[str, Callable[[], torch.Tensor]]:
    """Each timed variant: a layer's forward, input gradient and weight gradient in torch's kernels and, with
    `onednn`, oneDNN's."""
    variants = {"forward torch": lambda: F.linear(x, weight, bias), "input grad torch": lambda: grad @ weight,
                "weight grad torch": lambda: grad.t() @ x}
    if onednn:
        variants |= {"forward onednn": lambda: onednn_linear_op(x, weight, bias),
                     "input grad onednn": lambda: onednn_linear_op(grad, weight.t().contiguous()),
                     "weight grad onednn": lambda: onednn_linear_op(grad.t(), x.t())}
    return variants


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
    onednn = onednn_linear_works(dtype)
    print(f"{args.rows} rows, {args.precision}, {args.threads} threads; GFLOP/s, median of {args.rounds} rounds"
          + ("" if onednn else f"; oneDNN has no {args.precision} inner product on this CPU (probe)"))
    results = {}
    for name, (k, n) in SHAPES.items():
        x, grad = torch.randn(args.rows, k, dtype=dtype), torch.randn(args.rows, n, dtype=dtype)
        weight, bias = torch.randn(n, k, dtype=dtype), torch.randn(n, dtype=dtype)
        variants = kernels(x, grad, weight, bias, onednn)
        flops = 2 * args.rows * k * n
        rates: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(args.rounds):
            for variant, fn in variants.items():
                rates[variant].append(flops / seconds(fn, args.calls) / 1e9)
        results[name] = {v: round(statistics.median(r), 1) for v, r in rates.items()}
        print(" | ".join([name, *(f"{v} {results[name][v]:.0f}" for v in variants)]))
    print(json.dumps({"precision": args.precision, "rows": args.rows, "onednn": onednn, "gflops": results}))


if __name__ == "__main__":
    main()
