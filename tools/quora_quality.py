"""The Quora quality study: recipes compared on real text the way a paper would compare them.

The BiMPM Quora file (`is_duplicate, question1, question2, pair_id`, no header) is split by question into
train / tune / report parts: pairs are joined into connected components (two pairs sharing a question are in
one component) and whole components are dealt to the parts by a seeded shuffle, so no question crosses parts.
Every recipe trains on *train* (validating on *tune*, so no checkpoint choice sees *report*); settings are
chosen with `--part tune` and reported with `--part report`, as the mean and spread over `--seeds`. Metrics, by
pairlab's Quora evaluator on the part: pair-classification AP (cosine of each labelled pair) and duplicate
retrieval MRR@10 (each question with a duplicate queries all of the part's questions; its duplicates are
relevant).

    python tools/quora_quality.py --source ../shared/data/quora/bimpm_quora_dev.tsv --part tune --seeds 1 --queue 4
    python tools/quora_quality.py --source ../shared/data/quora/bimpm_quora_dev.tsv --part report --seeds 1 2 3

Recipes, all from the packaged all-MiniLM-L6-v2 at batch 64 (kl_div: 32 rows of 8 candidates), lr 2e-5: the
shipped experiments quora_online_contrastive, quora_gist_multitask and quora_mnrl (1 epoch), quora_mnrl with a
ContAccum queue, MNRL on hard negatives mined by MiniLM (2 epochs) without and with one re-mining round after the
first, and kl_div from a cross-encoder teacher (MiniLM's weights trained on the train part's labelled pairs)
rescoring 7 mined candidates a pair (1 epoch).

Runs land in `--out` (one folder per recipe and seed, reused when the script runs again); the table is printed
as markdown and written to `<out>/<part>.md` and `<out>/<part>.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from pairlab.data.quora import records_evaluator
from pairlab.evaluation.evaluators import duplicate_clusters
from pairlab.io.pairs import read_records
from pairlab.io.tables import BadRows
from pairlab.models.loading import load_encoder

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = "data.columns=[label,sentence1,sentence2,id]"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


# ---- the split ----------------------------------------------------------------------------------------------
def split_by_question(lines: list[str], fractions: tuple[float, float, float], seed: int) -> list[list[str]]:
    """train / tune / report lines: connected components of the pair graph dealt whole by a seeded shuffle."""
    rows = [line.split("\t") for line in lines]
    component_of = duplicate_clusters([(row[1], row[2]) for row in rows])  # union-find over every pair, labelled 0 or 1
    components: dict[str, list[str]] = {}
    for line, row in zip(lines, rows, strict=True):
        components.setdefault(component_of[row[1]], []).append(line)
    groups = [components[root] for root in sorted(components)]
    order = np.random.default_rng(seed).permutation(len(groups))
    bounds = np.cumsum(fractions) * len(lines)
    parts: list[list[str]] = [[], [], []]
    dealt = 0
    for i in order:
        part = min(int(np.searchsorted(bounds, dealt, side="right")), 2)
        parts[part].extend(groups[i])
        dealt += len(groups[i])
    return parts


def write_split(source: Path, out: Path, seed: int) -> dict[str, Path]:
    """The three parts as files, a training folder (train.tsv + dev.tsv = tune) and the train part's questions."""
    lines = [line for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    parts = dict(zip(("train", "tune", "report"), split_by_question(lines, (0.7, 0.15, 0.15), seed), strict=True))
    split = out / "split"
    (split / "fit").mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        (split / f"{name}.tsv").write_text("\n".join(part) + "\n", encoding="utf-8")
    (split / "fit" / "train.tsv").write_text("\n".join(parts["train"]) + "\n", encoding="utf-8")
    (split / "fit" / "dev.tsv").write_text("\n".join(parts["tune"]) + "\n", encoding="utf-8")
    questions = sorted({q for line in parts["train"] for q in line.split("\t")[1:3]})
    (split / "train_questions.txt").write_text("\n".join(questions) + "\n", encoding="utf-8")
    qs = {name: {q for line in part for q in line.split("\t")[1:3]} for name, part in parts.items()}
    assert not (qs["train"] & qs["tune"] or qs["train"] & qs["report"] or qs["tune"] & qs["report"])
    print(json.dumps({name: len(part) for name, part in parts.items()}), file=sys.stderr)
    return {"fit": split / "fit", "questions": split / "train_questions.txt",
            **{name: split / f"{name}.tsv" for name in parts}}


# ---- running ------------------------------------------------------------------------------------------------
def run(script: str, overrides: list[str], run_dir: Path) -> Path:
    """`python <script> <overrides>` with its run dir at `run_dir` (skipped when it finished before)."""
    done = run_dir / ".done"
    if not done.exists():
        cmd = [sys.executable, str(ROOT / script), *overrides, f"hydra.run.dir={run_dir}"]
        print("+ " + " ".join(cmd[1:]), file=sys.stderr, flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        done.touch()
    return run_dir


@dataclass(frozen=True)
class Settings:
    """What the tune part chooses (command-line flags of the same names); the defaults are the choices made on it
    (README, Quality on real Quora text)."""

    queue: int = 16                  # module.negatives_queue of mnrl_contaccum (tried: 4, 16)
    relative_margin: float = 0.05    # mined hard negatives: drop candidates within this of the positive (tried: 0)
    teacher_epochs: int = 3          # the cross-encoder teacher: epochs and learning rate (tried: 1 at 2e-5)
    teacher_lr: float = 5e-5
    temperature: float = 0.05        # kl_div: the student's temperature (cosine scores)
    teacher_temperature: float = 1.0  # kl_div: the teacher logits' temperature (tried: 2)
    in_batch: float = 0.5            # kl_div: weight of the in-batch MNRL term (tried: 0)


class Context:
    def __init__(self, out: Path, files: dict[str, Path], precision: str, settings: Settings) -> None:
        self.out, self.files, self.precision, self.settings = out, files, precision, settings
        self.quora = [f"data.source={files['fit']}", COLUMNS]

    def train(self, name: str, overrides: list[str], seed: int) -> Path:
        """A run from the packaged MiniLM on the train part (validated on tune); returns its export."""
        base = [f"seed={seed}", "model=minilm", f"trainer.precision={self.precision}", "logger=csv",
                "eval_baseline=false", "callbacks.last_checkpoint.every_n_train_steps=1000"]
        return run("train.py", base + overrides, self.out / "runs" / f"{name}-s{seed}") / "model"

    def mined(self, teacher: bool) -> Path:
        """Train-part duplicates with negatives mined by the packaged MiniLM from the train questions: one hard
        negative (triplets), or 7 with the positive and every negative rescored by the teacher (fp32 scores)."""
        margin = self.settings.relative_margin
        name = f"scores-{self.teacher().parent.name}" if teacher else f"triplet-m{margin}"
        path = self.out / "mined" / f"{name}.jsonl"
        filters = [f"mine.relative_margin={margin}"] if margin else []
        settings = (["mine.format=n-tuple-scores", "mine.num_negatives=7", "mine.range_max=30", "mine.precision=fp32",
                     f"mine.cross_encoder={self.teacher()}"] if teacher else
                    ["mine.format=triplet", "mine.num_negatives=1", *filters])
        run("mine.py", [f"model.name={MINILM}", f"mine.source={self.files['train']}", "mine.columns=[label,"
                        "sentence1,sentence2,id]", f"mine.corpus={self.files['questions']}", f"mine.output={path}",
                        *settings], self.out / "mined" / name)
        return path

    def mined_rows(self, teacher: bool) -> list[str]:
        """data=columns over a mined file, every row trained on; with no validation the export is the last weights
        (as in the Quora runs, which validate once, after their last step)."""
        return ["data=columns", f"data.source={self.mined(teacher)}", "data.val_size=0", "monitor=null",
                "data.batch_sampler=no_duplicates"]

    def teacher(self) -> Path:
        """A cross-encoder from MiniLM's weights trained on the train part's labelled pairs (BCE)."""
        epochs, lr = self.settings.teacher_epochs, self.settings.teacher_lr
        return run("train.py", ["seed=0", "model=cross_hf", f"model.name={MINILM}", f"model.lr={lr}", "loss=bce",
                                "data=quora", *self.quora, "data.subset=pair-class", "data.batch_size=32",
                                f"trainer.precision={self.precision}", "logger=csv", f"trainer.max_epochs={epochs}",
                                "monitor=val/ap", "eval_baseline=false"],
                   self.out / "runs" / f"teacher-e{epochs}-lr{lr}") / "model"


def untrained(seed: int, ctx: Context) -> None:
    return None


def online_contrastive(seed: int, ctx: Context) -> Path:
    return ctx.train("online_contrastive", ["experiment=quora_online_contrastive", "model=minilm", *ctx.quora], seed)


def gist_multitask(seed: int, ctx: Context) -> Path:
    return ctx.train("gist_multitask", ["experiment=quora_gist_multitask", *ctx.quora], seed)


def mnrl(seed: int, ctx: Context) -> Path:
    return ctx.train("mnrl", ["experiment=quora_mnrl", "model=minilm", *ctx.quora], seed)


def mnrl_contaccum(seed: int, ctx: Context) -> Path:
    queue = ctx.settings.queue
    return ctx.train(f"mnrl_contaccum{queue}", ["experiment=quora_mnrl", "model=minilm", *ctx.quora,
                                                f"module.negatives_queue={queue}"], seed)


def mnrl_hard(seed: int, ctx: Context, remine: bool = False) -> Path:
    """MNRL on mined triplets for 2 epochs; with `remine`, the second epoch's negatives mined by the weights
    after the first (the same filters)."""
    margin = ctx.settings.relative_margin
    again = ["callbacks.remine.every_n_epochs=1", f"callbacks.remine.corpus={ctx.files['questions']}",
             *([f"callbacks.remine.relative_margin={margin}"] * bool(margin))] if remine else []
    return ctx.train(f"mnrl_hard{'_remine' * remine}-m{margin}",
                     ["loss=mnrl", *ctx.mined_rows(teacher=False), "data.batch_size=64", "trainer.max_epochs=2",
                      *again], seed)


def kl_div(seed: int, ctx: Context) -> Path:
    s = ctx.settings
    return ctx.train(f"kl_div-{ctx.teacher().parent.name}-t{s.temperature}-tt{s.teacher_temperature}-w{s.in_batch}",
                     ["loss=kl_div", "loss.similarity=cos", f"loss.student_temperature={s.temperature}",
                      f"loss.teacher_temperature={s.teacher_temperature}", f"loss.in_batch_weight={s.in_batch}",
                      *ctx.mined_rows(teacher=True), "data.batch_size=32"], seed)


def kl_ocl(seed: int, ctx: Context) -> Path:
    """kl_div's task and online_contrastive's in one run, drawn 1 : 1 (task=quora_kl_ocl)."""
    s = ctx.settings
    return ctx.train(f"kl_ocl-{ctx.teacher().parent.name}-t{s.temperature}-tt{s.teacher_temperature}-w{s.in_batch}",
                     ["experiment=quora_gist_multitask", "task=quora_kl_ocl", *ctx.quora,
                      f"task.tasks.kl.data.source={ctx.mined(teacher=True)}",
                      f"task.tasks.kl.loss.student_temperature={s.temperature}",
                      f"task.tasks.kl.loss.teacher_temperature={s.teacher_temperature}",
                      f"task.tasks.kl.loss.in_batch_weight={s.in_batch}"], seed)


RECIPES: dict[str, Callable[[int, Context], Path | None]] = {
    "untrained": untrained, "online_contrastive": online_contrastive, "gist_multitask": gist_multitask, "mnrl": mnrl,
    "mnrl_contaccum": mnrl_contaccum,
    "mnrl_hard": mnrl_hard, "mnrl_hard_remine": lambda seed, ctx: mnrl_hard(seed, ctx, remine=True), "kl_div": kl_div,
    "kl_ocl": kl_ocl,
}


def evaluate(model: str, part: Path) -> dict[str, float]:
    """AP and MRR@10 (with the rest of the evaluator's metrics) of a bi-encoder on one part."""
    evaluator = records_evaluator(read_records(part, ["label", "sentence1", "sentence2", "id"], BadRows("error")))
    encoder = load_encoder(model, "bi")
    encoder.eval()
    with torch.inference_mode():
        return evaluator(encoder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="bimpm_quora_dev.tsv")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "quality")
    parser.add_argument("--part", choices=("tune", "report"), default="tune")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--precision", default="32-true", help="trainer.precision of every run")
    for field in fields(Settings):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=field.default)
    args = parser.parse_args()

    settings = Settings(**{field.name: getattr(args, field.name) for field in fields(Settings)})
    ctx = Context(args.out, write_split(args.source, args.out, args.split_seed), args.precision, settings)
    results: dict[str, list[dict[str, float]]] = {}
    for name in args.recipes:
        for seed in args.seeds if name != "untrained" else args.seeds[:1]:
            model = RECIPES[name](seed, ctx)
            results.setdefault(name, []).append(evaluate(str(model) if model else MINILM, ctx.files[args.part]))
            print(json.dumps({"recipe": name, "seed": seed, **{k: results[name][-1][k] for k in ("ap", "mrr@10")},
                              "model": str(model)}), file=sys.stderr, flush=True)
    rows = ["| recipe | AP | MRR@10 | seeds |", "|---|---|---|---|"]
    for name, runs in results.items():
        cells = []
        for key in ("ap", "mrr@10"):
            values = [r[key] for r in runs]
            spread = f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""
            cells.append(f"{statistics.mean(values):.4f}{spread}")
        rows.append(f"| {name} | {cells[0]} | {cells[1]} | {len(runs)} |")
    table = f"settings: {json.dumps(asdict(settings))}, trainer.precision={args.precision}\n\n" + "\n".join(rows)
    (args.out / f"{args.part}.md").write_text(table + "\n", encoding="utf-8")
    (args.out / f"{args.part}.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
