"""Training throughput: pairlab vs sentence-transformers' trainer vs a plain PyTorch loop.

Every contender trains the same bi-encoder (the packaged all-MiniLM-L6-v2, a random-init BERT shape, or a
random-init Qwen3-shaped decoder embedder, `--model qwen3-small`) with
MultipleNegativesRankingLoss (cosine, scale 20) on the same batches of question pairs (the row order
of pairlab's seeded mixture sampler, fed to the other two as fixed batches), batch 32, max length 32,
AdamW lr 2e-5 (fused, weight decay 0.01 off norms/biases), gradient clipping at norm 1, fp32 on CPU
(`--precision bf16`, the default with `--device cuda`: bf16 autocast for all three), tokenizing in the training process:

- pairlab: `pairlab.commands.train.run` on a composed Hydra config (model=minilm, loss=mnrl, data=quora on a
  jsonl of the pairs, the cpu trainer; no loggers, checkpoints, validation, export or progress bar):
  PairModule + PairDataModule + Lightning Trainer with the config's speed options;
- sentence_transformers: SentenceTransformerTrainer + MultipleNegativesRankingLoss (no eval, no
  saving, logging off, `dataloader_drop_last`);
- plain: the floor, a minimal loop: tokenize each column, transformer, mean pooling, loss, step.

Each run is its own subprocess, contenders interleaved over `--repeats` rounds; only the training
loop is timed, from the start of step `--warmup` to the end of the last step. Before each run the
bench waits (up to a minute) while the 1-minute load average is above `--max-load`, unless the CPUs
are measurably idle. Every run reports `others`: cores used by other processes during its timed
window (system busy time from /proc/stat minus the run's own CPU time), so contaminated runs show.

    python bench/throughput.py                       # MiniLM, synthetic pairs, 3 rounds
    python bench/throughput.py --data bimpm --bimpm-path /work/shared/data/quora/bimpm_quora_dev.tsv
    python bench/throughput.py --model tiny --steps 8 --repeats 1           # quick check
    python bench/throughput.py --variant before=model.unpad=false,module.merge_columns=false
    python bench/throughput.py --model qwen3-small --data bimpm \
        --bimpm-path /work/shared/data/quora/bimpm_quora_dev.tsv \
        --variant checkpointing=model.gradient_checkpointing=true   # a decoder embedder; activation memory

The last line printed is one JSON object: the median samples/s of each contender and variant ("pairlab",
"sentence_transformers", "plain", "pairlab[<variant>]"),
"ratio_vs_st", "ratio_vs_plain"} (median samples/s and ratios of the medians).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
# random-init BERT encoders (no weights travel): the tiny test model and the shapes of MiniLM-L6 and BERT-base
RANDOM_INIT = {
    "tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
    "minilm-random": {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536},
    "bert-base-random": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                         "intermediate_size": 3072},
}
# random-init decoder embedders (last-token pooling, left padding, appended EOS; a byte-level BPE tokenizer trained
# on the bench's questions unless --tokenizer names one): a small Qwen3 shape
DECODERS = {
    "qwen3-tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
    "qwen3-small": {"hidden_size": 512, "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 4,
                    "intermediate_size": 1536},
    "qwen3-0.6b": {"hidden_size": 1024, "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8,
                   "intermediate_size": 3072},
}
# random-init SPLADE encoders (a BERT masked LM of MiniLM-L6's shape, the MiniLM tokenizer): pairlab's `loss=splade`
# vs sentence-transformers' SpladeLoss (SparseMultipleNegativesRankingLoss) in its SparseEncoderTrainer
SPARSE = {"splade-minilm-random": RANDOM_INIT["minilm-random"]}
MODELS = ("minilm", *RANDOM_INIT, *DECODERS, *SPARSE)
CONTENDERS = ("pairlab", "sentence_transformers", "plain")
SEED = 0
RESULT = "BENCH-RESULT "

# ---- data -------------------------------------------------------------------------------------
STARTS = ["how do i", "what is", "what are", "why do", "why is", "which is the best", "can i", "is it",
          "how can i", "what should i", "how does", "where can i", "who is", "when should i", "does"]
WORDS = [
    "time", "people", "year", "way", "day", "man", "thing", "woman", "life", "child", "world", "school", "state",
    "family", "student", "group", "country", "problem", "hand", "part", "place", "case", "week", "company",
    "system", "program", "question", "work", "government", "number", "night", "point", "home", "water", "room",
    "mother", "area", "money", "story", "fact", "month", "lot", "right", "study", "book", "eye", "job", "word",
    "business", "issue", "side", "kind", "head", "house", "service", "friend", "father", "power", "hour", "game",
    "line", "end", "member", "law", "car", "city", "community", "name", "president", "team", "minute", "idea",
    "kid", "body", "information", "back", "parent", "face", "others", "level", "office", "door", "health",
    "person", "art", "war", "history", "party", "result", "change", "morning", "reason", "research", "girl",
    "guy", "moment", "air", "teacher", "force", "education", "good", "new", "first", "last", "long", "great",
    "little", "own", "other", "old", "big", "high", "different", "small", "large", "next", "early", "young",
    "important", "few", "public", "bad", "same", "able", "learn", "make", "get", "know", "take", "see", "come",
    "think", "look", "want", "give", "use", "find", "tell", "ask", "seem", "feel", "try", "leave", "call", "keep",
    "let", "begin", "help", "talk", "turn", "start", "show", "hear", "play", "run", "move", "like", "live",
    "believe", "hold", "bring", "happen", "write", "provide", "sit", "stand", "lose", "pay", "meet", "include",
    "continue", "set", "change", "lead", "understand", "watch", "follow", "stop", "create", "speak", "read",
    "allow", "add", "spend", "grow", "open", "walk", "win", "offer", "remember", "love", "consider", "appear",
    "buy", "wait", "serve", "die", "send", "expect", "build", "stay", "fall", "cut", "reach", "kill", "remain",
    "python", "india", "engineering", "quora", "online", "phone", "weight", "movie", "music", "marketing",
    "website", "android", "iphone", "google", "job"
]


def synthetic_pairs(n: int, words_per_question: int | None = None) -> list[tuple[str, str]]:
    """Deterministic question pairs. Word counts are log-normal (median 10, 95th percentile about 28),
    fitted to the BiMPM Quora dev questions (median 13 MiniLM tokens, 95th percentile 31); with
    `words_per_question` every question has that many words."""
    rng = np.random.default_rng(SEED)

    def question(words: int) -> str:
        start = STARTS[int(rng.integers(len(STARTS)))]
        body = rng.choice(WORDS, size=max(1, words - len(start.split())))
        return f"{start} {' '.join(body)} ?"

    if words_per_question:
        counts = np.full(2 * n, words_per_question)
    else:
        counts = np.clip(np.rint(rng.lognormal(np.log(10), 0.63, size=2 * n)), 3, 60).astype(int)
    return [(question(int(counts[2 * i])), question(int(counts[2 * i + 1]))) for i in range(n)]


def bimpm_pairs(n: int, path: Path) -> list[tuple[str, str]]:
    """The duplicate pairs (label 1) of a BiMPM Quora split (headerless tsv: label, q1, q2, id), in
    file order, cycled if there are fewer than n."""
    with open(path, encoding="utf-8", newline="") as f:
        pairs = [(row[1].strip(), row[2].strip()) for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
                 if len(row) >= 3 and row[0] == "1" and row[1].strip() and row[2].strip()]
    if not pairs:
        raise SystemExit(f"{path}: no duplicate (label 1) rows")
    return [pairs[i % len(pairs)] for i in range(n)]


def make_pairs(args: argparse.Namespace) -> list[tuple[str, str]]:
    n = (args.warmup + args.steps) * args.batch_size
    if args.data == "bimpm":
        return bimpm_pairs(n, args.bimpm_path)
    return synthetic_pairs(n, 40 if args.data == "full" else None)


def batch_rows(n: int, batch_size: int) -> list[list[int]]:
    """The row indices of every batch, in the order pairlab's mixture sampler draws them."""
    from pairlab.data.mixture import MixtureSampler

    return [rows for _, rows in MixtureSampler({"main": n}, {"main": batch_size}, seed=SEED).plan(0)]


