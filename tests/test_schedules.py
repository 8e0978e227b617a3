"""Learning-rate schedules: warm-up from near 0 to the optimizer's rate, then linear decay to 0 or constant."""

from __future__ import annotations

import pytest
import torch

from pairlab.schedules import warmup_then_constant, warmup_then_linear_decay


def rates(make, total=10, warmup_ratio=0.2):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = make(optimizer, total, warmup_ratio)
    seen = []
    for _ in range(total):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return seen


def test_linear_decay_warms_up_then_reaches_zero_at_the_last_step():
    seen = rates(warmup_then_linear_decay)
    assert seen[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert seen[2:] == sorted(seen[2:], reverse=True) and seen[-1] == pytest.approx(1 / 8)


def test_constant_holds_the_rate_after_warm_up():
    assert rates(warmup_then_constant) == pytest.approx([1 / 3, 2 / 3] + [1.0] * 8)


def test_warmup_ratio_outside_zero_to_one_names_the_key():
    with pytest.raises(ValueError, match="scheduler.warmup_ratio"):
        rates(warmup_then_linear_decay, warmup_ratio=1.5)
