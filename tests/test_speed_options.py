"""Speed options compute the same thing: `model.unpad` (real tokens only) and `module.merge_columns`
(one forward for all columns) give the outputs, loss and gradients of the plain per-column forward."""

from __future__ import annotations

import pytest
import torch

from pairlab.data.collate import Collator
from pairlab.data.example import Example
from pairlab.losses import ContrastiveLoss, MultipleNegativesRankingLoss
from pairlab.models import BiEncoder
from pairlab.module import PairModule, concat_columns

TEXTS = ["How do I learn Python quickly?", "a", "What is the capital of France and why is it Paris, not Lyon?",
         "Why is the sky blue?", "How can I lose weight fast without going to the gym every single day?",
         "Is it safe?", "What are the best books on machine learning for beginners who know some math?"]


def tiny(unpad: bool, pooling: str = "mean", seed: int = 0):
    encoder = BiEncoder.random_init({"hidden_size": 32}, pooling=pooling, max_length=32, unpad=unpad, seed=seed)
    return encoder.eval()  # no dropout: both forwards must compute one function


def grads(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in module.parameters() if p.grad is not None])


def make_batch(collator: Collator, columns: int, labelled: bool = False) -> dict:
    examples = [Example(tuple(TEXTS[(i + 3 * c) % len(TEXTS)] for c in range(columns)),
                        float(i % 2) if labelled else None) for i in range(len(TEXTS))]
    return collator("main", examples)


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_unpadded_forward_equals_padded_outputs_and_gradients(pooling):
    padded, unpadded = tiny(False, pooling), tiny(True, pooling)
    features = padded.tokenize(TEXTS)
    assert features["attention_mask"].float().mean() < 0.8  # the batch really has padding to skip
    out_padded, out_unpadded = padded(features), unpadded(features)
    assert torch.allclose(out_padded, out_unpadded, atol=1e-5)
    (out_padded * torch.arange(32.0)).sum().backward()
    (out_unpadded * torch.arange(32.0)).sum().backward()
    assert torch.allclose(grads(padded), grads(unpadded), atol=1e-5, rtol=1e-4)


def test_unpadded_forward_without_token_type_ids():
    encoder = tiny(True)
    features = encoder.tokenize(TEXTS)
    without = {k: v for k, v in features.items() if k != "token_type_ids"}
    assert torch.allclose(encoder(features), encoder(without), atol=1e-6)


def test_unpadded_forward_equals_padded_on_the_packaged_minilm():
    encoder = BiEncoder.from_pretrained("sentence-transformers/all-MiniLM-L6-v2", max_length=32).eval()
    features = encoder.tokenize(TEXTS)
    with torch.no_grad():
        padded = encoder(features)
        encoder.unpad = True
        unpadded = encoder(features)
    assert torch.allclose(padded, unpadded, atol=1e-5)


def test_unpadded_forward_trains_with_dropout():
    encoder = tiny(True).train()
    out = encoder(encoder.tokenize(TEXTS))
    assert out.shape == (len(TEXTS), 32) and torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(grads(encoder)).all()


def test_concat_columns_pads_every_column_to_the_longest():
    encoder = tiny(False)
    short, long = encoder.tokenize(["a", "b c"]), encoder.tokenize(["a much longer question than the others?"])
    merged = concat_columns([short, long])
    assert merged["input_ids"].shape == (3, long["input_ids"].shape[1])
    assert merged["attention_mask"].sum() == short["attention_mask"].sum() + long["attention_mask"].sum()


@pytest.mark.parametrize(("loss", "columns", "labelled"), [
    (MultipleNegativesRankingLoss(), 2, False),
    (MultipleNegativesRankingLoss(), 3, False),
    (ContrastiveLoss(), 2, True),
])
@pytest.mark.parametrize("unpad", [False, True])
def test_merged_columns_equal_per_column_loss_and_gradients(loss, columns, labelled, unpad):
    per_column = PairModule(tiny(False), {"main": loss}, merge_columns=False)
    merged = PairModule(tiny(unpad), {"main": loss}, merge_columns=True)
    batch = make_batch(Collator(per_column.encoder.tokenizer, 32, "bi"), columns, labelled)
    outputs = [merged(batch.inputs), per_column(batch.inputs)]
    for a, b in zip(*outputs, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    losses = [m.compute_loss("main", out, batch.labels) for m, out in zip((merged, per_column), outputs,
                                                                            strict=True)]
    assert torch.allclose(losses[0], losses[1], atol=1e-5)
    for value in losses:
        value.backward()
    assert torch.allclose(grads(merged.encoder), grads(per_column.encoder), atol=1e-5, rtol=1e-4)


def test_grad_cache_with_unpadded_chunks_equals_plain_big_batch():
    loss = MultipleNegativesRankingLoss()
    plain = PairModule(tiny(False), {"main": loss}, merge_columns=False)
    cached = PairModule(tiny(True), {"main": loss}, grad_cache_mini_batch=3, merge_columns=True)
    batch = make_batch(Collator(plain.encoder.tokenizer, 32, "bi"), 2)
    big = plain.compute_loss("main", plain(batch.inputs), batch.labels)
    big.backward()
    small = cached.grad_cache_backward(batch)
    assert torch.allclose(big, small, atol=1e-5)
    assert torch.allclose(grads(plain.encoder), grads(cached.encoder), atol=1e-5, rtol=1e-4)


def test_bi_encoder_configs_turn_the_speed_options_on(tmp_path):
    from helpers import compose_cfg

    for model in ("minilm", "tiny", "hf"):
        cfg = compose_cfg([f"model={model}"], tmp_path)
        assert cfg.model.unpad is True and cfg.module.merge_columns is True
