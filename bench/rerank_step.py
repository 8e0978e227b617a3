"""Cross-encoder training steps on real MS MARCO (query, passage) pairs: the packed reranker forward
(`model.unpad=true`, the cross_* configs' default) against the padded one, same weights and batches.

    python bench/rerank_step.py --triples ../shared/data/msmarco/triples.train.small.head100.tsv

Each round times `--steps` optimizer steps (forward, backward, AdamW) of each variant in turn, after one untimed
step; prints pairs/s per round, the medians and their ratio, with the CPU model.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from pairlab.models import CrossEncoder
from pairlab.models.kernels import BF16_UNITS, cpu_flags


def pairs_of(triples: Path) -> tuple[list[str], list[str]]:
    """Each triple's (query, positive) and (query, negative) pairs, in file order."""
    queries, passages = [], []
    for line in triples.read_text().splitlines():
        query, positive, negative = line.split("\t")[:3]
        queries += [query, query]
        passages += [positive, negative]
    return queries, passages


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def run(model: CrossEncoder, batches: list[dict[str, torch.Tensor]], bf16: bool) -> float:
    """Seconds for one optimizer step per batch."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=7e-6)
    start = time.perf_counter()
    for features in batches:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                model(features).float(), torch.arange(len(features["input_ids"])).remainder(2).float())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triples", type=Path, required=True, help="MS MARCO triples tsv (query, positive, negative)")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    queries, passages = pairs_of(args.triples)
    variants = {name: CrossEncoder.from_pretrained(args.model, max_length=args.max_length, unpad=unpad).train()
                for name, unpad in (("padded", False), ("packed", True))}
    variants["packed"].load_state_dict(variants["padded"].state_dict())
    tokenizer = variants["padded"]
    n = args.batch_size * (args.steps + 1)
    batches = [tokenizer.tokenize(queries[s:s + args.batch_size], passages[s:s + args.batch_size])
               for s in range(0, min(n, len(queries)), args.batch_size)]
    real = sum(int(b["attention_mask"].sum()) for b in batches) / sum(b["attention_mask"].numel() for b in batches)
    print(f"{cpu_model()} ({', '.join(sorted(cpu_flags() & BF16_UNITS)) or 'no bf16 units'}), "
          f"{args.threads} threads, {args.precision}; {len(batches) - 1} timed batches of {args.batch_size} pairs, "
          f"{real:.0%} of padded positions real", flush=True)
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, model in variants.items():
            run(model, batches[:1], args.precision == "bf16")  # warm-up
            seconds = run(model, batches[1:], args.precision == "bf16")
            rates[name].append(args.batch_size * (len(batches) - 1) / seconds)
        print("  ".join(f"{name} {rates[name][-1]:.1f} pairs/s" for name in variants), flush=True)
    medians = {name: statistics.median(r) for name, r in rates.items()}
    print(f"median: padded {medians['padded']:.1f}, packed {medians['packed']:.1f} pairs/s: "
          f"{medians['packed'] / medians['padded']:.2f}x")


if __name__ == "__main__":
    main()
