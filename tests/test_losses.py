"""Bi-encoder losses: parity with sentence-transformers (ST) in value and in gradient.

Each test feeds the same float64 embeddings to our loss and to ST's loss of the same name. ST's
loss runs its real `forward` on a real `SentenceTransformer` built from ST's own modules (a p=0
`Dropout`, or an identity `Dense` where the loss asks the model's dimension) whose output for a
column is the embedding tensor its features carry, so ST's own label handling and similarity code
are exercised. Parity means
max |ours - ST| <= 1e-6 * max |ST| (+1e-12 for exact zeros), for the loss and for the gradient of
every input column. Labels are drawn as float32 values (ST casts some labels with `.float()`),
so that cast is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Dense
from sentence_transformers.sentence_transformer import losses as st
from sentence_transformers.sentence_transformer.losses import SiameseDistanceMetric, TripletDistanceMetric
from sentence_transformers.sentence_transformer.modules import Dropout
from sentence_transformers.util import cos_sim, dot_score, pairwise_cos_sim, pairwise_dot_score
from torch import Tensor, nn

import pairlab.losses as pl
from pairlab.losses import LossSpec, build_loss

RTOL, ATOL = 1e-6, 1e-12
CONF_LOSS = Path(__file__).resolve().parents[1] / "conf" / "loss"
# (batch size, embedding dim): a batch of 1, tiny dims, and a larger batch.
SHAPES = [(1, 8), (2, 3), (5, 16), (16, 32)]
SHAPE_IDS = [f"B{b}-D{d}" for b, d in SHAPES]
SIAMESE = {"cosine": SiameseDistanceMetric.COSINE_DISTANCE, "euclidean": SiameseDistanceMetric.EUCLIDEAN,
           "manhattan": SiameseDistanceMetric.MANHATTAN}
TRIPLET = {"cosine": TripletDistanceMetric.COSINE, "euclidean": TripletDistanceMetric.EUCLIDEAN,
           "manhattan": TripletDistanceMetric.MANHATTAN}


def st_model(dim: int | None = None, key: str = "sentence_embedding") -> SentenceTransformer:
    """A SentenceTransformer whose embedding of a column is the tensor its features carry under `key`
    (exactly: the identity `Dense` is exact in float64); with `dim`, the model reports that dimension."""
    if dim is None:
        return SentenceTransformer(modules=[Dropout(0.0)], device="cpu")
    identity = Dense(dim, dim, activation_function=None, init_weight=torch.eye(dim, dtype=torch.float64),
                     init_bias=torch.zeros(dim, dtype=torch.float64), module_input_name=key,
                     module_output_name="sentence_embedding")
    return SentenceTransformer(modules=[identity], device="cpu")


def embeddings(columns: int, batch: int, dim: int, seed: int, duplicate: bool = False) -> list[Tensor]:
    """Random unnormalized embeddings (row norms spread over e^-1.5..e^1.5); `duplicate` copies
    row 0 onto row 1 in every column."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(columns, batch, dim, generator=g, dtype=torch.float64)
    x = x * torch.empty(columns, batch, 1, dtype=torch.float64).uniform_(-1.5, 1.5, generator=g).exp()
    if duplicate and batch > 1:
        x[:, 1] = x[:, 0]
    return list(x.unbind(0))


def binary_labels(batch: int, mode: str, seed: int) -> Tensor:
    if mode == "pos":
        return torch.ones(batch, dtype=torch.float64)
    if mode == "neg":
        return torch.zeros(batch, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (batch,), generator=g).double()
    if batch > 1:  # both classes present
        labels[:2] = torch.tensor([1.0, 0.0])
    return labels


def pair_margin(kind: str, distance: str, pair: list[Tensor]) -> float:
    """ST's default margin 0.5, or one beyond every pair's distance (every negative term active;
    random pairs are mostly farther apart than 0.5)."""
    if kind == "default":
        return 0.5
    return float(SIAMESE[distance](*pair).max()) + 0.1


