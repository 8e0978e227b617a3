"""LightningDataModule: the tasks' example sets, the mixture sampler and the collate step."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from pairlab.data.base import TaskData
from pairlab.data.collate import Collator
from pairlab.data.example import ExampleSet
from pairlab.data.mixture import BatchKey, MixtureSampler, Strategy
from pairlab.protocols import Batch, Evaluator


class KeyedBatches(Dataset):
    """Maps a (task, row indices) key to a collated batch, so workers read and tokenize."""

    def __init__(self, sets: Mapping[str, ExampleSet], collator: Collator) -> None:
        self.sets = sets
        self.collator = collator

    def __getitem__(self, key: BatchKey) -> Batch:
        task, rows = key
        examples = [self.sets[task][i] for i in rows]
        return self.collator(task, examples)


class ResumableLoader(DataLoader):
    """A DataLoader over a `MixtureSampler` whose position survives a checkpoint.

    `consumed` reports how many batches of the current epoch the optimizer has used; restoring
    makes the sampler skip exactly those, so a resumed run sees the batches an uninterrupted
    run would have seen.
    """

    def __init__(self, *args: Any, consumed: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._consumed = consumed

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "consumed": self._consumed()}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.set_epoch(state["epoch"])
        self.sampler.skip = state["consumed"]


class SequentialKeys(Sampler[BatchKey]):
    """Consecutive batches of one task's validation rows, dealt to ranks in turn.

    Every rank gets the same number of batches (collectives must line up), so under DDP up to
    world_size - 1 trailing batches are left out of the validation loss.
    """

    def __init__(self, task: str, size: int, batch_size: int, rank: int = 0, world_size: int = 1) -> None:
        batches = [list(range(s, min(s + batch_size, size))) for s in range(0, size, batch_size)]
        usable = len(batches) - len(batches) % world_size
        self.keys = [(task, rows) for rows in batches[rank:usable:world_size]]

    def __iter__(self) -> Iterator[BatchKey]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)


class PairDataModule(pl.LightningDataModule):
    """Streams every task's examples as single-task batches chosen by the mixture sampler."""

    def __init__(self, tasks: Mapping[str, TaskData], collator: Collator, strategy: Strategy = "round_robin",
                 weights: Mapping[str, float] | None = None, seed: int = 0, num_workers: int = 1,
                 pin_memory: bool = False) -> None:
        super().__init__()
        self.tasks = dict(tasks)
        self.collator = collator
        self.strategy = strategy
        self.weights = weights
        self.seed = seed
        self.num_workers = num_workers
        self.pin_memory = pin_memory  # page-locked batches: host-to-GPU copies run asynchronously
        self.train_sets: dict[str, ExampleSet] = {}
        self.val_sets: dict[str, ExampleSet] = {}
        self.evaluators: dict[str, Evaluator] = {}

    def setup(self, stage: str | None = None) -> None:
        if not self.train_sets and stage in (None, "fit"):
            self.train_sets = {name: task.train_set() for name, task in self.tasks.items()}
        if not self.val_sets and not self.evaluators:
            shared: dict[object, Evaluator] = {}  # tasks reading the same held-out data share one evaluator
            for name, task in self.tasks.items():
                val = task.val_set()
                if val is not None and len(val) > 0:
                    self.val_sets[name] = val
                key = task.eval_key
                evaluator = shared.get(key) if key is not None and key in shared else task.evaluator()
                if evaluator is not None:
                    self.evaluators[name] = shared.setdefault(key, evaluator) if key is not None else evaluator

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_sampler(self, world_size: int | None = None) -> MixtureSampler:
        """This rank's sampler; `world_size` sizes one for a world the trainer has not joined yet."""
        rank, world_size = self._rank() if world_size is None else (0, world_size)
        return MixtureSampler(
            sizes={name: len(s) for name, s in self.train_sets.items()},
            batch_sizes={name: task.batch_size for name, task in self.tasks.items()},
            strategy=self.strategy, weights=self.weights, seed=self.seed, rank=rank, world_size=world_size,
            no_duplicates=[name for name, task in self.tasks.items() if task.batch_sampler == "no_duplicates"],
            texts=self._row_texts)

    def _row_texts(self, task: str, row: int) -> tuple[str, ...]:
        return self.train_sets[task][row].texts

    def _consumed_this_epoch(self) -> int:
        """Batches of the current epoch already trained on (checkpoints are taken after a batch's step)."""
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.processed

    def train_dataloader(self) -> DataLoader:
        return self._loader(KeyedBatches(self.train_sets, self.collator), self.train_sampler(),
                            loader_cls=ResumableLoader, consumed=self._consumed_this_epoch)

    def val_dataloader(self) -> list[DataLoader]:
        rank, world_size = self._rank()
        return [self._loader(KeyedBatches({name: val}, self.collator),
                             SequentialKeys(name, len(val), self.tasks[name].batch_size, rank, world_size))
                for name, val in self.val_sets.items()]

    def _loader(self, dataset: Dataset, sampler: Sampler, loader_cls: type[DataLoader] = DataLoader,
                **kwargs: Any) -> DataLoader:
        # a private generator: creating a loader iterator must not draw from the global RNG, so a
        # resumed run's dropout masks continue exactly where the interrupted run's stopped
        generator = torch.Generator().manual_seed(self.seed)
        return loader_cls(dataset, sampler=sampler, batch_size=None, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0, pin_memory=self.pin_memory, generator=generator,
                          **kwargs)
