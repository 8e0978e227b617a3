"""The whole run a user waits for: where `train.py`'s wall time and memory go, and the same job done
by a sentence-transformers script, each a fresh process, interleaved over rounds.

pairlab runs the real command line (`train.py experiment=quora_online_contrastive model=minilm
data=quora data.source=<BiMPM tsv> ... data.max_examples=2560 logger=csv export=false` by default),
with timers hooked onto its phases: imports, config composition, data index, model load, baseline
validation, training (tokenize + collate / forward + loss / backward / optimizer / checkpoints),
validation (the evaluators apart), the best checkpoint's final validation, export. A sampling thread
records each phase's peak RSS. The sentence-transformers contender is the script a user would write
for the same job: the same 2,560 training pairs and held-out part (taken from pairlab's reader),
OnlineContrastiveLoss (margin 0.5), batch 64, one epoch, lr 2e-5 with linear warm-up over 10% of
the steps, fused AdamW, clipping at 1, the held-out evaluation (pair classification + duplicate
retrieval) before training, after the epoch and on the best checkpoint, which it saves and reloads.

    python bench/profile_run.py --bimpm-path ../shared/data/quora/bimpm_quora_dev.tsv
    python bench/profile_run.py --contenders pairlab --pairlab trainer.precision=bf16-mixed --repeats 1
    python bench/profile_run.py --variant bf16=trainer.precision=bf16-mixed

Wall time and peak RSS come from the parent (os.wait4 on each child); the last line printed is one
JSON object with the medians and ratios.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()  # before the heavy imports: the worker's "imports" phase starts here

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULT = "PROFILE-RESULT "
CONTENDERS = ("pairlab", "sentence_transformers")
BIMPM = ROOT.parent / "shared" / "data" / "quora" / "bimpm_quora_dev.tsv"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Phases:
    """Wall seconds and peak RSS per named phase; nested phases are subtracted from their parent."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_mb: dict[str, float] = {}
        self.stack: list[str] = ["imports"]
        self.started = T0
        self._lock = threading.Lock()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            rss = rss_mb()
            with self._lock:
                name = self.stack[-1]
                self.peak_mb[name] = max(self.peak_mb.get(name, 0.0), rss)
            time.sleep(0.02)

    def _switch(self, pop: bool, push: str | None) -> None:
        now = time.perf_counter()
        with self._lock:
            current = self.stack[-1]
            self.seconds[current] = self.seconds.get(current, 0.0) + now - self.started
            self.started = now
            if pop:
                self.stack.pop()
            if push is not None:
                self.stack.append(push)

    def switch(self, name: str) -> None:
        """End the running phase and start the next one at the same depth."""
        self._switch(True, name)

    def enter(self, name: str) -> None:
        self._switch(False, name)

    def exit(self) -> None:
        self._switch(True, None)

    @contextmanager
    def phase(self, name: str):
        self.enter(name)
        try:
            yield
        finally:
            self.exit()

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)

    def result(self) -> dict[str, Any]:
        self._switch(False, None)  # count the running phase up to now
        return {"seconds": self.seconds, "peak_mb": self.peak_mb}


# ---- pairlab: the real command line, with timers on its phases ---------------------------------
def pairlab_overrides(args: argparse.Namespace, run_dir: Path, extra: list[str]) -> list[str]:
    return ["experiment=quora_online_contrastive", "model=minilm", "data=quora", f"data.source={args.bimpm_path}",
            "data.columns=[label,sentence1,sentence2,id]", f"data.max_examples={args.examples}", "logger=csv",
            "export=false", f"threads={args.threads}", f"hydra.run.dir={run_dir}", *extra]


