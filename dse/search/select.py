"""Picking one model from the feasible front, and the closest candidates when nothing is feasible.

* ``accuracy`` (FSpiNN Algorithm 2): the most accurate feasible model; at
  equal accuracy the smaller one (then the one using less energy).
* ``reward`` (tinySNN Eq. 3): the highest R = A - mu x M, where A is the
  accuracy as a fraction and M = memory / memory of the same network in FP32.
"""

from __future__ import annotations

from collections.abc import Sequence

from dse.errors import Param, ParameterError

from .records import TrialRecord

__all__ = ["SELECTIONS", "select_model", "closest_candidates"]

SELECTIONS = ("accuracy", "reward")


def select_model(front: Sequence[TrialRecord], how: str = "accuracy", mu: float = 0.5) -> TrialRecord | None:
    """One record of the front (None when the front is empty)."""
    if how not in SELECTIONS:
        raise ValueError(f"unknown selection {how!r}: choose one of {', '.join(SELECTIONS)}")
    if mu < 0:
        raise ParameterError(Param("mu"), f" must be >= 0, got {mu}")
    if not front:
        return None
    if how == "accuracy":
        return min(front, key=lambda r: (-r.accuracy, r.memory_mb, r.energy_mj, r.number))
    return min(front, key=lambda r: (-r.reward(mu), -r.accuracy, r.memory_mb, r.number))


def closest_candidates(records: Sequence[TrialRecord], k: int = 5) -> list[TrialRecord]:
    """The trials nearest to the budgets when none fits: least relative excess, then most accurate.

    Trials that failed or are still running say nothing about the budgets and are left out.
    """
    pool = [r for r in records if r.status in ("complete", "pruned", "rejected") and r.memory_mb is not None]
    return sorted(pool, key=lambda r: (r.excess, -(r.last_accuracy or 0.0), r.number))[:k]
