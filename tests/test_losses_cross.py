"""Cross-encoder losses: parity with sentence-transformers (ST) in value and in gradient.

ST's cross-encoder losses take texts and call the model themselves. The model is a real `CrossEncoder`
assembled from one input module written to ST's public module interface (`LogitTable`: `preprocess`
and `forward`), which scores a (query, candidate) pair by looking its logit up in a float64 tensor:
the candidate text is the index of its logit. ST's loss then runs
its real `forward` (text pairing, label reshaping, activation, reduction) and its gradient flows
back to that tensor, which we compare with the gradient of our loss w.r.t. the same logits.

ST's cross-encoder MultipleNegativesRankingLoss also scores other rows' candidates (extra model
calls, which a loss here never makes); `CrossEntropyLoss` is compared with its scoring function
`calculate_loss` on the explicit candidates, i.e. that loss without in-batch negatives.
"""

from __future__ import annotations

import pytest
import torch
from sentence_transformers.base.modules import InputModule
from sentence_transformers.cross_encoder import CrossEncoder
from sentence_transformers.cross_encoder import losses as st
from test_losses import SHAPE_IDS, SHAPES, binary_labels, check_parity, float32_values
from torch import Tensor, nn

from pairlab.losses import cross as pl


class LogitTable(InputModule):
    """An input module whose score for (query, str(i)) is `logits[i]`."""

    def __init__(self, logits: Tensor) -> None:
        super().__init__()
        self.logits = logits

    def preprocess(self, inputs: list[tuple[str, str]], prompt: str | None = None, **kwargs) -> dict[str, Tensor]:
        return {"index": torch.tensor([int(candidate) for _, candidate in inputs])}

    def forward(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        features["scores"] = self.logits[features["index"]].unsqueeze(1)
        return features

    def save(self, output_path: str, *args, **kwargs) -> None:
        raise NotImplementedError("a test fixture: nothing to save")


def logit_model(logits: Tensor) -> CrossEncoder:
    """A CrossEncoder (one logit per pair) whose logit for (query, str(i)) is `logits[i]`."""
    return CrossEncoder(modules=[LogitTable(logits)], device="cpu")


def st_on_texts(make_loss, batch: int, candidates: int, labels: Tensor | None, flat: bool = False):
    """Reference for `check_parity`: ST's loss on (query, candidate) texts for `candidates` columns.

    `flat`: one (query, candidate) column of batch * candidates rows (pointwise ST losses).
    """

    def reference(columns: list[Tensor]) -> Tensor:
        logits = torch.cat(columns)  # candidate column c, row i -> index c * batch + i
        loss = make_loss(logit_model(logits))
        texts = [[str(c * batch + i) for i in range(batch)] for c in range(candidates)]
        if flat:
            texts = [[t for column in texts for t in column]]
        queries = [f"q{i}" for i in range(batch)] * (candidates if flat else 1)
        return loss([queries, *texts], None if labels is None else labels.clone())

    return reference


def logit_columns(columns: int, batch: int, seed: int) -> list[Tensor]:
    """Logits [B] per candidate column, spread over about -8..8."""
    g = torch.Generator().manual_seed(seed)
    return list((torch.randn(columns, batch, generator=g, dtype=torch.float64) * 3).unbind(0))


@pytest.mark.parametrize(("batch", "dim"), SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("mode", ["mixed", "pos", "neg", "soft"])
@pytest.mark.parametrize("pos_weight", [None, 3.0])
def test_bce(batch: int, dim: int, mode: str, pos_weight: float | None) -> None:
    if mode == "soft":
        labels = torch.rand(batch, generator=torch.Generator().manual_seed(batch)).double()
    else:
        labels = binary_labels(batch, mode, seed=batch)
    weight = None if pos_weight is None else torch.tensor(pos_weight, dtype=torch.float64)
    reference = st_on_texts(lambda m: st.BinaryCrossEntropyLoss(m, pos_weight=weight), batch, 1, labels)
    check_parity(pl.BinaryCrossEntropyLoss(pos_weight=pos_weight), reference,
                 logit_columns(1, batch, seed=dim), labels)


@pytest.mark.parametrize(("batch", "dim"), SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("negatives", [1, 2, 3])
@pytest.mark.parametrize(("scale", "activation"), [(1.0, "identity"), (10.0, "sigmoid"), (3.0, "identity")])
def test_ce(batch: int, dim: int, negatives: int, scale: float, activation: str) -> None:
    st_loss = st.MultipleNegativesRankingLoss(logit_model(torch.zeros(1)), scale=scale,
                                              activation_fn=nn.Sigmoid() if activation == "sigmoid" else None)
    check_parity(pl.CrossEntropyLoss(scale=scale, activation=activation),
                 lambda columns: st_loss.calculate_loss(columns, batch),
                 logit_columns(1 + negatives, batch, seed=dim + negatives), None)


@pytest.mark.parametrize(("batch", "dim"), SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize(("candidates", "label_shape"), [(1, "1d"), (1, "2d"), (2, "2d"), (4, "2d")])
def test_mse(batch: int, dim: int, candidates: int, label_shape: str) -> None:
    labels = float32_values(batch, candidates, seed=batch + dim)
    ours_labels = labels[:, 0] if label_shape == "1d" else labels
    st_labels = labels.T.reshape(-1)  # column-major, as the flattened (query, candidate) rows
    reference = st_on_texts(st.MSELoss, batch, candidates, st_labels, flat=True)
    check_parity(pl.MSELoss(), reference, logit_columns(candidates, batch, seed=dim), ours_labels)


@pytest.mark.parametrize(("batch", "dim"), SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize(("negatives", "label_form"), [
    (1, "scores"), (1, "margins"), (1, "margin-1d"), (2, "scores"), (2, "margins"), (3, "scores")])
def test_margin_mse(batch: int, dim: int, negatives: int, label_form: str) -> None:
    shape = {"scores": (batch, negatives + 1), "margins": (batch, negatives), "margin-1d": (batch,)}[label_form]
    labels = float32_values(*shape, seed=batch + negatives)
    reference = st_on_texts(st.MarginMSELoss, batch, 1 + negatives, labels)
    check_parity(pl.MarginMSELoss(), reference, logit_columns(1 + negatives, batch, seed=dim), labels)


def test_duplicate_and_tied_logits() -> None:
    """Identical candidates (tied logits) across columns and rows."""
    pos, neg = logit_columns(2, 4, seed=1)
    neg[:2] = pos[:2]
    pos[3] = pos[2]
    st_loss = st.MultipleNegativesRankingLoss(logit_model(torch.zeros(1)), scale=None, activation_fn=None)
    check_parity(pl.CrossEntropyLoss(), lambda columns: st_loss.calculate_loss(columns, 4), [pos, neg], None)
    labels = torch.tensor([[1.0, 1.0], [0.5, 0.5], [2.0, -1.0], [2.0, -1.0]], dtype=torch.float64)
    check_parity(pl.MarginMSELoss(), st_on_texts(st.MarginMSELoss, 4, 2, labels), [pos, neg], labels)


@pytest.mark.parametrize(("loss", "columns", "labels", "match"), [
    (pl.BinaryCrossEntropyLoss(), 2, torch.zeros(4), "one candidate column"),
    (pl.BinaryCrossEntropyLoss(), 1, None, "no labels"),
    (pl.MSELoss(), 2, torch.zeros(4), "one per candidate"),
    (pl.MarginMSELoss(), 3, torch.zeros(4, 4), "expects labels of shape"),
    (pl.CrossEntropyLoss(), 1, None, "at least 2 candidate"),
])
def test_bad_inputs_raise(loss: nn.Module, columns: int, labels: Tensor | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        loss(logit_columns(columns, 4, seed=0), labels)


@pytest.mark.parametrize(("loss", "columns", "labels"), [
    (pl.BinaryCrossEntropyLoss(), 1, torch.tensor([1.0, 0.0, 1.0, 0.0])),
    (pl.CrossEntropyLoss(), 3, None),
    (pl.MSELoss(), 2, torch.rand(4, 2, generator=torch.Generator().manual_seed(1))),
    (pl.MarginMSELoss(), 2, torch.rand(4, 2, generator=torch.Generator().manual_seed(2))),
], ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else None)
def test_cross_losses_score_each_row_on_its_own(loss: nn.Module, columns: int, labels: Tensor | None) -> None:
    """What `spec.in_batch = False` promises (no gathering across devices): the batch loss is the mean of
    the rows' losses, so no row's candidates act on another row."""
    assert not type(loss).spec.in_batch and type(loss).spec.model == "cross"
    outputs = logit_columns(columns, 4, seed=3)
    rows = [loss([out[i:i + 1] for out in outputs], None if labels is None else labels[i:i + 1]) for i in range(4)]
    assert torch.allclose(loss(outputs, labels), torch.stack(rows).mean(), atol=1e-12)