def run_pairlab(args: argparse.Namespace, phases: Phases, workdir: Path) -> dict[str, float]:
    import pytorch_lightning as pl

    import pairlab.commands.train as entry
    from pairlab.data.datamodule import PairDataModule
    from pairlab.module import PairModule

    phases.wrap(PairDataModule, "setup", "data index")
    phases.wrap(entry, "build_encoder", "model load")
    phases.wrap(pl.Trainer, "save_checkpoint", "checkpoint save")
    phases.wrap(entry, "export_model", "export")
    phases.wrap(entry.torch, "load", "best checkpoint load")
    phases.wrap(PairModule, "on_validation_epoch_end", "evaluators")
    original_validate, original_fit = pl.Trainer.validate, pl.Trainer.fit
    fitting = {"done": False}

    def validate(self: pl.Trainer, *a: Any, **k: Any) -> Any:
        with phases.phase("final validation" if fitting["done"] else "baseline validation"):
            return original_validate(self, *a, **k)

    def fit(self: pl.Trainer, *a: Any, **k: Any) -> Any:
        with phases.phase("training"):
            out = original_fit(self, *a, **k)
        fitting["done"] = True
        return out

    pl.Trainer.validate, pl.Trainer.fit = validate, fit

    class StepPhases(pl.Callback):
        """Inside fit: tokenize + collate (between batches), forward + loss, backward, optimizer, validation."""

        def on_train_epoch_start(self, *_: Any) -> None:
            phases.enter("tokenize + collate")

        def on_train_batch_start(self, *_: Any) -> None:
            phases.switch("forward + loss")

        def on_before_backward(self, *_: Any) -> None:
            phases.switch("backward")

        def on_after_backward(self, *_: Any) -> None:
            phases.switch("clip + optimizer + logging")

        def on_train_batch_end(self, *_: Any) -> None:
            phases.switch("tokenize + collate")

        def on_train_epoch_end(self, *_: Any) -> None:
            phases.exit()

        def on_validation_start(self, *_: Any) -> None:
            if self._in_fit(_[0]):
                phases.enter("validation in training")

        def on_validation_end(self, *_: Any) -> None:
            if self._in_fit(_[0]):
                phases.exit()

        @staticmethod
        def _in_fit(trainer: pl.Trainer) -> bool:
            return trainer.state.fn == "fit"

    original_init = pl.Trainer.__init__

    def init(self: pl.Trainer, *a: Any, callbacks: list | None = None, **k: Any) -> None:
        original_init(self, *a, callbacks=[*(callbacks or []), StepPhases()], **k)

    pl.Trainer.__init__ = init
    sys.argv = ["train.py", *pairlab_overrides(args, workdir / "run", args.pairlab)]
    phases.switch("set-up and the rest")  # hydra, config checks, module, trainer, loggers, metrics file
    entry.main()
    metrics = json.loads((workdir / "run" / "metrics.json").read_text())
    return {k: metrics[k] for k in ("val/ap", "val/mrr@10") if k in metrics}


# ---- sentence-transformers: the script a user would write for the same job ------------------------
def held_out_split(args: argparse.Namespace) -> tuple[list, list]:
    """The training pairs and held-out rows pairlab's reader gives for the same command."""
    from pairlab.data.quora import QuoraData

    data = QuoraData(source=str(args.bimpm_path), subset="pair-class", max_examples=args.examples, seed=42,
                     columns=["label", "sentence1", "sentence2", "id"], batch_size=64)
    return list(data.train_set()), data._load()[1]


def run_sentence_transformers(args: argparse.Namespace, phases: Phases, workdir: Path) -> dict[str, float]:
    # the imports phase runs until the data is read
    import torch
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.evaluation import (
        BinaryClassificationEvaluator,
        InformationRetrievalEvaluator,
        SequentialEvaluator,
    )
    from sentence_transformers.sentence_transformer.losses import OnlineContrastiveLoss

    from pairlab.evaluation.evaluators import duplicate_clusters
    from pairlab.models.hub import resolve_model_path
    torch.set_num_threads(args.threads)
    phases.switch("data index")
    train, val = held_out_split(args)
    dataset = Dataset.from_dict({"sentence1": [ex.texts[0] for ex in train], "sentence2": [ex.texts[1] for ex in train],
                                 "label": [int(ex.label) for ex in train]})
    labelled = [(r.text1, r.text2, r.label) for r in val]
    corpus = sorted({q for a, b, _ in labelled for q in (a, b)})
    cluster = duplicate_clusters([(a, b) for a, b, y in labelled if y == 1])
    ids = {q: str(i) for i, q in enumerate(corpus)}
    members: dict[str, set[str]] = {}
    for q, root in cluster.items():
        members.setdefault(root, set()).add(ids[q])
    queries = {ids[q]: q for q in cluster}
    relevant = {ids[q]: members[cluster[q]] - {ids[q]} for q in cluster}
    phases.switch("set-up and the rest")
    with phases.phase("model load"):
        model = SentenceTransformer(resolve_model_path("sentence-transformers/all-MiniLM-L6-v2"), device="cpu")
        model.max_seq_length = 128
    evaluator = SequentialEvaluator([
        BinaryClassificationEvaluator([a for a, _, _ in labelled], [b for _, b, _ in labelled],
                                      [y for _, _, y in labelled], name="quora-dev", batch_size=128),
        InformationRetrievalEvaluator(queries, {i: q for q, i in ids.items()}, relevant, name="quora-dev",
                                      batch_size=128, show_progress_bar=False)])
    with phases.phase("baseline validation"):
        evaluator(model)
    steps = len(dataset) // 64 + (len(dataset) % 64 > 0)
    training_args = SentenceTransformerTrainingArguments(
        output_dir=str(workdir / "st"), num_train_epochs=1, per_device_train_batch_size=64, learning_rate=2e-5,
        warmup_steps=max(1, steps // 10), weight_decay=0.01, optim="adamw_torch_fused", max_grad_norm=1.0,
        bf16=args.st_bf16, use_cpu=True, eval_strategy="epoch", save_strategy="epoch", save_total_limit=1,
        load_best_model_at_end=True, metric_for_best_model="eval_quora-dev_cosine_ap", greater_is_better=True,
        logging_steps=5, report_to="none", disable_tqdm=True, dataloader_num_workers=0, seed=42)
    trainer = SentenceTransformerTrainer(model=model, args=training_args, train_dataset=dataset,
                                         loss=OnlineContrastiveLoss(model, margin=0.5), evaluator=evaluator)
    with phases.phase("training"):
        trainer.train()
    with phases.phase("final validation"):
        final = evaluator(model)
    # AP only: sentence-transformers' retrieval evaluator keeps each query in its corpus (pairlab's excludes
    # it, the query being its own best match), so their MRR@10 numbers are not the same measure
    return {"val/ap": final["quora-dev_cosine_ap"]}


RUNNERS = {"pairlab": run_pairlab, "sentence_transformers": run_sentence_transformers}


def worker(args: argparse.Namespace) -> None:
    phases = Phases()
    with tempfile.TemporaryDirectory(prefix="pairlab-profile-") as tmp:
        quality = RUNNERS[args.worker](args, phases, Path(tmp))
    print(RESULT + json.dumps({**phases.result(), "quality": quality}), flush=True)


# ---- the parent: fresh processes, interleaved --------------------------------------------------
def child_env(threads: int) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "WANDB_MODE": "offline",
            "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def run_child(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One worker process: its phases plus the wall time and peak RSS the parent saw (wait4)."""
    with tempfile.TemporaryFile(mode="w+") as out:
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    lines = [line for line in text.splitlines() if line.startswith(RESULT)]
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(argv[2:])} failed:\n{text[-4000:]}")
    return {**json.loads(lines[-1][len(RESULT):]), "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024}


def worker_argv(args: argparse.Namespace, contender: str, pairlab: list[str]) -> list[str]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", contender, "--bimpm-path", str(args.bimpm_path),
            "--examples", str(args.examples), "--threads", str(args.threads)]
    if args.st_bf16:
        argv.append("--st-bf16")
    return argv + [item for override in pairlab for item in ("--pairlab", override)]


