"""Trials as plain records: what each trial was, what it measured, and whether it fits the budgets.

Pure conversion from Optuna's FrozenTrial (its state, values and the user
attributes the trial runner sets) to :class:`TrialRecord`; feasibility and the
front are recomputed here from the values and the budgets, never read back
from a stored flag, so what is reported follows from one rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .objectives import Budgets
from .pareto import non_dominated, objective_point
from .space import Candidate

__all__ = ["TrialRecord", "record_from_trial", "records_from_trials", "pareto_front", "CSV_FIELDS"]

# duplicate: the sampler proposed a candidate the study already holds; its result is reused, nothing runs
STATUSES = ("complete", "pruned", "rejected", "duplicate", "failed", "running", "queued")


@dataclass(frozen=True)
class TrialRecord:
    number: int
    status: str                      # one of STATUSES
    candidate: Candidate | None
    accuracy: float | None = None    # full fidelity (complete trials) only
    accuracy_ci95: tuple[float, float] | None = None
    memory_mb: float | None = None
    memory_fp32_mb: float | None = None
    energy_mj: float | None = None   # at the last fidelity reached (final for complete trials)
    energy_floor_mj: float | None = None
    images: int | None = None        # training images of the last fidelity reached
    rungs: tuple[Mapping[str, Any], ...] = ()
    reason: str = ""
    trainings: int = 0
    trained_images: int = 0
    seconds: float = 0.0
    run_dir: str | None = None
    fp32_run_dir: str | None = None
    confusion: tuple[tuple[int, ...], ...] | None = None
    counts_per_image: Mapping[str, Mapping[str, float]] | None = None
    feasible: bool = False
    excess: float = 0.0             # relative excess over the budgets (0 inside)
    sibling_of: int | None = None   # a PTQ variant evaluated after trial #n's training (not sampled)
    below_floor: bool = False       # complete, but less accurate than the study's accuracy floor
    worker: str = ""                # the worker that ran it (a sibling: its parent's worker)
    started: str = ""               # ISO 8601, the storage's clock (Optuna records local time)
    completed: str = ""

    @property
    def point(self) -> tuple[float, ...]:
        """Minimisation point (-accuracy, memory, energy) of a complete trial."""
        return objective_point(self.accuracy, self.memory_mb, self.energy_mj)

    @property
    def last_accuracy(self) -> float | None:
        """Accuracy at the last fidelity reached (pruned trials stop below full)."""
        if self.accuracy is not None:
            return self.accuracy
        return self.rungs[-1]["accuracy"] if self.rungs else None

    def reward(self, mu: float) -> float | None:
        """tinySNN's R = A - mu x M with M = memory / memory in FP32."""
        if self.accuracy is None or not self.memory_mb or not self.memory_fp32_mb:
            return None
        return self.accuracy - mu * self.memory_mb / self.memory_fp32_mb

    def row(self) -> dict[str, Any]:
        """One line of trials.csv."""
        c = self.candidate
        return {
            "number": self.number, "status": self.status, "feasible": self.feasible,
            "design": c.design if c else "", "neurons": c.neurons if c else "",
            "weights_bits": _bits(c, "weights"), "inh_bits": _bits(c, "inh"), "vmem_bits": _bits(c, "vmem"),
            "vth_bits": _bits(c, "vth"), "scheme": c.scheme if c else "", "rounding": c.rounding if c and c.quantized else "",
            "rho": c.rho if c and c.rho is not None else "", "window_steps": c.window_steps if c and c.window_steps else "",
            "exit_margin": c.exit_margin if c else "",
            "images": self.images or "", "accuracy": _num(self.accuracy), "accuracy_at_last_fidelity": _num(self.last_accuracy),
            "accuracy_low": _num(self.accuracy_ci95[0]) if self.accuracy_ci95 else "",
            "accuracy_high": _num(self.accuracy_ci95[1]) if self.accuracy_ci95 else "",
            "memory_mb": _num(self.memory_mb), "memory_fp32_mb": _num(self.memory_fp32_mb),
            "energy_mj": _num(self.energy_mj), "energy_floor_mj": _num(self.energy_floor_mj),
            "trainings": self.trainings, "trained_images": self.trained_images, "seconds": round(self.seconds, 2),
            "reason": self.reason, "sibling_of": "" if self.sibling_of is None else self.sibling_of,
            "run_dir": self.run_dir or "", "worker": self.worker, "started": self.started,
            "completed": self.completed,
        }

    def flat_attrs(self) -> dict[str, Any]:
        """The trial's results as flat scalar user attributes (what optuna-dashboard sorts and
        ``trials_dataframe()`` turns into columns). A value not known is left out, never None: one
        None makes the dashboard treat the whole attribute as unsortable."""
        out: dict[str, Any] = {"status": self.status, "feasible": self.feasible}
        if self.reason:
            out["reason"] = self.reason
        values = {"accuracy": self.accuracy, "accuracy_at_last_fidelity": self.last_accuracy,
                  "accuracy_low": self.accuracy_ci95[0] if self.accuracy_ci95 else None,
                  "accuracy_high": self.accuracy_ci95[1] if self.accuracy_ci95 else None,
                  "memory_mb": self.memory_mb, "memory_fp32_mb": self.memory_fp32_mb, "energy_mj": self.energy_mj,
                  "energy_floor_mj": self.energy_floor_mj}
        out.update({k: float(v) for k, v in values.items() if v is not None})
        if self.images is not None:
            out["images"] = int(self.images)
        out.update(trainings=int(self.trainings), trained_images=int(self.trained_images))
        return out

    def to_json(self) -> dict[str, Any]:
        return {**self.row(), "candidate": self.candidate.to_dict() if self.candidate else None,
                "accuracy_ci95": list(self.accuracy_ci95) if self.accuracy_ci95 else None,
                "rungs": [dict(r) for r in self.rungs],
                "confusion": [list(r) for r in self.confusion] if self.confusion else None}


