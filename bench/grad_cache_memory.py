"""Peak memory and samples/s of big batches, with and without GradCache.

pairlab's training path (`bench/throughput.py`'s pairlab contender: `pairlab.commands.train.run`, MiniLM, MNRL,
max length 32, synthetic question pairs) at each batch size, plainly and with
`module.grad_cache_mini_batch` (PairModule's `grad_cache_backward`: embed without a graph, take the
loss gradient w.r.t. the embeddings, re-embed chunk by chunk pushing it through). Every configuration
runs `--warmup` + `--steps` steps in its own subprocess and reports:

- peak RSS (`ru_maxrss`), and its increase over the process's RSS once model and data are loaded
  (Lightning's `on_train_start`): the training step's own memory, activations and optimizer state;
- on `--device cuda`, torch.cuda.max_memory_allocated (and its increase over the allocated baseline);
- samples/s of the timed steps.

A configuration without GradCache whose peak RSS, extrapolated linearly in the batch size from the
smaller batches already measured, would pass `--max-rss-gb` is skipped.

    python bench/grad_cache_memory.py                         # batches 32, 256, 1024; mini-batch 32
    python bench/grad_cache_memory.py --batches 32,128 --steps 2 --model tiny
    python bench/grad_cache_memory.py --device cuda --model minilm-random --batches 128,4096 --plain-batches 128 \
        --mini-batch 128 --max-length 128

The last line printed is one JSON object: every configuration's numbers, and the peak (and increase)
of the largest GradCache batch over those of the smallest plain batch.
"""

from __future__ import annotations

import argparse
import json

from throughput import MODELS, child_env, run_worker, wait_until_quiet, worker_argv


def predicted_peak_mb(measured: list[dict], batch: int) -> float | None:
    """Peak RSS of a plain batch, extrapolated linearly from the plain batches measured so far."""
    points = sorted((m["batch"], m["peak_rss_mb"]) for m in measured if not m["grad_cache"] and not m["skipped"])
    if not points:
        return None
    if len(points) == 1:  # one point: assume all of its growth scales with the batch (an over-estimate)
        (b, peak), base = points[0], measured[0]["baseline_rss_mb"]
        return base + (peak - base) * batch / b
    (b1, p1), (b2, p2) = points[-2], points[-1]
    return p2 + (p2 - p1) / (b2 - b1) * (batch - b2)


def worker_args(args: argparse.Namespace, batch: int) -> argparse.Namespace:
    return argparse.Namespace(model=args.model, tokenizer=args.tokenizer, data="synthetic", bimpm_path=None,
                              batch_size=batch, max_length=args.max_length, steps=args.steps, warmup=args.warmup,
                              lr=2e-5, threads=args.threads, device=args.device, precision="auto")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", default="32,256,1024")
    parser.add_argument("--mini-batch", type=int, default=32, help="GradCache chunk size")
    parser.add_argument("--plain-batches", default=None,
                        help="batches that also run without GradCache (default: all of --batches)")
    parser.add_argument("--model", choices=MODELS, default="minilm")
    parser.add_argument("--tokenizer", default=None, help="tokenizer of a random-init --model (default: MiniLM's)")
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--max-rss-gb", type=float, default=16.0, help="skip plain batches predicted past this")
    parser.add_argument("--max-load", type=float, default=1.0)
    args = parser.parse_args(argv)

    env = child_env(args.threads)
    measured: list[dict] = []
    print(f"{args.model}, max length {args.max_length}, {args.steps} timed steps after {args.warmup} warm-up, "
          f"{args.threads} threads, {args.device}, GradCache mini-batch {args.mini_batch}", flush=True)
    batches = [int(b) for b in args.batches.split(",")]
    plain_batches = {int(b) for b in args.plain_batches.split(",")} if args.plain_batches else set(batches)
    for batch in batches:
        for grad_cache in ((None,) if batch in plain_batches else ()) + (args.mini_batch,):
            row = {"batch": batch, "grad_cache": grad_cache, "skipped": False}
            predicted = None if grad_cache else predicted_peak_mb(measured, batch)
            if predicted is not None and predicted > args.max_rss_gb * 1024:
                row.update(skipped=True, predicted_peak_rss_mb=round(predicted))
                print(f"batch {batch} without GradCache: skipped, predicted peak RSS {predicted / 1024:.1f} GB > "
                      f"--max-rss-gb {args.max_rss_gb}", flush=True)
                measured.append(row)
                continue
            overrides = [f"module.grad_cache_mini_batch={grad_cache}"] if grad_cache else []
            load, _ = wait_until_quiet(args.max_load)
            result = run_worker(worker_argv(worker_args(args, batch), "pairlab", overrides), env)
            row |= {key: round(value, 2) for key, value in result.items()} | {"load": round(load, 2)}
            row["increase_mb"] = round(result["peak_rss_mb"] - result["baseline_rss_mb"], 1)
            if "peak_cuda_mb" in result:
                row["cuda_increase_mb"] = round(result["peak_cuda_mb"] - result["baseline_cuda_mb"], 1)
            measured.append(row)
            print(f"batch {batch} GradCache {grad_cache or 'off'}: {result['samples_per_s']:.1f} samples/s, peak RSS "
                  f"{result['peak_rss_mb']:.0f} MB (+{row['increase_mb']:.0f} over {result['baseline_rss_mb']:.0f} "
                  f"after loading), load {load:.2f}, others {result['others_cores']:.2f} cores", flush=True)

    cuda = args.device == "cuda"
    print("\nbatch | GradCache | samples/s | peak RSS MB | RSS after load MB | increase MB"
          + (" | peak CUDA MB | CUDA increase MB" if cuda else ""))
    for r in measured:
        if r["skipped"]:
            print(f"{r['batch']} | off | skipped (predicted peak {r['predicted_peak_rss_mb']} MB) | | |"
                  + (" | |" if cuda else ""))
            continue
        line = (f"{r['batch']} | {r['grad_cache'] or 'off'} | {r['samples_per_s']:.1f} | {r['peak_rss_mb']:.0f} | "
                f"{r['baseline_rss_mb']:.0f} | {r['increase_mb']:.0f}")
        if cuda:
            line += f" | {r['peak_cuda_mb']:.0f} | {r['cuda_increase_mb']:.0f}"
        print(line)

    summary: dict = {"configs": measured}
    plain = [r for r in measured if not r["grad_cache"] and not r["skipped"]]
    cached = [r for r in measured if r["grad_cache"]]
    if plain and cached:
        small, big = min(plain, key=lambda r: r["batch"]), max(cached, key=lambda r: r["batch"])
        peak, increase = ("peak_cuda_mb", "cuda_increase_mb") if cuda else ("peak_rss_mb", "increase_mb")
        ratios = {"peak_ratio": round(big[peak] / small[peak], 3),
                  "increase_ratio": round(big[increase] / small[increase], 3)}
        summary["largest_grad_cache_vs_smallest_plain"] = {"batches": [big["batch"], small["batch"]], **ratios}
        print(f"\nGradCache batch {big['batch']} vs plain batch {small['batch']} ({'CUDA' if cuda else 'RSS'}): "
              f"peak x{ratios['peak_ratio']:.2f}, increase over loaded x{ratios['increase_ratio']:.2f}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
