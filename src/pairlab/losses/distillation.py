"""Bi-encoder distillation from a teacher: score margins (MarginMSE) and embeddings (MSE)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from pairlab.losses.functional import PAIRWISE_SIMILARITY, SIMILARITY, Similarity, margin_targets, non_negative, pick
from pairlab.losses.matryoshka import EmbeddingLoss
from pairlab.losses.spec import LossSpec


class MarginMSELoss(EmbeddingLoss):
    """ST's MarginMSELoss (Hofstaetter et al. 2021): MSE between the student margins
    sim(q, pos) - sim(q, neg_i) and the teacher margins, over rows and negatives.

    outputs: query, positive, negative_1..k embeddings [B, D].
    labels: teacher scores [B, 1 + k] (pos, neg_1..neg_k), or margins [B, k] or [B] (k = 1).
    """

    spec: ClassVar[LossSpec] = LossSpec(model="bi", min_columns=3, max_columns=None, label="scores")

    def __init__(self, similarity: Similarity = "dot", matryoshka: Mapping | None = None) -> None:
        super().__init__(matryoshka)
        self.similarity = similarity
        self.sim = pick(PAIRWISE_SIMILARITY, similarity, "similarity")

    def forward(self, outputs: list[Tensor], labels: Tensor | None) -> Tensor:
        if len(outputs) < 3:
            raise ValueError(f"MarginMSELoss needs query, positive and negative columns, got {len(outputs)}")
        query, pos, negs = outputs[0], outputs[1], outputs[2:]
        target = margin_targets(labels, len(query), len(negs), type(self).__name__)
        pos_scores = self.sim(query, pos)
        margins = torch.stack([pos_scores - self.sim(query, neg) for neg in negs], dim=1)
        return F.mse_loss(margins, target)  # in the promoted dtype (bf16 outputs: float32)

    def extra_repr(self) -> str:
        return f"similarity={self.similarity!r}"


class MSELoss(EmbeddingLoss):
    """ST's MSELoss (Reimers & Gurevych 2020): MSE between the student embedding of each column
    and the teacher embedding, averaged over columns.

    labels: the teacher embedding per row [B, D], targeted by every column (e.g. a sentence and
    its translation both target the teacher's embedding of the sentence), or one per column
    [B, columns, D]. It is declared as label kind "scores" (a tuple of floats per row, here the
    teacher vector), the only label kind that carries a vector per row; the student and teacher
    dimensions must match (ST's optional learned projection is not provided).
    """

    spec: ClassVar[LossSpec] = LossSpec(model="bi", min_columns=1, max_columns=None, label="scores")

    def forward(self, outputs: list[Tensor], labels: Tensor | None) -> Tensor:
        if labels is None:
            raise ValueError("MSELoss needs teacher embeddings as labels, but the batch has no labels")
        labels = labels.detach()
        if labels.dim() == 2:
            targets = [labels] * len(outputs)
        elif labels.dim() == 3 and labels.size(1) == len(outputs):
            targets = list(labels.unbind(1))
        else:
            raise ValueError(f"MSELoss expects teacher embeddings [B, D] or [B, {len(outputs)}, D], "
                             f"got {tuple(labels.shape)}")
        losses = []
        for student, teacher in zip(outputs, targets, strict=True):
            if student.shape != teacher.shape:
                raise ValueError(f"MSELoss: student embeddings {tuple(student.shape)} and teacher embeddings "
                                 f"{tuple(teacher.shape)} differ in shape")
            losses.append(F.mse_loss(student, teacher))
        return torch.stack(losses).mean()


class DistillKLDivLoss(EmbeddingLoss):
    """ST's DistillKLDivLoss: KL divergence (batch mean) from the teacher's softmax over a query's candidates to
    the student's, each score divided by its temperature, times the student temperature squared (so gradients
    keep their scale as the temperature changes).

    outputs: query, then N >= 2 candidate embeddings [B, D]. labels: teacher scores [B, N].
    temperature: both temperatures (student_temperature / teacher_temperature override one side).
    in_batch_weight: adds that times MNRL over every candidate of the batch on this device (scale 1 / student
    temperature), the first candidate being the query's positive, as mine.py's n-tuple-scores rows order them.
    """

    spec: ClassVar[LossSpec] = LossSpec(model="bi", min_columns=3, max_columns=None, label="scores")

    def __init__(self, similarity: Similarity = "dot", temperature: float = 1.0,
                 student_temperature: float | None = None, teacher_temperature: float | None = None,
                 in_batch_weight: float = 0.0, matryoshka: Mapping | None = None) -> None:
        super().__init__(matryoshka)
        self.in_batch_weight = non_negative(in_batch_weight, "in_batch_weight")
        self.student_temperature = student_temperature or temperature
        self.teacher_temperature = teacher_temperature or temperature
        if not (self.student_temperature > 0 and self.teacher_temperature > 0):
            raise ValueError("loss.temperature (and student / teacher temperatures) must be > 0")
        self.similarity = similarity
        self.sim = pick(PAIRWISE_SIMILARITY, similarity, "similarity")

    def forward(self, outputs: list[Tensor], labels: Tensor | None) -> Tensor:
        query, candidates = outputs[0], outputs[1:]
        if labels is None or labels.shape != (len(query), len(candidates)):
            raise ValueError(f"DistillKLDivLoss needs teacher scores [batch, {len(candidates)}] (one per candidate "
                             f"column), got {None if labels is None else tuple(labels.shape)}")
        student = torch.stack([self.sim(query, c) for c in candidates], dim=1) / self.student_temperature
        teacher = torch.softmax(labels.detach().to(student.dtype) / self.teacher_temperature, dim=1)
        kl = F.kl_div(torch.log_softmax(student, dim=1), teacher, reduction="batchmean")
        loss = kl * self.student_temperature ** 2
        if self.in_batch_weight:
            scores = SIMILARITY[self.similarity](query, torch.cat(candidates)) / self.student_temperature
            loss = loss + self.in_batch_weight * F.cross_entropy(scores, torch.arange(len(query), device=query.device))
        return loss

    def extra_repr(self) -> str:
        return (f"similarity={self.similarity!r}, student_temperature={self.student_temperature}, "
                f"teacher_temperature={self.teacher_temperature}, in_batch_weight={self.in_batch_weight}")