def _bits(c: Candidate | None, key: str) -> Any:
    if c is None:
        return ""
    return c.bits()[key]  # FP32 is 32: the column stays numeric


def _num(x: float | None) -> Any:
    return "" if x is None else round(float(x), 6)


CSV_FIELDS = tuple(TrialRecord(number=0, status="complete", candidate=None).row().keys())


def _status(state: str, attrs: Mapping[str, Any]) -> str:
    if attrs.get("status") == "duplicate" and state in ("COMPLETE", "PRUNED"):
        return "duplicate"
    if state == "COMPLETE":
        return "complete"
    if state == "PRUNED":
        return "rejected" if attrs.get("status") == "rejected" else "pruned"
    if state == "FAIL":
        return "failed"
    return "queued" if state == "WAITING" else "running"


def record_from_trial(number: int, state: str, values: Sequence[float] | None, attrs: Mapping[str, Any],
                      budgets: Budgets, *, started: Any = None, completed: Any = None) -> TrialRecord:
    """A record from a trial's state name, objective values and user attributes (``started`` and
    ``completed``: the trial's datetimes, if known)."""
    cand = Candidate.from_dict(attrs["candidate"]) if attrs.get("candidate") else None
    status = _status(state, attrs)
    rungs = tuple(attrs.get("rungs") or ())
    cost = attrs.get("costs") or {}
    result = attrs.get("result") or {}
    accuracy = energy = None
    memory = cost.get("memory_mb")
    if status == "complete" and values is not None:
        accuracy, memory, energy = (float(v) for v in values)
    elif rungs:
        energy = rungs[-1].get("energy_mj")
    feasible = status == "complete" and budgets.accepts(accuracy, memory, energy)
    ci = result.get("accuracy_ci95")
    conf = result.get("confusion")
    return TrialRecord(
        number=number, status=status, candidate=cand, accuracy=accuracy,
        accuracy_ci95=tuple(ci) if ci and status == "complete" else None,
        memory_mb=memory, memory_fp32_mb=cost.get("memory_fp32_mb"), energy_mj=energy,
        energy_floor_mj=cost.get("energy_floor_mj"), images=rungs[-1]["images"] if rungs else None,
        rungs=rungs, reason=str(attrs.get("reason") or ""), trainings=sum(int(r.get("trainings", 0)) for r in rungs),
        trained_images=sum(int(r.get("trained_images", 0)) for r in rungs),
        seconds=sum(float(r.get("seconds", 0.0)) for r in rungs),
        run_dir=result.get("run_dir"), fp32_run_dir=result.get("fp32_run_dir"),
        confusion=tuple(tuple(r) for r in conf) if conf else None,
        counts_per_image=result.get("counts_per_image"), feasible=feasible,
        excess=budgets.relative_excess(memory, energy), sibling_of=attrs.get("sibling_of"),
        below_floor=accuracy is not None and accuracy < budgets.min_accuracy,
        worker=str((attrs.get("worker") or {}).get("id") or ""), started=_iso(started), completed=_iso(completed))


def _iso(when: Any) -> str:
    # Optuna records naive local time: written with the local offset, so the time is unambiguous
    return when.astimezone().isoformat(timespec="seconds") if when is not None else ""


def records_from_trials(trials: Iterable[Any], budgets: Budgets) -> list[TrialRecord]:
    """Records of Optuna FrozenTrials (anything with number, state.name, values, user_attrs)."""
    records = [record_from_trial(t.number, t.state.name, t.values, t.user_attrs, budgets,
                                 started=getattr(t, "datetime_start", None),
                                 completed=getattr(t, "datetime_complete", None))
               for t in sorted(trials, key=lambda t: t.number)]
    # A PTQ sibling is evaluated by the worker that trained its parent, within the parent's trial.
    workers = {r.number: r.worker for r in records}
    return [replace(r, worker=workers.get(r.sibling_of, "")) if r.sibling_of is not None and not r.worker else r
            for r in records]


def pareto_front(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The feasible Pareto set: complete trials within budgets that no other such trial dominates.

    Sorted by accuracy (best first), then memory and energy.
    """
    feasible = [r for r in records if r.feasible]
    front = [feasible[i] for i in non_dominated([r.point for r in feasible])]
    # A sampler may propose a candidate again (a cache hit): show it once, as its first trial.
    unique: dict[Any, TrialRecord] = {}
    for r in sorted(front, key=lambda r: r.number):
        unique.setdefault(r.candidate if r.candidate is not None else r.number, r)
    return sorted(unique.values(), key=lambda r: (-r.accuracy, r.memory_mb, r.energy_mj, r.number))
