"""One trial: cost the candidate, reject it early if it cannot fit, else train it up the fidelities.

1. Prefilter (no training): the modelled memory of the candidate in the
   budgeted phase, and a floor of its energy per image (the energy of a
   network that never spikes; the energy model is monotone in every count).
   If either already breaks its budget, the trial ends as *rejected*
   (Optuna state PRUNED, with its constraint values set so the sampler
   learns where the boundary is, and the reason in a user attribute).
   A candidate the study already holds is not evaluated again: the trial
   reuses that result (*duplicate*, the idiom of Optuna's FAQ).
2. Fidelities (rungs): the candidate is trained on growing numbers of
   training images, each rung continuing the previous one's training (one
   training in all). Below the full rung a PTQ candidate is judged by the FP32
   network it would quantize (its training is what the rung pays for).
   Multi-objective Optuna studies do not support ``Trial.report``/pruners
   (Optuna 5 raises NotImplementedError), so the rules are explicit: after a
   rung below the full one, the candidate stops (*pruned*, with the reason) if
   its network is hopeless there (:mod:`dse.search.stopping`: near chance,
   silent, at the re-presentation limit), or if at least ``promote_k`` other
   trials measured at the same rung, within the budgets, with at least as
   many neurons, dominate it there in (accuracy, memory, energy). Otherwise
   it goes on to the next rung. (Larger networks learn more slowly at
   first: a smaller network's lead at a low rung says little about the end.)
3. At the full fidelity the trial completes with objective values
   (accuracy, memory MB, energy mJ) and its constraints
   (``Trial.set_constraint``: value - budget, <= 0 feasible; the accuracy
   floor as floor - accuracy).
4. After a trial that trained an FP32 network, its PTQ siblings are evaluated
   without training and added as trials of their own (:mod:`dse.search.siblings`).
"""

from __future__ import annotations

import itertools

import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from . import costs
from .attrs import WORKER_ATTRS, named_constraints, write_trial_attrs
from .evaluate import Evaluation, Evaluator
from .objectives import Budgets, ExploreSettings
from .pareto import dominates, objective_point
from .records import record_from_trial
from .space import BIT_KEYS, Candidate, SearchSpace
from .siblings import evaluate_siblings
from .stopping import hopeless_reason

__all__ = ["TrialRunner", "Rejected", "Pruned", "peer_points", "neuron_cap", "capped_space"]


class Rejected(Exception):
    """The candidate breaks a budget before any training."""


class Pruned(Exception):
    """The candidate is dominated or hopeless at a lower fidelity and is not trained further."""


