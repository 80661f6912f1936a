"""Pareto dominance, non-dominated filtering and hypervolume, for minimisation.

Pure functions on plain tuples of floats; every objective is minimised, so
accuracy enters negated (:func:`objective_point`). Written here rather than
borrowed from Optuna's private modules so that the front the tool reports is
defined by code this project owns and tests.

Hypervolume is exact: a sweep in 2-D, slices of 2-D sweeps in 3-D
(O(n^2 log n), ample for the few hundred trials of a study).
"""

from __future__ import annotations

from collections.abc import Sequence

Point = Sequence[float]

__all__ = ["dominates", "non_dominated", "hypervolume", "objective_point"]


def objective_point(accuracy: float, memory_mb: float, energy_mj: float | None = None) -> tuple[float, ...]:
    """The minimisation point of a trial: (-accuracy, memory [, energy])."""
    if energy_mj is None:
        return (-float(accuracy), float(memory_mb))
    return (-float(accuracy), float(memory_mb), float(energy_mj))


def dominates(a: Point, b: Point) -> bool:
    """a dominates b: no worse in every objective and better in at least one."""
    if len(a) != len(b):
        raise ValueError(f"points of different dimension: {len(a)} and {len(b)}")
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def non_dominated(points: Sequence[Point]) -> list[int]:
    """Indices of the points no other point dominates (equal points are all kept), in input order."""
    pts = [tuple(map(float, p)) for p in points]
    return [i for i, p in enumerate(pts) if not any(dominates(q, p) for j, q in enumerate(pts) if j != i)]


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """Volume dominated by ``points`` and bounded by ``reference`` (minimisation, 1 to 3 objectives).

    Points that are not strictly better than the reference in every objective
    add nothing and are ignored.
    """
    ref = tuple(map(float, reference))
    if not 1 <= len(ref) <= 3:
        raise ValueError(f"hypervolume supports 1 to 3 objectives, got {len(ref)}")
    pts = []
    for p in points:
        q = tuple(map(float, p))
        if len(q) != len(ref):
            raise ValueError(f"point {q} and reference {ref} differ in dimension")
        if all(x < r for x, r in zip(q, ref)):
            pts.append(q)
    if not pts:
        return 0.0
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in pts)
    if len(ref) == 2:
        return _hv2(pts, ref)
    return _hv3(pts, ref)


def _hv2(pts: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    """Sweep along x: each point adds the strip between its y and the best y seen so far."""
    area = 0.0
    best_y = ref[1]
    for x, y in sorted(pts):
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return area


def _hv3(pts: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    """Slice along z: between consecutive z levels the dominated region is a 2-D area."""
    pts = sorted(pts, key=lambda p: p[2])
    volume = 0.0
    for k, p in enumerate(pts):
        z_next = pts[k + 1][2] if k + 1 < len(pts) else ref[2]
        if z_next > p[2]:
            volume += _hv2([(q[0], q[1]) for q in pts[: k + 1]], ref[:2]) * (z_next - p[2])
    return volume