def float32_values(*shape: int, seed: int) -> Tensor:
    """Random float64 values exactly representable in float32."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).double()


def assert_close(ours: Tensor, ref: Tensor, what: str) -> None:
    assert ours.shape == ref.shape, f"{what}: shape {tuple(ours.shape)} != ST's {tuple(ref.shape)}"
    assert torch.isfinite(ref).all() and torch.isfinite(ours).all(), f"{what}: non-finite values"
    err = (ours.double() - ref.double()).abs().max().item()
    scale = ref.double().abs().max().item()
    assert err <= RTOL * scale + ATOL, f"{what}: max |diff| {err:.3e} > 1e-6 * max |ST| ({scale:.3e})"


def check_parity(ours: nn.Module, reference: Callable[[list[Tensor]], Tensor], inputs: list[Tensor],
                 labels: Tensor | None) -> Tensor:
    """Compare loss value and input gradients of `ours(outputs, labels)` and `reference(outputs)`."""
    spec = ours.spec
    assert spec.min_columns <= len(inputs) + (spec.model == "cross")
    assert spec.max_columns is None or len(inputs) + (spec.model == "cross") <= spec.max_columns
    mine = [x.detach().clone().requires_grad_() for x in inputs]
    theirs = [x.detach().clone().requires_grad_() for x in inputs]
    value = ours(mine, None if labels is None else labels.clone())
    ref = reference(theirs)
    assert value.dim() == 0
    assert_close(value, ref, "loss")
    value.backward()
    ref.backward()
    for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        grad_a = torch.zeros_like(a) if a.grad is None else a.grad
        grad_b = torch.zeros_like(b) if b.grad is None else b.grad
        assert_close(grad_a, grad_b, f"gradient of input {i}")
    return value


def st_forward(loss: nn.Module, labels: Tensor | None) -> Callable[[list[Tensor]], Tensor]:
    """ST loss's full forward on `st_model`."""
    return lambda embs: loss([{"sentence_embedding": e} for e in embs], None if labels is None else labels.clone())


def st_mnrl(symmetric: bool, **kwargs: object) -> nn.Module:
    """ST's MNRL, or its symmetric variant in the form ST's deprecated
    MultipleNegativesSymmetricRankingLoss constructs (and recommends instead of it)."""
    if symmetric:
        kwargs |= {"directions": ("query_to_doc", "doc_to_query"), "partition_mode": "per_direction"}
    return st.MultipleNegativesRankingLoss(st_model(), **kwargs)


