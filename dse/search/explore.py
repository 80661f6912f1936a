"""`dse explore` as a library call: open or resume the study, run the strategy, read back the front.

    settings = ExploreSettings(Budgets(memory_mb=1.0))
    result = explore(settings, SnnEvaluator(dataset="mnist", cache_dir=Path("reports/cache")),
                     storage="sqlite:///reports/explore.db", study_name="mnist-1mb")
    result.front, result.selected

The result is computed from what the storage holds (never from in-process
state), so `dse report` rebuilds exactly the same result from the study alone.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from dse.errors import Param

from .evaluate import Evaluator
from .jobs import JobError, Jobs, run_in_helpers
from .liveness import DEFAULT_HEARTBEAT_S, WorkerInfo
from .objectives import OBJECTIVES, Budgets, ExploreSettings
from .records import CSV_FIELDS, STATUSES, TrialRecord, pareto_front, records_from_trials
from .runner import TrialRunner, capped_space
from .select import closest_candidates, select_model
from .siblings import sibling_limit
from .strategies import check_grid, make_sampler, run_strategy, starting_points
from .study import HEARTBEAT_ATTR, heartbeat_of, identity_of, mask_url, open_study, set_target

__all__ = ["ExploreResult", "explore", "run_study", "result_from_study", "write_outputs", "budgets_from_identity"]


PARETO_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ExploreResult:
    study_name: str
    storage: str | None
    identity: dict[str, Any]
    records: tuple[TrialRecord, ...]
    front: tuple[TrialRecord, ...]
    selected: TrialRecord | None
    closest: tuple[TrialRecord, ...]
    selection: str
    mu: float
    wall_s: float | None = None

    @property
    def budgets(self) -> Budgets:
        return budgets_from_identity(self.identity)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for r in self.records:
            out[r.status] += 1
        out["feasible"] = sum(r.feasible for r in self.records)
        out["trainings"] = sum(r.trainings for r in self.records)
        out["trained_images"] = sum(r.trained_images for r in self.records)
        return out

    @property
    def synthetic(self) -> bool:
        """Made by the synthetic evaluator: nothing was trained, tested or measured."""
        return (self.identity.get("evaluator") or {}).get("evaluator") == "synthetic"

    def labels(self) -> dict[str, str]:
        """How each objective was obtained, in words (reports and pareto.json say the same)."""
        if self.synthetic:
            return {"accuracy": "synthetic (a known accuracy surface; nothing was trained or tested)",
                    "memory_mb": "modelled",
                    "energy_mj": "modelled, from the synthetic evaluator's activity counts (not measured)"}
        return {"accuracy": "measured on the test set", "memory_mb": "modelled",
                "energy_mj": "modelled, from measured activity counts"}

    def to_json(self) -> dict[str, Any]:
        """pareto.json: settings, the feasible front, the selected model, or the closest candidates."""
        return {
            "schema_version": PARETO_SCHEMA_VERSION,  # dse/schemas/pareto-v1.schema.json
            "study": self.study_name, "storage": mask_url(self.storage), "objectives": list(OBJECTIVES),
            "settings": self.identity, "selection": {"how": self.selection, "mu": self.mu},
            "summary": self.counts(), "wall_s": None if self.wall_s is None else round(self.wall_s, 1),
            "feasible": bool(self.front),
            "front": [r.to_json() for r in self.front],
            "selected": self.selected.to_json() if self.selected else None,
            "closest": [r.to_json() for r in self.closest] if not self.front else [],
            "labels": self.labels(),
        }


def budgets_from_identity(identity: dict[str, Any]) -> Budgets:
    return Budgets.from_dict(identity["budgets"])


def result_from_study(study: Any, storage: str | None, *, select: str = "accuracy", mu: float = 0.5,
                      wall_s: float | None = None) -> ExploreResult:
    identity = identity_of(study)
    budgets = budgets_from_identity(identity)
    records = records_from_trials(study.get_trials(deepcopy=False), budgets)
    front = pareto_front(records)
    return ExploreResult(study_name=study.study_name, storage=storage, identity=identity, records=tuple(records),
                         front=tuple(front), selected=select_model(front, select, mu),
                         closest=tuple(closest_candidates(records)) if not front else (),
                         selection=select, mu=mu, wall_s=wall_s)


def explore(settings: ExploreSettings, evaluator: Evaluator, *, storage: str | None, study_name: str,
            n_trials: int | None = None, timeout_s: float | None = None, select: str = "accuracy",
            mu: float = 0.5, on_trial: Callable[[Any], None] | None = None,
            on_rung: Callable[..., None] | None = None, storage_obj: Any = None,
            heartbeat_s: int | None = None, on_wait: Callable[[str], None] | None = None,
            jobs: Jobs | None = None, on_start: Callable[[Any], None] | None = None) -> ExploreResult:
    """Run (or resume) the exploration; returns what the study holds afterwards.

    With ``jobs`` of one (the default) the process that runs this is the study's
    first worker (its sampler takes the study's seed, so one-process runs repeat);
    with more, that many `dse worker` processes run the trials and this one
    follows them (:mod:`dse.search.jobs`). Other `dse worker` processes may join
    either way. ``on_start(study)`` is called once the study is open, before any trial runs.
    """
    if jobs is not None and jobs.count > 1 and (storage is None or storage_obj is not None
                                                 or ":memory:" in storage):
        raise JobError(Param("jobs"), f" {jobs.count}: several processes need a storage they can all open (a "
                       "file or a database server, not memory); give ", Param("jobs"), " 1 or a storage URL")
    select_model([], select, mu)  # bad --select/--mu fail before any work
    t0 = time.perf_counter()
    full = evaluator.full_images()
    rungs = settings.rungs(full)
    identity = settings.identity(evaluator.identity(), full)
    space, _ = capped_space(settings.space, settings)
    if settings.strategy == "grid":
        check_grid(space, n_trials)  # before the study exists: a refused grid leaves nothing behind
    worker = WorkerInfo.here(None, settings.seed, derive=False)
    sampler = make_sampler(settings.strategy, worker.sampler_seed, n_trials or 0, trials_per_training(evaluator))
    study = open_study(storage, study_name, identity, sampler=sampler, storage_obj=storage_obj,
                       heartbeat_s=heartbeat_s or DEFAULT_HEARTBEAT_S)
    # The interval is the study's (a worker with a shorter one would take others' trials for dead):
    # a new value is recorded for processes started from now on; without one, the study's holds.
    if heartbeat_s is not None or HEARTBEAT_ATTR not in study.user_attrs:
        study.set_user_attr(HEARTBEAT_ATTR, heartbeat_s or DEFAULT_HEARTBEAT_S)
    elif heartbeat_of(study) != DEFAULT_HEARTBEAT_S and storage_obj is None:
        study = open_study(storage, study_name, identity, sampler=sampler, heartbeat_s=heartbeat_of(study))
    set_target(study, n_trials)
    if settings.strategy == "optuna" and not study.get_trials(deepcopy=False):
        for start in starting_points(space, TrialRunner(settings, evaluator, study).fits):
            study.enqueue_trial(space.params(start))
    if on_start is not None:
        on_start(study)
    compiling = evaluator.prepare(space)  # the simulator compiles its engine variants ahead, in the background
    if jobs is not None and jobs.count > 1:
        if compiling is not None:
            compiling.join()  # helpers would wait on the compile lock even to load a variant compiled here
        left = None if timeout_s is None else max(timeout_s - (time.perf_counter() - t0), 1.0)
        run_in_helpers(study, storage, jobs, timeout_s=left, on_trial=on_trial)
    else:
        run_study(study, settings, evaluator, space, rungs, worker, n_trials=n_trials, timeout_s=timeout_s,
                  on_trial=on_trial, on_rung=on_rung, on_wait=on_wait)
        if compiling is not None:
            # A search shorter than the compile (a few tiny trials) waits for it: the cache is then whole
            # for the next run, and no compile thread outlives the search (its notices would land on
            # whatever the process does next).
            compiling.join()
    return result_from_study(study, storage, select=select, mu=mu, wall_s=time.perf_counter() - t0)


def trials_per_training(evaluator: Evaluator) -> int:
    """Trials a training adds to a study at most: its own and its PTQ siblings (the FP32 network among them)."""
    full = evaluator.full_images()
    return 2 + sibling_limit(full, evaluator.evaluation_images(full))


def run_study(study: Any, settings: ExploreSettings, evaluator: Evaluator, space: Any, rungs: tuple[int, ...],
              worker: WorkerInfo, *, n_trials: int | None, timeout_s: float | None,
              on_trial: Callable[[Any], None] | None = None, on_rung: Callable[..., None] | None = None,
              on_wait: Callable[[str], None] | None = None) -> None:
    """One worker's share of a study: run trials until the strategy is done (shared by explore and worker)."""
    beat = getattr(study._storage, "get_heartbeat_interval", lambda: None)()
    runner = TrialRunner(settings, evaluator, study, on_rung=on_rung, space=space, on_sibling=on_trial)
    run_strategy(study, runner, space, settings.strategy, rungs=rungs, n_trials=n_trials, timeout_s=timeout_s,
                 on_trial=on_trial, worker=worker, heartbeat_s=beat, on_wait=on_wait)


def trials_csv(records: tuple[TrialRecord, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for r in records:
        writer.writerow(r.row())
    return buf.getvalue()


def write_outputs(result: ExploreResult, out_dir: Path) -> dict[str, Path]:
    """trials.csv and pareto.json in ``out_dir``, written atomically."""
    from dse.runs.folder import atomic_write_bytes

    out_dir = Path(out_dir)
    paths = {"trials": out_dir / "trials.csv", "pareto": out_dir / "pareto.json"}
    atomic_write_bytes(paths["trials"], trials_csv(result.records).encode())
    atomic_write_bytes(paths["pareto"], (json.dumps(result.to_json(), indent=2) + "\n").encode())
    return paths
