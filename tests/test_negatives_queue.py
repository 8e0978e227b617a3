"""ContAccum (`module.negatives_queue`): earlier steps' document embeddings as extra in-batch negatives."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import train_in_process

from pairlab.data.collate import Collator
from pairlab.data.example import Example
from pairlab.losses import ContrastiveLoss
from pairlab.losses.ranking import MultipleNegativesRankingLoss, MultipleNegativesSymmetricRankingLoss
from pairlab.module import PairModule

PAIRS = [("how do i learn python", "best way to learn python"), ("what is the capital of france", "capital of france"),
         ("why is the sky blue", "what makes the sky blue"), ("how to cook rice", "cooking rice at home"),
         ("best laptop for coding", "which laptop to buy for programming"), ("how to lose weight", "weight loss tips")]


class Recording(MultipleNegativesRankingLoss):
    """MNRL that records how many candidates each call scored."""

    seen: list[int]

    def forward(self, outputs, labels=None):
        self.seen.append(sum(len(out) for out in outputs[1:]))
        return super().forward(outputs, labels)


def batches(tiny_bi, steps: int):
    collate = Collator(tiny_bi.tokenizer, 32, "bi")
    return [collate("main", [Example(PAIRS[(2 * step + i) % len(PAIRS)], None) for i in range(2)])
            for step in range(steps)]


def losses_of(module: PairModule, steps: list) -> list[float]:
    module.train()
    torch.manual_seed(0)  # the same dropout masks for every module compared
    return [float(module.compute_loss("main", module(batch.inputs), batch.labels)) for batch in steps]


def test_an_empty_queue_is_plain_mnrl_and_a_queue_adds_earlier_documents_without_gradient(tiny_bi):
    steps = batches(tiny_bi, 4)
    plain = losses_of(PairModule(tiny_bi, {"main": MultipleNegativesRankingLoss()}), steps)
    off = losses_of(PairModule(tiny_bi, {"main": MultipleNegativesRankingLoss()}, negatives_queue=0), steps)
    assert plain == off
    recording = Recording()
    recording.seen = []
    module = PairModule(tiny_bi, {"main": recording}, negatives_queue=2)
    with_queue = losses_of(module, steps)
    assert recording.seen == [2, 4, 6, 6]  # the batch's 2 positives, then up to 2 earlier steps' 2 each
    assert with_queue[0] == pytest.approx(plain[0]) and with_queue[1] > plain[1]
    assert all(not t.requires_grad for t in module.queues["main"])
    module.eval()  # validation neither reads nor fills the queue
    module.compute_loss("main", module(steps[0].inputs), None)
    assert recording.seen[-1] == 2 and len(module.queues["main"]) == 2


def test_gradients_reach_only_the_current_batch(tiny_bi):
    steps = batches(tiny_bi, 2)
    module = PairModule(tiny_bi, {"main": MultipleNegativesSymmetricRankingLoss()}, negatives_queue=1)
    losses_of(module, steps[:1])
    outputs = [out.detach().requires_grad_() for out in module(steps[1].inputs)]
    module.compute_loss("main", outputs, None).backward()
    assert all(out.grad is not None and out.grad.abs().sum() > 0 for out in outputs)
    assert module.queues["main"][0].grad is None


def test_the_queue_travels_with_the_checkpoint(tiny_bi):
    steps = batches(tiny_bi, 3)
    module = PairModule(tiny_bi, {"main": MultipleNegativesRankingLoss()}, negatives_queue=2)
    losses_of(module, steps)
    checkpoint: dict = {}
    module.on_save_checkpoint(checkpoint)
    resumed = PairModule(tiny_bi, {"main": MultipleNegativesRankingLoss()}, negatives_queue=2)
    resumed.on_load_checkpoint(checkpoint)
    assert len(resumed.queues["main"]) == 2
    for a, b in zip(module.queues["main"], resumed.queues["main"], strict=True):
        assert torch.equal(a, b)
    batch = batches(tiny_bi, 4)[3]
    assert losses_of(module, [batch]) == losses_of(resumed, [batch])


def test_the_queue_needs_an_in_batch_ranking_loss(tiny_bi):
    with pytest.raises(ValueError, match="negatives_queue applies"):
        PairModule(tiny_bi, {"main": ContrastiveLoss()}, negatives_queue=4)


def test_a_run_with_a_queue_and_grad_cache(tmp_path):
    train_in_process(["loss=mnrl", "data=quora_sample", "module.negatives_queue=3", "module.grad_cache_mini_batch=8",
                      "trainer.max_steps=4", "eval_baseline=false", "export=false"], tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["val/mrr@10"] > 0
