"""Tests for dse.runs.readout: label assignment, prediction rules and statistics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dse.runs.accuracy import NO_DECISION, AccuracyCI, accuracy_with_ci, confusion_matrix, per_class_accuracy, wilson_interval
from dse.runs.readout import (
    UNASSIGNED,
    Assignment,
    Readout,
    assign_labels,
    evaluate_counts,
    predict_all_activity,
    predict_proportion,
)


def make_assignment(labels, rates) -> Assignment:
    rates = np.asarray(rates, dtype=np.float64)
    tot = rates.sum(axis=1, keepdims=True)
    props = np.divide(rates, tot, out=np.zeros_like(rates), where=tot > 0)
    return Assignment(labels=np.asarray(labels, dtype=np.int64), rates=rates, proportions=props)


# ---------------------------------------------------------------- assignment


def test_assignment_uses_means_not_sums():
    # Class 0 has 4 images, class 1 only 1.  Neuron 0 fires 2 per class-0
    # image (sum 8, mean 2) and 5 on the class-1 image (sum 5, mean 5):
    # sums would say class 0, means say class 1.
    counts = np.array([[2, 0], [2, 0], [2, 1], [2, 0], [5, 0]])
    labels = np.array([0, 0, 0, 0, 1])
    a = assign_labels(counts, labels, n_classes=2)
    np.testing.assert_allclose(a.rates, [[2.0, 5.0], [0.25, 0.0]])
    assert a.labels.tolist() == [1, 0]
    assert a.labels.dtype == np.int64
    np.testing.assert_allclose(a.proportions, [[2 / 7, 5 / 7], [1.0, 0.0]])


def test_silent_neurons_are_unassigned():
    counts = np.array([[3, 0, 0], [0, 0, 1]])
    labels = np.array([1, 2])
    a = assign_labels(counts, labels, n_classes=3)
    assert a.labels.tolist() == [1, UNASSIGNED, 2]
    assert a.n_unassigned == 1
    np.testing.assert_array_equal(a.proportions[1], [0, 0, 0])
    np.testing.assert_array_equal(a.class_counts(), [0, 1, 1])


def test_absent_class_has_zero_rate_and_no_nan():
    counts = np.array([[1, 4], [3, 0]])
    labels = np.array([0, 0])
    a = assign_labels(counts, labels, n_classes=10)
    assert a.rates.shape == (2, 10)
    assert np.all(np.isfinite(a.rates)) and np.all(np.isfinite(a.proportions))
    np.testing.assert_allclose(a.rates[:, 0], [2.0, 2.0])
    np.testing.assert_array_equal(a.rates[:, 1:], 0)
    assert a.labels.tolist() == [0, 0]


def test_assignment_tie_goes_to_lowest_class():
    counts = np.array([[2], [2]])
    a = assign_labels(counts, np.array([3, 1]), n_classes=4)
    assert a.labels.tolist() == [1]


def test_assignment_results_are_readonly_and_inputs_untouched():
    counts = np.array([[1, 2], [3, 4]])
    labels = np.array([0, 1])
    c0, l0 = counts.copy(), labels.copy()
    a = assign_labels(counts, labels, n_classes=2)
    np.testing.assert_array_equal(counts, c0)
    np.testing.assert_array_equal(labels, l0)
    with pytest.raises(ValueError):
        a.labels[0] = 5


@pytest.mark.parametrize(
    "counts, labels, match",
    [
        (np.zeros((3, 2)), np.zeros(2, dtype=int), "number of images"),
        (np.zeros(3), np.zeros(3, dtype=int), "2-D"),
        (-np.ones((2, 2)), np.zeros(2, dtype=int), "non-negative"),
        (np.full((2, 2), np.nan), np.zeros(2, dtype=int), "finite"),
        (np.zeros((2, 2)), np.array([0, 10]), r"\[0, 10\)"),
        (np.zeros((2, 2)), np.array([-1, 0]), r"\[0, 10\)"),
        (np.zeros((2, 2)), np.array([0.0, 1.0]), "integer"),
        (np.zeros((2, 2)), np.zeros((2, 1), dtype=int), "1-D"),
    ],
)
def test_assign_labels_rejects_bad_input(counts, labels, match):
    with pytest.raises(ValueError, match=match):
        assign_labels(counts, labels)


def test_bad_n_classes():
    with pytest.raises(ValueError, match="n_classes"):
        assign_labels(np.zeros((1, 1)), np.zeros(1, dtype=int), n_classes=0)


# ---------------------------------------------------------------- prediction


def test_all_activity_hand_computed():
    # neurons 0,1 -> class 0; neuron 2 -> class 1; neuron 3 unassigned; class 2 empty
    a = make_assignment([0, 0, 1, -1], np.zeros((4, 3)) + [[1, 0, 0]] * 4)
    counts = np.array(
        [
            [4, 0, 3, 0],  # class 0 mean 2, class 1 mean 3 -> 1
            [4, 4, 3, 0],  # 4 vs 3 -> 0
            [3, 3, 3, 0],  # 3 vs 3 tie -> lowest index 0
            [0, 0, 0, 9],  # only the unassigned neuron fires -> no decision
            [0, 0, 0, 0],  # silence -> no decision
            [0, 0, 1, 0],  # only class 1 has evidence, beats 0-score classes
        ]
    )
    pred = predict_all_activity(counts, a)
    assert pred.dtype == np.int64
    assert pred.tolist() == [1, 0, 0, NO_DECISION, NO_DECISION, 1]


def test_all_activity_exact_mean_tie():
    # class 0: 3 neurons sum 1 (mean 1/3); class 1: 6 neurons sum 2 (mean 2/6)
    a = make_assignment([0] * 3 + [1] * 6, np.ones((9, 2)))
    counts = np.array([[1, 0, 0, 1, 1, 0, 0, 0, 0]])
    assert predict_all_activity(counts, a).tolist() == [0]
    counts = np.array([[0, 0, 0, 1, 1, 0, 0, 0, 0]])  # 0 vs 1/3 -> class 1
    assert predict_all_activity(counts, a).tolist() == [1]


def test_proportion_hand_computed():
    props_rates = [[3, 1, 0], [0, 1, 1], [0, 0, 0]]  # neuron 2 silent
    a = make_assignment([0, 1, -1], props_rates)
    # proportions: n0 = [.75, .25, 0], n1 = [0, .5, .5], n2 = 0
    counts = np.array(
        [
            [4, 0, 7],  # [3, 1, 0] -> 0
            [1, 4, 0],  # [.75, 2.25, 2] -> 1
            [0, 2, 0],  # [0, 1, 1] tie -> 1
            [0, 0, 5],  # only silent neuron -> no decision
        ]
    )
    assert predict_proportion(counts, a).tolist() == [0, 1, 1, NO_DECISION]
    np.testing.assert_allclose(counts @ a.proportions,
                               [[3, 1, 0], [.75, 2.25, 2], [0, 1, 1], [0, 0, 0]])


def test_prediction_rejects_neuron_mismatch():
    a = make_assignment([0, 1], np.eye(2))
    with pytest.raises(ValueError, match="neurons"):
        predict_all_activity(np.zeros((1, 3)), a)
    with pytest.raises(ValueError, match="neurons"):
        predict_proportion(np.zeros((1, 3)), a)


def test_empty_test_set_predicts_nothing():
    a = make_assignment([0, 1], np.eye(2))
    assert predict_all_activity(np.zeros((0, 2)), a).shape == (0,)
    assert predict_proportion(np.zeros((0, 2)), a).shape == (0,)


def _reference_all_activity(counts, labels, n_classes):
    out = []
    for row in counts:
        scores = []
        for c in range(n_classes):
            idx = labels == c
            scores.append(row[idx].sum() / idx.sum() if idx.any() else 0.0)
        out.append(int(np.argmax(scores)) if max(scores) > 0 else -1)
    return out


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n_img=st.integers(1, 12),
    n_neu=st.integers(1, 8),
    n_classes=st.integers(1, 4),
)
def test_all_activity_matches_loop_reference(data, n_img, n_neu, n_classes):
    counts = data.draw(hnp.arrays(np.int64, (n_img, n_neu), elements=st.integers(0, 5)))
    labels = data.draw(hnp.arrays(np.int64, (n_img,), elements=st.integers(0, n_classes - 1)))
    a = assign_labels(counts, labels, n_classes)
    # every fired neuron gets the class of an image it fired on
    fired = counts.sum(axis=0) > 0
    assert np.all((a.labels == -1) == ~fired)
    np.testing.assert_allclose(a.proportions[fired].sum(axis=1), 1.0)
    test = data.draw(hnp.arrays(np.int64, (n_img, n_neu), elements=st.integers(0, 5)))
    assert predict_all_activity(test, a).tolist() == _reference_all_activity(
        test, a.labels, n_classes
    )
    pred = predict_proportion(test, a)
    assert np.all((pred >= -1) & (pred < n_classes))


# ---------------------------------------------------------------- statistics


def test_wilson_known_value():
    ci = accuracy_with_ci(np.array([1] * 90 + [0] * 10), np.ones(100, dtype=int))
    assert ci.n == 100 and ci.correct == 90 and ci.accuracy == pytest.approx(0.9)
    assert ci.low == pytest.approx(0.8256, abs=1e-3)
    assert ci.high == pytest.approx(0.9448, abs=1e-3)
    assert isinstance(ci, AccuracyCI)


def test_wilson_extremes_stay_in_unit_interval():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and 0 < hi < 0.35  # 0/10 -> [0, 0.2775]
    assert hi == pytest.approx(0.2775, abs=1e-3)
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(1 - 0.2775, abs=1e-3)


def test_wilson_confidence_widens():
    lo90, hi90 = wilson_interval(50, 100, 0.90)
    lo99, hi99 = wilson_interval(50, 100, 0.99)
    assert lo99 < lo90 < 0.5 < hi90 < hi99


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 5000), frac=st.floats(0, 1), m=st.integers(2, 10))
def test_wilson_properties(n, frac, m):
    k = round(frac * n)
    lo, hi = wilson_interval(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    lo2, hi2 = wilson_interval(k * m, n * m)
    assert hi2 - lo2 < hi - lo


@pytest.mark.parametrize(
    "args",
    [(0, 0), (5, 4), (-1, 4), (1, 4, 1.0), (1, 4, 0.0)],
)
def test_wilson_rejects_bad_args(args):
    with pytest.raises(ValueError):
        wilson_interval(*args)


def test_no_decision_counts_as_wrong():
    ci = accuracy_with_ci(np.array([-1, -1, 2, 3]), np.array([0, 1, 2, 0]))
    assert ci.correct == 1 and ci.accuracy == 0.25


def test_accuracy_rejects_bad_input():
    with pytest.raises(ValueError, match="number of images"):
        accuracy_with_ci(np.array([0, 1]), np.array([0]))
    with pytest.raises(ValueError, match="zero predictions"):
        accuracy_with_ci(np.array([], dtype=int), np.array([], dtype=int))
    with pytest.raises(ValueError, match="non-negative"):
        accuracy_with_ci(np.array([-1]), np.array([-1]))
    with pytest.raises(ValueError, match=">= -1"):
        accuracy_with_ci(np.array([-2]), np.array([0]))
    with pytest.raises(ValueError, match="confidence"):
        accuracy_with_ci(np.array([0]), np.array([0]), confidence=1.5)


def test_per_class_accuracy_and_confusion_hand_computed():
    labels = np.array([0, 0, 0, 1, 1, 3])
    pred = np.array([0, 1, -1, 1, 1, 0])
    pca = per_class_accuracy(pred, labels, n_classes=4)
    np.testing.assert_allclose(pca[[0, 1, 3]], [1 / 3, 1.0, 0.0])
    assert math.isnan(pca[2])
    cm = confusion_matrix(pred, labels, n_classes=4)
    assert cm.dtype == np.int64 and cm.shape == (4, 5)
    expected = np.zeros((4, 5), dtype=int)
    expected[0, 0] = expected[0, 1] = expected[0, 4] = 1
    expected[1, 1] = 2
    expected[3, 0] = 1
    np.testing.assert_array_equal(cm, expected)


def test_confusion_rejects_out_of_range_predictions():
    with pytest.raises(ValueError, match="< 3"):
        confusion_matrix(np.array([3]), np.array([0]), n_classes=3)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        per_class_accuracy(np.array([0]), np.array([3]), n_classes=3)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n=st.integers(0, 50), n_classes=st.integers(1, 6))
def test_confusion_matrix_properties(data, n, n_classes):
    labels = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, n_classes - 1)))
    pred = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(-1, n_classes - 1)))
    cm = confusion_matrix(pred, labels, n_classes)
    assert cm.sum() == n
    assert np.trace(cm[:, :n_classes]) == np.count_nonzero(pred == labels)
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(labels, minlength=n_classes))
    assert cm[:, -1].sum() == np.count_nonzero(pred == -1)
    pca = per_class_accuracy(pred, labels, n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.diag(cm[:, :n_classes]) / cm.sum(axis=1)
    np.testing.assert_allclose(pca, expected, equal_nan=True)


# ---------------------------------------------------------------- evaluate_counts


def _toy_problem(rng, n_classes=3, per_class_neurons=4, n_img=60, silent=2):
    """Neurons tuned to one class each, plus some silent ones."""
    n_neu = n_classes * per_class_neurons + silent
    pref = np.concatenate([np.repeat(np.arange(n_classes), per_class_neurons),
                           np.full(silent, -1)])

    def sample(n):
        y = rng.integers(0, n_classes, n)
        lam = np.where(pref[None, :] == y[:, None], 5.0, 0.3)
        lam[:, pref == -1] = 0.0
        return rng.poisson(lam), y

    return sample, n_neu


def test_evaluate_counts_end_to_end():
    rng = np.random.default_rng(0)
    sample, n_neu = _toy_problem(rng)
    ac, ay = sample(90)
    tc, ty = sample(60)
    ev = evaluate_counts(ac, ay, tc, ty, n_classes=3)
    assert isinstance(ev, Readout)
    assert ev.n_unassigned == 2
    assert ev.class_counts_assigned.tolist() == [4, 4, 4]
    assert ev.accuracy.accuracy > 0.9 and ev.accuracy_proportion.accuracy > 0.9
    assert ev.accuracy.n == 60
    assert ev.confusion_matrix.sum() == 60
    assert np.trace(ev.confusion_matrix[:, :3]) == ev.accuracy.correct

    d = ev.to_dict()
    assert set(d) == {
        "accuracy", "accuracy_ci95", "accuracy_proportion", "accuracy_proportion_ci95",
        "n_test", "per_class_accuracy", "confusion_matrix", "neuron_labels",
        "n_unassigned", "class_counts_assigned",
    }
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back == d
    for key in ("accuracy", "accuracy_proportion"):
        assert 0.0 <= d[key] <= 1.0
        lo, hi = d[key + "_ci95"]
        assert 0.0 <= lo <= d[key] <= hi <= 1.0
    assert all(0.0 <= x <= 1.0 for x in d["per_class_accuracy"])
    assert d["n_test"] == 60
    assert len(d["neuron_labels"]) == n_neu and d["neuron_labels"][-1] == -1
    assert type(d["n_unassigned"]) is int
    assert len(d["confusion_matrix"]) == 3 and len(d["confusion_matrix"][0]) == 4


def test_to_dict_maps_missing_class_to_null():
    counts = np.array([[1, 0], [0, 1]])
    labels = np.array([0, 1])
    ev = evaluate_counts(counts, labels, counts, labels, n_classes=3)
    d = ev.to_dict()
    assert d["per_class_accuracy"] == [1.0, 1.0, None]
    assert d["accuracy"] == 1.0
    json.dumps(d, allow_nan=False)


def test_evaluate_counts_validation():
    c = np.ones((2, 3))
    y = np.array([0, 1])
    with pytest.raises(ValueError, match="test_counts has 2 neurons"):
        evaluate_counts(c, y, np.ones((2, 2)), y)
    with pytest.raises(ValueError, match="test_labels"):
        evaluate_counts(c, y, c, np.array([0, 11]))
    with pytest.raises(ValueError, match="empty"):
        evaluate_counts(c, y, np.ones((0, 3)), np.array([], dtype=int))
    with pytest.raises(ValueError, match="non-negative"):
        evaluate_counts(c, y, -c, y)
