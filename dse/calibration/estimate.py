"""Estimate the time coefficients with their uncertainty, and keep the prior where the data cannot say.

The procedure (pure; :mod:`dse.calibration.fit` holds the numerics):

1. A coefficient whose term no record exercises keeps its prior.
2. Fit the rest (relative-error NNLS) and bootstrap 95% intervals.
3. A fitted coefficient is flagged when its interval reaches zero (the grid
   cannot tell its term from the others, or the term is too small to
   measure) or when its value is physically implausible against the
   profile's specs (:mod:`dse.calibration.plausible`).
4. The worst flagged coefficient (one the data cannot tell from zero, the
   widest interval relative to its value first; then an implausible one)
   is held, with the reason, and the others are fitted again around it;
   repeat until nothing is flagged. One at a time, because two terms the
   grid confounds are both flagged, and holding one is enough to identify
   the other.

   What it is held at: its prior, where the prior lies in its interval
   (the measurements cannot tell the two apart). Otherwise the
   measurements reject the prior as well. A term too small to measure
   (its interval reaches zero, and no other term moves with it) is held at
   the fit's own value: any value in its interval fits as well, and the
   top would add time the measurements never saw to predictions beyond the
   grid. Any other is held at the end of its interval nearest the prior:
   the value closest to the prior that the measurements allow. Holding it
   at a rejected prior would push its time onto the other terms and spoil
   them too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .fit import Conditioning, bootstrap_intervals, conditioning, relative_errors, relative_nnls
from .plausible import Bounds, implausibility

__all__ = ["Estimate", "estimate"]


@dataclass(frozen=True)
class Estimate:
    names: tuple[str, ...]
    values: tuple[float, ...]          # what the profile gets: fitted, or the prior where `kept` says why
    low: tuple[float, ...]             # 95% interval of the final fit (a kept prior: its value twice)
    high: tuple[float, ...]
    exercised: tuple[bool, ...]
    kept: Mapping[str, str]            # coefficient -> why it keeps its prior
    conditioning: Conditioning         # of the grid, over every exercised term (before any is held)
    rms_fraction: float
    max_fraction: float
    draws: int
    records: int

    def fitted(self, name: str) -> bool:
        return name not in self.kept

    def vector(self) -> np.ndarray:
        return np.array(self.values)


def _fmt(v: float) -> str:
    return f"{v:.3g}"


# Priorities of a flag (the higher is held first).
_UNIDENTIFIED, _IMPLAUSIBLE = 2, 1


def _flag(name: str, value: float, low: float, high: float, bounds: Bounds | None, cond: Conditioning,
          share: float) -> tuple[int, float, str, bool] | None:
    """(priority, interval width relative to the value, reason, confounded with another term) for a fitted
    coefficient in trouble, else None."""
    if low <= 0:
        with_ = cond.confounded_with(name)
        because = (f"the grid moves it together with {', '.join(with_)} (condition number "
                   f"{cond.condition_number:.3g})" if with_ else
                   f"the measurements cannot tell it from zero (at the interval's top it would be at most "
                   f"{100 * share:.2g}% of a record's time)")
        width = (high - low) / value if value > 0 else float("inf")
        return (_UNIDENTIFIED, width, f"not identifiable: 95% interval [{_fmt(low)}, {_fmt(high)}] reaches zero; "
                                      f"{because}", bool(with_))
    why = implausibility(value, bounds) if bounds is not None else None
    if why:
        return (_IMPLAUSIBLE, 0.0, f"implausible: the fit gives {_fmt(value)} (95% [{_fmt(low)}, {_fmt(high)}]), "
                                   f"{why}", False)
    return None


def _held(flag: tuple[int, float, str, bool], prior: float, fitted: float, low: float,
          high: float) -> tuple[float, str]:
    """The value a flagged coefficient is held at, and the reason with what was done."""
    reason = flag[2]
    if low <= prior <= high:
        return prior, f"{reason}; held at the prior ({_fmt(prior)})"
    if flag[0] == _UNIDENTIFIED and not flag[3]:
        # Too small to measure, and the prior is too large for the data: any value in the interval fits
        # equally, so keep the fit's own. Its top would add time the measurements never saw to every
        # prediction beyond the grid.
        return fitted, (f"{reason}; the prior ({_fmt(prior)}) lies outside that interval too, so it is held at "
                        f"the fit's own value ({_fmt(fitted)})")
    end = min(max(prior, low), high)
    return end, (f"{reason}; the prior ({_fmt(prior)}) lies outside that interval too, so it is held at the "
                 f"interval's nearest end ({_fmt(end)})")


def estimate(x: np.ndarray, y: np.ndarray, names: Sequence[str], prior: Sequence[float],
             bounds: Mapping[str, Bounds] | None = None, *, draws: int = 1000, seed: int = 0,
             groups: Sequence[int] | None = None) -> Estimate:
    """Fitted coefficients (in the units of x's columns), their intervals, and the priors kept with reasons."""
    names = tuple(names)
    if x.shape[1] != len(names) or len(prior) != len(names):
        raise ValueError(f"{x.shape[1]} columns, {len(names)} names and {len(prior)} priors must agree")
    exercised = np.abs(x).sum(axis=0) > 0
    fixed = {k: float(prior[k]) for k in range(len(names)) if not exercised[k]}
    kept = {names[k]: "not exercised by the measurements; held at the prior" for k in fixed}
    grid = conditioning(x, y, names, fixed=list(fixed))
    for _ in range(len(names)):
        c = relative_nnls(x, y, fixed)
        lo, hi, _ = bootstrap_intervals(x, y, fixed, draws=draws, seed=seed, groups=groups)
        cond = conditioning(x, y, names, fixed=list(fixed))
        trouble = {}
        for k, name in enumerate(names):
            if k not in fixed:
                share = float(np.max(x[:, k] * hi[k] / y))  # the term's largest part of a record, at the interval's top
                flag = _flag(name, c[k], lo[k], hi[k], (bounds or {}).get(name), cond, share)
                if flag:
                    trouble[k] = flag
        if not trouble:
            break
        worst = max(trouble, key=lambda k: trouble[k][:2])
        fixed[worst], kept[names[worst]] = _held(trouble[worst], float(prior[worst]), float(c[worst]), lo[worst],
                                                 hi[worst])
    else:  # every coefficient ended up held: the last loop fitted nothing new
        c = relative_nnls(x, y, fixed)
        lo, hi, _ = bootstrap_intervals(x, y, fixed, draws=draws, seed=seed, groups=groups)
    err = relative_errors(x, y, c)
    return Estimate(names=names, values=tuple(map(float, c)), low=tuple(map(float, lo)), high=tuple(map(float, hi)),
                    exercised=tuple(map(bool, exercised)), kept=kept, conditioning=grid,
                    rms_fraction=float(np.sqrt(np.mean(err ** 2))), max_fraction=float(err.max()), draws=draws,
                    records=len(y))
