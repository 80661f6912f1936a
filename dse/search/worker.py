"""`dse worker` as a library call: join a study that `dse explore` made, and run trials for it.

Everything a worker needs comes from the study: its identity (space,
budgets, phase, profile, accounting, strategy, seed, fidelities, and the
evaluator: data set and its checksum, image counts) and its target number of
trials. The worker rebuilds the settings and the evaluator from it, checks that
this machine reproduces the identity exactly (same data, same space
semantics), derives its own sampler seed, and runs trials until the study is
done. Any number of workers on any number of machines may join one study in
a shared database (PostgreSQL); the trained-model cache is shared through a
folder (see :mod:`dse.search.evaluate`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from dse.errors import Param

from .evaluate import Evaluator
from .explore import ExploreResult, result_from_study, run_study, trials_per_training
from .liveness import WorkerInfo
from .objectives import Budgets, ExploreSettings
from .runner import capped_space
from .space import DEFAULT_SPACE, SearchSpace
from .strategies import make_sampler
from .study import (StudyError, differences_text, heartbeat_of, identity_of, load_existing_study, mask_url,
                    target_of)

__all__ = ["join_study", "settings_from_identity", "evaluator_from_identity", "space_from_dict"]


def space_from_dict(d: dict[str, Any]) -> SearchSpace:
    """The search space a study recorded (StudyError if this version of snn-dse cannot express it)."""
    items = {}
    try:
        for dim in d["dimensions"]:
            if dim["kind"] == "categorical":
                items[dim["name"]] = ",".join(str(v) for v in dim["choices"])
            else:
                items[dim["name"]] = f"{dim['low']}..{dim['high']}:{dim['step']}"
        space = DEFAULT_SPACE.restricted(items)
    except (KeyError, TypeError, ValueError) as exc:
        raise StudyError(f"the study's search space cannot be rebuilt by this version of snn-dse ({exc}); "
                         "run the worker with the version that made the study") from None
    if space.to_dict() != d:
        raise StudyError("the study's search space differs from what this version of snn-dse rebuilds from it; "
                         "run the worker with the version that made the study")
    return space


def settings_from_identity(identity: dict[str, Any]) -> ExploreSettings:
    try:
        b = identity["budgets"]
        rungs = tuple(float(r) for r in identity["rungs"])
        return ExploreSettings(
            budgets=Budgets.from_dict(b),
            space=space_from_dict(identity["space"]), profile=identity["profile"],
            accounting=identity["accounting"], strategy=identity["strategy"], seed=int(identity["seed"]),
            # image counts reproduce the study's rungs exactly (a single rung of 1 image reads as "all")
            fidelities=rungs, promote_k=int(identity["promote_k"]))
    except (KeyError, TypeError) as exc:
        raise StudyError(f"the study's settings are incomplete (missing {exc}); was it made by `dse explore`?") from None


def evaluator_from_identity(ev: dict[str, Any], *, cache_dir: Path, data_dir: str | None,
                            synthetic_seconds: float = 0.0) -> Evaluator:
    """The evaluator the study was made with, built on this machine."""
    kind = ev.get("evaluator")
    if kind == "synthetic":
        from .synthetic import SyntheticEvaluator

        return SyntheticEvaluator(full=int(ev["train_images"]), test_images=int(ev["test_images"]),
                                  seconds=synthetic_seconds)
    if kind == "snn":
        from .evaluate import SnnEvaluator

        return SnnEvaluator(dataset=ev["dataset"], cache_dir=cache_dir, data_dir=data_dir, seed=int(ev["seed"]),
                            train_samples=int(ev["train_images"]), assign_samples=int(ev["assign_samples"]),
                            test_samples=int(ev["test_images"]))
    raise StudyError(f"the study uses evaluator {kind!r}, which this version of snn-dse does not know")


def join_study(storage: str, study_name: str, make_evaluator: Callable[[dict[str, Any]], Evaluator], *,
               worker_id: str | None = None, n_trials: int | None = None, timeout_s: float | None = None,
               on_trial: Callable[[Any], None] | None = None,
               on_rung: Callable[..., None] | None = None, on_wait: Callable[[str], None] | None = None,
               on_start: Callable[[WorkerInfo, ExploreSettings, int | None], None] | None = None) -> ExploreResult:
    """Run trials of an existing study until it is done; returns what the study holds afterwards."""
    t0 = time.perf_counter()
    study = load_existing_study(storage, study_name, heartbeat_s=None)
    study = load_existing_study(storage, study_name, heartbeat_s=heartbeat_of(study))  # beat as the study does
    identity = identity_of(study)
    settings = settings_from_identity(identity)
    evaluator = make_evaluator(identity["evaluator"])
    full = evaluator.full_images()
    mine = settings.identity(evaluator.identity(), full)
    if mine != identity:
        shown = differences_text(identity, mine)
        hint = (" (point ", Param("data_dir"), " at the same data files the study used)") if "data" in shown else ()
        raise StudyError(f"this machine does not reproduce study '{study_name}' in {mask_url(storage)}: "
                         f"{shown} differ", *hint)
    target = n_trials if n_trials is not None else target_of(study)
    worker = WorkerInfo.here(worker_id, settings.seed)
    study.sampler = make_sampler(settings.strategy, worker.sampler_seed, target or 0,
                                 trials_per_training(evaluator))
    if on_start is not None:
        on_start(worker, settings, target)
    space, _ = capped_space(settings.space, settings)
    evaluator.prepare(space)
    run_study(study, settings, evaluator, space, settings.rungs(full), worker, n_trials=target, timeout_s=timeout_s,
              on_trial=on_trial, on_rung=on_rung, on_wait=on_wait)
    return result_from_study(study, storage, wall_s=time.perf_counter() - t0)
