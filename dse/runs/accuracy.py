"""Scoring predictions against labels: accuracy with a Wilson interval, per class, confusion matrix.

Predictions are class indices, or ``NO_DECISION`` (-1) for an image on which
no class had any evidence; such a prediction never equals a label, so it
counts as wrong, and the confusion matrix keeps a column for it.  The input
checks here are shared with :mod:`dse.runs.readout`.  All functions are pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = [
    "AccuracyCI",
    "NO_DECISION",
    "accuracy_with_ci",
    "check_labels",
    "check_n_classes",
    "check_predictions",
    "check_same_length",
    "confusion_matrix",
    "per_class_accuracy",
    "wilson_interval",
]

NO_DECISION = -1
"""Prediction for an image on which no class has any evidence."""


def check_n_classes(n_classes: int) -> int:
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)):
        raise ValueError(f"n_classes must be an int, got {type(n_classes).__name__}")
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes}")
    return int(n_classes)


def check_labels(labels: Any, n_classes: int, name: str = "labels") -> np.ndarray:
    """Return labels as an int64 1-D array with values in [0, n_classes)."""
    a = np.asarray(labels)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must have an integer dtype, got {a.dtype}")
    a = a.astype(np.int64, copy=False)
    if a.size and (a.min() < 0 or a.max() >= n_classes):
        raise ValueError(
            f"{name} must lie in [0, {n_classes}), got range [{a.min()}, {a.max()}]"
        )
    return a


def check_predictions(predictions: Any, n_classes: int | None,
                       name: str = "predictions") -> np.ndarray:
    """Return predictions as int64 1-D; values are -1 (no decision) or classes."""
    a = np.asarray(predictions)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must have an integer dtype, got {a.dtype}")
    a = a.astype(np.int64, copy=False)
    if a.size and a.min() < NO_DECISION:
        raise ValueError(f"{name} must be >= {NO_DECISION}, got minimum {a.min()}")
    if n_classes is not None and a.size and a.max() >= n_classes:
        raise ValueError(f"{name} must be < {n_classes}, got maximum {a.max()}")
    return a


def check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{name_a} and {name_b} disagree on the number of images: "
            f"{a.shape[0]} vs {b.shape[0]}"
        )



@dataclass(frozen=True)
class AccuracyCI:
    """Accuracy as a fraction with a Wilson score confidence interval."""

    accuracy: float
    low: float
    high: float
    n: int
    correct: int
    confidence: float = 0.95


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``correct / n``.

    Preferred over the normal (Wald) interval because it stays inside [0, 1]
    and keeps sensible coverage near 0 % and 100 % accuracy.
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= correct <= n:
        raise ValueError(f"correct must lie in [0, {n}], got {correct}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = correct / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    # Mathematically 0 <= low <= p <= high <= 1; the clamps only undo
    # round-off, which at p = 0 or 1 can land a hair on the wrong side.
    low = min(max(0.0, centre - half), p)
    high = max(min(1.0, centre + half), p)
    return low, high


def accuracy_with_ci(predictions: Any, labels: Any, confidence: float = 0.95) -> AccuracyCI:
    """Fraction of correct predictions with a Wilson score interval.

    ``-1`` predictions (no decision) never match a label and count as wrong.

    Raises:
        ValueError: on empty input, mismatched lengths, negative labels or
            predictions below -1, or ``confidence`` outside (0, 1).
    """
    pred = check_predictions(predictions, None)
    y = np.asarray(labels)
    if y.ndim != 1 or (y.size and not np.issubdtype(y.dtype, np.integer)):
        raise ValueError(f"labels must be a 1-D integer array, got shape {y.shape}, dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError(f"labels must be non-negative, got minimum {y.min()}")
    check_same_length(pred, y, "predictions", "labels")
    n = int(pred.shape[0])
    if n == 0:
        raise ValueError("cannot compute accuracy of zero predictions")
    correct = int(np.count_nonzero(pred == y))
    low, high = wilson_interval(correct, n, confidence)
    return AccuracyCI(accuracy=correct / n, low=low, high=high, n=n,
                      correct=correct, confidence=float(confidence))


def per_class_accuracy(predictions: Any, labels: Any, n_classes: int = 10) -> np.ndarray:
    """float64 ``(n_classes,)``: accuracy (fraction) on the images of each class.

    NaN for classes without images, so "no data" is not mistaken for 0 %.
    """
    n_classes = check_n_classes(n_classes)
    pred = check_predictions(predictions, n_classes)
    y = check_labels(labels, n_classes)
    check_same_length(pred, y, "predictions", "labels")
    totals = np.bincount(y, minlength=n_classes).astype(np.float64)
    hits = np.bincount(y[pred == y], minlength=n_classes).astype(np.float64)
    return np.where(totals > 0, hits / np.maximum(totals, 1.0), np.nan)


def confusion_matrix(predictions: Any, labels: Any, n_classes: int = 10) -> np.ndarray:
    """int64 ``(n_classes, n_classes + 1)`` confusion counts.

    Row = true class, column = predicted class; the last column counts
    "no decision" (-1) predictions.  The matrix sums to the number of images
    and its trace (over the first ``n_classes`` columns) is the number correct.
    """
    n_classes = check_n_classes(n_classes)
    pred = check_predictions(predictions, n_classes)
    y = check_labels(labels, n_classes)
    check_same_length(pred, y, "predictions", "labels")
    width = n_classes + 1
    col = np.where(pred == NO_DECISION, n_classes, pred)
    flat = np.bincount(y * width + col, minlength=n_classes * width)
    return flat.reshape(n_classes, width).astype(np.int64)
