"""Where one bi-encoder training step's time goes: torch profiler ops, page faults and system time per step.

The packaged all-MiniLM-L6-v2 (packed forward, as `model=minilm` trains), real Quora questions (the BiMPM dev
file), anchors and positives merged into one forward, MNRL (cosine, scale 20), clipping at norm 1, fused
AdamW; fp32 or bf16 autocast. Steps `--warmup` are untimed; then `--steps` timed steps report seconds, minor
page faults and user / system CPU seconds per step; then `--profile` steps run under the torch profiler and
its op table (self CPU time) is printed. `--compare-onednn-linear` instead times each of `--steps` batches
twice, with the packed projections in oneDNN and in torch's own linear (`model.onednn_linear`), in alternating
order, and reports both medians and the median paired ratio: drift of the machine cancels within a pair.

    python bench/step_profile.py --bimpm-path ../shared/data/quora/bimpm_quora_dev.tsv --precision bf16
    python bench/step_profile.py --bimpm-path ../shared/data/quora/bimpm_quora_dev.tsv --compare-onednn-linear \
        --steps 24
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from pairlab.models import BiEncoder

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bimpm-path", type=Path, required=True, help="BiMPM Quora tsv (label, q1, q2, id)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--profile", type=int, default=4, help="profiled steps after the timed ones")
    parser.add_argument("--rows", type=int, default=40, help="ops in the profiler table")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compare-onednn-linear", action="store_true",
                        help="time each batch with model.onednn_linear on and off (paired), no profiler")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with open(args.bimpm_path, encoding="utf-8") as f:
        pairs = [(row[1], row[2]) for row in csv.reader(f, delimiter="\t")]
    encoder = BiEncoder.from_pretrained(MINILM, unpad=True, max_length=args.max_length)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=2e-5, fused=True)
    tokenizer, b = encoder.tokenizer, args.batch_size
    labels = torch.arange(b)

    def step(i: int) -> float:
        start = time.perf_counter()
        batch = pairs[(i * b) % (len(pairs) - b):][:b]
        features = tokenizer([a for a, _ in batch] + [p for _, p in batch], padding=True, truncation=True,
                             max_length=args.max_length, return_tensors="pt")
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            emb = F.normalize(encoder(dict(features)).float(), dim=-1)
            loss = F.cross_entropy(emb[:b] @ emb[b:].T * 20.0, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    for i in range(args.warmup):
        step(i)
    if args.compare_onednn_linear:
        print(json.dumps(compare_onednn_linear(encoder, step, range(args.warmup, args.warmup + args.steps),
                                               args.precision)))
        return
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for i in range(args.warmup, args.warmup + args.steps):
        step(i)
    seconds, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(args.warmup + args.steps, args.warmup + args.steps + args.profile):
            step(i)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    n = args.steps
    print(json.dumps({"precision": args.precision, "s_per_step": round(seconds / n, 4),
                      "minor_faults_per_step": round((after.ru_minflt - before.ru_minflt) / n),
                      "user_s_per_step": round((after.ru_utime - before.ru_utime) / n, 3),
                      "sys_s_per_step": round((after.ru_stime - before.ru_stime) / n, 3)}))


def compare_onednn_linear(encoder: BiEncoder, step, indices: range, precision: str) -> dict:
    """Seconds per step with the packed projections in oneDNN and in torch's linear, each batch run both ways."""
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for i in indices:
        for onednn in ((True, False) if i % 2 else (False, True)):
            encoder.onednn_linear = onednn
            seconds[onednn].append(step(i))
    ratios = [off / on for on, off in zip(seconds[True], seconds[False], strict=True)]
    return {"precision": precision, "steps": len(indices),
            "onednn_s_per_step": round(statistics.median(seconds[True]), 4),
            "torch_linear_s_per_step": round(statistics.median(seconds[False]), 4),
            "median_paired_speedup": round(statistics.median(ratios), 3)}


if __name__ == "__main__":
    main()