def decoder_tokenizer(pairs: list[tuple[str, str]]):
    """A 16k-token byte-level BPE trained on the bench's own questions: about as many tokens a question as an LLM
    tokenizer gives (BiMPM Quora: median 11), where the packaged-text tokenizer of the tests would give more."""
    from pairlab.models.tiny import byte_bpe_tokenizer

    return byte_bpe_tokenizer(16384, [text for pair in pairs for text in pair])


# ---- measuring ----------------------------------------------------------------------------------
def rss_mb() -> float:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def busy_cpu_s() -> float:
    """CPU seconds all processes of this machine have used (not idle, not iowait) since boot."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Window:
    """Marks the timed part of a run: wall time, other processes' CPU use, memory."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.marks: dict[str, float] = {}

    def _sync(self) -> None:
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()

    def loaded(self) -> None:
        """Model and data are in memory: the baseline that memory growth is measured against."""
        self.marks["baseline_rss_mb"] = rss_mb()
        if self.device == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats()
            self.marks["baseline_cuda_mb"] = torch.cuda.memory_allocated() / 2**20

    def start(self) -> None:
        self._sync()
        self.marks.update(t0=time.perf_counter(), busy0=busy_cpu_s(), own0=own_cpu_s())

    def stop(self) -> None:
        self._sync()
        self.marks.update(t1=time.perf_counter(), busy1=busy_cpu_s(), own1=own_cpu_s())

    def result(self, samples: int) -> dict[str, float]:
        m = self.marks
        if "t1" not in m:
            raise RuntimeError("the timed window never closed: fewer steps ran than asked for")
        seconds = m["t1"] - m["t0"]
        own = m["own1"] - m["own0"]
        out = {"samples_per_s": samples / seconds, "seconds": seconds, "own_cores": own / seconds,
               "others_cores": max(0.0, (m["busy1"] - m["busy0"] - own) / seconds),
               "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": m.get("baseline_rss_mb", float("nan"))}
        if self.device == "cuda":
            import torch

            out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
            out["baseline_cuda_mb"] = m["baseline_cuda_mb"]
        return out


