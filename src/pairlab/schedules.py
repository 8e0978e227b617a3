"""Learning-rate schedules over a run's optimizer steps: linear warm-up, then linear decay to 0 or constant.

Configs build them as partials (`conf/scheduler/*.yaml`, `_partial_: true`); the module calls
`schedule(optimizer, total_steps)` once it knows the run's length.
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


def _warmup_steps(total_steps: int, warmup_ratio: float) -> int:
    if not 0 <= warmup_ratio <= 1:
        raise ValueError(f"scheduler.warmup_ratio must be in [0, 1], got {warmup_ratio}")
    return int(math.ceil(warmup_ratio * total_steps))


def warmup_then_linear_decay(optimizer: torch.optim.Optimizer, total_steps: int,
                             warmup_ratio: float = 0.1) -> LambdaLR:
    """Linear warm-up over `warmup_ratio` of the steps, then linear decay to 0 at `total_steps`."""
    warmup = _warmup_steps(total_steps, warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return LambdaLR(optimizer, factor)


def warmup_then_constant(optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float = 0.1) -> LambdaLR:
    """Linear warm-up over `warmup_ratio` of the steps, then the optimizer's learning rate."""
    warmup = _warmup_steps(total_steps, warmup_ratio)
    return LambdaLR(optimizer, lambda step: (step + 1) / (warmup + 1) if step < warmup else 1.0)
