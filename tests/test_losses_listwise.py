"""Listwise / pairwise cross-encoder losses: parity with sentence-transformers (ST) in float64.

ST's losses take (query, [doc, ...]) texts with a label list per query, lists of any length, and call the
model themselves. The `logit_model` of test_losses_cross gives each candidate text the logit it indexes,
so ST runs its real forward (pairing, padding, sorting, masking). ST casts logits with `.float()` and
builds its matrices in the default dtype: both are made float64 while ST runs, so the comparison is of
the math in float64, not of float32 rounding.

pairlab sees the same lists as candidate columns; a query with fewer candidates has -inf labels at
its padded columns, whose logits (whatever the model gave the empty slot) must get no gradient.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch
from sentence_transformers.cross_encoder import losses as st
from test_losses import check_parity
from test_losses_cross import logit_columns, logit_model
from torch import Tensor, nn

from pairlab.losses import cross as pl_cross
from pairlab.losses import listwise as pl

PAD = float("-inf")


@contextmanager
def st_in_float64() -> Iterator[None]:
    default, cast = torch.get_default_dtype(), torch.Tensor.float
    torch.set_default_dtype(torch.float64)
    torch.Tensor.float = lambda self, *a, **k: self.to(torch.float64)  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.set_default_dtype(default)
        torch.Tensor.float = cast  # type: ignore[method-assign]


def st_lists(make_loss: Callable[[nn.Module], nn.Module], labels: Tensor) -> Callable[[list[Tensor]], Tensor]:
    """ST's loss on each row's unpadded list: candidate column c of row i is text c * B + i."""
    batch, columns = labels.shape

    def reference(outputs: list[Tensor]) -> Tensor:
        logits = torch.cat(outputs)
        docs = [[str(c * batch + i) for c in range(columns) if labels[i, c] > PAD] for i in range(batch)]
        lists = [labels[i][labels[i] > PAD].clone() for i in range(batch)]
        with st_in_float64():
            return make_loss(logit_model(logits))([[f"q{i}" for i in range(batch)], docs], lists)

    return reference


def graded(batch: int, columns: int, seed: int, kind: str) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "binary":  # the positive first, mined negatives after
        labels = torch.zeros(batch, columns, dtype=torch.float64)
        labels[:, 0] = 1.0
    elif kind == "grades":  # 0..3 with ties
        labels = torch.randint(0, 4, (batch, columns), generator=g).double()
    elif kind == "teacher":
        labels = torch.randn(batch, columns, generator=g).double() * 2
    elif kind == "all_negative":
        labels = torch.zeros(batch, columns, dtype=torch.float64)
    else:
        raise ValueError(kind)
    return labels


def padded(labels: Tensor, seed: int) -> Tensor:
    """Cut rows short (at least 1 candidate left), as queries with fewer mined negatives."""
    g = torch.Generator().manual_seed(seed)
    labels = labels.clone()
    lengths = torch.randint(1, labels.shape[1] + 1, (labels.shape[0],), generator=g)
    lengths[0] = labels.shape[1]  # the longest list sets the width
    for i, n in enumerate(lengths.tolist()):
        labels[i, n:] = PAD
    return labels


LOSSES = {
    "lambda": (lambda: pl.LambdaLoss(), lambda m: st.LambdaLoss(m)),
    "lambda_ndcg2": (lambda: pl.LambdaLoss(weighting="ndcg_loss2"),
                     lambda m: st.LambdaLoss(m, weighting_scheme=st.NDCGLoss2Scheme())),
    "lambda_ndcg1": (lambda: pl.LambdaLoss(weighting="ndcg_loss1"),
                     lambda m: st.LambdaLoss(m, weighting_scheme=st.NDCGLoss1Scheme())),
    "lambda_rank_k2": (lambda: pl.LambdaLoss(weighting="lambdarank", k=2, reduction_log="natural"),
                       lambda m: st.LambdaLoss(m, weighting_scheme=st.LambdaRankScheme(), k=2,
                                               reduction_log="natural")),
    "lambda_mu3_sigmoid": (lambda: pl.LambdaLoss(mu=3.0, sigma=2.0, activation="sigmoid"),
                           lambda m: st.LambdaLoss(m, weighting_scheme=st.NDCGLoss2PPScheme(mu=3.0), sigma=2.0,
                                                   activation_fn=nn.Sigmoid())),
    "ranknet": (lambda: pl.RankNetLoss(), lambda m: st.RankNetLoss(m)),
    "listnet": (lambda: pl.ListNetLoss(), lambda m: st.ListNetLoss(m)),
    "listnet_sigmoid": (lambda: pl.ListNetLoss(activation="sigmoid"),
                        lambda m: st.ListNetLoss(m, activation_fn=nn.Sigmoid())),
    "listmle": (lambda: pl.ListMLELoss(), lambda m: st.ListMLELoss(m)),
    "listmle_sorted": (lambda: pl.ListMLELoss(respect_input_order=False),
                       lambda m: st.ListMLELoss(m, respect_input_order=False)),
    "plistmle": (lambda: pl.PListMLELoss(), lambda m: st.PListMLELoss(m)),
    "plistmle_sorted": (lambda: pl.PListMLELoss(respect_input_order=False),
                        lambda m: st.PListMLELoss(m, respect_input_order=False)),
}


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("kind", ["binary", "grades", "teacher", "all_negative"])
@pytest.mark.parametrize("pad", [False, True], ids=["full", "padded"])
@pytest.mark.parametrize(("batch", "columns"), [(1, 2), (4, 3), (8, 6)], ids=["B1C2", "B4C3", "B8C6"])
def test_parity(name: str, kind: str, pad: bool, batch: int, columns: int) -> None:
    ours, theirs = LOSSES[name]
    labels = graded(batch, columns, seed=batch * 7 + columns, kind=kind)
    if pad:
        labels = padded(labels, seed=batch + columns)
    check_parity(ours(), st_lists(theirs, labels), logit_columns(columns, batch, seed=columns), labels)


@pytest.mark.parametrize("temperature", [1.0, 3.0])
@pytest.mark.parametrize("pad", [False, True], ids=["full", "padded"])
@pytest.mark.parametrize(("batch", "columns"), [(1, 2), (4, 3), (8, 6)], ids=["B1C2", "B4C3", "B8C6"])
def test_kl_div_is_sentence_transformers_listnet_less_the_teacher_entropy(temperature, pad, batch, columns) -> None:
    """ST has no cross-encoder KL loss; KL(teacher || model) = CE(teacher, model) - H(teacher), and ListNet is
    that CE: at temperature T both lists are divided by T and the loss multiplied by T^2."""
    labels = graded(batch, columns, seed=batch + columns, kind="teacher")
    if pad:
        labels = padded(labels, seed=batch)
    teacher = torch.softmax(labels / temperature, dim=1)
    entropy = -torch.xlogy(teacher, teacher).sum(dim=1).mean()
    listnet = st_lists(lambda m: st.ListNetLoss(m), labels / temperature)

    def reference(outputs: list[Tensor]) -> Tensor:
        return temperature ** 2 * (listnet([o / temperature for o in outputs]) - entropy)

    check_parity(pl.ListwiseKLDivLoss(temperature), reference, logit_columns(columns, batch, seed=columns), labels)


def test_kl_div_is_zero_when_the_model_matches_the_teacher() -> None:
    labels = graded(4, 5, seed=1, kind="teacher")
    loss = pl.ListwiseKLDivLoss(temperature=2.0)
    assert loss(list(labels.unbind(1)), labels).abs() < 1e-12
    assert loss(list((labels + 3.0).unbind(1)), labels).abs() < 1e-12  # a shift leaves the softmax as it is
    assert loss(list((-labels).unbind(1)), labels) > 0.1


@pytest.mark.parametrize("name", ["lambda", "ranknet", "listnet", "plistmle"])
def test_tied_logits(name: str) -> None:
    ours, theirs = LOSSES[name]
    outputs = logit_columns(4, 5, seed=2)
    outputs[1][:3] = outputs[0][:3]
    outputs[3][2:] = outputs[2][2:]
    labels = graded(5, 4, seed=4, kind="grades")
    check_parity(ours(), st_lists(theirs, labels), outputs, labels)


@pytest.mark.parametrize("name", ["lambda", "listnet", "listmle", "plistmle"])
def test_no_labels_mean_the_first_candidate_is_relevant(name: str) -> None:
    loss = LOSSES[name][0]()
    outputs = logit_columns(4, 6, seed=5)
    assert torch.equal(loss(outputs, None), loss(outputs, graded(6, 4, seed=0, kind="binary")))


@pytest.mark.parametrize("name", list(LOSSES))
def test_padded_candidates_get_no_gradient(name: str) -> None:
    labels = padded(graded(6, 5, seed=1, kind="grades"), seed=3)
    outputs = [o.requires_grad_() for o in logit_columns(5, 6, seed=9)]
    LOSSES[name][0]()(outputs, labels).backward()
    grads = torch.stack([o.grad for o in outputs], dim=1)
    assert (grads[labels == PAD] == 0).all()


@pytest.mark.parametrize(("make", "labels", "match"), [
    (pl.LambdaLoss, torch.zeros(4, 2), "expects labels of shape"),
    (pl.ListNetLoss, torch.full((4, 3), PAD), "no candidates"),
    (lambda: pl.LambdaLoss(weighting="ndcg3"), None, "loss.weighting='ndcg3' is unknown"),
    (lambda: pl.LambdaLoss(k=0), None, "loss.k must be >= 1"),
])
def test_bad_inputs_raise(make, labels: Tensor | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()(logit_columns(3, 4, seed=0), labels)


# ---- ce_mnrl: the collate step pairs queries with other rows' candidates, the loss scores the list ----------
@pytest.mark.parametrize(("batch", "hard"), [(1, 0), (3, 0), (5, 1), (8, 2)])
@pytest.mark.parametrize("num_negatives", [None, 1, 4, 50])
def test_ce_mnrl_equals_sentence_transformers(batch: int, hard: int, num_negatives: int | None) -> None:
    """The in-batch candidates `in_batch_candidates` draws (same RNG draws as ST) and our loss over all
    the columns equal ST's cross-encoder MNRL forward, value and gradient, in float64."""
    from pairlab.data.collate import in_batch_candidates

    columns = 1 + hard
    logits = torch.randn(batch * columns, generator=torch.Generator().manual_seed(batch), dtype=torch.float64) * 3
    texts = [[str(c * batch + i) for i in range(batch)] for c in range(columns)]  # text = index of its logit
    queries = [f"q{i}" for i in range(batch)]

    ours_leaf, theirs_leaf = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    torch.manual_seed(11)
    candidates = texts + in_batch_candidates(texts, num_negatives)
    ours = pl_cross.MultipleNegativesRankingLoss(num_negatives=num_negatives)(
        [ours_leaf[torch.tensor([int(t) for t in column], dtype=torch.long)] for column in candidates], None)
    torch.manual_seed(11)
    with st_in_float64():
        theirs = st.MultipleNegativesRankingLoss(logit_model(theirs_leaf), num_negatives=num_negatives)(
            [queries, *texts], None)
    assert abs(ours.item() - theirs.item()) <= 1e-6 * abs(theirs.item()) + 1e-12
    ours.backward()
    theirs.backward()
    assert torch.allclose(ours_leaf.grad, theirs_leaf.grad, rtol=1e-6, atol=1e-12)


def test_in_batch_candidates_come_from_other_rows() -> None:
    from pairlab.data.collate import in_batch_candidates

    texts = [[f"pos{i}" for i in range(6)], [f"neg{i}" for i in range(6)]]
    torch.manual_seed(0)
    picked = in_batch_candidates(texts, 3)
    assert len(picked) == 3 and all(len(column) == 6 for column in picked)
    for row in range(6):
        drawn = [column[row] for column in picked]
        assert len(set(drawn)) == 3 and not {f"pos{row}", f"neg{row}"} & set(drawn)
    everything = in_batch_candidates(texts, None)
    assert len(everything) == 10 and sorted(c[0] for c in everything) == sorted(
        t for col in texts for t in col[1:])
