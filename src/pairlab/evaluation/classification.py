"""Pair-classification metrics (AP, best F1 / accuracy and their thresholds), without sklearn."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor


def _as_numpy(values: Sequence[float] | np.ndarray | Tensor) -> np.ndarray:
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values).reshape(-1)


def pair_classification_metrics(
    scores: Sequence[float] | np.ndarray | Tensor, labels: Sequence[int] | np.ndarray | Tensor
) -> dict[str, float]:
    """AP, best F1 and best accuracy over thresholds for binary ``labels``; higher score = positive.

    Returns ``ap``, ``f1``, ``precision``, ``recall`` (at the best F1), ``threshold`` (for the best
    F1), ``accuracy`` and ``accuracy_threshold``; a pair is predicted positive when score >= threshold.

    * ``ap`` is sklearn's ``average_precision_score``: sum over distinct scores (descending) of
      (R_n - R_{n-1}) * P_n, tied scores forming one threshold; 0.0 when there is no positive.
    * Thresholds follow sentence-transformers' BinaryClassificationEvaluator
      (``find_best_f1_and_threshold`` / ``find_best_acc_and_threshold``): candidate cuts lie
      between groups of equal scores, the threshold is the midpoint of the two scores around the
      cut (the lowest score for the cut after the last group; the upper score when the midpoint
      rounds onto the lower one), computed in the scores' dtype. The first (highest-threshold)
      cut with the best value wins. F1 is 0 with threshold 0.0 when nothing beats F1 = 0; accuracy
      starts from "all negative" with threshold nextafter(max score, +inf).
    """
    s = _as_numpy(scores)
    y = _as_numpy(labels)
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.shape[0]} vs {y.shape[0]}")
    if s.size == 0:
        raise ValueError("no pairs to evaluate")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if not np.issubdtype(s.dtype, np.floating):
        s = s.astype(np.float64)
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    y = y.astype(np.int64)

    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    n, n_pos = len(y), int(y.sum())
    # Cuts after each group of equal scores: the top `extracted` pairs are predicted positive.
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    extracted = ends + 1
    tp = np.cumsum(y)[ends]
    fp = extracted - tp
    upper, lower = s[ends], np.append(s[ends[:-1] + 1], s[-1])
    thresholds = (upper + lower) / s.dtype.type(2)
    thresholds = np.where(thresholds == lower, upper, thresholds)
    thresholds[-1] = upper[-1]

    precision = tp / extracted
    if n_pos:
        recall = tp / n_pos
        ap = float(np.sum(np.diff(recall, prepend=0.0) * precision))
        with np.errstate(invalid="ignore"):
            f1 = np.where(tp > 0, 2 * precision * recall / (precision + recall), 0.0)
    else:
        recall = f1 = np.zeros(len(ends))
        ap = 0.0
    best = int(np.argmax(f1))
    if f1[best] > 0:
        best_f1, best_p, best_r, f1_threshold = f1[best], precision[best], recall[best], thresholds[best]
    else:
        best_f1 = best_p = best_r = f1_threshold = 0.0

    accuracy = np.concatenate([[(n - n_pos) / n], (tp + (n - n_pos - fp)) / n])
    best_acc = int(np.argmax(accuracy))
    if best_acc == 0:
        acc_threshold = np.nextafter(s[0], np.inf, dtype=np.result_type(s.dtype, np.float16))
    else:
        acc_threshold = thresholds[best_acc - 1]
    return {
        "ap": ap,
        "f1": float(best_f1),
        "precision": float(best_p),
        "recall": float(best_r),
        "threshold": float(f1_threshold),
        "accuracy": float(accuracy[best_acc]),
        "accuracy_threshold": float(acc_threshold),
    }