def phase_table(name: str, runs: list[dict[str, Any]]) -> str:
    order = list(dict.fromkeys(k for r in runs for k in r["seconds"]))
    lines = [f"\n{name}: phase | median s | share | peak RSS MB (max)"]
    total = statistics.median(r["wall_s"] for r in runs)
    for phase in order:
        seconds = statistics.median(r["seconds"].get(phase, 0.0) for r in runs)
        peak = max(r["peak_mb"].get(phase, 0.0) for r in runs)
        lines.append(f"{phase} | {seconds:.2f} | {seconds / total:.1%} | {peak:.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bimpm-path", type=Path, default=BIMPM, help="BiMPM Quora tsv (label, q1, q2, id)")
    parser.add_argument("--examples", type=int, default=2560, help="training pairs (data.max_examples)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--pairlab", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Hydra override for the pairlab contender (repeatable)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=VALUE[,KEY=VALUE]",
                        help="another pairlab contender with these overrides")
    parser.add_argument("--st-bf16", action="store_true", help="sentence-transformers' trainer with bf16=True")
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.bimpm_path.is_file():
        parser.error(f"--bimpm-path {args.bimpm_path} is not a file")
    args.bimpm_path = args.bimpm_path.resolve()
    if args.worker:
        return worker(args)

    runs: dict[str, tuple[str, list[str]]] = {name: (name, args.pairlab) for name in args.contenders.split(",")}
    for spec in args.variant:
        name, _, overrides = spec.partition("=")
        runs[f"pairlab[{name}]"] = ("pairlab", [*args.pairlab, *overrides.split(",")])
    env = child_env(args.threads)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    print(f"{args.examples} BiMPM pairs, 1 epoch, {args.threads} threads; round | contender | wall s | peak RSS MB | "
          "val/ap | val/mrr@10", flush=True)
    for round_ in range(1, args.repeats + 1):
        for name, (contender, overrides) in runs.items():
            result = run_child(worker_argv(args, contender, overrides), env)
            results[name].append(result)
            q = result["quality"]
            print(f"{round_} | {name} | {result['wall_s']:.1f} | {result['peak_rss_mb']:.0f} | "
                  f"{q.get('val/ap', float('nan')):.4f} | {q.get('val/mrr@10', float('nan')):.4f}", flush=True)
    for name, rs in results.items():
        print(phase_table(name, rs))
    summary: dict[str, Any] = {name: {"wall_s": round(statistics.median(r["wall_s"] for r in rs), 2),
                                      "peak_rss_mb": round(max(r["peak_rss_mb"] for r in rs)),
                                      "val/ap": [round(r["quality"].get("val/ap", float("nan")), 4) for r in rs]}
                               for name, rs in results.items()}
    st = summary.get("sentence_transformers")
    for name in results:
        if st and name != "sentence_transformers":
            summary[name]["speedup_vs_st"] = round(st["wall_s"] / summary[name]["wall_s"], 3)
            summary[name]["rss_vs_st"] = round(summary[name]["peak_rss_mb"] / st["peak_rss_mb"], 3)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
