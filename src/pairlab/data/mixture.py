"""Mixture sampler: which task each batch comes from, and which rows.

Each batch holds rows of one task (tasks have different columns). The plan for an epoch is a
pure function of (seed, epoch, task sizes, batch sizes, world size): every rank computes the
same task sequence, so collective ops line up under DDP, and takes its own disjoint slice of
each global batch. Resuming skips the batches already consumed this epoch.

Tasks in `no_duplicates` get global batches in which no text appears twice (see `DistinctBatches`).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Literal

import numpy as np
from torch.utils.data import Sampler

from pairlab.errors import ConfigError

Strategy = Literal["round_robin", "proportional"]
BatchKey = tuple[str, list[int]]
RowTexts = Callable[[str, int], Sequence[str]]
log = logging.getLogger(__name__)


class MixtureSampler(Sampler[BatchKey]):
    """Yields (task, row indices) for this rank, one entry per training step.

    round_robin: tasks take turns, the epoch ends when the smallest task runs out.
    proportional: without weights every batch of every task is used once, in a seeded random
        order (so tasks appear in proportion to their size); with weights each step draws its
        task with probability weight / sum(weights), cycling a task's data when it runs out.
    """

    def __init__(self, sizes: Mapping[str, int], batch_sizes: Mapping[str, int],
                 strategy: Strategy = "round_robin", weights: Mapping[str, float] | None = None,
                 seed: int = 0, rank: int = 0, world_size: int = 1, no_duplicates: Collection[str] = (),
                 texts: RowTexts | None = None) -> None:
        if strategy not in ("round_robin", "proportional"):
            raise ValueError(f"task.strategy={strategy!r} is unknown: use round_robin or proportional")
        self.tasks = list(sizes)
        self.sizes = dict(sizes)
        self.batch_sizes = dict(batch_sizes)
        self.strategy = strategy
        self.weights = dict(weights) if weights else None
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.no_duplicates, self.texts = set(no_duplicates), texts
        if self.no_duplicates and texts is None:
            raise ValueError("no-duplicates batches need the rows' texts")
        self.deferred: dict[str, int] = {}  # rows the last epoch's no-duplicates tasks put off to a later batch
        self.epoch = 0
        self.skip = 0
        self.batches_per_task = {}
        for task in self.tasks:
            global_batch = self.batch_sizes[task] * world_size
            if global_batch <= 0:
                raise ValueError(f"batch size of task {task!r} must be > 0, got {self.batch_sizes[task]}")
            n = self.sizes[task] // global_batch
            if n == 0:
                where = "data.batch_size" if task == "main" else f"task.tasks.{task}.batch_size"
                raise ConfigError(
                    f"task {task!r} has {self.sizes[task]} training rows, fewer than one global batch "
                    f"({self.batch_sizes[task]} x {world_size} processes): lower {where} or add data")
            self.batches_per_task[task] = n

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at each epoch start; a pending resume skip applies to its epoch only."""
        if epoch != self.epoch:
            self.skip = 0
        self.epoch = epoch

    def task_sequence(self, epoch: int) -> np.ndarray:
        """The task index of every step of an epoch (identical on every rank)."""
        rng = np.random.default_rng([self.seed, epoch, 0])
        counts = np.array([self.batches_per_task[t] for t in self.tasks])
        if self.strategy == "round_robin":
            return np.tile(np.arange(len(self.tasks), dtype=np.int32), int(counts.min()))
        if self.weights is None:
            return rng.permutation(np.repeat(np.arange(len(self.tasks), dtype=np.int32), counts))
        missing = set(self.tasks) - set(self.weights)
        if missing:
            raise ValueError(f"task weights are missing for {sorted(missing)}: give every task a weight")
        p = np.array([self.weights[t] for t in self.tasks], dtype=np.float64)
        if (p < 0).any() or p.sum() <= 0:
            raise ValueError(f"task weights must be >= 0 with a positive sum, got {self.weights}")
        return rng.choice(len(self.tasks), size=int(counts.sum()), p=p / p.sum()).astype(np.int32)

    def keys(self, epoch: int, skip: int = 0) -> Iterator[BatchKey]:
        """This rank's (task, indices) for every step of an epoch from `skip` on, generated lazily.

        A no-duplicates task builds its global batches in order from the epoch start, so a resume
        replays the skipped ones (reading their rows' texts, holding nothing but the current batch).
        """
        sequence = self.task_sequence(epoch)
        seen = np.bincount(sequence[:skip], minlength=len(self.tasks))
        distinct = {t: DistinctBatches(self.sizes[task], self.batch_sizes[task] * self.world_size,
                                       [self.seed, epoch, t + 1], lambda row, task=task: self.texts(task, row))
                    for t, task in enumerate(self.tasks) if task in self.no_duplicates}
        for t in sequence[:skip]:
            if t in distinct:
                distinct[t].next_batch()
        perms: dict[int, tuple[int, BlockPermutation]] = {}
        try:
            for t in sequence[skip:]:
                task = self.tasks[t]
                bs = self.batch_sizes[task]
                if t in distinct:
                    rows = distinct[t].next_batch()
                    yield task, rows[self.rank * bs:(self.rank + 1) * bs]
                    continue
                cycle, j = divmod(int(seen[t]), self.batches_per_task[task])
                seen[t] += 1
                if t not in perms or perms[t][0] != cycle:
                    perms[t] = (cycle, BlockPermutation(self.sizes[task], [self.seed, epoch, int(t) + 1, cycle]))
                start = (j * self.world_size + self.rank) * bs
                yield task, perms[t][1].take(start, start + bs)
        finally:  # the epoch ran out, or training stopped inside it
            for t, batches in distinct.items():
                self.deferred[self.tasks[t]] = batches.deferred
                if self.rank == 0:
                    log.info("no-duplicates batches of task %r, epoch %d: %d rows deferred to a later batch, "
                             "%d dropped", self.tasks[t], epoch, batches.deferred, batches.dropped)

    def plan(self, epoch: int) -> list[BatchKey]:
        """Every step of an epoch as a list (small data and tests; training iterates lazily)."""
        return list(self.keys(epoch))

    def __iter__(self) -> Iterator[BatchKey]:
        return self.keys(self.epoch, self.skip)

    def __len__(self) -> int:
        # The full epoch even when resuming: Lightning's restored batch counter covers the skipped part.
        return len(self.task_sequence(self.epoch))


