"""Hydra entry point: compose -> check -> load data -> build model -> fit -> evaluate -> export.

`python train.py loss=mnrl data=quora` runs it; `main` returns the monitored metric so Hydra
sweepers (Optuna) can optimise it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pairlab.atomic import write_json, write_text
from pairlab.config import CONF_DIR, checked
from pairlab.data.collate import Collator
from pairlab.data.datamodule import PairDataModule
from pairlab.errors import ConfigError, one_line_errors
from pairlab.export import export_model
from pairlab.losses.spec import run_needs
from pairlab.models import BiEncoder, CrossEncoder
from pairlab.models.kernels import BF16_UNITS, cpu_flags, native_bf16
from pairlab.module import PairModule
from pairlab.options import Range, check_ranges
from pairlab.preemption import discard_requeue_checkpoints, resume_checkpoint
from pairlab.protocols import representation
from pairlab.resolvers import register
from pairlab.tasks import Task, build_tasks, column_prompts, model_kind, named_prompts

log = logging.getLogger("pairlab")
register()

RANGES = {"seed": Range(0), "threads": Range(1, nullable=True), "model.max_length": Range(1, nullable=True),
          "model.truncate_dim": Range(1, nullable=True), "model.lr": Range(0, real=True),
          "module.grad_cache_mini_batch": Range(1, nullable=True), "module.finite_check_every": Range(1, nullable=True),
          "loss.matryoshka.dims": Range(1, nullable=True, each=True)}


def _instantiate_all(group: DictConfig | None) -> list:
    return [instantiate(node) for node in (group or {}).values() if node is not None]


def _metrics(results: list[dict]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for result in results:
        merged.update({k: float(v) for k, v in result.items()})
    return merged


def _print_metrics(title: str, metrics: dict[str, float]) -> None:
    shown = {k: round(v, 4) for k, v in sorted(metrics.items()) if k.startswith("val/")}
    print(f"[pairlab] {title}: {json.dumps(shown)}", flush=True)


def describe_model(model: DictConfig) -> str:
    """The encoder a run trains, as the user chose it: `tiny (random-init, bi-encoder)`, `stsb_distilbert
    (sentence-transformers/stsb-distilbert-base, bi-encoder)`."""
    choice = HydraConfig.get().runtime.choices.get("model") if HydraConfig.initialized() else None
    source, kind = model.get("name", "random-init"), model_kind(model)
    return f"{choice} ({source}, {kind}-encoder)" if choice else f"{source} ({kind}-encoder)"


def check_against_data(trainer: pl.Trainer, datamodule: PairDataModule) -> None:
    """Trainer settings that only the data can judge, checked before Lightning meets them mid-start."""
    batches = len(datamodule.train_sampler(trainer.world_size))  # a task smaller than one global batch raises
    interval = trainer.val_check_interval
    if isinstance(interval, int) and interval > batches and trainer.check_val_every_n_epoch is not None:
        raise ConfigError(f"trainer.val_check_interval={interval} is more than the {batches} training batches of an "
                          f"epoch: use at most {batches}, a fraction of an epoch (e.g. 0.5), or "
                          "trainer.check_val_every_n_epoch=null to count batches across epochs")


def check_fits_model(tasks: dict[str, Task], encoder: BiEncoder | CrossEncoder) -> None:
    """What only the model just built can judge, before any step or validation: Matryoshka sizes within its
    embedding size, and MaxSim scoring for token vectors."""
    for name, task in tasks.items():
        where = "" if name == "main" else f" (task {name!r})"
        similarity = getattr(getattr(task.loss, "loss", task.loss), "similarity", None)
        if representation(encoder) == "multi" and similarity not in (None, "maxsim"):
            raise ConfigError(f"loss.similarity={similarity}{where}: a multi-vector model's token vectors score by "
                              "MaxSim: set loss.similarity=maxsim (or loss=colbert_mnrl)")
        matryoshka = getattr(task.loss, "matryoshka", None)
        if matryoshka and max(matryoshka.dims) > encoder.dim:
            raise ConfigError(f"loss.matryoshka.dims={list(matryoshka.dims)}{where}: the model's embeddings have "
                              f"{encoder.dim} values: use sizes in 1..{encoder.dim}")


def load_guides(tasks: dict[str, Task]) -> dict[str, BiEncoder]:
    """The frozen guide bi-encoder of each guided loss (`loss.guide`), loaded with its folder's settings."""
    guides = {}
    for name, task in tasks.items():
        if task.loss.spec.guided:
            guide = run_needs(task.loss).guide
            try:
                guides[name] = BiEncoder.from_pretrained(guide)
            except (OSError, ValueError) as e:
                raise ConfigError(f"loss.guide={guide!r} cannot be loaded ({e}): name a bi-encoder "
                                  "folder or hub id, e.g. sentence-transformers/all-MiniLM-L6-v2") from None
    return guides


