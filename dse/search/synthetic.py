"""A test double for training: a deterministic accuracy surface with a known Pareto front.

:class:`SyntheticEvaluator` answers like :class:`~dse.search.evaluate.SnnEvaluator`
(accuracy, activity counts, trainings spent) in microseconds, so the search
machinery (prefilter, constraints, fidelities, strategies, reports) can be
tested and benchmarked without the simulator. Memory and energy still come
from the real cost model (through :mod:`dse.search.costs`), from activity
counts that the structure of each design implies, so the trade-offs have the
real shape. Because every point can be evaluated, the grid strategy yields the
exact front of any finite space.

The accuracy surface: each design saturates with size (fspinn highest),
fewer weight bits lose accuracy (less with ITQ, least with stochastic
rounding), 8-bit potentials cost a little, rho and T_w have an optimum at 3.5
(near fspinn's default 4) and 50. Lower fidelities see a scaled-down accuracy plus a deterministic
per-candidate disturbance, so their ranking is informative but not exact.
"""

from __future__ import annotations

import hashlib
import math
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from dse.cost.activity import scale_to_steps

from .costs import activity_counts
from .evaluate import Evaluation
from .space import FP32_BITS, Candidate

__all__ = ["SyntheticEvaluator", "synthetic_accuracy"]

_BASE = {"baseline": 0.88, "sl-stdp": 0.86, "fspinn": 0.92}
_SCALE = {"baseline": 500.0, "sl-stdp": 450.0, "fspinn": 350.0}
# Per-presentation activity (the shape of dse.cost.activity.ActivityStats), typical of the designs.
_STATS = {
    "baseline": dict(presentations_per_image=1.05, input_spikes_per_presentation=4700.0,
                     exc_spikes_per_presentation=22.0, inh_spikes_per_exc_spike=1.0, rule_updates_per_exc_spike=1.0),
    "sl-stdp": dict(presentations_per_image=1.05, input_spikes_per_presentation=4700.0,
                    exc_spikes_per_presentation=20.0, inh_spikes_per_exc_spike=1.0, rule_updates_per_exc_spike=0.5),
    "fspinn": dict(presentations_per_image=1.0, input_spikes_per_presentation=4690.0,
                   exc_spikes_per_presentation=24.0, window_updates_per_presentation=7.0),
}


def _jitter(c: Candidate, images: int) -> float:
    """A deterministic number in [-0.5, 0.5) per (candidate, fidelity)."""
    h = hashlib.sha256(f"{sorted(c.to_dict().items())}|{images}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 - 0.5


def synthetic_accuracy(c: Candidate, images: int, full_images: int) -> float:
    """Accuracy of a candidate trained on ``images`` of ``full_images`` (1.0 = full fidelity)."""
    acc = _BASE[c.design] * (1.0 - 0.55 * math.exp(-c.neurons / _SCALE[c.design]))
    if c.weights_bits < FP32_BITS:
        loss = 0.6 * 2.0 ** -(c.weights_bits - 2)
        loss *= 0.6 if c.scheme == "itq" else 1.0
        loss *= {"stochastic": 0.5, "nearest": 1.0, "truncate": 1.6}[c.rounding]
        acc -= loss
    acc -= {8: 0.006}.get(c.inh_bits, 0.0)
    acc -= {8: 0.03, 12: 0.004}.get(c.vmem_bits, 0.0) + {8: 0.02, 12: 0.003}.get(c.vth_bits, 0.0)
    if c.design == "fspinn":
        acc -= 0.02 * (c.rho - 3.5) ** 2 + 0.01 * abs(math.log2(c.window_steps / 50))
    if c.exit_margin:
        acc -= 0.01 / c.exit_margin  # a narrow margin decides some images on too few votes
    frac = min(images / full_images, 1.0)
    acc = acc * (1.0 - 0.3 * (1.0 - frac) ** 1.5) + 0.04 * _jitter(c, images) * (1.0 - frac)
    return min(max(acc, 0.0), 1.0)


def synthetic_steps_fraction(c: Candidate) -> float:
    """Share of a presentation's steps a test image runs: 1 without early exit, less with a narrow margin."""
    return 1.0 if not c.exit_margin else min(1.0, 0.25 + 0.05 * c.exit_margin)


@dataclass
class SyntheticEvaluator:
    """Evaluator test double with the real one's accounting: PTQ variants share one FP32 training, and a
    higher rung continues a lower one (`trained` maps a training to the images it reached)."""

    full: int = 5_000
    test_images: int = 1_000
    seconds: float = 0.0  # wall time each evaluation takes (a stand-in for training, for tests of workers)
    trained: dict[Candidate, int] = field(default_factory=dict)
    calls: int = 0
    assign_cap: int = 2_000

    def identity(self) -> dict[str, Any]:
        return {"evaluator": "synthetic", "train_images": self.full, "test_images": self.test_images}

    def full_images(self) -> int:
        return self.full

    def evaluation_images(self, train_images: int) -> int:
        return min(train_images, self.assign_cap) + self.test_images

    def prepare(self, space: Any) -> None:
        """Nothing to prepare: no simulator."""
        return None

    def siblings_lock(self, parent: Candidate) -> AbstractContextManager[None]:
        return nullcontext()  # trainings live in this process only

    def evaluate(self, c: Candidate, train_images: int) -> Evaluation:
        self.calls += 1
        t0 = time.perf_counter()
        if self.seconds > 0:
            time.sleep(self.seconds)
        key = c.fp32() if c.scheme != "itq" else c.without_exit()  # an exit variant reuses the training
        before = self.trained.get(key, 0)
        self.trained[key] = max(before, train_images)
        made = before < train_images
        acc = synthetic_accuracy(c, train_images, self.full)
        half = 1.96 * math.sqrt(max(acc * (1 - acc), 1e-9) / self.test_images)
        counts = activity_counts(c.design, c.neurons, _STATS[c.design])
        if c.exit_margin:
            inference = counts["inference"]
            counts["inference"] = scale_to_steps(inference, inference["steps"] * synthetic_steps_fraction(c))
        return Evaluation(accuracy=acc, accuracy_ci95=(max(acc - half, 0.0), min(acc + half, 1.0)),
                          counts_per_image=counts, train_images=train_images, trainings=int(made and not before),
                          trained_images=train_images - before if made else 0,
                          quantizations=int(c.scheme == "ptq"), continued_from=before if made and before else None,
                          confusion=_confusion(acc, self.test_images), seconds=time.perf_counter() - t0)


def _confusion(acc: float, test_images: int) -> tuple[tuple[int, ...], ...]:
    """A confusion matrix with the given accuracy: errors spread over the next class and "no decision"."""
    per_class = test_images // 10
    right = int(round(acc * per_class))
    rows = []
    for k in range(10):
        row = [0] * 11
        row[k] = right
        row[(k + 1) % 10] = (per_class - right) // 2
        row[10] = per_class - right - (per_class - right) // 2
        rows.append(tuple(row))
    return tuple(rows)
