"""Input-aware early exit: stop a presentation once its class is decided (inference only).

Every excitatory spike votes for its neuron's assigned class (neurons with no
class do not vote). After at least `min_steps` steps, the presentation stops
at the end of the first step where the leading class has `margin` more votes
than the runner-up. The prediction is then read out from the spike counts so
far, as usual (all-activity or proportion). A presentation that exits is
decided, so it is not re-presented even when it drew fewer spikes than the
re-presentation threshold. Off (margin 0) by default, and always off while
learning.

The rule is ours: the idea follows dynamic-timestep SNNs (e.g. DT-SNN), here
for STDP networks whose classes are read out by voting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

# Classes a vote can go to (labels are checked against it before compiled code).
MAX_CLASSES = 64
_KEYS = ("margin", "min_steps")


class ExitError(ValueError):
    """A bad early-exit specification."""


@dataclass(frozen=True)
class ExitRule:
    margin: int = 0       # votes the leader needs over the runner-up; 0: never exit
    min_steps: int = 0    # steps before the first check

    def __post_init__(self) -> None:
        for name in _KEYS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ExitError(f"early exit {name} must be a whole number >= 0, got {value!r}")
            if value > 1_000_000:
                raise ExitError(f"early exit {name} must be at most 1000000, got {value}")

    @property
    def enabled(self) -> bool:
        return self.margin > 0

    def spec(self) -> str:
        return f"margin={self.margin},min_steps={self.min_steps}" if self.enabled else "off"

    def to_dict(self) -> dict[str, int]:
        return {"margin": int(self.margin), "min_steps": int(self.min_steps)}


OFF = ExitRule()


def parse_exit(text: str | None) -> ExitRule:
    """``margin=3,min_steps=50`` (or ``off``/empty: no early exit)."""
    text = (text or "").strip()
    if text.lower() in ("", "off", "none"):
        return OFF
    values: dict[str, int] = {}
    for item in text.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or key not in _KEYS:
            raise ExitError(f"bad early exit item '{item.strip()}': write margin=M,min_steps=S, e.g. margin=3,min_steps=50")
        if key in values:
            raise ExitError(f"bad early exit: '{key}' given twice")
        try:
            values[key] = int(value)
        except ValueError:
            raise ExitError(f"bad early exit {key}={value}: expected a whole number") from None
    if values.get("margin", 0) <= 0:
        raise ExitError("bad early exit: margin must be >= 1 (or write off)")
    return ExitRule(**values)


def check_labels(labels: np.ndarray, n_neurons: int) -> np.ndarray:
    """Neuron labels as the engine reads them: int32 (N,), each -1 (no class) or 0..MAX_CLASSES-1."""
    labels = np.asarray(labels)
    if labels.shape != (n_neurons,) or labels.dtype.kind not in "iu":
        raise ExitError(f"early exit needs one integer label per neuron ({n_neurons}), got {labels.dtype} "
                        f"{labels.shape}")
    if labels.size and (labels.min() < -1 or labels.max() >= MAX_CLASSES):
        raise ExitError(f"neuron labels must be -1 or 0..{MAX_CLASSES - 1}")
    return np.ascontiguousarray(labels, dtype=np.int32)


NO_LABELS = np.zeros(0, dtype=np.int32)


def steps_summary(steps: np.ndarray, bin_steps: int = 25) -> dict:
    """Steps run per image: mean, median, percentiles and a histogram (bins of bin_steps steps)."""
    steps = np.asarray(steps, dtype=np.int64)
    if steps.size == 0:
        return {"images": 0}
    q = np.percentile(steps, [5, 25, 50, 75, 95])
    edges = np.arange(0, int(steps.max()) + bin_steps, bin_steps)
    hist, _ = np.histogram(steps, bins=np.append(edges, edges[-1] + bin_steps))
    return {"images": int(steps.size), "mean": float(steps.mean()), "median": float(q[2]),
            "p5": float(q[0]), "p25": float(q[1]), "p75": float(q[3]), "p95": float(q[4]),
            "min": int(steps.min()), "max": int(steps.max()),
            "histogram": {"bin_steps": bin_steps, "counts": [int(c) for c in hist]}}


@njit(cache=True)
def cast_votes(votes, labels, spiking, n_spiking):
    """Each spike of a labelled neuron adds a vote to its class."""
    for q in range(n_spiking):
        c = labels[spiking[q]]
        if c >= 0:
            votes[c] += 1


@njit(cache=True)
def decided(votes, margin):
    """Whether the leading class leads the runner-up by at least `margin` votes."""
    first, second = 0, 0
    for c in range(votes.shape[0]):
        x = votes[c]
        if x > first:
            first, second = x, first
        elif x > second:
            second = x
    return first - second >= margin