# ---- contenders (each runs in its own subprocess) -----------------------------------------------
def bf16(args: argparse.Namespace) -> bool:
    return args.precision == "bf16" or (args.precision == "auto" and args.device == "cuda")


def model_path(args: argparse.Namespace, workdir: Path) -> str:
    """The MiniLM folder, or a random-init encoder exported as a sentence-transformers folder."""
    from pairlab.models.hub import resolve_model_path

    if args.model == "minilm":
        return resolve_model_path(MINILM)
    from pairlab.export import export_model
    from pairlab.models import BiEncoder

    if args.model in SPARSE:
        from pairlab.models import SparseEncoder

        sparse = SparseEncoder.random_init(SPARSE[args.model], tokenizer=args.tokenizer or MINILM,
                                           max_length=args.max_length, seed=SEED)
        return str(export_model(sparse, workdir / args.model, {"run_name": args.model, "metrics": {}}))
    if args.model in DECODERS:
        tokenizer = args.tokenizer
        if tokenizer is None:
            tokenizer = str(workdir / "tokenizer")
            decoder_tokenizer(make_pairs(args)).save_pretrained(tokenizer)
        encoder = BiEncoder.random_init(DECODERS[args.model], tokenizer=tokenizer, architecture="qwen3",
                                        pooling="lasttoken", normalize=False, max_length=args.max_length, seed=SEED)
    else:
        encoder = BiEncoder.random_init(RANDOM_INIT[args.model], tokenizer=args.tokenizer or MINILM,
                                        normalize=False, max_length=args.max_length, seed=SEED)
    return str(export_model(encoder, workdir / args.model, {"run_name": args.model, "metrics": {}}))