def trains_on_gpu(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def precision_hint(trainer: DictConfig) -> str | None:
    """Advice for a CPU run's precision from what the probe finds: bf16 where the CPU has bf16 matrix units
    (the default stays fp32: the same numbers on every machine), fp32 where it would emulate bf16."""
    if trainer.accelerator != "cpu":
        return None
    full = str(trainer.precision) in ("32-true", "32")
    native = native_bf16(torch.device("cpu"))
    if full and native:
        units = ", ".join(sorted(cpu_flags() & BF16_UNITS))
        return (f"this CPU has bf16 matrix units ({units}): trainer.precision=bf16-mixed trains faster, with fp32 "
                "master weights and optimizer (numbers in bench/README.md)")
    if str(trainer.precision).startswith("bf16") and not native:
        return ("this CPU has no bf16 matrix units that oneDNN runs (no AVX512-BF16/AMX): bf16 is emulated, many "
                "times slower than trainer.precision=32-true")
    return None


def resolve_num_workers(num_workers: int | str, accelerator: str) -> int:
    """`auto`: tokenize in the training process on CPU (on few cores, worker processes fight the
    model's threads and slow every step), in up to 4 workers when a GPU trains."""
    if num_workers != "auto":
        return int(num_workers)
    return min(4, max(0, (os.cpu_count() or 1) - 1)) if trains_on_gpu(accelerator) else 0


def final_metrics(trainer: pl.Trainer, module: PairModule, datamodule: PairDataModule) -> dict[str, float]:
    """The best checkpoint's validation metrics, with its weights loaded into `module`. When the best
    checkpoint was saved after the last step, the weights in memory are its weights and the validation
    that chose it is the final one: its metrics are reused instead of validating again."""
    checkpoint = trainer.checkpoint_callback
    if checkpoint is not None and checkpoint.best_model_path:
        # through the strategy: a file, or a sharded folder (trainer=fsdp) that it loads into the shards in place
        state = trainer.strategy.load_checkpoint(checkpoint.best_model_path, weights_only=True)
        validated = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        if state["global_step"] == trainer.global_step and checkpoint.monitor in validated:
            log.info("best checkpoint %s holds the final weights: its validation is the final one",
                     checkpoint.best_model_path)
            return validated
        trainer.strategy.load_model_state_dict(state)
        log.info("loaded best checkpoint %s", checkpoint.best_model_path)
    return _metrics(trainer.validate(module, datamodule=datamodule, verbose=False)) if datamodule.val_sets else {}


def run(cfg: DictConfig) -> float | None:
    """Train, evaluate and export one run; returns the final value of `cfg.monitor`."""
    check_ranges(cfg, RANGES)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))

    print(f"[pairlab] model: {describe_model(cfg.model)}", flush=True)
    if hint := precision_hint(cfg.trainer):
        print(f"[pairlab] {hint}", flush=True)
    tasks = build_tasks(cfg.task, model_kind(cfg.model))  # config errors surface here, before any loading
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = PairDataModule(
        {name: task.data for name, task in tasks.items()}, collator=None, strategy=cfg.task.strategy,
        weights={n: t.weight for n, t in tasks.items()} if all(t.weight is not None for t in tasks.values())
        else None, seed=cfg.seed, num_workers=resolve_num_workers(cfg.num_workers, cfg.trainer.accelerator),
        pin_memory=trains_on_gpu(cfg.trainer.accelerator))
    datamodule.setup("fit")  # data errors surface before the model loads

    encoder = checked(lambda: instantiate(cfg.model))  # an invalid model.* value, a model that is not there
    check_fits_model(tasks, encoder)
    run_dir = Path(cfg.paths.output_dir)  # written from here on: a run that fails its checks leaves it as it was
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))  # every node may write it
    pairing = {name: run_needs(task.loss).in_batch_candidates for name, task in tasks.items()
               if task.loss.spec.pairs_in_batch}
    datamodule.collator = Collator(encoder.tokenizer, encoder.max_length, encoder.kind, in_batch_negatives=pairing,
                                   prompts={name: column_prompts(task) for name, task in tasks.items()
                                            if task.data.prompts},
                                   pair_tokenizer=getattr(encoder, "prompt_tokenizer", None),
                                   column_tokenizer=getattr(encoder, "column_tokenizer", None))
    if encoder.kind == "bi":  # the evaluators and the export use the columns' prompts by name
        encoder.prompts.update(named_prompts(tasks))
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    max_grad_norm = trainer_cfg.get("gradient_clip_val")
    if cfg.module.grad_cache_mini_batch:  # manual optimization: the module clips and steps itself
        trainer_cfg["gradient_clip_val"] = None
    module: PairModule = checked(lambda: instantiate(  # an invalid module.* / optimizer.* / scheduler.* value
        cfg.module, encoder=encoder, losses={name: task.loss for name, task in tasks.items()},
        max_grad_norm=max_grad_norm, guides=load_guides(tasks),
        gather_across_devices={name: task.gather_across_devices for name, task in tasks.items()}))

    loggers = _instantiate_all(cfg.get("logger"))
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    callbacks = _instantiate_all(cfg.get("callbacks"))
    trainer: pl.Trainer = instantiate(trainer_cfg, logger=loggers or False, callbacks=callbacks,
                                      default_root_dir=str(run_dir))

    check_against_data(trainer, datamodule)
    ckpt_path = cfg.ckpt_path or resume_checkpoint(run_dir)  # a requeued SLURM job continues where it stopped
    if ckpt_path is not None:
        print(f"[pairlab] resuming from {ckpt_path}", flush=True)
    elif cfg.eval_baseline and datamodule.evaluators:
        baseline = _metrics(trainer.validate(module, datamodule=datamodule, verbose=False))
        if trainer.is_global_zero:
            _print_metrics("baseline (step 0)", baseline)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    discard_requeue_checkpoints(trainer)

    final = final_metrics(trainer, module, datamodule)
    exported = unsharded(encoder, cfg.model) if cfg.export else None  # every rank takes part in the gather
    if not trainer.is_global_zero:
        return None
    _print_metrics("final", final)
    write_json(run_dir / "metrics.json", final)

    if cfg.export:
        names = {n: (t.data.name, t.loss_name) for n, t in tasks.items()}
        info = {"run_name": cfg.run_name, "metrics": final,
                "loss": ", ".join(f"{loss} ({n})" for n, (_, loss) in names.items()),
                "data": ", ".join(f"{data} ({n})" for n, (data, _) in names.items()),
                "command": "python train.py " + " ".join(HydraConfig.get().overrides.task)
                if HydraConfig.initialized() else " ".join(sys.argv)}
        path = export_model(exported, run_dir / "model", info)
        print(f"[pairlab] exported model to {path}", flush=True)
    _finish_wandb()
    value = final.get(cfg.monitor)
    return float(value) if value is not None else None


def unsharded(encoder: torch.nn.Module, model: DictConfig) -> torch.nn.Module | None:
    """The encoder to export: itself, or after sharded training (`trainer=fsdp`) a copy built from the model
    config holding the full weights gathered from every rank (a collective: every rank calls it; rank 0 gets
    the copy)."""
    if not getattr(encoder, "sharded", False):
        return encoder
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    full = get_model_state_dict(encoder, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if torch.distributed.get_rank() != 0:
        return None
    copy = instantiate(model)
    copy.load_state_dict(full)
    copy.tokenizer, copy.prompts = encoder.tokenizer, encoder.prompts
    return copy


def _finish_wandb() -> None:
    """Close this job's wandb run, so the next job of a multirun starts its own."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    with one_line_errors():
        return run(cfg)
