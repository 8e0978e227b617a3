"""Re-mining with the model being trained (ANCE-style): negatives mined by the starting model go stale as the
model improves, so every `every_n_epochs` epochs the current weights mine new hard negatives for the task's
(anchor, positive) pairs and the task trains on them from the next epoch on.

The task's data must be mined rows: columns anchor, positive and `num_negatives` negative columns, no label
(`data=columns` on `mine.py`'s output). The anchors, positives and known positives are the task's training
rows as they were at the start; the corpus is `corpus` (a file) plus every text of those rows. Rank 0 mines and
writes `<run dir>/remined/<task>-epoch<E>.jsonl`; every rank then reads the same file. The file in use travels
with the checkpoint, so a resumed run trains on the rows the interrupted one was training on. The learning-rate
schedule keeps the length it was given at the start.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from pairlab.atomic import write_text
from pairlab.data.example import Example, ListExampleSet
from pairlab.errors import ConfigError
from pairlab.io.corpus import iter_texts
from pairlab.mining import Corpus, MiningSettings, mine_hard_negatives


class Remine(pl.Callback):
    """`callbacks.remine`: off while `every_n_epochs` is null; the other keys are `mine.py`'s."""

    def __init__(self, every_n_epochs: int | None = None, task: str = "main", corpus: str | None = None,
                 num_negatives: int = 1, range_min: int = 0, range_max: int | None = None,
                 absolute_margin: float | None = None, relative_margin: float | None = None,
                 max_score: float | None = None, min_score: float | None = None, sampling_strategy: str = "top",
                 batch_size: int = 64, seed: int = 0) -> None:
        if every_n_epochs is not None and every_n_epochs < 1:
            raise ValueError(f"callbacks.remine.every_n_epochs must be >= 1 (or null: off), got {every_n_epochs}")
        self.every_n_epochs, self.task, self.corpus, self.batch_size = every_n_epochs, task, corpus, batch_size
        self.settings = MiningSettings(
            num_negatives=num_negatives, range_min=range_min, range_max=range_max, max_score=max_score,
            min_score=min_score, absolute_margin=absolute_margin, relative_margin=relative_margin,
            sampling_strategy=sampling_strategy, format="triplet" if num_negatives == 1 else "n-tuple", seed=seed)
        self.current: str | None = None  # the re-mined file the task trains on (None: its own data)
        self.pairs: list[tuple[str, str]] = []
        self.texts: list[str] = []

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.every_n_epochs is None or stage != "fit":
            return
        if trainer.strategy.restore_checkpoint_after_setup:
            raise ConfigError("callbacks.remine mines on rank 0 alone, which a sharded strategy (trainer=fsdp) cannot "
                              "run: use trainer=ddp, or re-mine between runs with mine.py")
        sets = trainer.datamodule.train_sets
        if self.task not in sets:
            raise ConfigError(f"callbacks.remine.task={self.task!r} is not a task of this run: use one of "
                              f"{sorted(sets)}")
        provides = sets[self.task].provides
        want = 2 + self.settings.num_negatives
        if len(provides.columns) != want or provides.label != "none":
            raise ConfigError(f"callbacks.remine rewrites task {self.task!r}'s rows as anchor, positive and "
                              f"{self.settings.num_negatives} negatives, but its data gives {provides.describe()}: "
                              f"set callbacks.remine.num_negatives={len(provides.columns) - 2} or train on mined rows")
        rows = [sets[self.task][i].texts for i in range(len(sets[self.task]))]
        self.pairs = list(dict.fromkeys((row[0], row[1]) for row in rows))
        self.texts = list(dict.fromkeys(text for row in rows for text in row[1:]))
        trainer.reload_dataloaders_every_n_epochs = 1  # the next epoch's loader reads the re-mined rows

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.every_n_epochs is None or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        path = Path(trainer.default_root_dir) / "remined" / f"{self.task}-epoch{trainer.current_epoch + 1}.jsonl"
        if trainer.is_global_zero:
            stats = self.mine(pl_module.encoder, path)
        trainer.strategy.barrier()
        before = trainer.datamodule.train_sets[self.task]
        self.use(trainer, str(path))
        after = trainer.datamodule.train_sets[self.task]
        changed = sum(a.texts != b.texts for a, b in zip(before.examples, after.examples, strict=False))
        pl_module.log("remine/negatives_changed", changed / max(1, len(after)), rank_zero_only=True)
        if trainer.is_global_zero and stats.get("count"):
            pl_module.log("remine/negative_score_mean", stats["mean"], rank_zero_only=True)

    @torch.no_grad()
    def mine(self, encoder: Any, path: Path) -> dict:
        """Mine with the current weights and write the rows (atomically); the negatives' score statistics."""
        extra = [text for _, text in iter_texts(Path(self.corpus), "callbacks.remine.corpus")] if self.corpus else []
        corpus = Corpus(lambda: iter([*extra, *self.texts]))
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as scratch:  # this mining's embeddings, then gone
            mined = mine_hard_negatives(self.pairs, encoder, corpus, Path(scratch) / "embeddings", self.settings,
                                        batch_size=self.batch_size)
        write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in mined.rows))
        return mined.summary(self.settings)["negative_scores"]

    def use(self, trainer: pl.Trainer, path: str) -> None:
        """The task trains on the rows of `path` from the next epoch on."""
        sets = trainer.datamodule.train_sets
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        examples = [Example(tuple(row[c] for c in self.file_columns())) for row in map(json.loads, lines)]
        if not examples:
            raise ConfigError(f"{path}: re-mining found no negatives: widen callbacks.remine.range_max or its filters")
        sets[self.task] = ListExampleSet(examples, sets[self.task].provides)
        self.current = path

    def file_columns(self) -> tuple[str, ...]:
        n = self.settings.num_negatives
        return ("anchor", "positive", "negative") if n == 1 else ("anchor", "positive",
                                                                  *(f"negative_{k}" for k in range(1, n + 1)))

    def state_dict(self) -> dict[str, Any]:
        return {"current": self.current}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.current = state_dict.get("current")

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.every_n_epochs is not None and self.current is not None:  # resumed after a re-mining
            self.use(trainer, self.current)
