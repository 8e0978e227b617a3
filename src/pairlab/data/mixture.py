"""Mixture sampler: which task each batch comes from, and which rows.

Each batch holds rows of one task (tasks have different columns). The plan for an epoch is a
pure function of (seed, epoch, task sizes, batch sizes, world size): every rank computes the
same task sequence, so collective ops line up under DDP, and takes its own disjoint slice of
each global batch. Resuming skips the batches already consumed this epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

import numpy as np
from torch.utils.data import Sampler

Strategy = Literal["round_robin", "proportional"]
BatchKey = tuple[str, list[int]]


class MixtureSampler(Sampler[BatchKey]):
    """Yields (task, row indices) for this rank, one entry per training step.

    round_robin: tasks take turns, the epoch ends when the smallest task runs out.
    proportional: without weights every batch of every task is used once, in a seeded random
        order (so tasks appear in proportion to their size); with weights each step draws its
        task with probability weight / sum(weights), cycling a task's data when it runs out.
    """

    def __init__(self, sizes: Mapping[str, int], batch_sizes: Mapping[str, int],
                 strategy: Strategy = "round_robin", weights: Mapping[str, float] | None = None,
                 seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if strategy not in ("round_robin", "proportional"):
            raise ValueError(f"task.strategy={strategy!r} is unknown: use round_robin or proportional")
        self.tasks = list(sizes)
        self.sizes = dict(sizes)
        self.batch_sizes = dict(batch_sizes)
        self.strategy = strategy
        self.weights = dict(weights) if weights else None
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0
        self.skip = 0
        self.batches_per_task = {}
        for task in self.tasks:
            global_batch = self.batch_sizes[task] * world_size
            if global_batch <= 0:
                raise ValueError(f"batch size of task {task!r} must be > 0, got {self.batch_sizes[task]}")
            n = self.sizes[task] // global_batch
            if n == 0:
                raise ValueError(
                    f"task {task!r} has {self.sizes[task]} training rows, fewer than one global batch "
                    f"({self.batch_sizes[task]} x {world_size} devices): lower its batch size or add data")
            self.batches_per_task[task] = n

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at each epoch start; a pending resume skip applies to its epoch only."""
        if epoch != self.epoch:
            self.skip = 0
        self.epoch = epoch

    def task_sequence(self, epoch: int) -> list[str]:
        """The task of every step of an epoch (identical on every rank)."""
        rng = np.random.default_rng([self.seed, epoch, 0])
        if self.strategy == "round_robin":
            n = min(self.batches_per_task.values())
            return [task for _ in range(n) for task in self.tasks]
        if self.weights is None:
            sequence = [task for task in self.tasks for _ in range(self.batches_per_task[task])]
            return [sequence[i] for i in rng.permutation(len(sequence))]
        missing = set(self.tasks) - set(self.weights)
        if missing:
            raise ValueError(f"task weights are missing for {sorted(missing)}: give every task a weight")
        p = np.array([self.weights[t] for t in self.tasks], dtype=np.float64)
        if (p < 0).any() or p.sum() <= 0:
            raise ValueError(f"task weights must be >= 0 with a positive sum, got {self.weights}")
        draws = rng.choice(len(self.tasks), size=sum(self.batches_per_task.values()), p=p / p.sum())
        return [self.tasks[i] for i in draws]

    def plan(self, epoch: int) -> list[BatchKey]:
        """This rank's (task, indices) for every step of an epoch."""
        seen = dict.fromkeys(self.tasks, 0)
        perms: dict[tuple[str, int], np.ndarray] = {}
        keys = []
        for task in self.task_sequence(epoch):
            k = seen[task]
            seen[task] += 1
            cycle, j = divmod(k, self.batches_per_task[task])
            if (task, cycle) not in perms:
                task_id = self.tasks.index(task) + 1
                perms[task, cycle] = np.random.default_rng([self.seed, epoch, task_id, cycle]).permutation(
                    self.sizes[task])
            bs = self.batch_sizes[task]
            start = (j * self.world_size + self.rank) * bs
            keys.append((task, perms[task, cycle][start:start + bs].tolist()))
        return keys

    def __iter__(self) -> Iterator[BatchKey]:
        return iter(self.plan(self.epoch)[self.skip:])

    def __len__(self) -> int:
        # The full epoch even when resuming: Lightning's restored batch counter covers the skipped part.
        return len(self.task_sequence(self.epoch))
