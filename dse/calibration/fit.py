"""The numerics of calibration, as pure functions: NNLS, the relative-error fit, bootstrap intervals, conditioning.

Model: measured time y_r = sum_k x_rk c_k for record r, with non-negative
coefficients c. Measurement noise on this machine is multiplicative (a
busy neighbour slows a run by a factor), so every fit minimises the
*relative* error sum_r ((x_r . c - y_r) / y_r)^2.

Some coefficients may be held at a given value (``fixed``): their part of the
time is subtracted before the others are fitted. Calibration holds a
coefficient at its prior when the grid cannot identify it, so the rest is
fitted around a physical value rather than around zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["nnls", "relative_nnls", "bootstrap_intervals", "Conditioning", "conditioning", "relative_errors"]


def nnls(a: np.ndarray, b: np.ndarray, *, max_iter: int | None = None, tol: float | None = None) -> np.ndarray:
    """min ||a x - b||_2 subject to x >= 0 (Lawson & Hanson 1974, active-set method).

    Small dense problems only (a handful of columns): each inner step solves
    an unconstrained least-squares problem on the passive set with lstsq.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 1 or a.shape[0] != b.shape[0]:
        raise ValueError(f"nnls needs a (m, n) matrix and an (m,) vector, got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("nnls: the system holds NaN or infinite values")
    m, n = a.shape
    max_iter = max_iter or 30 * max(n, 1)
    tol = tol if tol is not None else 10 * np.finfo(float).eps * max(m, n) * max(np.abs(a).max(initial=0.0), 1.0)
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    w = a.T @ (b - a @ x)
    it = 0
    while (~passive).any() and (w[~passive] > tol).any():
        j = int(np.argmax(np.where(passive, -np.inf, w)))
        passive[j] = True
        while True:
            it += 1
            if it > max_iter:
                return x  # best feasible point so far; happens only for degenerate systems
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if (z[passive] > 0).all():
                x = z
                break
            # step back towards x until the first passive variable hits zero
            neg = passive & (z <= 0)
            gap = x[neg] - z[neg]  # >= 0; 0 only for a variable already at zero, which stops the step there
            alpha = np.min(np.divide(x[neg], gap, out=np.zeros_like(gap), where=gap > 0))
            x = x + alpha * (z - x)
            passive &= x > tol
            x[~passive] = 0.0
        w = a.T @ (b - a @ x)
    return x


def relative_nnls(x: np.ndarray, y: np.ndarray, fixed: Mapping[int, float] | None = None) -> np.ndarray:
    """Coefficients c >= 0 minimising the relative error of x c against y; c[k] = fixed[k] where given.

    A column that is zero in every row (a term no record exercises) gets 0.
    Columns are scaled to a common size first, which keeps the active-set
    solver well conditioned when the features span many decades.
    """
    fixed = dict(fixed or {})
    c = np.zeros(x.shape[1])
    for k, v in fixed.items():
        c[k] = v
    free = np.array([k not in fixed for k in range(x.shape[1])]) & (np.abs(x).sum(axis=0) > 0)
    if not free.any():
        return c
    rest = y - x[:, ~free] @ c[~free]  # the time the free terms must explain
    xr = x[:, free] / y[:, None]
    scale = np.abs(xr).max(axis=0)
    c[free] = nnls(xr / scale, rest / y) / scale
    return c


def relative_errors(x: np.ndarray, y: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.abs(x @ c - y) / y


def bootstrap_intervals(x: np.ndarray, y: np.ndarray, fixed: Mapping[int, float] | None = None, *,
                        draws: int = 1000, level: float = 0.95, seed: int = 0,
                        groups: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile bootstrap of the relative NNLS: (low, high, every draw's coefficients).

    Resamples records with replacement (or whole groups of records when
    ``groups`` labels them, e.g. a cell's two phases, which share a network
    and a moment of machine load). The interval of a fixed coefficient is
    its value. Deterministic for a given seed.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    labels = np.arange(len(y)) if groups is None else np.asarray(groups)
    uniq = np.unique(labels)
    members = [np.flatnonzero(labels == g) for g in uniq]
    out = np.empty((draws, x.shape[1]))
    for d in range(draws):
        pick = np.concatenate([members[g] for g in rng.integers(0, len(uniq), len(uniq))])
        out[d] = relative_nnls(x[pick], y[pick], fixed)
    tail = 100 * (1 - level) / 2
    return np.percentile(out, tail, axis=0), np.percentile(out, 100 - tail, axis=0), out


@dataclass(frozen=True)
class Conditioning:
    """How well the records separate the terms.

    ``condition_number`` is that of the relative design matrix (rows divided
    by the measured time, columns scaled to unit length, unexercised columns
    left out): 1 means every term moves independently, and a large value
    means some combination of terms barely moves across the grid.
    ``weakest`` names the terms of that combination (the right singular
    vector of the smallest singular value, loadings of at least 0.3), with
    their signs: terms of opposite sign can trade time for one another.
    """

    condition_number: float
    weakest: tuple[tuple[str, float], ...]
    exercised: tuple[str, ...]

    def confounded_with(self, name: str) -> tuple[str, ...]:
        """The terms the grid moves together with ``name``; none in a well-conditioned grid, whose weakest
        direction is merely the least determined combination, not a confounding."""
        names = [n for n, _ in self.weakest]
        if name not in names or not self.condition_number > CONFOUNDED_CONDITION:
            return ()
        return tuple(n for n in names if n != name)


WEAK_LOADING = 0.3
# Above this condition number the weakest direction names terms the grid cannot tell apart (below it,
# every singular value is within a factor of 10 of the largest: the rule of thumb for a sound design).
CONFOUNDED_CONDITION = 10.0


def conditioning(x: np.ndarray, y: np.ndarray, names: Sequence[str], fixed: Sequence[int] = ()) -> Conditioning:
    """Condition number and weakest direction of the relative design matrix over the free, exercised columns."""
    keep = [k for k in range(x.shape[1]) if k not in set(fixed) and np.abs(x[:, k]).sum() > 0]
    if not keep:
        return Conditioning(float("nan"), (), ())
    xr = x[:, keep] / y[:, None]
    xr = xr / np.linalg.norm(xr, axis=0)
    _, s, vt = np.linalg.svd(xr, full_matrices=False)
    cond = float(s[0] / s[-1]) if s[-1] > s[0] * 1e-15 else float("inf")
    v = vt[-1] * (1 if vt[-1][np.argmax(np.abs(vt[-1]))] > 0 else -1)
    weakest = tuple((names[keep[i]], float(v[i])) for i in np.argsort(-np.abs(v)) if abs(v[i]) >= WEAK_LOADING)
    return Conditioning(cond, weakest if len(keep) > 1 else (), tuple(names[k] for k in keep))
