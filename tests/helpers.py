"""Run pairlab's Hydra entry points in-process (fast) or as a subprocess (as users do)."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from pairlab.config import CONF_DIR
from pairlab.protocols import Batch
from pairlab.resolvers import register

ROOT = Path(__file__).resolve().parents[1]
FAST = ["model=tiny", "logger=csv", "num_workers=0", "trainer.enable_progress_bar=false"]


def compose_cfg(overrides: list[str], run_dir: Path, config_name: str = "train"):
    """The config `python train.py <overrides>` (or eval.py, mine.py: `config_name`) would run, with its output
    dir set to run_dir."""
    register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name, overrides=[*overrides, f"hydra.run.dir={run_dir}"], return_hydra_config=True)
    cfg.hydra.runtime.output_dir = str(run_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def train_in_process(overrides: list[str], run_dir: Path) -> float | None:
    from pairlab.commands.train import run

    return run(compose_cfg([*FAST, *overrides], run_dir))


def run_entry(script: str, args: list[str]) -> subprocess.CompletedProcess:
    """`python <script> <args>` (train.py, eval.py or mine.py) run in this process, as the interpreter would run
    it: what it prints, and the exit code a `SystemExit` or an uncaught exception (its traceback printed) gives;
    without the interpreter's start-up (several seconds of imports)."""
    entry = {"train.py": "train", "eval.py": "evaluate", "mine.py": "mine"}[script]
    stdout, stderr = io.StringIO(), io.StringIO()
    argv, code = sys.argv, 0
    GlobalHydra.instance().clear()
    sys.argv = [str(ROOT / script), *args]
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                importlib.import_module(f"pairlab.commands.{entry}").main()
            except SystemExit as e:
                if isinstance(e.code, str):
                    print(e.code, file=sys.stderr)
                code = e.code if isinstance(e.code, int) else int(e.code is not None)
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()
    return subprocess.CompletedProcess([script, *args], code, stdout.getvalue(), stderr.getvalue())


def train_cli(args: list[str], cwd: Path = ROOT, timeout: int = 600,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "WANDB_MODE": "offline", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=timeout)


class KillAt(pl.Callback):
    """SIGKILLs its own process once training passes a given optimizer step (a crash, mid-epoch)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class GradNormProbe(pl.Callback):
    """Writes the gradient norm each optimizer step used (read after the step: clipped, unscaled) to
    <run dir>/grad_norms_rank<r>.json: proof that steps were taken and clipping held."""

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.norms: list[float] = []
        for optimizer in trainer.optimizers:
            optimizer.register_step_post_hook(self._record)

    def _record(self, optimizer: torch.optim.Optimizer, *args: object) -> None:
        grads = [p.grad.float() for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        out = Path(trainer.default_root_dir) / f"grad_norms_rank{trainer.global_rank}.json"
        out.write_text(json.dumps(self.norms))


class Record(pl.Callback):
    """Writes what this rank did to <run dir>/record_rank<r>.pt: the rows of each step (token ids of
    every column), how many texts each validation encoded, the metrics it logged, its final weights."""

    def __init__(self) -> None:
        self.steps: list[list[tuple]] = []
        self.encoded: list[int] = [0]
        self.metrics: list[dict[str, float]] = []

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        encoder = pl_module.encoder
        for name in ("encode", "score"):
            if hasattr(encoder, name) and name not in vars(encoder):  # wrap once, on the instance
                setattr(encoder, name, self._counting(getattr(encoder, name)))

    def _counting(self, method):
        def counted(texts, *args, **kwargs):
            self.encoded[-1] += len(texts)
            return method(texts, *args, **kwargs)
        return counted

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Batch, *args) -> None:
        columns = [[tuple(ids[mask.bool()].tolist()) for ids, mask in zip(f["input_ids"], f["attention_mask"],
                                                                            strict=True)] for f in batch.inputs]
        self.steps.append(list(zip(*columns, strict=True)))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.metrics.append({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")})
        self.encoded.append(0)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        torch.save({"steps": self.steps, "encoded": self.encoded[:-1], "metrics": self.metrics,
                    "weights": {k: v.detach().cpu().clone() for k, v in pl_module.encoder.state_dict().items()}},
                   Path(trainer.default_root_dir) / f"record_rank{trainer.global_rank}.pt")


class SignalAt(pl.Callback):
    """Sends `signum` to its own process in the middle of optimizer step `step` (after backward,
    before the weights change): the worst moment for a checkpoint."""

    def __init__(self, step: int, signum: int = signal.SIGUSR1) -> None:
        self.step, self.signum = step, signum

    def on_before_optimizer_step(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


def beir_folder(folder: Path, docs: dict[str, str], queries: dict[str, str], qrels: dict[str, list[str]]) -> Path:
    """A BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) of the given texts and relevant documents."""
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": "", "text": t}) + "\n"
                                                 for i, t in docs.items()))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries.items()))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t1\n" for q, relevant in qrels.items() for d in relevant))
    return folder


def assert_same_metrics(want_dir: Path, got_dir: Path, tolerance: float = 1e-5) -> None:
    """Two runs' metrics.json have the same keys and values within `tolerance`."""
    want = json.loads((want_dir / "metrics.json").read_text())
    got = json.loads((got_dir / "metrics.json").read_text())
    assert want.keys() == got.keys()
    for key in want:
        assert abs(want[key] - got[key]) <= tolerance, (key, want[key], got[key])

