"""LightningModule: encode each column, route the batch to its task's loss, log, evaluate."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from pairlab.models import Encoder


class PairModule(pl.LightningModule):
    """Owns the encoder and one loss per task; the datamodule owns data and evaluators.

    Metric names: `train/loss`, `val/loss` and `val/<metric>` for single-task runs; multi-task
    runs add `train/<task>/loss`, `train/<task>/examples`, `val/<task>/<metric>`, and
    `val/<metric>` becomes the mean over the tasks that report it (a combined monitor).
    """

    def __init__(self, encoder: Encoder, losses: Mapping[str, nn.Module], lr: float = 2e-5,
                 weight_decay: float = 0.01, warmup_ratio: float = 0.1, scheduler: str = "linear",
                 fused_adamw: bool = True) -> None:
        super().__init__()
        if lr <= 0:
            raise ValueError(f"model.lr must be > 0, got {lr}")
        if scheduler not in ("linear", "constant"):
            raise ValueError(f"model.scheduler={scheduler!r} is unknown: use linear or constant")
        self.encoder = encoder
        self.losses = nn.ModuleDict(losses)
        self.lr, self.weight_decay, self.warmup_ratio = lr, weight_decay, warmup_ratio
        self.scheduler_name, self.fused_adamw = scheduler, fused_adamw
        self.examples_seen = dict.fromkeys(losses, 0)
        self.last_metrics: dict[str, float] = {}

    @property
    def multi_task(self) -> bool:
        return len(self.losses) > 1

    def forward(self, inputs: list[dict[str, Tensor]]) -> list[Tensor]:
        """One output per column: embeddings [B, D] (bi) or scores [B] (cross)."""
        return [self.encoder(features) for features in inputs]

    def task_loss(self, batch: dict) -> Tensor:
        return self.losses[batch["task"]](self(batch["inputs"]), batch["labels"])

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        task = batch["task"]
        loss = self.task_loss(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite training loss {loss.item()} at step {self.global_step} (batch {batch_idx}, task "
                f"{task!r}); the last good checkpoint is kept. Lower model.lr or check the data.")
        size = len(batch["inputs"][0]["input_ids"])
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        if self.multi_task:
            self.examples_seen[task] += size
            self.log(f"train/{task}/loss", loss, batch_size=size)
            self.log(f"train/{task}/examples", float(self.examples_seen[task]), batch_size=size)
        return loss

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        key = f"val/{batch['task']}/loss" if self.multi_task else "val/loss"
        self.log(key, self.task_loss(batch), batch_size=len(batch["inputs"][0]["input_ids"]),
                 add_dataloader_idx=False, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        evaluators = getattr(self.trainer.datamodule, "evaluators", {})
        per_metric: dict[str, list[float]] = {}
        for task, evaluator in evaluators.items():
            for metric, value in evaluator(self.encoder).items():
                per_metric.setdefault(metric, []).append(value)
                if self.multi_task:
                    self.log(f"val/{task}/{metric}", value, sync_dist=True)
        for metric, values in per_metric.items():
            self.log(f"val/{metric}", sum(values) / len(values), sync_dist=True,
                     prog_bar=metric in ("mrr@10", "ap"))

    def configure_optimizers(self):
        decay, no_decay = [], []
        for name, param in self.encoder.named_parameters():
            if param.requires_grad:
                (no_decay if param.ndim < 2 or "LayerNorm" in name or "norm" in name else decay).append(param)
        fused = self.fused_adamw and self._fused_supported()
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.lr, fused=fused or None)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(math.ceil(self.warmup_ratio * total))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            if self.scheduler_name == "constant":
                return 1.0
            return max(0.0, (total - step) / max(1, total - warmup))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def _fused_supported(self) -> bool:
        param = next(self.encoder.parameters())
        return param.device.type in ("cuda", "cpu") and param.dtype in (torch.float32, torch.float16,
                                                                         torch.bfloat16)
