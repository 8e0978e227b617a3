"""LightningModule: encode each column, route the batch to its task's loss, log, evaluate.

Two things live here, around the loss, so every in-batch loss gains them unchanged:
- cross-device negatives: under DDP the outputs and labels of every rank are all-gathered
  (with gradient) and the loss sees the global batch, exactly as one process would (per task,
  `gather_across_devices`; on by default for in-batch losses);
- GradCache (`grad_cache_mini_batch`, `pairlab.grad_cache`): a batch of thousands trains in the
  memory of a chunk.

Gradient clipping is done here too (`clip_gradients`), so it works with fused AdamW under every
precision plugin, and the finite-loss check runs without a host sync on each accelerator step.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import nullcontext

import pytorch_lightning as pl
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim.lr_scheduler import LRScheduler

from pairlab import rng_state
from pairlab.evaluation.cached import CachedEncoder
from pairlab.evaluation.distributed import ShardedEncoder
from pairlab.grad_cache import grad_cache_backward, split_features
from pairlab.losses.ranking import MultipleNegativesRankingLoss
from pairlab.models import BiEncoder, CrossEncoder
from pairlab.protocols import Batch


def transformer_layers(model: nn.Module) -> list[nn.Module]:
    """The repeated blocks of a transformer (decoder layers, BERT layers): the units FSDP shards one by one."""
    blocks = [module for module in model.modules() if isinstance(module, nn.ModuleList)
              and len(module) > 0 and all(type(m) is type(module[0]) for m in module)]
    return list(max(blocks, key=lambda b: sum(p.numel() for p in b.parameters()))) if blocks else []


def concat_columns(inputs: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """All columns of a batch as one tokenized batch (column after column), right-padded to the longest."""
    length = max(features["input_ids"].shape[1] for features in inputs)
    return {key: torch.cat([F.pad(features[key], (0, length - features[key].shape[1])) for features in inputs])
            for key in inputs[0]}


def clip_gradients(optimizer: torch.optim.Optimizer, max_value: float, algorithm: str = "norm",
                   scaler: torch.amp.GradScaler | None = None) -> None:
    """Clip the optimizer's gradients in true (unscaled) units, whatever the optimizer implementation.

    Lightning's mixed-precision plugin refuses to clip for optimizers that unscale inside their own
    step (fused AdamW), in bf16 too, where nothing is scaled. Here: bf16 and fp32 gradients are clipped
    as they are; with an fp16 `scaler` a fused optimizer's gradients are unscaled first (the scaler then
    tells the fused step they already are), while other optimizers were unscaled by Lightning already.
    """
    if scaler is not None and getattr(optimizer, "_step_supports_amp_scaling", False):
        scaler.unscale_(optimizer)
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if algorithm == "value":
        torch.nn.utils.clip_grad_value_(params, max_value)
    elif algorithm == "norm":
        torch.nn.utils.clip_grad_norm_(params, max_value)
    else:
        raise ValueError(f"trainer.gradient_clip_algorithm={algorithm!r} is unknown: use norm or value")


class PairModule(pl.LightningModule):
    """Owns the encoder and one loss per task; the datamodule owns data and evaluators.

    Metric names: `train/loss`, `val/loss` and `val/<metric>` for single-task runs; multi-task
    runs add `train/<task>/loss`, `train/<task>/examples`, `val/<task>/<metric>`, and
    `val/<metric>` becomes the mean over the tasks that report it (a combined monitor). Matryoshka
    losses add `val/dim<d>/<metric>` for each truncated size d.
    """

    def __init__(self, encoder: BiEncoder | CrossEncoder, losses: Mapping[str, nn.Module],
                 optimizer: Callable[[list[dict]], torch.optim.Optimizer] | None = None,
                 scheduler: Callable[[torch.optim.Optimizer, int], LRScheduler] | None = None,
                 merge_columns: bool = True, grad_cache_mini_batch: int | None = None,
                 max_grad_norm: float | None = None, finite_check_every: int | None = None,
                 gather_across_devices: Mapping[str, bool] | None = None,
                 guides: Mapping[str, BiEncoder] | None = None, negatives_queue: int = 0) -> None:
        """`optimizer` builds the optimizer from parameter groups and `scheduler` the schedule from
        (optimizer, total steps): partials from the `optimizer` and `scheduler` config groups.
        `guides`: per task, the frozen bi-encoder whose embeddings a guided loss reads (`spec.guided`); kept
        out of the state dict, the optimizer and DDP. `negatives_queue` (ContAccum): the document embeddings of
        the last that many training steps, detached, join the candidates of the in-batch ranking losses (mnrl,
        mnrl_symmetric): more negatives at no backward cost, from slightly older weights (stale embeddings:
        keep N small next to the steps a learning-rate change takes to matter); saved in checkpoints."""
        super().__init__()
        if grad_cache_mini_batch is not None and grad_cache_mini_batch <= 0:
            raise ValueError(f"module.grad_cache_mini_batch must be > 0, got {grad_cache_mini_batch}")
        if grad_cache_mini_batch and encoder.kind != "bi":
            raise ValueError("module.grad_cache_mini_batch applies to bi-encoders (embedding losses) only")
        if grad_cache_mini_batch and getattr(encoder, "inference_free", False):
            raise ValueError("module.grad_cache_mini_batch does not apply to an inference-free sparse encoder "
                             "(its queries skip the transformer): set it to null")
        if optimizer is not None and not getattr(optimizer, "keywords", {}).get("lr", 1) > 0:
            raise ValueError(f"optimizer.lr (model.lr) must be > 0, got {optimizer.keywords['lr']}")
        self.encoder = encoder
        self.losses = nn.ModuleDict(losses)
        self.make_optimizer, self.make_scheduler = optimizer, scheduler
        self.grad_cache_mini_batch = grad_cache_mini_batch
        self.max_grad_norm = max_grad_norm
        self.merge_columns = merge_columns
        self.automatic_optimization = grad_cache_mini_batch is None
        self.examples_seen = dict.fromkeys(losses, 0)
        missing = [task for task, loss in losses.items() if loss.spec.guided and task not in (guides or {})]
        if missing:
            raise ValueError(f"task {missing[0]!r}: its loss is guided (loss.guide) but the module has no guide model")
        self.guides = {task: guide.eval().requires_grad_(False) for task, guide in (guides or {}).items()}
        if negatives_queue < 0:
            raise ValueError(f"module.negatives_queue must be >= 0, got {negatives_queue}")
        queued = {task for task, loss in losses.items() if isinstance(loss, MultipleNegativesRankingLoss)}
        if negatives_queue and not queued:
            raise ValueError("module.negatives_queue applies to the in-batch ranking losses (loss=mnrl, "
                             "mnrl_symmetric): set it to 0 or use one of them")
        self.negatives_queue = negatives_queue
        self.queues: dict[str, deque[Tensor]] = {task: deque(maxlen=negatives_queue) for task in queued}
        # a guide with another vocabulary or a shorter max length reads the batch's texts, re-tokenized
        self.retokenize_for_guide = {task: guide.tokenizer.get_vocab() != encoder.tokenizer.get_vocab()
                                     or guide.max_length < encoder.max_length for task, guide in self.guides.items()}
        self.gather_across_devices = {task: (gather_across_devices or {}).get(task, loss.spec.in_batch)
                                      for task, loss in losses.items()}
        # non-finite losses are counted on the device and read every `finite_check_every` steps
        # (None: every step on CPU, where reading is free; every 50 on accelerators) and before a checkpoint
        self.finite_check_every = finite_check_every
        self._nonfinite: Tensor | None = None
        self._nonfinite_window: tuple[int, int, int, str] = (1, 0, 0, "")  # checked every, step, batch, task
        self._run_steps: int | None = None  # total_steps(), read once for step-scheduled loss weights

    @property
    def multi_task(self) -> bool:
        return len(self.losses) > 1

    def forward(self, inputs: list[dict[str, Tensor]]) -> list[Tensor]:
        """One output per column: embeddings [B, D] (bi) or scores [B] (cross); with `merge_columns`
        all columns go through the encoder in one call. An inference-free sparse encoder reads the first
        (query) column through its query weights and the others as documents."""
        if getattr(self.encoder, "inference_free", False):
            return [self.encoder.query_forward(inputs[0]), *self.encode_columns(inputs[1:])]
        return self.encode_columns(inputs)

    def encode_columns(self, inputs: list[dict[str, Tensor]]) -> list[Tensor]:
        if self.merge_columns and len(inputs) > 1:
            return list(self.encoder(concat_columns(inputs)).split([len(f["input_ids"]) for f in inputs]))
        return [self.encoder(features) for features in inputs]

    # ---- the loss, on the global batch when gathering --------------------------------------
    def _gathers(self, task: str) -> bool:
        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        return distributed and self.gather_across_devices[task]

    def compute_loss(self, task: str, outputs: list[Tensor], labels: Tensor | None, gather: bool = True,
                     guide_outputs: list[Tensor] | None = None) -> Tensor:
        if gather and self._gathers(task):
            import torch.distributed.nn.functional as dist_fn

            outputs = [torch.cat(dist_fn.all_gather(out), dim=0) for out in outputs]
            if labels is not None:
                labels = torch.cat(dist_fn.all_gather(labels), dim=0)
            if guide_outputs is not None:
                guide_outputs = [torch.cat(dist_fn.all_gather(out), dim=0) for out in guide_outputs]
        queue = self.queues.get(task) if self.negatives_queue and self.training else None
        if queue is not None:
            current = torch.cat(outputs[1:]).detach()
            outputs = [*outputs, *(t.to(current.device) for t in queue)]  # earlier steps: no gradient
        loss = (self.losses[task](outputs, labels, guide_outputs) if guide_outputs is not None
                else self.losses[task](outputs, labels))
        if queue is not None:
            queue.append(current)
        return loss

    @torch.no_grad()
    def guide_outputs(self, task: str, inputs: list[dict[str, Tensor]]) -> list[Tensor] | None:
        """The task's guide embeddings of each column (None without a guide), in chunks of the GradCache size."""
        guide = self.guides.get(task)
        if guide is None:
            return None
        device = inputs[0]["input_ids"].device
        if next(guide.parameters()).device != device:
            guide.to(device)
        columns = []
        for features in inputs:
            if self.retokenize_for_guide[task]:
                texts = self.encoder.tokenizer.batch_decode(features["input_ids"], skip_special_tokens=True)
                features = {k: v.to(device) for k, v in guide.tokenize(texts).items()}
            chunks = split_features(features, self.grad_cache_mini_batch or len(features["input_ids"]))
            columns.append(torch.cat([guide(chunk) for chunk in chunks]))
        return columns

    # ---- training -----------------------------------------------------------------------------
    def configure_model(self) -> None:
        """Under a sharded strategy (`trainer=fsdp`: Lightning's ModelParallelStrategy), shard the encoder with
        FSDP2: each transformer layer its own unit (gathered just before it runs), then the rest."""
        if self.device_mesh is None or getattr(self.encoder, "sharded", False):
            return
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        # every rank holds one shard and reads its own batches (pairlab's samplers split the data by global rank)
        mesh = init_device_mesh(self.device.type, (dist.get_world_size(),))
        self.encoder.unpad = False  # every rank must run the same forward calls: one per batch, through each layer
        for layer in transformer_layers(self.encoder.transformer):
            fully_shard(layer, mesh=mesh)
        fully_shard(self.encoder, mesh=mesh)
        self.encoder.sharded = True

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        task = batch.task
        schedule = getattr(self.losses[task], "schedule", None)  # a loss weight that follows the step (SPLADE)
        if schedule is not None:
            if self._run_steps is None:
                self._run_steps = self.total_steps()
            schedule(self.global_step, self._run_steps)
        if self.automatic_optimization:
            loss = self.compute_loss(task, self(batch.inputs), batch.labels,
                                     guide_outputs=self.guide_outputs(task, batch.inputs))
            self._track_finite(loss, task, batch_idx)
        else:
            loss = self._grad_cache_step(batch, batch_idx)
        size = batch.size
        # the progress bar reads its values each step, which waits for an accelerator: there the loss
        # reaches the loggers only (every trainer.log_every_n_steps)
        self.log("train/loss", loss, prog_bar=loss.device.type == "cpu", batch_size=size)
        for name, value in getattr(self.losses[task], "stats", {}).items():  # e.g. SPLADE's FLOPS, active dims
            self.log(f"train/{name}" if not self.multi_task else f"train/{task}/{name}", value, batch_size=size)
        if self.multi_task:
            self.examples_seen[task] += size
            self.log(f"train/{task}/loss", loss, batch_size=size)
            self.log(f"train/{task}/examples", float(self.examples_seen[task]), batch_size=size)
        return loss

    def _track_finite(self, loss: Tensor, task: str, batch_idx: int) -> None:
        """Count a non-finite loss without waiting for the device; raise when the count is read."""
        bad = (~torch.isfinite(loss.detach())).int()
        self._nonfinite = bad if self._nonfinite is None else self._nonfinite + bad
        every = self.finite_check_every or (1 if loss.device.type == "cpu" else 50)
        self._nonfinite_window = (every, self.global_step, batch_idx, task)
        if (self.global_step + 1) % every == 0:
            self.raise_if_nonfinite()

    def raise_if_nonfinite(self) -> None:
        """Raise if any loss since the last check was NaN or infinite (reads one number from the device)."""
        count, self._nonfinite = self._nonfinite, None
        if count is not None and int(count) > 0:
            every, step, batch_idx, task = self._nonfinite_window
            where = (f"at step {step} (batch {batch_idx}, task {task!r})" if every == 1
                     else f"in the {every} steps up to step {step}")
            raise FloatingPointError(f"non-finite training loss {where}; the last good checkpoint is kept. "
                                     "Lower model.lr or check the data.")

    def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer, gradient_clip_val: float | None = None,
                                    gradient_clip_algorithm: str | None = None) -> None:
        """Lightning's clipping hook, routed to `clip_gradients` (works with fused AdamW under mixed precision)."""
        if gradient_clip_val:
            clip_gradients(optimizer, float(gradient_clip_val), gradient_clip_algorithm or "norm",
                           getattr(self.trainer.precision_plugin, "scaler", None))

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # manual optimization (GradCache): Lightning's precision plugin has unscaled what it unscales by now
        if not self.automatic_optimization and self.max_grad_norm:
            clip_gradients(optimizer, float(self.max_grad_norm), "norm",
                           getattr(self.trainer.precision_plugin, "scaler", None))

    def _grad_cache_step(self, batch: Batch, batch_idx: int) -> Tensor:
        optimizer = self.optimizers()
        optimizer.zero_grad()
        strategy = self.trainer.strategy
        loss = self.grad_cache_backward(batch, batch_idx, self.manual_backward,
                                        getattr(strategy, "block_backward_sync", nullcontext))
        optimizer.step()  # clips in on_before_optimizer_step
        self.lr_schedulers().step()
        return loss

    def grad_cache_backward(self, batch: Batch, batch_idx: int = 0, backward=Tensor.backward,
                            no_sync=nullcontext) -> Tensor:
        """Accumulate into .grad the gradient of the full-batch loss, holding one chunk's graph at a time."""
        task = batch.task
        guide_outputs = self.guide_outputs(task, batch.inputs)

        def loss_of(embeddings: list[Tensor]) -> Tensor:
            loss = self.compute_loss(task, embeddings, batch.labels, guide_outputs=guide_outputs)
            self._track_finite(loss, task, batch_idx)
            return loss

        return grad_cache_backward(self.encoder, batch.inputs, loss_of, self.grad_cache_mini_batch, backward,
                                   no_sync)

    # ---- exact resume: RNG streams and per-task counters travel with the checkpoint -----------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self.raise_if_nonfinite()  # never checkpoint weights that a NaN loss has reached
        checkpoint["pairlab"] = {"examples_seen": dict(self.examples_seen), "rng": rng_state.capture(),
                                 "negatives_queue": {task: [t.cpu() for t in q] for task, q in self.queues.items()}}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("pairlab")
        if state is None:
            return
        self.examples_seen.update(state["examples_seen"])
        rng_state.restore(state["rng"])
        for task, saved in state.get("negatives_queue", {}).items():
            if task in self.queues:
                self.queues[task].clear()
                self.queues[task].extend(t.to(self.device) for t in saved)

    # ---- validation ---------------------------------------------------------------------------
    def validation_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        key = f"val/{batch.task}/loss" if self.multi_task else "val/loss"
        loss = self.compute_loss(batch.task, self(batch.inputs), batch.labels, gather=False,
                                 guide_outputs=self.guide_outputs(batch.task, batch.inputs))
        self.log(key, loss, batch_size=batch.size, add_dataloader_idx=False, sync_dist=True)

    def on_train_end(self) -> None:
        self.raise_if_nonfinite()

    def on_validation_epoch_end(self) -> None:
        evaluators = getattr(self.trainer.datamodule, "evaluators", {})
        per_metric: dict[str, list[float]] = {}
        results: dict[int, dict[str, float]] = {}  # a shared evaluator runs once
        encoder = self.encoder
        if self.trainer.world_size > 1 and dist.is_available() and dist.is_initialized():
            encoder = ShardedEncoder(self.encoder, self.trainer.global_rank, self.trainer.world_size, self.device)
        dims = self.matryoshka_dims()
        if dims:  # each truncated size is scored on the full embeddings, encoded once
            encoder = CachedEncoder(encoder)
        for task, evaluator in evaluators.items():
            if id(evaluator) not in results:
                with self.trainer.precision_plugin.forward_context():  # the run's precision: bf16 runs encode in bf16
                    results[id(evaluator)] = evaluator(encoder)
                    for dim in dims:
                        results[id(evaluator)].update({f"dim{dim}/{metric}": value for metric, value in
                                                       evaluator(encoder.truncated(dim)).items()})
            for metric, value in results[id(evaluator)].items():
                per_metric.setdefault(metric, []).append(value)
                if self.multi_task:
                    self.log(f"val/{task}/{metric}", value, sync_dist=True)
        for metric, values in per_metric.items():
            self.log(f"val/{metric}", sum(values) / len(values), sync_dist=True,
                     prog_bar=metric in ("mrr@10", "ap"))

    def matryoshka_dims(self) -> list[int]:
        """The truncated embedding sizes the Matryoshka losses train (the full size excluded), largest first."""
        full = self.encoder.dim if self.encoder.kind == "bi" else None
        dims = {d for loss in self.losses.values() if getattr(loss, "matryoshka", None)
                for d in loss.matryoshka.dims}
        return sorted(dims - {full}, reverse=True)

    # ---- optimizer ----------------------------------------------------------------------------
    def total_steps(self) -> int:
        """Optimizer steps of the whole run, from the mixture plan (not `trainer.estimated_stepping_batches`,
        which builds the train loader before a checkpoint's loader state can be restored into it)."""
        trainer = self.trainer
        limits = [trainer.max_steps] if trainer.max_steps and trainer.max_steps > 0 else []
        if trainer.max_epochs is not None and trainer.max_epochs > 0:
            batches = len(trainer.datamodule.train_sampler())
            limits.append(math.ceil(batches / trainer.accumulate_grad_batches) * trainer.max_epochs)
        if not limits:
            raise ValueError("set trainer.max_epochs or trainer.max_steps: the learning-rate schedule needs a length")
        return max(1, min(limits))

    def configure_optimizers(self):
        """The configured optimizer, weight decay off biases and norms, and its per-step schedule."""
        if self.make_optimizer is None:
            raise ValueError("PairModule needs an optimizer to train (the `optimizer` config group)")
        decay, no_decay = [], []
        for name, param in self.encoder.named_parameters():
            if param.requires_grad:
                (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
        optimizer = self.make_optimizer([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}])
        if self.make_scheduler is None:
            return optimizer
        scheduler = self.make_scheduler(optimizer, self.total_steps())
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