class BlockPermutation:
    """A seeded permutation of range(n), evaluated lazily so 40M rows cost megabytes, not gigabytes.

    Rows are cut into blocks of `block`; the block order is shuffled, then the rows within each
    block (a shuffle buffer of `block` rows, as streaming loaders use). Data of up to `block` rows
    gets an exact uniform permutation.
    """

    def __init__(self, n: int, seed: list[int], block: int = 1 << 16) -> None:
        self.n, self.seed, self.block = n, seed, block
        n_blocks = max(1, -(-n // block))
        self.order = np.random.default_rng(seed).permutation(n_blocks)
        sizes = np.full(n_blocks, block)
        sizes[-1] = n - block * (n_blocks - 1)
        self.starts = np.concatenate([[0], np.cumsum(sizes[self.order])])
        self._cached: tuple[int, np.ndarray] | None = None

    def _rows(self, block_id: int) -> np.ndarray:
        if self._cached is None or self._cached[0] != block_id:
            size = min(self.block, self.n - block_id * self.block)
            rows = block_id * self.block + np.random.default_rng([*self.seed, block_id]).permutation(size)
            self._cached = (block_id, rows)
        return self._cached[1]

    def take(self, start: int, stop: int) -> list[int]:
        """Positions [start, stop) of the permutation."""
        out: list[int] = []
        pos = start
        while pos < stop:
            b = int(np.searchsorted(self.starts, pos, side="right")) - 1
            rows = self._rows(int(self.order[b]))
            offset = pos - int(self.starts[b])
            count = min(stop - pos, len(rows) - offset)
            out.extend(rows[offset:offset + count].tolist())
            pos += count
        return out


class DistinctBatches:
    """Global batches in which no text repeats across any column (sentence-transformers' NO_DUPLICATES).

    Rows come from seeded permutations of range(n) (cycle 0, then 1, ... when an epoch needs more);
    a row sharing a text with the batch being filled is deferred to a queue that the next batches
    draw from first. The queue is capped at `max_deferred` rows (the oldest beyond it are dropped and
    counted), so memory stays constant whatever the data size.
    """

    def __init__(self, n: int, batch_size: int, seed: list[int], texts: Callable[[int], Sequence[str]],
                 max_deferred: int | None = None) -> None:
        self.n, self.batch_size, self.seed, self.texts = n, batch_size, seed, texts
        self.max_deferred = max_deferred or 8 * batch_size
        self.queue: deque[int] = deque()
        self.ahead: deque[int] = deque()  # the next rows of the current permutation
        self.cycle, self.position = 0, 0
        self.perm = BlockPermutation(n, [*seed, 0])
        self.deferred = self.dropped = 0

    def _next_row(self) -> int:
        if not self.ahead:
            if self.position == self.n:
                self.cycle, self.position = self.cycle + 1, 0
                self.perm = BlockPermutation(self.n, [*self.seed, self.cycle])
            stop = min(self.position + 4096, self.n)
            self.ahead.extend(self.perm.take(self.position, stop))
            self.position = stop
        return self.ahead.popleft()

    def next_batch(self) -> list[int]:
        batch: list[int] = []
        used: set[str] = set()
        waiting, self.queue = self.queue, deque()
        tried = 0
        while len(batch) < self.batch_size:
            if waiting:
                row = waiting.popleft()
            elif tried >= self.n + self.max_deferred:
                raise ValueError(f"cannot fill a batch of {self.batch_size} rows without a repeated text: "
                                 "lower the batch size or use batch_sampler=random")
            else:
                row, tried = self._next_row(), tried + 1
            texts = set(self.texts(row))
            if texts & used:
                self.queue.append(row)
                self.deferred += 1
                if len(self.queue) > self.max_deferred:
                    self.queue.popleft()
                    self.dropped += 1
                continue
            batch.append(row)
            used |= texts
        self.queue.extend(waiting)
        return batch
