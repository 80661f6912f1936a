"""Pareto dominance, non-dominated filter and exact hypervolume (property tests against brute force)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.search.pareto import dominates, hypervolume, non_dominated, objective_point

coord = st.floats(min_value=0.0, max_value=10.0, allow_nan=False, allow_infinity=False)


def points(dim: int, max_size: int = 12):
    return st.lists(st.tuples(*[coord] * dim), min_size=0, max_size=max_size)


def _inclusion_exclusion(pts, ref) -> float:
    """Exact hypervolume by inclusion-exclusion over subsets (exponential: small sets only)."""
    pts = [p for p in pts if all(x < r for x, r in zip(p, ref))]
    total = 0.0
    for k in range(1, len(pts) + 1):
        for subset in itertools.combinations(pts, k):
            corner = [max(p[d] for p in subset) for d in range(len(ref))]
            total += (-1) ** (k + 1) * math.prod(r - c for r, c in zip(ref, corner))
    return total


def test_dominance_basics():
    assert dominates((0, 0), (1, 1))
    assert dominates((0, 1), (1, 1))
    assert not dominates((1, 1), (1, 1))
    assert not dominates((0, 2), (1, 1))
    with pytest.raises(ValueError):
        dominates((0,), (0, 1))
    assert objective_point(0.9, 1.0, 2.0) == (-0.9, 1.0, 2.0)
    assert objective_point(0.9, 1.0) == (-0.9, 1.0)


@given(points(3))
def test_non_dominated_is_exactly_the_undominated_subset(pts):
    front = non_dominated(pts)
    assert front == sorted(front)
    for i, p in enumerate(pts):
        dominated = any(dominates(q, p) for q in pts)
        assert (i in front) == (not dominated)
    for i in front:
        for j in front:
            assert not dominates(pts[i], pts[j])


@settings(max_examples=60)
@given(points(2, 7), points(3, 6))
def test_hypervolume_matches_inclusion_exclusion(p2, p3):
    assert hypervolume(p2, (10.0, 10.0)) == pytest.approx(_inclusion_exclusion(p2, (10.0, 10.0)), rel=1e-9, abs=1e-9)
    ref = (10.0, 10.0, 10.0)
    assert hypervolume(p3, ref) == pytest.approx(_inclusion_exclusion(p3, ref), rel=1e-9, abs=1e-7)


@given(points(3), st.tuples(coord, coord, coord))
def test_hypervolume_is_monotone_and_front_only(pts, extra):
    ref = (10.0, 10.0, 10.0)
    hv = hypervolume(pts, ref)
    assert hv >= 0
    assert hypervolume(pts + [extra], ref) >= hv - 1e-9
    assert hypervolume([pts[i] for i in non_dominated(pts)], ref) == pytest.approx(hv, abs=1e-9)


def test_hypervolume_edge_cases():
    assert hypervolume([], (1, 1)) == 0.0
    assert hypervolume([(2, 0)], (1, 1)) == 0.0          # outside the reference box
    assert hypervolume([(0, 0, 0)], (1, 2, 3)) == pytest.approx(6.0)
    assert hypervolume([(0.5,)], (1.0,)) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        hypervolume([(0, 0, 0, 0)], (1, 1, 1, 1))