def run_pairlab(args: argparse.Namespace, pairs: list[tuple[str, str]], window: Window, workdir: Path) -> None:
    import pytorch_lightning as pl
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from pairlab.commands.train import run
    from pairlab.config import CONF_DIR
    from pairlab.resolvers import register

    class StepTimer(pl.Callback):
        def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            window.loaded()

        def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any,
                                 batch_idx: int) -> None:
            if batch_idx == args.warmup:
                window.start()

        def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any,
                               batch_idx: int) -> None:
            if batch_idx == args.warmup + args.steps - 1:
                window.stop()

    data_dir = workdir / "data"
    data_dir.mkdir()
    with open(data_dir / "train.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"anchor": a, "positive": p}) + "\n" for a, p in pairs)
    model = ["model=minilm"] if args.model == "minilm" else ["model=hf", f"model.name={model_path(args, workdir)}"]
    loss = ["loss=mnrl"]
    if args.model in SPARSE:
        model, loss = ["model=splade", f"model.name={model_path(args, workdir)}"], ["loss=splade"]
    device = ["trainer=gpu"] if args.device == "cuda" else ["trainer=cpu"]
    device.append(f"trainer.precision={'bf16-mixed' if bf16(args) else '32-true'}")
    overrides = [*model, *device, f"model.max_length={args.max_length}", f"model.lr={args.lr}", *loss,
                 "data=quora", f"data.source={data_dir}", "data.val_size=0", f"data.batch_size={args.batch_size}",
                 f"trainer.max_steps={args.warmup + args.steps}", "+trainer.limit_val_batches=0",
                 "trainer.enable_progress_bar=false", "~logger", "~callbacks", "eval_baseline=false",
                 "export=false", f"threads={args.threads}", f"seed={SEED}",
                 f"model.gradient_checkpointing={str(args.gradient_checkpointing).lower()}", *args.pairlab]
    register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, f"hydra.run.dir={workdir / 'run'}"], return_hydra_config=True)
    cfg.hydra.runtime.output_dir = str(workdir / "run")
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # the callbacks group is instantiated from config: hand it this run's timer object
        cfg.callbacks = {"timer": {"_target_": "hydra.utils.get_object", "path": "__main__.STEP_TIMER"}}
    sys.modules["__main__"].STEP_TIMER = StepTimer()
    run(cfg)