@pytest.mark.parametrize(("batch", "dim"), SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("negatives", [0, 1, 3])
@pytest.mark.parametrize(("similarity", "scale"), [("cos", 20.0), ("cos", 7.5), ("dot", 1.0)])
@pytest.mark.parametrize("symmetric", [False, True], ids=["mnrl", "symmetric"])
def test_mnrl(batch: int, dim: int, negatives: int, similarity: str, scale: float, symmetric: bool) -> None:
    ours_cls = pl.MultipleNegativesSymmetricRankingLoss if symmetric else pl.MultipleNegativesRankingLoss
    ref = st_mnrl(symmetric, scale=scale, similarity_fct=cos_sim if similarity == "cos" else dot_score)
    check_parity(ours_cls(scale=scale, similarity=similarity), st_forward(ref, None),
                 embeddings(2 + negatives, batch, dim, seed=batch * 10 + negatives), None)


@pytest.mark.parametrize("symmetric", [False, True], ids=["mnrl", "symmetric"])
@pytest.mark.parametrize("negatives", [1, 2])
def test_mnrl_duplicate_rows(symmetric: bool, negatives: int) -> None:
    ours_cls = pl.MultipleNegativesSymmetricRankingLoss if symmetric else pl.MultipleNegativesRankingLoss
    check_parity(ours_cls(), st_forward(st_mnrl(symmetric), None),
                 embeddings(2 + negatives, 6, 8, seed=3, duplicate=True), None)


@pytest.mark.parametrize(("batch", "dim"), SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("distance", ["cosine", "euclidean", "manhattan"])
@pytest.mark.parametrize("mode", ["mixed", "pos", "neg"])
@pytest.mark.parametrize("margin", ["default", "wide"])
@pytest.mark.parametrize("size_average", [True, False])
def test_contrastive(batch: int, dim: int, distance: str, mode: str, margin: str, size_average: bool) -> None:
    labels = binary_labels(batch, mode, seed=batch)
    inputs = embeddings(2, batch, dim, seed=batch + 1)
    m = pair_margin(margin, distance, inputs)
    ref = st.ContrastiveLoss(st_model(), distance_metric=SIAMESE[distance], margin=m,
                             size_average=size_average)
    ours = pl.ContrastiveLoss(margin=m, distance=distance, size_average=size_average)
    check_parity(ours, st_forward(ref, labels), inputs, labels)


@pytest.mark.parametrize(("batch", "dim"), SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("distance", ["cosine", "euclidean", "manhattan"])
@pytest.mark.parametrize("mode", ["mixed", "pos", "neg"])
@pytest.mark.parametrize("margin", ["default", "wide"])
def test_online_contrastive(batch: int, dim: int, distance: str, mode: str, margin: str) -> None:
    labels = binary_labels(batch, mode, seed=batch + 7)
    inputs = embeddings(2, batch, dim, seed=batch + 2)
    m = pair_margin(margin, distance, inputs)
    ref = st.OnlineContrastiveLoss(st_model(), distance_metric=SIAMESE[distance], margin=m)
    ours = pl.OnlineContrastiveLoss(margin=m, distance=distance)
    check_parity(ours, st_forward(ref, labels), inputs, labels)


@pytest.mark.parametrize("mode", ["tie", "duplicate-positives", "duplicate-negatives"])
def test_online_contrastive_ties(mode: str) -> None:
    """Equal distances at the hard-pair thresholds (strict comparisons in ST)."""
    a, b = embeddings(2, 6, 8, seed=11)
    labels = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    if mode == "tie":  # a positive pair and a negative pair at the same distance
        a[1], b[1] = a[0], b[0]
    else:
        rows = [0, 2, 4] if mode == "duplicate-positives" else [1, 3, 5]
        a[rows], b[rows] = a[rows[0]].clone(), b[rows[0]].clone()
    ref = st.OnlineContrastiveLoss(st_model())
    check_parity(pl.OnlineContrastiveLoss(), st_forward(ref, labels), [a, b], labels)


@pytest.mark.parametrize(("batch", "dim"), SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("mode", ["float", "graded", "binary", "equal"])
@pytest.mark.parametrize("scale", [20.0, 1.0])
def test_cosent(batch: int, dim: int, mode: str, scale: float) -> None:
    g = torch.Generator().manual_seed(batch)
    labels = {
        "float": lambda: torch.rand(batch, generator=g).double(),
        "graded": lambda: torch.randint(0, 3, (batch,), generator=g).double() / 2,  # ties
        "binary": lambda: binary_labels(batch, "mixed", seed=batch),
        "equal": lambda: torch.full((batch,), 0.5, dtype=torch.float64),
    }[mode]()
    ref = st.CoSENTLoss(st_model(), scale=scale)
    value = check_parity(pl.CoSENTLoss(scale=scale), st_forward(ref, labels),
                         embeddings(2, batch, dim, seed=batch + 3, duplicate=True), labels)
    if mode == "equal":
        assert value.item() == 0.0


@pytest.mark.parametrize(("batch", "dim"), SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("distance", ["euclidean", "cosine", "manhattan"])
@pytest.mark.parametrize("margin", [5.0, 0.5, 0.0])
def test_triplet(batch: int, dim: int, distance: str, margin: float) -> None:
    ref = st.TripletLoss(st_model(), distance_metric=TRIPLET[distance], triplet_margin=margin)
    check_parity(pl.TripletLoss(margin=margin, distance=distance), st_forward(ref, None),
                 embeddings(3, batch, dim, seed=batch + 4, duplicate=True), None)


def test_triplet_anchor_equals_positive() -> None:
    anchor, _, negative = embeddings(3, 4, 8, seed=5)
    ref = st.TripletLoss(st_model())
    check_parity(pl.TripletLoss(), st_forward(ref, None), [anchor, anchor.clone(), negative], None)


@pytest.mark.parametrize(("batch", "dim"), SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize(("negatives", "label_form"), [
    (1, "scores"), (1, "margins"), (1, "margin-1d"), (2, "scores"), (2, "margins"), (3, "scores"), (3, "margins")])
@pytest.mark.parametrize("similarity", ["dot", "cos"])
def test_margin_mse(batch: int, dim: int, negatives: int, similarity: str, label_form: str) -> None:
    shape = {"scores": (batch, negatives + 1), "margins": (batch, negatives), "margin-1d": (batch,)}[label_form]
    labels = float32_values(*shape, seed=batch + negatives)
    ref = st.MarginMSELoss(st_model(),
                           similarity_fct=pairwise_dot_score if similarity == "dot" else pairwise_cos_sim)
    check_parity(pl.MarginMSELoss(similarity=similarity), st_forward(ref, labels),
                 embeddings(2 + negatives, batch, dim, seed=batch + 5), labels)


@pytest.mark.parametrize(("batch", "dim"), SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("candidates", [2, 4])
@pytest.mark.parametrize("similarity", ["dot", "cos"])
@pytest.mark.parametrize(("temperatures", "in_batch_weight"), [((1.0, None, None), 0.0), ((2.0, None, None), 0.0),
                                                               ((1.0, 0.05, 2.0), 0.0), ((1.0, 0.05, None), 0.5)])
def test_kl_div(batch: int, dim: int, candidates: int, similarity: str, temperatures: tuple, in_batch_weight: float):
    """ST's DistillKLDivLoss; with an in-batch weight, plus that times ST's MNRL at scale 1 / student temperature
    (the first candidate the positive, the others hard negatives)."""
    temperature, student, teacher = temperatures
    labels = float32_values(batch, candidates, seed=batch + candidates) * 3
    pairwise, matrix = (pairwise_dot_score, dot_score) if similarity == "dot" else (pairwise_cos_sim, cos_sim)
    kl = st_forward(st.DistillKLDivLoss(st_model(), similarity_fct=pairwise, temperature=temperature,
                                        student_temperature=student, teacher_temperature=teacher), labels)
    mnrl = st_forward(st.MultipleNegativesRankingLoss(st_model(), scale=1 / (student or temperature),
                                                      similarity_fct=matrix), None)
    ours = pl.DistillKLDivLoss(similarity=similarity, temperature=temperature, student_temperature=student,
                               teacher_temperature=teacher, in_batch_weight=in_batch_weight)
    check_parity(ours, lambda embs: kl(embs) + in_batch_weight * mnrl(embs) if in_batch_weight else kl(embs),
                 embeddings(1 + candidates, batch, dim, seed=batch + 8), labels)


@pytest.mark.parametrize(("batch", "dim"), SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("columns", [1, 2, 3])
@pytest.mark.parametrize("per_column", [False, True], ids=["shared-teacher", "teacher-per-column"])
def test_mse(batch: int, dim: int, columns: int, per_column: bool) -> None:
    labels = float32_values(*((batch, columns, dim) if per_column else (batch, dim)), seed=batch + columns)
    ref = st.MSELoss(st_model())
    check_parity(pl.MSELoss(), st_forward(ref, labels), embeddings(columns, batch, dim, seed=batch + 6), labels)


@pytest.mark.parametrize(("loss", "labels", "match"), [
    (pl.MarginMSELoss(), torch.zeros(4, 3), "expects labels of shape"),
    (pl.MarginMSELoss(), None, "no labels"),
    (pl.ContrastiveLoss(), torch.zeros(3), "expects 4 labels"),
    (pl.CoSENTLoss(), None, "no labels"),
    (pl.MSELoss(), torch.zeros(4, 5), "differ in shape"),
])
def test_bad_labels_raise(loss: nn.Module, labels: Tensor | None, match: str) -> None:
    columns = 3 if isinstance(loss, pl.MarginMSELoss) else 2
    with pytest.raises(ValueError, match=match):
        loss(embeddings(columns, 4, 8, seed=0), labels)


def test_unknown_similarity_raises() -> None:
    with pytest.raises(ValueError, match="similarity='l2' is unknown"):
        pl.MultipleNegativesRankingLoss(similarity="l2")  # type: ignore[arg-type]


@pytest.mark.parametrize("path", sorted(CONF_LOSS.glob("*.yaml")), ids=lambda p: p.stem)
def test_loss_configs_build(path: Path) -> None:
    cfg = OmegaConf.load(path)
    assert "name" not in cfg  # a loss is named by its config option (Hydra's choice), not by a key
    assert path.read_text().startswith("# ")
    loss = build_loss(cfg)
    assert isinstance(loss.spec, LossSpec)
    assert f"{type(loss).__module__}.{type(loss).__name__}" == cfg._target_


def test_every_loss_of_the_library_has_a_config() -> None:
    from pairlab.losses import cross, listwise

    built = {OmegaConf.load(p)._target_ for p in CONF_LOSS.glob("*.yaml")}
    classes = {f"{cls.__module__}.{cls.__name__}" for module in (pl, cross, listwise) for cls in vars(module).values()
               if isinstance(getattr(cls, "spec", None), LossSpec)}
    assert classes and classes <= built, classes - built


def test_build_loss_passes_params() -> None:
    loss = build_loss({"_target_": "pairlab.losses.ContrastiveLoss", "margin": 0.25, "distance": "euclidean"})
    assert isinstance(loss, pl.ContrastiveLoss)
    assert (loss.margin, loss.distance) == (0.25, "euclidean")
    with pytest.raises(ValueError, match="_target_"):
        build_loss({"scale": 20.0})
    with pytest.raises(TypeError, match="not a pairlab loss"):
        build_loss({"_target_": "torch.nn.MSELoss"})
