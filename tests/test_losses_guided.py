"""GISTEmbedLoss: parity with sentence-transformers (ST) in value and gradient, and the guide's path
through the module (plain step, GradCache, re-tokenizing guides, a run with its experiment)."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer import losses as st
from test_losses import check_parity, embeddings, st_model
from torch import Tensor, nn
from transformers import AutoTokenizer

from pairlab.losses.guided import GISTEmbedLoss
from pairlab.models.hub import resolve_model_path
from pairlab.models.tiny import TOKENIZER


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve_model_path(TOKENIZER))


def reading(key: str, dim: int, tokenizer) -> SentenceTransformer:
    """A SentenceTransformer (the same tokenizer and max length for student and guide: no re-tokenizing)
    whose embedding of a column is what its features carry under `key`."""
    model = st_model(dim, key=key)
    model.tokenizer, model.max_seq_length = tokenizer, 128
    return model


def guide_like(students: list[Tensor], seed: int, noise: float) -> list[Tensor]:
    """Guide embeddings: the student's plus noise, so some in-batch candidates pass the threshold and some not."""
    g = torch.Generator().manual_seed(seed)
    return [s + noise * torch.randn(s.shape, generator=g, dtype=s.dtype) * s.norm(dim=-1, keepdim=True)
            for s in students]


@pytest.mark.parametrize("columns", [2, 3])
@pytest.mark.parametrize(("strategy", "margin"), [("absolute", 0.0), ("absolute", 0.1), ("relative", 0.05)])
@pytest.mark.parametrize(("contrast_anchors", "contrast_positives"), [(True, True), (False, False), (True, False)])
@pytest.mark.parametrize(("batch", "noise"), [(1, 0.3), (6, 0.3), (16, 1.0)])
def test_parity(tokenizer, columns, strategy, margin, contrast_anchors, contrast_positives, batch, noise) -> None:
    student = embeddings(columns, batch, 16, seed=batch + columns)
    guide = guide_like(student, seed=batch, noise=noise)
    options = {"temperature": 0.05, "margin_strategy": strategy, "margin": margin,
               "contrast_anchors": contrast_anchors, "contrast_positives": contrast_positives}
    theirs = st.GISTEmbedLoss(reading("emb", 16, tokenizer), reading("guide", 16, tokenizer), **options)
    ours = GISTEmbedLoss(guide="stub", **options)

    def reference(outputs: list[Tensor]) -> Tensor:
        return theirs([{"emb": e, "guide": g} for e, g in zip(outputs, guide, strict=True)], None)

    check_parity(_WithGuide(ours, guide), reference, student, None)


class _WithGuide(nn.Module):
    """`check_parity` calls loss(outputs, labels): this passes the fixed guide embeddings along."""

    spec = GISTEmbedLoss.spec

    def __init__(self, loss: GISTEmbedLoss, guide: list[Tensor]) -> None:
        super().__init__()
        self.loss, self.guide = loss, guide

    def forward(self, outputs: list[Tensor], labels: Tensor | None) -> Tensor:
        return self.loss(outputs, labels, self.guide)


def test_the_guide_masks_false_negatives() -> None:
    """A candidate the guide finds closer to the anchor than its positive drops out of the softmax."""
    anchor = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positive = torch.tensor([[0.9, 0.1], [0.1, 0.9]])
    loss = GISTEmbedLoss(guide="stub", temperature=1.0, contrast_anchors=False, contrast_positives=False)
    agrees = [anchor, positive]
    # the guide finds each anchor closer to the other row's positive than to its own
    crossed = [torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.6, 0.8], [1.0, 0.0]])]
    assert loss([anchor, positive], None, agrees) > 0.1
    assert loss([anchor, positive], None, crossed) == 0  # only the positive is left in each row


