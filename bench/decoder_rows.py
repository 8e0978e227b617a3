"""Decoder embedder forward + backward texts/s: the padded batch vs the padding-free rows of
`pairlab.models.decoder.packed_hidden` at several row sizes (real tokens per packed row).

A random-init Qwen3-shaped embedder (`throughput.DECODERS`, last-token pooling) over question batches of the BiMPM
Quora dev split (or synthetic questions without `--bimpm-path`), a byte-level BPE tokenizer trained on those
questions; variants interleaved over `--repeats` rounds in one process, after one untimed batch each.

    python bench/decoder_rows.py --bimpm-path /work/shared/data/quora/bimpm_quora_dev.tsv
    python bench/decoder_rows.py --model qwen3-small --rows 128,512,100000 --batches 10

The last line printed is one JSON object: median texts/s per variant.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from throughput import DECODERS, bimpm_pairs, decoder_tokenizer, synthetic_pairs

from pairlab.models import BiEncoder
from pairlab.models.decoder import packed_hidden
from pairlab.models.pooling import pool


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=tuple(DECODERS), default="qwen3-small")
    parser.add_argument("--bimpm-path", type=Path, default=None)
    parser.add_argument("--batch-size", type=int, default=64, help="texts a batch")
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batches", type=int, default=10, help="timed batches per variant and round")
    parser.add_argument("--rows", default="128,256,512,100000", help="real tokens per packed row, comma-separated")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    n = (args.batches + 1) * args.batch_size // 2 + 1
    pairs = bimpm_pairs(n, args.bimpm_path) if args.bimpm_path else synthetic_pairs(n)
    texts = [text for pair in pairs for text in pair]
    with tempfile.TemporaryDirectory() as tmp:
        decoder_tokenizer(pairs).save_pretrained(tmp)
        model = BiEncoder.random_init(DECODERS[args.model], tokenizer=tmp, architecture="qwen3", pooling="lasttoken",
                                      max_length=args.max_length).train()
    batches = [model.tokenize(texts[i * args.batch_size:(i + 1) * args.batch_size]) for i in range(args.batches + 1)]
    real = sum(int(b["attention_mask"].sum()) for b in batches) / sum(b["attention_mask"].numel() for b in batches)

    def last_token(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return pool(hidden, mask, "lasttoken")

    def padded(features: dict[str, torch.Tensor]) -> torch.Tensor:
        return last_token(model.transformer(**features, use_cache=False).last_hidden_state, features["attention_mask"])

    variants = {"padded": padded}
    for rows in (int(r) for r in args.rows.split(",")):
        variants[f"packed rows of {rows}"] = lambda f, rows=rows: packed_hidden(model.transformer, f, last_token, rows)
    print(f"{args.model}, batch {args.batch_size}, max length {args.max_length}, {args.threads} threads; real share "
          f"of padded tokens {real:.0%}", flush=True)
    results: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(1, args.repeats + 1):
        for name, forward in variants.items():
            forward(batches[0]).square().sum().backward()  # untimed
            start = time.perf_counter()
            for features in batches[1:]:
                forward(features).square().sum().backward()
            results[name].append(args.batches * args.batch_size / (time.perf_counter() - start))
            print(f"{round_} | {name} | {results[name][-1]:.1f} texts/s", flush=True)
            model.zero_grad(set_to_none=True)
    print(json.dumps({name: round(statistics.median(r), 1) for name, r in results.items()}))


if __name__ == "__main__":
    main()