def run_sentence_transformers(args: argparse.Namespace, pairs: list[tuple[str, str]], window: Window,
                              workdir: Path) -> None:
    import torch
    from datasets import Dataset
    from sentence_transformers import (
        DefaultBatchSampler,
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import TrainerCallback

    torch.set_num_threads(args.threads)
    rows = batch_rows(len(pairs), args.batch_size)

    class FixedBatches(DefaultBatchSampler):
        """pairlab's batches, in pairlab's order."""

        def __iter__(self):
            return iter(rows)

        def __len__(self) -> int:
            return len(rows)

    class StepTimer(TrainerCallback):
        def on_train_begin(self, *_: Any, **__: Any) -> None:
            window.loaded()

        def on_step_begin(self, _args: Any, state: Any, *__: Any, **___: Any) -> None:
            if state.global_step == args.warmup:
                window.start()

        def on_step_end(self, _args: Any, state: Any, *__: Any, **___: Any) -> None:
            if state.global_step == args.warmup + args.steps:
                window.stop()

    trainer_class, arguments_class = SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    if args.model in SPARSE:
        from sentence_transformers import SparseEncoder, SparseEncoderTrainer, SparseEncoderTrainingArguments
        from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss, SpladeLoss

        model = SparseEncoder(model_path(args, workdir), device=args.device)
        loss = SpladeLoss(model, SparseMultipleNegativesRankingLoss(model), document_regularizer_weight=3e-5,
                          query_regularizer_weight=5e-5)
        trainer_class, arguments_class = SparseEncoderTrainer, SparseEncoderTrainingArguments
    else:
        model = SentenceTransformer(model_path(args, workdir), device=args.device)
        loss = MultipleNegativesRankingLoss(model)
    model.max_seq_length = args.max_length
    dataset = Dataset.from_dict({"anchor": [a for a, _ in pairs], "positive": [p for _, p in pairs]})
    training_args = arguments_class(
        output_dir=str(workdir / "st"), max_steps=args.warmup + args.steps, per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr, weight_decay=0.01, warmup_steps=0.1, lr_scheduler_type="linear",
        optim="adamw_torch_fused", max_grad_norm=1.0, bf16=bf16(args), use_cpu=args.device == "cpu",
        logging_strategy="no", save_strategy="no", eval_strategy="no", report_to="none", disable_tqdm=True,
        dataloader_drop_last=True, dataloader_num_workers=0, seed=SEED, batch_sampler=FixedBatches,
        gradient_checkpointing=args.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if args.gradient_checkpointing else None)
    trainer = trainer_class(model=model, args=training_args, train_dataset=dataset, loss=loss, callbacks=[StepTimer()])
    trainer.train()


def run_plain(args: argparse.Namespace, pairs: list[tuple[str, str]], window: Window, workdir: Path) -> None:
    import torch
    import torch.nn.functional as F
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    path = model_path(args, workdir)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, attn_implementation="sdpa").to(args.device).train()
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    params = list(model.named_parameters())
    decay = [p for n, p in params if p.ndim >= 2 and "norm" not in n.lower()]
    no_decay = [p for n, p in params if p.ndim < 2 or "norm" in n.lower()]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.lr, fused=True)
    autocast = torch.autocast(args.device, dtype=torch.bfloat16, enabled=bf16(args))
    rows = batch_rows(len(pairs), args.batch_size)
    window.loaded()

    def embed(texts: list[str]) -> torch.Tensor:
        features = tokenizer(texts, padding=True, truncation=True, max_length=args.max_length,
                             return_tensors="pt").to(args.device)
        hidden = model(**features).last_hidden_state
        if args.model in DECODERS:  # the last real token (either padding side)
            last = features["attention_mask"].shape[1] - 1 - features["attention_mask"].flip(1).argmax(1)
            return F.normalize(hidden[torch.arange(len(last)), last], dim=-1)
        mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)

    for step, batch in enumerate(rows):
        if step == args.warmup:
            window.start()
        with autocast:
            anchors, positives = embed([pairs[i][0] for i in batch]), embed([pairs[i][1] for i in batch])
            scores = (anchors @ positives.T).float() * 20.0
        loss = F.cross_entropy(scores, torch.arange(len(batch), device=scores.device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    window.stop()


RUNNERS: dict[str, Callable[[argparse.Namespace, list[tuple[str, str]], Window, Path], None]] = {
    "pairlab": run_pairlab, "sentence_transformers": run_sentence_transformers, "plain": run_plain}


def worker(args: argparse.Namespace) -> None:
    """One contender's run: train, then print its measurements as one JSON line."""
    pairs = make_pairs(args)
    window = Window(args.device)
    with tempfile.TemporaryDirectory(prefix="pairlab-bench-") as tmp:
        RUNNERS[args.worker](args, pairs, window, Path(tmp))
    print(RESULT + json.dumps(window.result(args.steps * args.batch_size)), flush=True)


# ---- the parent: interleaved rounds ------------------------------------------------------------
def wait_until_quiet(max_load: float, patience_s: float = 60.0) -> tuple[float, float]:
    """Wait (up to patience_s) while the 1-minute load average is above max_load and the CPUs are
    busy; returns (load average, cores busy over the last 2 s) when the run starts."""
    deadline = time.monotonic() + patience_s
    while True:
        before, t = busy_cpu_s(), time.monotonic()
        time.sleep(2.0)
        busy = (busy_cpu_s() - before) / (time.monotonic() - t)
        load = os.getloadavg()[0]
        if load <= max_load or busy < 0.25 or time.monotonic() > deadline:
            return load, busy


def child_env(threads: int) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "WANDB_MODE": "offline",
            "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def worker_argv(args: argparse.Namespace, contender: str, pairlab: list[str]) -> list[str]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", contender, "--model", args.model,
            "--data", args.data, "--batch-size", str(args.batch_size), "--max-length", str(args.max_length),
            "--steps", str(args.steps), "--warmup", str(args.warmup), "--lr", str(args.lr),
            "--threads", str(args.threads), "--device", args.device, "--precision", args.precision]
    if getattr(args, "gradient_checkpointing", False):  # grad_cache_memory.py builds workers without it
        argv.append("--gradient-checkpointing")
    if args.tokenizer:
        argv += ["--tokenizer", args.tokenizer]
    if args.bimpm_path:
        argv += ["--bimpm-path", str(args.bimpm_path)]
    for override in pairlab:
        argv += ["--pairlab", override]
    return argv


def run_worker(argv: list[str], env: dict[str, str], timeout: float | None = None) -> dict[str, float]:
    """Run one worker subprocess; its result line as a dict (raises with the output tail on failure)."""
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(argv[2:])} failed (exit {done.returncode}):\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(lines[-1][len(RESULT):])


def data_summary(args: argparse.Namespace) -> str:
    """Real tokens per question and the share of padded positions that are real, per column and merged."""
    from transformers import AutoTokenizer

    from pairlab.models.hub import resolve_model_path

    pairs = make_pairs(args)
    if args.model in DECODERS and not args.tokenizer:
        tokenizer = decoder_tokenizer(pairs)
    else:
        tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(args.tokenizer or MINILM))
    lengths = np.array([[len(ids) for ids in tokenizer(list(col), truncation=True, max_length=args.max_length)
                         ["input_ids"]] for col in zip(*pairs, strict=True)]).T  # [pairs, 2]
    real = per_column = merged = 0
    for rows in batch_rows(len(pairs), args.batch_size):
        real += lengths[rows].sum()
        per_column += len(rows) * lengths[rows].max(0).sum()
        merged += 2 * len(rows) * lengths[rows].max()
    return (f"{len(pairs):,} pairs ({args.data}); tokens per question: median {np.median(lengths):.0f}, "
            f"mean {lengths.mean():.1f}, max {lengths.max()}; real share of padded tokens: per column "
            f"{real / per_column:.0%}, columns merged {real / merged:.0%}")