def test_bad_settings_raise() -> None:
    with pytest.raises(ValueError, match="loss.margin_strategy='max' is unknown"):
        GISTEmbedLoss(guide="x", margin_strategy="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="loss.guide is not set"):
        GISTEmbedLoss(guide="")
    with pytest.raises(ValueError, match="guide's embeddings"):
        GISTEmbedLoss(guide="x")(embeddings(2, 4, 8, seed=0), None)


# ---- through the module: the guide's embeddings, GradCache, re-tokenizing guides -------------------------
def _module(grad_cache_mini_batch: int | None = None, guide_max_length: int = 32):
    from test_scale import make_module

    from pairlab.models import BiEncoder

    guide = BiEncoder.random_init({"hidden_size": 32}, max_length=guide_max_length, seed=5)
    # margin 0.05: rows repeat texts, and a candidate tied with the threshold would flip on rounding
    return make_module(GISTEmbedLoss(guide="tiny", temperature=0.05, margin=0.05), guides={"main": guide},
                       grad_cache_mini_batch=grad_cache_mini_batch)


@pytest.mark.parametrize("mini_batch", [3, 16])
@pytest.mark.parametrize("columns", [2, 3])
def test_grad_cache_gist_equals_the_big_batch(mini_batch: int, columns: int) -> None:
    """The cached variant (module.grad_cache_mini_batch with loss=gist) gives the plain step's loss and gradients."""
    from test_scale import grads_of, make_batch

    plain, collator = _module()
    batch = make_batch(collator, columns)
    guide = plain.guide_outputs("main", batch.inputs)
    big = plain.compute_loss("main", plain(batch.inputs), batch.labels, guide_outputs=guide)
    big.backward()
    cached, _ = _module(grad_cache_mini_batch=mini_batch)
    small = cached.grad_cache_backward(batch)
    assert torch.allclose(big, small, atol=1e-6)
    assert torch.allclose(grads_of(plain), grads_of(cached), atol=1e-5, rtol=1e-4)
    assert not any(p.requires_grad for p in cached.guides["main"].parameters())
    assert not any(k.startswith("guides") for k in cached.state_dict())  # the guide stays out of checkpoints


def test_a_guide_with_a_shorter_max_length_reads_the_retokenized_texts() -> None:
    from test_scale import make_batch

    module, collator = _module(guide_max_length=8)
    batch = make_batch(collator, 2)
    guide = module.guides["main"]
    texts = module.encoder.tokenizer.batch_decode(batch.inputs[0]["input_ids"], skip_special_tokens=True)
    expected = guide(guide.tokenize(texts))
    assert torch.allclose(module.guide_outputs("main", batch.inputs)[0], expected, atol=1e-6)


def test_a_guided_loss_without_a_guide_is_refused() -> None:
    from test_scale import make_module

    with pytest.raises(ValueError, match="no guide model"):
        make_module(GISTEmbedLoss(guide="tiny"))


def test_an_unloadable_guide_is_one_line(tmp_path) -> None:
    from helpers import run_entry

    result = run_entry("train.py", ["loss=gist", f"loss.guide={tmp_path / 'nowhere'}", "model=tiny",
                                    "data=quora_sample", f"hydra.run.dir={tmp_path}"])
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(f"pairlab: loss.guide='{tmp_path / 'nowhere'}'")


def test_a_matryoshka_gist_run_loads_its_guide(tmp_path) -> None:
    """The guide is found under the Matryoshka wrapper, and the guide's embeddings reach the wrapped loss."""
    import json

    from helpers import train_in_process

    train_in_process(["loss=gist", "data=quora_sample", "loss.matryoshka.dims=[32,16]", "trainer.max_steps=2",
                      "eval_baseline=false", "export=false"], tmp_path)
    assert "val/dim16/mrr@10" in json.loads((tmp_path / "metrics.json").read_text())


def test_what_a_loss_asks_of_the_run_is_one_hook_under_any_wrapper() -> None:
    """The guide model and in-batch pairings are asked of the loss (`run_needs`), also under Matryoshka."""
    from pairlab.losses import MultipleNegativesRankingLoss
    from pairlab.losses.cross import MultipleNegativesRankingLoss as CrossMNRL
    from pairlab.losses.spec import RunNeeds, run_needs

    gist = GISTEmbedLoss(guide="some/guide", matryoshka={"dims": [8, 4]})
    assert run_needs(gist) == RunNeeds(guide="some/guide") and gist.matryoshka.dims == (8, 4)
    assert run_needs(CrossMNRL(num_negatives=3)) == RunNeeds(in_batch_candidates=3)
    assert run_needs(MultipleNegativesRankingLoss()) == RunNeeds()
