"""The packed BERT forward (`pairlab.models.packed`): length buckets, CPU dropout and the in-place
embedding gradient compute what the padded forward computes."""

from __future__ import annotations

import pytest
import torch

from pairlab.models import BiEncoder, CrossEncoder, packed
from pairlab.models.packed import PackedLayout, cpu_dropout, length_buckets

# 40 texts from 1 to ~60 words: several length buckets
TEXTS = [" ".join(f"word{j}" for j in range(1 + (7 * i) % 60)) + "?" for i in range(40)]


def tiny(unpad: bool, pooling: str = "mean", seed: int = 0) -> BiEncoder:
    return BiEncoder.random_init({"hidden_size": 32}, pooling=pooling, max_length=128, unpad=unpad, seed=seed)


def grads(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


def test_length_buckets_cover_every_sequence_once_longest_first():
    lengths = [5, 60, 12, 33, 7, 61, 2, 40, 18, 9, 25, 50, 3, 14, 8, 30, 11, 6, 45, 20]
    groups = length_buckets(lengths, min_size=4, shrink=0.75)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    flat = [lengths[i] for g in groups for i in g]
    assert flat == sorted(lengths, reverse=True)
    assert len(groups) > 1 and all(len(g) >= 4 for g in groups[:-1])
    for a, b in zip(groups, groups[1:], strict=False):  # a group is cut only where lengths drop enough
        assert lengths[b[0]] <= 0.75 * lengths[a[0]]


def test_the_test_batch_has_several_buckets_and_much_padding():
    features = tiny(True).tokenize(TEXTS)
    layout = PackedLayout.of(features["attention_mask"])
    assert len(layout.shapes) >= 3
    assert features["attention_mask"].float().mean() < 0.6
    assert sum(b * t for b, t in layout.shapes) < 0.8 * features["attention_mask"].numel()


@pytest.mark.parametrize(("pooling", "side"), [("mean", "right"), ("cls", "right"), ("max", "right"),
                                               ("mean", "left"), ("max", "left")])  # cls reads position 0
def test_bucketed_forward_equals_padded_outputs_and_gradients(pooling, side):
    padded, unpadded = tiny(False, pooling).eval(), tiny(True, pooling).eval()
    padded.tokenizer.padding_side = side
    assert_same_outputs_and_gradients(padded, unpadded, padded.tokenize(TEXTS))


def assert_same_outputs_and_gradients(padded: torch.nn.Module, unpadded: torch.nn.Module, features: dict) -> None:
    out_padded, out_unpadded = padded(features), unpadded(features)
    assert torch.allclose(out_padded, out_unpadded, atol=1e-5)
    weights = torch.randn(out_padded.shape, generator=torch.Generator().manual_seed(0))
    (out_padded * weights).sum().backward()
    (out_unpadded * weights).sum().backward()
    expected, found = grads(padded), grads(unpadded)
    assert expected.keys() == found.keys()
    for name in expected:
        assert torch.allclose(expected[name], found[name], atol=1e-5, rtol=1e-4), name


def test_training_forward_without_dropout_equals_eval_forward(monkeypatch):
    """With the dropout draws turned into the identity, the training path (explicit attention on CPU)
    computes what the eval path (SDPA) computes."""
    encoder = tiny(True)
    features = encoder.tokenize(TEXTS)
    expected = encoder.eval()(features)
    monkeypatch.setattr(packed, "cpu_dropout", lambda x, p: x)
    assert torch.allclose(encoder.train()(features), expected, atol=1e-5)


def test_cpu_dropout_keeps_the_expectation_and_drops_at_rate_p():
    torch.manual_seed(0)
    x = torch.ones(1_000_000)
    y = cpu_dropout(x, 0.1)
    dropped = (y == 0).float().mean().item()
    assert abs(dropped - 0.1) < 0.002
    kept = y[y != 0]
    assert torch.allclose(kept, torch.full_like(kept, 65536 / (65536 - round(0.1 * 65536))))
    assert abs(y.mean().item() - 1.0) < 0.003
    assert torch.equal(cpu_dropout(x, 0.0), x)


def test_cpu_dropout_is_seeded_and_its_gradient_is_the_mask():
    x = torch.randn(4096, requires_grad=True)
    torch.manual_seed(1)
    a = cpu_dropout(x, 0.3)
    torch.manual_seed(1)
    b = cpu_dropout(x, 0.3)
    assert torch.equal(a, b) and not torch.equal(a, cpu_dropout(x, 0.3))
    a.sum().backward()
    assert torch.equal(x.grad, torch.where(a != 0, 1 / (1 - round(0.3 * 65536) / 65536), 0.0).float())


def test_cpu_dropout_in_bf16_keeps_dtype():
    x = torch.randn(64, 32, dtype=torch.bfloat16)
    assert cpu_dropout(x, 0.1).dtype == torch.bfloat16


def test_in_place_embedding_gradient_accumulates_and_restarts_after_zero_grad():
    encoder = tiny(True).eval()
    features = encoder.tokenize(TEXTS[:10])
    weight = encoder.transformer.embeddings.word_embeddings.weight
    reference = tiny(False).eval()
    reference(features).sum().backward()
    expected = reference.transformer.embeddings.word_embeddings.weight.grad
    encoder(features).sum().backward()
    assert torch.allclose(weight.grad, expected, atol=1e-5)
    encoder(features).sum().backward()  # accumulation, as with trainer.accumulate_grad_batches
    assert torch.allclose(weight.grad, 2 * expected, atol=1e-5)
    weight.grad = None  # what optimizer.zero_grad() does
    encoder(features).sum().backward()
    assert torch.allclose(weight.grad, expected, atol=1e-5)
    assert weight.grad[encoder.tokenizer.pad_token_id].abs().sum() == 0


def test_bf16_forward_is_close_to_fp32():
    encoder = tiny(True).eval()
    features = encoder.tokenize(TEXTS)
    fp32 = encoder(features)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = encoder(features)
    assert bf16.dtype == torch.float32  # normalized embeddings come back in float32
    assert torch.nn.functional.cosine_similarity(fp32, bf16).min() > 0.99


@pytest.mark.slow
@pytest.mark.parametrize("unpad", [False, True])
def test_compiled_encoder_equals_eager(unpad):
    eager = tiny(unpad).eval()
    compiled = tiny(unpad).eval()
    compiled.compile(dynamic=True)
    for texts in (TEXTS, TEXTS[:9]):  # two batch shapes: one compiled graph serves both
        features = eager.tokenize(texts)
        with torch.no_grad():
            assert torch.allclose(compiled(features), eager(features), atol=1e-5)


def test_only_encoder_bert_with_absolute_positions_is_packed():
    bert = tiny(True).transformer
    assert packed.packs(bert)
    bert.config.position_embedding_type = "relative_key"
    assert not packed.packs(bert)
    bert.config.position_embedding_type = "absolute"
    bert.config.is_decoder = True
    assert not packed.packs(bert)


# ---- rerankers: BertForSequenceClassification on the real tokens of (query, passage) pairs ---------------
def tiny_reranker(unpad: bool) -> CrossEncoder:
    return CrossEncoder.random_init({"hidden_size": 32}, max_length=128, unpad=unpad)


def test_packed_reranker_equals_padded_logits_and_gradients():
    padded, unpadded = tiny_reranker(False).eval(), tiny_reranker(True).eval()
    features = padded.tokenize(TEXTS[:20], TEXTS[20:])
    assert features["attention_mask"].float().mean() < 0.9  # pairs of unequal lengths: real padding
    assert unpadded(features).shape == (20,)
    assert_same_outputs_and_gradients(padded, unpadded, features)


def test_packed_reranker_training_path_without_dropout_equals_eval(monkeypatch):
    reranker = tiny_reranker(True)
    features = reranker.tokenize(TEXTS[:20], TEXTS[20:])
    expected = reranker.eval()(features)
    monkeypatch.setattr(packed, "cpu_dropout", lambda x, p: x)
    reranker.train()
    reranker.transformer.dropout.p = 0.0  # the classifier's own dropout (a module call, not the packed path's)
    assert torch.allclose(reranker(features), expected, atol=1e-5)


def test_left_padded_rerankers_keep_the_padded_forward():
    """HF's pooler reads position 0, a pad under left padding: the packed path (which reads [CLS]) steps aside."""
    padded, unpadded = tiny_reranker(False).eval(), tiny_reranker(True).eval()
    padded.tokenizer.padding_side = "left"
    features = padded.tokenize(TEXTS[:20], TEXTS[20:])
    assert torch.equal(padded(features), unpadded(features))


@pytest.mark.parametrize("kind", ["bi", "cross"])
def test_onednn_projections_equal_torch_ones_in_the_packed_forward(kind):
    def build(onednn: bool) -> torch.nn.Module:
        if kind == "bi":
            return BiEncoder.random_init({"hidden_size": 32}, max_length=128, unpad=True, onednn_linear=onednn)
        return CrossEncoder.random_init({"hidden_size": 32}, max_length=128, unpad=True, onednn_linear=onednn)

    onednn, torch_linear = build(True).eval(), build(False).eval()
    features = (onednn.tokenize(TEXTS) if kind == "bi" else onednn.tokenize(TEXTS[:20], TEXTS[20:]))
    assert_same_outputs_and_gradients(torch_linear, onednn, features)


def test_training_with_onednn_linear_takes_steps(tmp_path):
    from helpers import train_in_process

    train_in_process(["loss=mnrl", "data=quora_sample", "model.onednn_linear=true", "trainer.max_steps=2",
                      "eval_baseline=false"], tmp_path)
    assert (tmp_path / "checkpoints").is_dir()