def parse_variants(specs: list[str]) -> dict[str, list[str]]:
    variants: dict[str, list[str]] = {}
    for spec in specs:
        name, _, overrides = spec.partition("=")
        if not overrides:
            raise SystemExit(f"--variant {spec!r}: use NAME=key=value[,key=value...]")
        variants[f"pairlab[{name}]"] = overrides.split(",")
    return variants


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=MODELS, default="minilm",
                        help="the packaged MiniLM, or a random-init encoder of a given shape")
    parser.add_argument("--tokenizer", default=None,
                        help="tokenizer of the random-init encoders (hub id or folder; default: the packaged MiniLM's)")
    parser.add_argument("--data", choices=("synthetic", "bimpm", "full"), default="synthetic",
                        help="synthetic: question-length mix like Quora's; full: every question past max length "
                             "(no padding at all); bimpm: the duplicate pairs of --bimpm-path")
    parser.add_argument("--bimpm-path", type=Path, default=None, help="BiMPM Quora tsv (label, q1, q2, id)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--steps", type=int, default=64, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before the timed ones")
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of every contender")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="every contender's precision (bf16: autocast, fp32 master weights); auto: bf16 on "
                             "cuda, fp32 on cpu")
    parser.add_argument("--gradient-checkpointing", action="store_true",
                        help="every contender recomputes layer activations in the backward pass (non-reentrant)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--pairlab", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Hydra override for the pairlab contender (repeatable)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=VALUE[,KEY=VALUE]",
                        help="another pairlab contender with these overrides, e.g. before=model.unpad=false")
    parser.add_argument("--max-load", type=float, default=1.0)
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.data == "bimpm" and args.bimpm_path is None:
        parser.error("--data bimpm needs --bimpm-path")
    if args.worker:
        return worker(args)

    runs = {name: (name, args.pairlab) for name in args.contenders.split(",")}
    runs.update({name: ("pairlab", overrides) for name, overrides in parse_variants(args.variant).items()})
    env = child_env(args.threads)
    print(f"{args.model}, batch {args.batch_size}, max length {args.max_length}, {args.steps} timed steps after "
          f"{args.warmup} warm-up, {args.threads} threads, {args.device}, {'bf16' if bf16(args) else 'fp32'}; "
          f"{data_summary(args)}", flush=True)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in runs}
    print("round | contender | samples/s | peak RSS MB | load avg before | others (cores) during", flush=True)
    for round_ in range(1, args.repeats + 1):
        for name, (contender, overrides) in runs.items():
            load, _ = wait_until_quiet(args.max_load)
            result = run_worker(worker_argv(args, contender, overrides), env) | {"load": load}
            results[name].append(result)
            print(f"{round_} | {name} | {result['samples_per_s']:.1f} | {result['peak_rss_mb']:.0f} | {load:.2f} | "
                  f"{result['others_cores']:.2f}", flush=True)

    medians = {name: statistics.median(r["samples_per_s"] for r in rs) for name, rs in results.items()}
    print("\ncontender | median samples/s | rounds | peak RSS MB (max) | vs sentence_transformers | vs plain")
    for name, rs in results.items():
        ratios = [f"{medians[name] / medians[other]:.2f}x" if other in medians else "-"
                  for other in ("sentence_transformers", "plain")]
        rounds = ", ".join(f"{r['samples_per_s']:.1f}" for r in rs)
        print(f"{name} | {medians[name]:.1f} | {rounds} | "
              f"{max(r['peak_rss_mb'] for r in rs):.0f} | {ratios[0]} | {ratios[1]}")
    summary = {name: round(median, 2) for name, median in medians.items()}  # contenders and variants
    if args.device == "cuda":
        summary["peak_cuda_mb"] = {name: round(max(r["peak_cuda_mb"] for r in rs)) for name, rs in results.items()}
    if "pairlab" in medians:
        for key, other in (("ratio_vs_st", "sentence_transformers"), ("ratio_vs_plain", "plain")):
            if other in medians:
                summary[key] = round(medians["pairlab"] / medians[other], 3)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
