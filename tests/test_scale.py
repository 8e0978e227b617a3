"""GradCache and cross-device negatives give the gradients of plain big-batch training."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from pairlab.data.collate import Collator
from pairlab.data.example import Example
from pairlab.losses import ContrastiveLoss, MultipleNegativesRankingLoss, MultipleNegativesSymmetricRankingLoss
from pairlab.models import BiEncoder
from pairlab.module import PairModule

TEXTS = [f"question number {i} about topic {i % 7} {'and more words ' * (i % 4)}" for i in range(24)]


def make_batch(collator, n_columns=2, labelled=False, rows=range(16)):
    examples = [Example(tuple(TEXTS[(i + 5 * c) % len(TEXTS)] for c in range(n_columns)),
                        float(i % 2) if labelled else None) for i in rows]
    return collator("main", examples)


def make_module(loss, seed=0, **kw):
    encoder = BiEncoder.random_init({"hidden_size": 32}, max_length=32, seed=seed)
    encoder.eval()  # no dropout: the big batch and the chunks must see the same function
    return PairModule(encoder, {"main": loss}, **kw), Collator(encoder.tokenizer, 32, "bi")


def grads_of(module):
    return torch.cat([p.grad.flatten() for p in module.encoder.parameters() if p.grad is not None])


@pytest.mark.parametrize(("loss", "columns", "labelled"), [
    (MultipleNegativesRankingLoss(), 2, False),
    (MultipleNegativesRankingLoss(), 3, False),
    (MultipleNegativesSymmetricRankingLoss(), 2, False),
    (ContrastiveLoss(), 2, True),
])
@pytest.mark.parametrize("mini_batch", [1, 5, 16])
def test_grad_cache_equals_big_batch_gradients(loss, columns, labelled, mini_batch):
    torch.manual_seed(0)
    plain, collator = make_module(loss)
    batch = make_batch(collator, columns, labelled)
    big = plain.compute_loss("main", plain(batch.inputs), batch.labels)
    big.backward()
    cached, _ = make_module(loss, grad_cache_mini_batch=mini_batch)
    small = cached.grad_cache_backward(batch)
    assert torch.allclose(big, small, atol=1e-6)
    assert torch.allclose(grads_of(plain), grads_of(cached), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("mini_batch", [3, 16])
def test_grad_cache_replays_each_chunks_dropout_masks(mini_batch):
    from pairlab.grad_cache import split_features

    plain, collator = make_module(MultipleNegativesRankingLoss(), seed=1)
    cached, _ = make_module(MultipleNegativesRankingLoss(), seed=1, grad_cache_mini_batch=mini_batch)
    plain.encoder.train(), cached.encoder.train()  # dropout on: the replay must draw the first pass's masks
    batch = make_batch(collator, 3)
    torch.manual_seed(7)  # the big batch, embedded chunk by chunk with a graph: the masks GradCache sees
    outputs = [torch.cat([plain.encoder(chunk) for chunk in split_features(column, mini_batch)])
               for column in batch.inputs]
    big = plain.compute_loss("main", outputs, batch.labels)
    big.backward()
    after_plain = torch.get_rng_state()
    torch.manual_seed(7)
    small = cached.grad_cache_backward(batch)
    assert torch.allclose(big, small, atol=1e-6)
    assert torch.allclose(grads_of(plain), grads_of(cached), atol=1e-5, rtol=1e-4)
    assert torch.equal(torch.get_rng_state(), after_plain)  # the replays leave the random stream as one pass does


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, columns, out):
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    module, collator = make_module(MultipleNegativesRankingLoss())
    per_rank = 16 // world
    batch = make_batch(collator, columns, rows=range(rank * per_rank, (rank + 1) * per_rank))
    loss = module.compute_loss("main", module(batch.inputs), batch.labels)
    loss.backward()
    grads = grads_of(module)
    dist.all_reduce(grads)  # what DDP does: average the ranks' gradients
    grads /= world
    if rank == 0:
        torch.save({"loss": loss.detach(), "grads": grads}, out)
    dist.destroy_process_group()


@pytest.mark.parametrize("columns", [2, *(pytest.param(c, marks=pytest.mark.slow) for c in (3, 4))])
def test_ddp_gathered_negatives_equal_one_process_on_the_global_batch(tmp_path, columns):
    out = tmp_path / "rank0.pt"
    mp.spawn(_ddp_worker, args=(2, _free_port(), columns, str(out)), nprocs=2, join=True)
    ddp = torch.load(out)
    single, collator = make_module(MultipleNegativesRankingLoss())
    batch = make_batch(collator, columns)
    loss = single.compute_loss("main", single(batch.inputs), batch.labels)
    loss.backward()
    assert torch.allclose(ddp["loss"], loss.detach(), atol=1e-5)
    assert torch.allclose(ddp["grads"], grads_of(single), atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_cli_trains_under_ddp_sim_with_two_processes(tmp_path):
    from helpers import train_cli

    result = train_cli(["trainer=ddp_sim", "model=tiny", "trainer.max_steps=4", "logger=csv",
                        f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("[pairlab] final:") == 1  # printed by rank 0 only
    assert (tmp_path / "model" / "modules.json").is_file()
