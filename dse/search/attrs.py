"""What other tools read from a study: flat user attributes and the constraint list optuna-dashboard shows.

The trial runner keeps its grouped attributes (``candidate``, ``costs``,
``rungs``, ``result``, ``worker``): reports, siblings and the stopping rules
read them. Beside them every finished trial carries its results as flat
scalars (:meth:`~dse.search.records.TrialRecord.flat_attrs`: accuracy and its
interval, memory, energy, FP32 memory, trainings, images, status, feasible,
reason), computed by the same rule as trials.csv, so that optuna-dashboard can
sort by them and ``study.trials_dataframe()`` gives scalar columns.

Constraints: the search sets one value per budget with ``Trial.set_constraint``
(Optuna 5). optuna-dashboard 0.21 reads only the older system attribute
``constraints`` (a list), so each finished trial also gets that list, in the
fixed order of :data:`CONSTRAINT_ORDER` (names without a value, such as the
accuracy floor of a trial rejected before training, are left out, so the list
is always a prefix of that order). Optuna itself reads both forms: the named
values then appear twice in ``FrozenTrial.constraints`` (once under their name,
once under their list index), which changes nothing that depends on the sign
(feasibility) and doubles every trial's summed violation alike (TPE ranks
infeasible trials by that sum). :func:`named_constraints` reads the named ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CONSTRAINT_ORDER", "LEGACY_CONSTRAINTS_KEY", "WORKER_ATTRS", "legacy_constraints", "named_constraints",
           "study_attrs", "write_study_attrs", "write_trial_attrs"]

CONSTRAINT_ORDER = ("memory_mb", "energy_mj", "min_accuracy")
# Who ran a trial: "worker" (a dict: id, host, pid, heartbeat) is what liveness and reports read,
# "worker_id" its flat copy for trials_dataframe(). PTQ siblings carry those of the trial that trained.
WORKER_ATTRS = ("worker", "worker_id")
LEGACY_CONSTRAINTS_KEY = "constraints"
_PREFIX = LEGACY_CONSTRAINTS_KEY + ":"  # Optuna's system attribute of a named constraint


def named_constraints(system_attrs: Mapping[str, Any]) -> dict[str, float]:
    """The constraints set by name (``Trial.set_constraint``), without the legacy list's copies."""
    return {k[len(_PREFIX):]: float(v) for k, v in system_attrs.items() if k.startswith(_PREFIX)}


def legacy_constraints(named: Mapping[str, float]) -> list[float]:
    """The list optuna-dashboard reads: the named values in :data:`CONSTRAINT_ORDER`, those present."""
    return [float(named[name]) for name in CONSTRAINT_ORDER if name in named]


def write_trial_attrs(trial: Any, flat: Mapping[str, Any]) -> None:
    """Set the flat user attributes and the legacy constraint list of a trial being run (optuna.Trial)."""
    for key, value in flat.items():
        trial.set_user_attr(key, value)
    storage = trial.storage
    named = named_constraints(storage.get_trial_system_attrs(trial._trial_id))
    storage.set_trial_system_attr(trial._trial_id, LEGACY_CONSTRAINTS_KEY, legacy_constraints(named))


def study_attrs(identity: Mapping[str, Any]) -> dict[str, Any]:
    """The study's budgets and settings as flat user attributes (the identity holds them nested)."""
    budgets = identity.get("budgets") or {}
    evaluator = identity.get("evaluator") or {}
    out: dict[str, Any] = {
        "budget_memory_mb": budgets.get("memory_mb"), "budget_energy_mj": budgets.get("energy_mj"),
        "min_accuracy": budgets.get("min_accuracy"), "phase": budgets.get("phase"),
        "profile": identity.get("profile"), "strategy": identity.get("strategy"),
        "evaluator": evaluator.get("evaluator"), "dataset": evaluator.get("dataset"),
        "train_images": evaluator.get("train_images"), "test_images": evaluator.get("test_images"),
        "constraint_order": ", ".join(n for n in CONSTRAINT_ORDER
                                      if n != "energy_mj" or budgets.get("energy_mj") is not None),
    }
    return {k: v for k, v in out.items() if v is not None}


def write_study_attrs(study: Any, identity: Mapping[str, Any]) -> None:
    """Set the flat study attributes that are missing or differ (older studies get them on resume)."""
    held = study.user_attrs
    for key, value in study_attrs(identity).items():
        if held.get(key) != value:
            study.set_user_attr(key, value)
