"""Label assignment and classification for unsupervised STDP networks.

After unsupervised training (Diehl & Cook 2015) the excitatory neurons carry no
labels. We record, for a labelled set of images, the spike count of every
neuron per image -- an array ``counts`` of shape ``(n_images, N)`` -- and:

1. :func:`assign_labels` gives every neuron the class for which its *mean*
   spike count (over the images of that class) is highest.  Means, not sums,
   so that classes with more images do not win by sheer numbers.
2. :func:`predict_all_activity` classifies a test image by the class whose
   assigned neurons have the highest mean spike count (Diehl & Cook's rule).
3. :func:`predict_proportion` weights every neuron's count by its normalised
   per-class response instead (the "proportion weighting" rule).
4. :func:`accuracy_with_ci` reports accuracy with a Wilson score interval,
   :func:`per_class_accuracy` and :func:`confusion_matrix` break it down, and
   :func:`evaluate_counts` bundles everything into a :class:`Readout`
   (the statistics are in :mod:`dse.runs.accuracy`).

Conventions that differ from Diehl & Cook's / BindsNET's code:

* A neuron that never fired on the assignment set gets label ``-1``
  ("unassigned") instead of class 0 (what ``argmax`` of an all-zero row would
  give).  Unassigned neurons never vote, so silent neurons cannot bias the
  prediction towards class 0.
* When no class has any evidence for an image (every score is 0), the
  prediction is ``-1`` ("no decision").  It never equals a true label, so it
  counts as wrong, and the confusion matrix keeps a separate column for it.
* Ties between classes are broken by the lowest class index (``np.argmax``).
* Proportion weighting sums ``count * proportion`` over *all* neurons; BindsNET
  instead restricts the sum for class c to neurons assigned to c and divides by
  their number.

All functions are pure: inputs are never modified, outputs are fresh arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dse.runs.accuracy import (NO_DECISION, AccuracyCI, accuracy_with_ci, check_labels, check_n_classes,
                               check_same_length, confusion_matrix, per_class_accuracy)

__all__ = [
    "Assignment",
    "Readout",
    "UNASSIGNED",
    "assign_labels",
    "evaluate_counts",
    "predict_all_activity",
    "predict_proportion",
    "stored_assignment",
]

UNASSIGNED = -1
"""Label of a neuron that never fired on the assignment set."""


# --------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------


def _readonly(a: np.ndarray) -> np.ndarray:
    # Results live in frozen dataclasses; read-only arrays make that
    # immutability real and catch accidental in-place edits by callers.
    a.setflags(write=False)
    return a


def _check_counts(counts: Any, name: str = "counts") -> np.ndarray:
    """Return counts as a float64 (n_images, N) array, or raise ValueError."""
    a = np.asarray(counts)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_images, n_neurons), got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)
            or a.dtype == np.bool_):
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
    # float64 keeps integer counts exact (< 2**53), so mean ties stay exact ties.
    a = a.astype(np.float64, copy=False)
    if a.size and not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    if a.size and a.min() < 0:
        raise ValueError(f"{name} must be non-negative, got minimum {a.min()}")
    return a


# --------------------------------------------------------------------------
# label assignment
# --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Assignment:
    """Per-neuron class assignment.

    Attributes:
        labels: int64 ``(N,)``; the class with the highest mean spike count,
            or ``-1`` (:data:`UNASSIGNED`) for neurons that never fired.  Ties
            go to the lowest class index.
        rates: float64 ``(N, n_classes)``; mean spike count of each neuron over
            the images of each class (0 for classes with no images).
        proportions: float64 ``(N, n_classes)``; ``rates`` normalised to sum to
            1 per neuron; all-zero rows for silent neurons.
    """

    labels: np.ndarray
    rates: np.ndarray
    proportions: np.ndarray

    def __post_init__(self) -> None:
        if self.rates.ndim != 2 or self.proportions.shape != self.rates.shape:
            raise ValueError(
                f"rates and proportions must share a 2-D shape, got "
                f"{self.rates.shape} and {self.proportions.shape}"
            )
        if self.labels.shape != (self.rates.shape[0],):
            raise ValueError(
                f"labels must have shape ({self.rates.shape[0]},), got {self.labels.shape}"
            )

    @property
    def n_neurons(self) -> int:
        return int(self.rates.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.rates.shape[1])

    @property
    def n_unassigned(self) -> int:
        return int(np.count_nonzero(self.labels == UNASSIGNED))

    def class_counts(self) -> np.ndarray:
        """int64 ``(n_classes,)``: number of neurons assigned to each class."""
        assigned = self.labels[self.labels != UNASSIGNED]
        return np.bincount(assigned, minlength=self.n_classes).astype(np.int64)


def _one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """float64 (len(labels), n_classes) indicator; rows for -1 stay all zero."""
    out = np.zeros((labels.shape[0], n_classes), dtype=np.float64)
    valid = labels >= 0
    out[np.flatnonzero(valid), labels[valid]] = 1.0
    return out


def _assign(counts: Any, labels: Any, n_classes: int) -> Assignment:
    n_classes = check_n_classes(n_classes)
    c = _check_counts(counts)
    y = check_labels(labels, n_classes)
    check_same_length(c, y, "counts", "labels")

    # Per-class sums via one matrix product, then divide by the class sizes;
    # an empty class divides by 1 instead of 0 and so keeps rate 0.
    sums = c.T @ _one_hot(y, n_classes)  # (N, n_classes)
    n_per_class = np.bincount(y, minlength=n_classes).astype(np.float64)
    rates = sums / np.maximum(n_per_class, 1.0)

    totals = rates.sum(axis=1)
    silent = totals == 0
    labels_out = np.argmax(rates, axis=1).astype(np.int64)
    labels_out[silent] = UNASSIGNED
    proportions = rates / np.where(silent, 1.0, totals)[:, None]

    return Assignment(
        labels=_readonly(labels_out),
        rates=_readonly(rates),
        proportions=_readonly(proportions),
    )


def assign_labels(counts: Any, labels: Any, n_classes: int = 10) -> Assignment:
    """Assign each neuron the class on whose images it fires most on average.

    Args:
        counts: ``(n_images, N)`` non-negative spike counts.
        labels: ``(n_images,)`` integer classes in ``[0, n_classes)``.
        n_classes: number of classes; classes without images get rate 0.

    Returns:
        An :class:`Assignment`; silent neurons get label -1 and zero proportions.

    Raises:
        ValueError: on mismatched shapes, negative/non-finite counts or
            out-of-range labels.
    """
    return _assign(counts, labels, n_classes)


# --------------------------------------------------------------------------
# prediction
# --------------------------------------------------------------------------


def _check_counts_for(counts: Any, assignment: Assignment) -> np.ndarray:
    c = _check_counts(counts)
    if c.shape[1] != assignment.n_neurons:
        raise ValueError(
            f"counts has {c.shape[1]} neurons but the assignment has {assignment.n_neurons}"
        )
    return c


def _decide(scores: np.ndarray) -> np.ndarray:
    """argmax per row (lowest index wins ties); -1 where no score is positive."""
    if scores.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    pred = np.argmax(scores, axis=1).astype(np.int64)
    # Counts and weights are non-negative, so "no positive score" means the
    # image left no evidence at all; guessing class 0 would flatter accuracy.
    pred[scores.max(axis=1) <= 0] = NO_DECISION
    return pred


def stored_assignment(labels: Any, n_classes: int = 10) -> Assignment:
    """The assignment a run stored: its neurons' classes only (rates are not stored, so they are zero
    here): enough for :func:`predict_all_activity`, not for proportion voting."""
    n_classes = check_n_classes(n_classes)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.ndim != 1 or (labels.size and (labels.min() < UNASSIGNED or labels.max() >= n_classes)):
        raise ValueError(f"labels must be one class in -1..{n_classes - 1} per neuron, got shape {labels.shape}")
    zeros = np.zeros((labels.size, n_classes))
    return Assignment(labels=labels, rates=zeros, proportions=zeros)


def predict_all_activity(counts: Any, assignment: Assignment) -> np.ndarray:
    """Diehl & Cook's rule: the class whose assigned neurons fire most on average.

    The score of class c is the mean spike count over the neurons assigned to
    c.  A class with no assigned neurons scores 0; since all counts are
    non-negative it can only tie with other zero scores, never beat positive
    evidence.  Unassigned neurons do not vote.

    Returns:
        int64 ``(n_images,)`` predicted classes, ``-1`` when every score is 0.
    """
    c = _check_counts_for(counts, assignment)
    membership = _one_hot(assignment.labels, assignment.n_classes)  # (N, n_classes)
    n_assigned = membership.sum(axis=0)
    # Dividing an exact integer sum by an integer is correctly rounded, so equal
    # means (e.g. 1/3 and 2/6) compare equal and ties resolve deterministically.
    scores = (c @ membership) / np.maximum(n_assigned, 1.0)
    return _decide(scores)


def predict_proportion(counts: Any, assignment: Assignment) -> np.ndarray:
    """Proportion weighting: score = sum over neurons of count x proportion.

    Every neuron votes for every class in proportion to its normalised
    response, so neurons that respond to several classes contribute to each.

    Returns:
        int64 ``(n_images,)`` predicted classes, ``-1`` when every score is 0.
    """
    c = _check_counts_for(counts, assignment)
    return _decide(c @ assignment.proportions)


# full evaluation
# --------------------------------------------------------------------------


def _fraction_or_none(x: float) -> float | None:
    # JSON has no NaN; None (null) marks "no images of this class".
    return None if math.isnan(x) else float(x)


@dataclass(frozen=True, eq=False)
class Readout:
    """Everything :func:`evaluate_counts` computes.

    ``accuracy``, ``per_class_accuracy`` and ``confusion_matrix`` use the
    all-activity rule (Diehl & Cook's); ``accuracy_proportion`` uses
    proportion weighting.  Intervals are 95 % Wilson intervals.
    """

    assignment: Assignment
    predictions: np.ndarray
    predictions_proportion: np.ndarray
    accuracy: AccuracyCI
    accuracy_proportion: AccuracyCI
    per_class_accuracy: np.ndarray
    confusion_matrix: np.ndarray
    n_unassigned: int

    @property
    def class_counts_assigned(self) -> np.ndarray:
        """int64 ``(n_classes,)``: neurons assigned to each class."""
        return self.assignment.class_counts()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (plain Python types; fractions in [0, 1]).

        ``per_class_accuracy`` holds ``None`` for classes with no test images;
        ``neuron_labels`` holds -1 for unassigned neurons; ``confusion_matrix``
        rows are true classes, columns predicted classes plus a final
        "no decision" column.
        """
        return {
            "accuracy": float(self.accuracy.accuracy),
            "accuracy_ci95": [float(self.accuracy.low), float(self.accuracy.high)],
            "accuracy_proportion": float(self.accuracy_proportion.accuracy),
            "accuracy_proportion_ci95": [
                float(self.accuracy_proportion.low),
                float(self.accuracy_proportion.high),
            ],
            "n_test": int(self.accuracy.n),
            "per_class_accuracy": [_fraction_or_none(x) for x in self.per_class_accuracy.tolist()],
            "confusion_matrix": self.confusion_matrix.tolist(),
            "neuron_labels": self.assignment.labels.tolist(),
            "n_unassigned": int(self.n_unassigned),
            "class_counts_assigned": self.class_counts_assigned.tolist(),
        }


def evaluate_counts(
    assign_counts: Any,
    assign_labels: Any,
    test_counts: Any,
    test_labels: Any,
    n_classes: int = 10,
) -> Readout:
    """Assign labels on one labelled set and classify another.

    Args:
        assign_counts: ``(n_assign, N)`` spike counts used for label assignment.
        assign_labels: ``(n_assign,)`` their classes.
        test_counts: ``(n_test, N)`` spike counts to classify.
        test_labels: ``(n_test,)`` their classes.
        n_classes: number of classes.

    Raises:
        ValueError: on invalid inputs (see :func:`assign_labels`), a neuron
            count that differs between the two sets, or an empty test set.
    """
    n_classes = check_n_classes(n_classes)
    # The parameter name shadows the public function, hence the private call.
    assignment = _assign(assign_counts, assign_labels, n_classes)
    test_c = _check_counts(test_counts, "test_counts")
    if test_c.shape[1] != assignment.n_neurons:
        raise ValueError(
            f"test_counts has {test_c.shape[1]} neurons but assign_counts has "
            f"{assignment.n_neurons}"
        )
    test_y = check_labels(test_labels, n_classes, "test_labels")
    check_same_length(test_c, test_y, "test_counts", "test_labels")
    if test_y.shape[0] == 0:
        raise ValueError("test set is empty")

    pred = predict_all_activity(test_c, assignment)
    pred_prop = predict_proportion(test_c, assignment)
    return Readout(
        assignment=assignment,
        predictions=_readonly(pred),
        predictions_proportion=_readonly(pred_prop),
        accuracy=accuracy_with_ci(pred, test_y),
        accuracy_proportion=accuracy_with_ci(pred_prop, test_y),
        per_class_accuracy=_readonly(per_class_accuracy(pred, test_y, n_classes)),
        confusion_matrix=_readonly(confusion_matrix(pred, test_y, n_classes)),
        n_unassigned=assignment.n_unassigned,
    )