@dataclass
class TrialRunner:
    settings: ExploreSettings
    evaluator: Evaluator
    study: Any
    on_rung: Callable[[int, Candidate, dict[str, Any]], None] | None = None
    deadline: float | None = None  # time.monotonic() after which no trial starts another rung
    space: SearchSpace | None = None  # the space trials are suggested from (PTQ siblings are recorded in it)
    on_sibling: Callable[[Any], None] | None = None

    def __post_init__(self) -> None:
        if hasattr(self.evaluator, "parent_tested"):
            # a PTQ candidate's FP32 network is tested only when it is a candidate itself (fits the budgets)
            self.evaluator.parent_tested = self.fits

    @property
    def budgets(self) -> Budgets:
        return self.settings.budgets

    def prefilter(self, c: Candidate) -> tuple[float, float, list[str]]:
        """(modelled memory MB, energy floor mJ, reasons to reject before training)."""
        s, b = self.settings, self.settings.budgets
        mem = costs.memory_mb(c, b.phase, s.accounting)
        floor = costs.energy_floor_mj(c, b.phase, s.profile, s.accounting)
        reasons = []
        if mem > b.memory_mb:
            reasons.append(f"modelled memory {mem:.3g} MB > budget {b.memory_mb:g} MB")
        if b.energy_mj is not None and floor > b.energy_mj:
            reasons.append(f"energy floor {floor:.3g} mJ/image > budget {b.energy_mj:g} mJ")
        return mem, floor, reasons

    def fits(self, c: Candidate) -> bool:
        return not self.prefilter(c)[2]

    def run(self, trial: Any, c: Candidate, rungs: tuple[int, ...]) -> tuple[float, float, float]:
        # User attributes are grouped (candidate, costs, rungs, status, reason, result) while the trial
        # runs: each one is a storage commit. The flat copies for other tools (dse.search.attrs) are
        # written once, at the end.
        s, b = self.settings, self.settings.budgets
        attrs: dict[str, Any] = {}  # what this trial set: its flat attributes are computed from it at the end
        self._set(trial, attrs, "candidate", {**c.to_dict(), "label": c.label()})
        mem, floor, reasons = self.prefilter(c)
        self._set(trial, attrs, "costs", {"memory_mb": mem, "memory_fp32_mb": costs.fp32_memory_mb(c, b.phase, s.accounting),
                                          "energy_floor_mj": floor})
        trial.set_constraint("memory_mb", mem - b.memory_mb)
        if reasons:
            if b.energy_mj is not None:
                # a lower bound of the true violation: enough for the sampler to steer away
                trial.set_constraint("energy_mj", floor - b.energy_mj)
            self._end(trial, attrs, "rejected", "rejected before training: " + "; ".join(reasons))
            raise Rejected(reasons[0])
        original = self._held(c, trial.number)
        if original is not None:
            return self._reuse(trial, attrs, original)

        history: list[dict[str, Any]] = []
        for k, images in enumerate(rungs):
            final = k + 1 == len(rungs)
            measured = c if final or c.scheme != "ptq" else c.fp32()
            ev = self.evaluator.evaluate(measured, images)
            energy = costs.energy_mj(c, b.phase, s.profile, ev.counts_per_image, s.accounting)
            history.append(self._rung(trial.number, c, images, ev, mem, energy, measured != c))
            self._set(trial, attrs, "rungs", list(history))  # peers at this rung (in any worker) read it from the storage
            if not final:
                self._stop_if_hopeless_or_dominated(trial, attrs, measured, ev, images, mem, energy)
        self._set_final_constraints(trial, ev.accuracy, energy)
        result: dict[str, Any] = {"accuracy_ci95": list(ev.accuracy_ci95),
                                  "counts_per_image": {ph: dict(v) for ph, v in ev.counts_per_image.items()},
                                  "run_dir": ev.run_dir, "fp32_run_dir": ev.fp32_run_dir, **dict(ev.extra)}
        if ev.confusion is not None:
            result["confusion"] = [list(r) for r in ev.confusion]
        self._set(trial, attrs, "result", result)
        if self.space is not None:
            # While this trial still runs: an interruption fails it, and its retry (a cache hit) adds
            # the siblings still missing.
            evaluate_siblings(self, self.space, trial.number, c, rungs[-1], self.on_sibling, own=ev,
                              worker={k: trial.user_attrs[k] for k in WORKER_ATTRS if k in trial.user_attrs})
        self._end(trial, attrs, "complete", None, (ev.accuracy, mem, energy))
        return ev.accuracy, mem, energy

    def _rung(self, number: int, c: Candidate, images: int, ev: Evaluation, mem: float, energy: float,
              by_fp32: bool) -> dict[str, Any]:
        rung = {"images": images, "accuracy": ev.accuracy, "energy_mj": energy, "memory_mb": mem,
                "trainings": ev.trainings, "trained_images": ev.trained_images, "seconds": round(ev.seconds, 3)}
        if ev.continued_from:
            rung["continued_from"] = ev.continued_from
        if ev.extra.get("measured"):  # below the full rung: what the rung read (the training stream)
            rung["measured"] = ev.extra["measured"]
        elif by_fp32:
            rung["measured"] = "fp32"  # a PTQ candidate below the full rung: the network it would quantize
        if self.on_rung is not None:
            self.on_rung(number, c, rung)
        return rung

    def _stop_if_hopeless_or_dominated(self, trial: Any, attrs: dict[str, Any], measured: Candidate,
                                       ev: Evaluation, images: int, mem: float, energy: float) -> None:
        b = self.budgets
        reason = hopeless_reason(measured, ev)
        if reason is not None:
            reason = f"stopped at {images} images: {reason}"
        else:
            better = self._dominating_peers(trial.number, measured.neurons, images, ev.accuracy, mem, energy)
            if len(better) >= self.settings.promote_k:
                reason = f"pruned at {images} images: dominated there by {', '.join(f'#{n}' for n in better[:4])}"
            elif self.deadline is not None and time.monotonic() >= self.deadline:
                reason = f"stopped at {images} images: time budget reached"
        if reason is not None:
            if b.energy_mj is not None:
                trial.set_constraint("energy_mj", energy - b.energy_mj)
            self._end(trial, attrs, "pruned", reason)
            raise Pruned(images)

    def _set_final_constraints(self, trial: Any, accuracy: float, energy: float) -> None:
        b = self.budgets
        if b.energy_mj is not None:
            trial.set_constraint("energy_mj", energy - b.energy_mj)
        trial.set_constraint("min_accuracy", b.min_accuracy - accuracy)

    def _held(self, c: Candidate, number: int) -> Any:
        """The study's finished trial of ``c`` (evaluated, not rejected), if it holds one."""
        from optuna.trial import TrialState

        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            if t.number != number and t.user_attrs.get("status") in ("complete", "pruned") \
                    and t.user_attrs.get("candidate") and Candidate.from_dict(t.user_attrs["candidate"]) == c:
                return t
        return None

    def _reuse(self, trial: Any, attrs: dict[str, Any], original: Any) -> tuple[float, float, float]:
        """A duplicate: the original's values and constraints, and nothing evaluated."""
        for key, value in named_constraints(original.system_attrs).items():
            if key != "memory_mb":  # set already, to the same value (same candidate)
                trial.set_constraint(key, value)
        self._set(trial, attrs, "duplicate_of", original.number)
        values = tuple(original.values) if original.state.name == "COMPLETE" else None
        self._end(trial, attrs, "duplicate", f"duplicate of #{original.number}: its result is reused, nothing evaluated",
                  values)
        if values is None:
            raise Pruned(0)
        return values

    @staticmethod
    def _set(trial: Any, attrs: dict[str, Any], key: str, value: Any) -> None:
        trial.set_user_attr(key, value)
        attrs[key] = value

    def _end(self, trial: Any, attrs: dict[str, Any], status: str, reason: str | None,
             values: tuple[float, float, float] | None = None) -> None:
        """The trial's status and reason, and its results as flat attributes (:mod:`dse.search.attrs`)."""
        attrs = {**attrs, "status": status, "reason": reason}
        record = record_from_trial(trial.number, "COMPLETE" if status == "complete" else "PRUNED", values, attrs,
                                   self.budgets)
        write_trial_attrs(trial, record.flat_attrs())

    def _dominating_peers(self, number: int, neurons: int, images: int, accuracy: float, mem: float,
                          energy: float) -> list[int]:
        """Trials measured at the same rung, within the budgets, at least as large, that dominate this one there."""
        me = objective_point(accuracy, mem, energy)
        return [n for n, p in peer_points(self.study.get_trials(deepcopy=False), images, self.budgets, neurons)
                if n != number and dominates(p, me)]


