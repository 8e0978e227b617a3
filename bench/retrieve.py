"""Retrieval: corpus encoding throughput against sentence-transformers, and peak memory against corpus size.

encode: the packaged all-MiniLM-L6-v2 embeds the same passages with `SentenceTransformer.encode` (fp32) and
    with pairlab's `BiEncoder.encode` as `eval=retrieve` / `mine.py` load it (unpadded BERT layers): fp32
    (`precision=fp32`), bf16 autocast (`precision=bf16`; `auto` picks it where the hardware has bf16 units),
    and fp32 with padding (a plain forward). Batch `--batch-size`, max length 256, `--threads` torch threads,
    one process, contenders interleaved over `--repeats` rounds (order rotating) after a warm-up; passages
    are MS MARCO's from `--passages` files when they exist (real lengths), else generated. Reports texts/s
    (median) and the largest cosine distance of each pairlab variant's embeddings to sentence-transformers'.
memory: for each corpus size, a fresh process runs pairlab's retrieval path (`pairlab.evaluation.corpus.retrieve`:
    streamed encoding into the on-disk embedding file, then streamed exact top-1000 search for 100 queries) with
    a tiny random-init model over generated passages, and reports its peak RSS (VmHWM).

    python bench/retrieve.py                                 # both, 1k passages, sizes 10k,100k,1M
    python bench/retrieve.py encode --texts 2000 --repeats 5
    python bench/retrieve.py memory --sizes 10000,100000
    python bench/retrieve.py encode --device cuda            # on a GPU (bf16 off: fp32 on both sides)

The last line printed is one JSON object with every number.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
PASSAGES = ("/work/shared/data/msmarco/triples.train.small.head100.tsv",
            "/work/shared/data/msmarco/collection.head.tsv")
WORDS = ("river", "city", "market", "school", "energy", "garden", "history", "music", "engine", "ocean",
         "forest", "bridge", "paper", "light", "doctor", "island", "winter", "recipe", "station", "museum",
         "planet", "harbor", "language", "mountain", "protein", "battery", "castle", "coffee", "desert",
         "festival", "glacier", "journal", "kitchen", "library", "medicine", "network", "orchard")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def generated_passage(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 90))) + "."


def real_passages(files: list[str]) -> list[str]:
    texts = []
    for name in files:
        path = Path(name)
        if path.is_file():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                fields = line.split("\t")
                texts += fields[1:] if len(fields) == 3 else fields[1:2]
    return [t for t in texts if t.strip()]


def bench_encode(args: argparse.Namespace) -> dict:
    import torch
    from sentence_transformers import SentenceTransformer

    from pairlab.models import BiEncoder
    from pairlab.models.hub import resolve_model_path
    from pairlab.models.kernels import native_bf16
    from pairlab.models.precision import inference_precision

    torch.set_num_threads(args.threads)
    path = resolve_model_path(MINILM)
    pool = real_passages(args.passages)
    source = "MS MARCO passages" if pool else "generated passages"
    rng = random.Random(0)
    pool = pool or [generated_passage(rng) for _ in range(args.texts)]
    texts = [pool[i % len(pool)] for i in range(args.texts)]
    device = torch.device(args.device)
    st = SentenceTransformer(path, device=args.device)
    st.max_seq_length = 256
    unpadded = BiEncoder.from_pretrained(path, max_length=256, unpad=True).to(device)
    padded = BiEncoder.from_pretrained(path, max_length=256, unpad=False).to(device)
    bs = args.batch_size

    def bf16() -> torch.Tensor:
        with inference_precision("bf16", device):
            return unpadded.encode(texts, batch_size=bs)

    contenders = {"sentence_transformers": lambda: st.encode(texts, batch_size=bs, convert_to_tensor=True),
                  "pairlab": lambda: unpadded.encode(texts, batch_size=bs), "pairlab_bf16": bf16,
                  "pairlab_padded": lambda: padded.encode(texts, batch_size=bs)}
    for run in contenders.values():  # warm-up
        run()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    outputs = {}
    names = list(contenders)
    for round_ in range(args.repeats):  # the order rotates: no contender always follows the bf16 one
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            run = contenders[name]
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            outputs[name] = run()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    rate = {name: len(texts) / statistics.median(t) for name, t in times.items()}
    reference = outputs["sentence_transformers"].float().cpu()
    distance = {name: float(1 - torch.nn.functional.cosine_similarity(outputs[name].float().cpu(), reference).min())
                for name in contenders if name != "sentence_transformers"}
    return {"texts": len(texts), "distinct_texts": len(set(texts)), "source": source, "threads": args.threads,
            "device": args.device, "batch_size": bs, "native_bf16": native_bf16(device), "texts_per_s": rate,
            "ratio_vs_st": {name: rate[name] / rate["sentence_transformers"] for name in distance},
            "max_cosine_distance_vs_st": distance}


CHILD = """
import json, sys, time, torch
from pathlib import Path
from pairlab.evaluation.corpus import retrieve
from pairlab.models import BiEncoder
torch.set_num_threads(int(sys.argv[3]))
folder = Path(sys.argv[1])
encoder = BiEncoder.random_init({"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                                  "intermediate_size": 64}, max_length=64, unpad=True)
queries = {str(i): line for i, line in enumerate((folder / "queries.txt").read_text().splitlines())}
start = time.perf_counter()
run, embeddings = retrieve(encoder, queries, folder / "corpus.tsv", folder / "emb", top_k=1000,
                           batch_size=int(sys.argv[2]))
# VmHWM: this process's own peak (ru_maxrss would carry the parent's peak across fork + exec)
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"seconds": time.perf_counter() - start, "docs": embeddings.n, "peak_rss_mb": peak_kb / 1024,
                  "run_rows": sum(len(d) for d in run.values())}))
"""


def bench_memory(args: argparse.Namespace) -> dict:
    results = {}
    rng = random.Random(0)
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            with open(folder / "corpus.tsv", "w") as f:
                for i in range(size):
                    f.write(f"{i}\t{generated_passage(rng)}\n")
            (folder / "queries.txt").write_text("\n".join(" ".join(rng.sample(WORDS, 6)) for _ in range(100)))
            env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1"}
            out = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(args.batch_size), str(args.threads)],
                                 env=env, capture_output=True, text=True, check=True, cwd=ROOT)
            results[str(size)] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"[bench] {size} passages: {results[str(size)]}", flush=True)
    peaks = [r["peak_rss_mb"] for r in results.values()]
    return {"by_size": results, "peak_growth": max(peaks) / min(peaks) - 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", choices=("encode", "memory", "all"), default="all")
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--passages", nargs="*", default=list(PASSAGES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    report: dict = {"cpu": cpu_model()}
    if args.what in ("encode", "all"):
        report["encode"] = bench_encode(args)
        print(f"[bench] encode: {report['encode']}", flush=True)
    if args.what in ("memory", "all"):
        report["memory"] = bench_memory(args)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
