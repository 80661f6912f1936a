"""Objectives, budgets and the settings of one exploration.

Objectives: accuracy (maximised), modelled memory in MB and modelled energy
per image in mJ (both minimised), for the phase the budgets apply to.
Budgets are constraints (value - budget <= 0 is feasible), handed to Optuna
with ``Trial.set_constraint`` (the mechanism of Optuna 5; ``constraints_func``
is deprecated there) and never folded into an objective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dse.errors import Param, ParameterError

from .costs import PHASES
from .space import DEFAULT_SPACE, SearchSpace

__all__ = ["OBJECTIVES", "DIRECTIONS", "STRATEGIES", "Budgets", "ExploreSettings", "parse_fidelities",
           "DEFAULT_MIN_ACCURACY"]

OBJECTIVES = ("accuracy", "memory_mb", "energy_mj")
DIRECTIONS = ("maximize", "minimize", "minimize")
STRATEGIES = ("optuna", "incremental", "grid")
DEFAULT_FIDELITIES = (0.2, 1.0)
# The accuracy floor of a usable model: below it a model stays off the front and out of the selection,
# however small. Half the test set right is far above chance (10%) for every data set here and far below
# what any working STDP network of the space reaches (MNIST ~75-93%, Fashion-MNIST ~65-75%).
DEFAULT_MIN_ACCURACY = 0.5


@dataclass(frozen=True)
class Budgets:
    """The constraints of a study: memory and energy budgets of a phase, and an accuracy floor."""

    memory_mb: float
    energy_mj: float | None = None
    phase: str = "inference"
    min_accuracy: float = DEFAULT_MIN_ACCURACY

    def __post_init__(self) -> None:
        if not (math.isfinite(self.memory_mb) and self.memory_mb > 0):
            raise ParameterError(Param("memory_mb"), f" must be a number > 0, got {self.memory_mb}")
        if self.energy_mj is not None and not (math.isfinite(self.energy_mj) and self.energy_mj > 0):
            raise ParameterError(Param("energy_mj"), f" must be a number > 0, got {self.energy_mj}")
        if self.phase not in PHASES:
            raise ValueError(f"unknown phase {self.phase!r}: choose inference or training")
        if not (math.isfinite(self.min_accuracy) and 0.0 <= self.min_accuracy <= 1.0):
            raise ParameterError(Param("min_accuracy"), f" must be a fraction in 0..1, got {self.min_accuracy}")

    def violations(self, memory_mb: float | None, energy_mj: float | None) -> dict[str, float]:
        """Constraint values (value - budget; <= 0 is feasible) of what is known."""
        out = {}
        if memory_mb is not None:
            out["memory_mb"] = memory_mb - self.memory_mb
        if self.energy_mj is not None and energy_mj is not None:
            out["energy_mj"] = energy_mj - self.energy_mj
        return out

    def fits(self, memory_mb: float | None, energy_mj: float | None) -> bool:
        """Within every budget; an unknown value never fits a budget that constrains it."""
        if memory_mb is None or memory_mb > self.memory_mb:
            return False
        if self.energy_mj is not None and (energy_mj is None or energy_mj > self.energy_mj):
            return False
        return True

    def accepts(self, accuracy: float | None, memory_mb: float | None, energy_mj: float | None) -> bool:
        """A usable model: within every budget and at or above the accuracy floor."""
        return accuracy is not None and accuracy >= self.min_accuracy and self.fits(memory_mb, energy_mj)

    def relative_excess(self, memory_mb: float | None, energy_mj: float | None) -> float:
        """How far outside the budgets, as a sum of fractions over them (0 when inside; unknown counts 0)."""
        excess = 0.0
        if memory_mb is not None:
            excess += max(memory_mb / self.memory_mb - 1.0, 0.0)
        if self.energy_mj is not None and energy_mj is not None:
            excess += max(energy_mj / self.energy_mj - 1.0, 0.0)
        return excess

    def to_dict(self) -> dict[str, Any]:
        return {"memory_mb": self.memory_mb, "energy_mj": self.energy_mj, "phase": self.phase,
                "min_accuracy": self.min_accuracy}

    @classmethod
    def from_dict(cls, b: dict[str, Any]) -> Budgets:
        """Budgets a study recorded (studies made before the accuracy floor existed had none: 0)."""
        return cls(memory_mb=float(b["memory_mb"]), energy_mj=b.get("energy_mj"), phase=b["phase"],
                   min_accuracy=float(b.get("min_accuracy", 0.0)))


def parse_fidelities(text: str) -> tuple[float, ...]:
    """``0.2,0.5,1`` (fractions of the training images) or ``1000,2500,5000`` (image counts), increasing."""
    try:
        values = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ParameterError(Param("fidelities"), f" {text}: give increasing fractions (0.2,0.5,1) or image counts (1000,5000)") from None
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise ParameterError(Param("fidelities"), f" {text}: values must be > 0")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ParameterError(Param("fidelities"), f" {text}: values must increase")
    fractions = all(v <= 1 for v in values)
    if not fractions and any(v != int(v) for v in values):
        raise ParameterError(Param("fidelities"), f" {text}: mix of fractions and counts; give all fractions (<= 1) or all counts")
    if fractions and values[-1] != 1.0:
        raise ParameterError(Param("fidelities"), f" {text}: fractions must end at 1 (the full training set)")
    return values


@dataclass(frozen=True)
class ExploreSettings:
    budgets: Budgets
    space: SearchSpace = DEFAULT_SPACE
    profile: str = "jetson-nano"
    accounting: str = "dense"
    strategy: str = "optuna"
    seed: int = 0
    fidelities: tuple[float, ...] = DEFAULT_FIDELITIES
    promote_k: int = 2          # a candidate stops at a rung when this many peers there dominate it

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}: choose one of {', '.join(STRATEGIES)}")
        if self.accounting not in ("dense", "minimal"):
            raise ValueError(f"unknown accounting {self.accounting!r}: choose dense or minimal")
        if self.promote_k < 1:
            raise ValueError("promote_k must be >= 1")

    def rungs(self, full_images: int) -> tuple[int, ...]:
        """Training images of each fidelity (the last is the full fidelity); only the optuna strategy climbs them."""
        if self.strategy != "optuna":
            return (full_images,)
        if all(v <= 1 for v in self.fidelities):
            images = [max(1, int(round(v * full_images))) for v in self.fidelities]
        else:
            images = [min(int(v), full_images) for v in self.fidelities]
        return tuple(sorted(set(images)))

    def identity(self, evaluator_identity: dict[str, Any], full_images: int) -> dict[str, Any]:
        """Everything that decides what a trial of this study means; a resumed study must match it."""
        return {"schema": 2, "strategy": self.strategy, "space": self.space.to_dict(),
                "budgets": self.budgets.to_dict(), "profile": self.profile, "accounting": self.accounting,
                "seed": self.seed, "rungs": list(self.rungs(full_images)), "promote_k": self.promote_k,
                "evaluator": evaluator_identity}