def peer_points(trials: Any, images: int, budgets: Budgets,
                min_neurons: int = 0) -> list[tuple[int, tuple[float, ...]]]:
    """(trial number, minimisation point) of every trial with at least ``min_neurons`` neurons measured at
    ``images`` and within the budgets there.

    Read from the storage, so peers found by other workers count too.
    """
    out = []
    for t in trials:
        if (t.user_attrs.get("candidate") or {}).get("neurons", 0) < min_neurons:
            continue
        for r in t.user_attrs.get("rungs") or ():
            if r.get("images") == images and budgets.fits(r.get("memory_mb"), r.get("energy_mj")):
                out.append((t.number, objective_point(r["accuracy"], r["memory_mb"], r["energy_mj"])))
    return out


def neuron_cap(space: SearchSpace, settings: ExploreSettings) -> int | None:
    """The largest size of the space at which some design can still fit the budgets, or None if none can.

    Memory and the energy floor grow with N, so above this size every
    candidate would be rejected before training: the search does not propose
    them at all (the same prefilter, applied to the space once). Monotone in N,
    so a bisection finds it (a space may hold thousands of sizes).
    """
    b = settings.budgets
    sizes = sorted(space.dim("neurons").values())
    narrowest = {f"{k}_bits": min(space.dim(f"{k}_bits").values()) for k in BIT_KEYS}
    first = {name: space.dim(name).values()[0] for name in ("rounding", "rho", "window_steps")}

    def fits(n: int) -> bool:
        margins = space.dim("exit_margin").values()
        for design in space.dim("design").values():
            # no exit needs the least memory; the widest margin has the lowest energy floor
            for scheme, margin in itertools.product(space.dim("scheme").values(), {min(margins), max(margins)}):
                c = space.candidate({"design": design, "neurons": n, "scheme": scheme, "exit_margin": margin,
                                     **narrowest, **first})
                if costs.memory_mb(c, b.phase, settings.accounting) > b.memory_mb:
                    continue
                if b.energy_mj is None or costs.energy_floor_mj(c, b.phase, settings.profile,
                                                                settings.accounting) <= b.energy_mj:
                    return True
        return False

    if not fits(sizes[0]):
        return None
    lo, hi = 0, len(sizes) - 1  # invariant: sizes[lo] fits, everything above hi does not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(sizes[mid]):
            lo = mid
        else:
            hi = mid - 1
    return sizes[lo]


def capped_space(space: SearchSpace, settings: ExploreSettings) -> tuple[SearchSpace, str | None]:
    """The space with its neuron range cut at :func:`neuron_cap`, and a sentence saying so (None if uncut)."""
    dim = space.dim("neurons")
    cap = neuron_cap(space, settings)
    if cap is None or cap >= max(dim.values()):
        return space, None
    cut = space.replaced(replace(dim, high=cap))
    return cut, (f"neurons capped at {cap}: above it no design fits the budgets even at the narrowest "
                 f"bit-widths of the space (modelled), so those sizes are not proposed")
