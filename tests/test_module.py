"""PairModule's step-level guards: the finite-loss check and gradient clipping under every precision."""

from __future__ import annotations

import pytest
import torch

from pairlab.losses import MultipleNegativesRankingLoss
from pairlab.module import PairModule, clip_gradients


def module(tiny_bi, **kw) -> PairModule:
    return PairModule(tiny_bi, {"main": MultipleNegativesRankingLoss()}, **kw)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_loss_stops_the_run_at_once_on_cpu(tiny_bi, bad):
    with pytest.raises(FloatingPointError, match="at step 0 .*task 'main'"):
        module(tiny_bi)._track_finite(torch.tensor(bad), "main", 0)


def test_a_deferred_check_still_catches_it_and_never_lets_a_checkpoint_through(tiny_bi):
    m = module(tiny_bi, finite_check_every=50)
    m._track_finite(torch.tensor(1.0), "main", 0)
    m._track_finite(torch.tensor(float("nan")), "main", 1)  # counted on the device, not read yet
    with pytest.raises(FloatingPointError, match="in the 50 steps"):
        m.on_save_checkpoint({})
    m._track_finite(torch.tensor(2.0), "main", 2)
    m.raise_if_nonfinite()  # the count restarts after a check


def params_with_grads(values):
    params = [torch.nn.Parameter(torch.zeros(len(v))) for v in values]
    for p, v in zip(params, values, strict=True):
        p.grad = torch.tensor(v)
    return params


@pytest.mark.parametrize("fused", [True, False])
def test_clip_by_norm_and_value(fused):
    params = params_with_grads([[3.0, 0.0], [0.0, 4.0]])
    optimizer = torch.optim.AdamW(params, fused=fused)
    clip_gradients(optimizer, 1.0, "norm")
    assert torch.linalg.vector_norm(torch.cat([p.grad for p in params])).item() == pytest.approx(1.0, rel=1e-5)
    clip_gradients(optimizer, 0.1, "value")
    assert max(p.grad.abs().max().item() for p in params) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="gradient_clip_algorithm"):
        clip_gradients(optimizer, 1.0, "median")


def test_fp16_scaled_gradients_of_a_fused_optimizer_are_unscaled_before_clipping():
    params = params_with_grads([[3.0, 4.0]])
    optimizer = torch.optim.AdamW(params, lr=0.1, fused=True)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    scaler.scale(torch.ones(()))  # the scaled loss of a training step
    params[0].grad *= 1024.0  # what its backward leaves
    clip_gradients(optimizer, 10.0, "norm", scaler)
    assert torch.allclose(params[0].grad, torch.tensor([3.0, 4.0]))  # unscaled, then under the limit
    scaler.step(optimizer)  # the fused step is told the gradients are unscaled already
    scaler.update()
    assert torch.isfinite(params[0]).all() and params[0].abs().sum() > 0


def test_a_batch_is_typed_and_moves_between_devices_as_one(tiny_bi):
    """The collate step's `Batch`: its task, one tokenized entry per column, labels, its row count; Lightning's
    device transfer returns a `Batch` again."""
    from lightning_fabric.utilities.apply_func import move_data_to_device

    from pairlab.data.collate import Collator
    from pairlab.data.example import Example
    from pairlab.protocols import Batch

    collator = Collator(tiny_bi.tokenizer, 32, "bi")
    batch = collator("main", [Example(("a question", "its duplicate"), 1.0), Example(("another", "one more"), 0.0)])
    assert isinstance(batch, Batch) and batch.task == "main" and batch.size == 2 and len(batch.inputs) == 2
    assert batch.labels.tolist() == [1.0, 0.0]
    moved = move_data_to_device(batch, torch.device("cpu"))
    assert isinstance(moved, Batch) and moved.task == "main"
    assert torch.equal(moved.inputs[1]["input_ids"], batch.inputs[1]["input_ids"])
