"""Search strategies: which candidates to try, in what order. Each trial is recorded in the Optuna study.

* ``optuna``: multi-objective TPE (constraint-aware through ``Trial.set_constraint``),
  with the fidelity rungs of :mod:`dse.search.runner`.
* ``incremental``: FSpiNN's Algorithm 2. For each design, grow N over FSpiNN's
  sizes (100, 400, 900, ..., 4900 within the space); at each size try each
  weight bit-width of the space (PTQ of one FP32 training, the other values at
  their widest, round to nearest), keep those that fit the budgets, and stop
  growing once no precision fits (memory grows with N). The most accurate
  feasible model wins; at equal accuracy the smaller.
* ``grid``: every candidate of the space, for checking.

All run trials through the same :class:`~dse.search.runner.TrialRunner` and
ask/tell interface, so reports read every study the same way; grid and
incremental candidates are enqueued as fixed parameters and train at the full
fidelity only.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

from dse.errors import Param, ParameterError

from .interrupts import raise_if_stop_asked
from .liveness import Heartbeat, WorkerInfo, ask_lock, fail_and_retry, recover_stale_trials
from .runner import Pruned, Rejected, TrialRunner
from .space import Candidate, SearchSpace

__all__ = ["run_strategy", "evaluated_trials", "make_sampler", "incremental_sizes", "check_grid", "StrategyError", "DEFAULT_TRIALS"]

DEFAULT_TRIALS = 100  # with the default time budget (4 minutes) the time ends the embedded default first
REJECT_FACTOR = 10
GRID_LIMIT = 100_000
FSPINN_SIZES = tuple(k * k for k in range(10, 80, 10))  # Net100 ... Net4900 (FSpiNN Sec. V)


class StrategyError(ParameterError):
    """A strategy cannot run on this space or trial budget (one line)."""


def make_sampler(strategy: str, seed: int, n_trials: int, trials_per_training: int = 1):
    """The strategy's sampler. ``trials_per_training``: trials one training adds to the study (itself and
    its PTQ siblings); TPE counts every trial towards its random start-up, and the start-up is meant to
    cover that many different trainings."""
    import optuna

    if strategy != "optuna":
        return optuna.samplers.RandomSampler(seed=seed)  # unused: every parameter is enqueued
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # A few random trainings first, then multivariate TPE (group: rho and T_w exist for fspinn only).
        startup = max(4, min(10, n_trials // 3)) * max(trials_per_training, 1)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup,
                                          multivariate=True, group=True, constant_liar=True)


POLL_S = 2.0  # how often a worker that waits for others' trials looks at the study


@dataclass
class _Loop:
    study: Any
    runner: TrialRunner
    space: SearchSpace
    deadline: float | None
    on_trial: Callable[[Any], None] | None
    worker: WorkerInfo | None = None
    heartbeat_s: int | None = None
    on_wait: Callable[[str], None] | None = None

    def time_left(self) -> bool:
        return self.deadline is None or time.monotonic() < self.deadline

    def recover(self) -> None:
        recover_stale_trials(self.study, self.heartbeat_s)

    def wait(self, why: str) -> None:
        if self.on_wait is not None:
            self.on_wait(why)
        time.sleep(POLL_S)
        raise_if_stop_asked()

    def one(self, candidate: Candidate | None, rungs: tuple[int, ...],
            wanted: Callable[[], bool] | None = None) -> Any:
        """Ask, run, tell one trial (a fixed candidate is enqueued first); returns the frozen trial, or
        None when ``wanted()``, asked under the lock that serialises asking, says the study has enough.

        A WAITING trial (a retry of one whose worker died) is popped by ``ask`` before anything new.
        """
        import optuna
        from optuna.trial import TrialState

        from dse.runs.folder import WriteFailed
        from dse.runs.documents import DamagedFile

        raise_if_stop_asked()  # a SIGTERM whose raise was lost (interrupts.py): nothing new is asked
        with ask_lock(self.study), warnings.catch_warnings():
            if wanted is not None and not wanted():
                return None  # another process took the last trial the study needed (or this candidate) meanwhile
            if candidate is not None:  # enqueued under the lock, so a refused candidate leaves no queued trial
                self.study.enqueue_trial(self.space.params(candidate))
            warnings.simplefilter("ignore")  # "heartbeat ... supposed to be used with Study.optimize": we beat ourselves
            trial = self.study.ask()
        state, values = TrialState.FAIL, None
        with Heartbeat(self.study._storage, trial._trial_id, self.heartbeat_s):
            self._name_worker(trial)
            try:
                c = self.space.suggest(trial)
                values = self.runner.run(trial, c, rungs)
                raise_if_stop_asked()  # ... lost while this trial ran: it is failed and queued, not told
                state = TrialState.COMPLETE
            except (Rejected, Pruned, optuna.TrialPruned):
                state = TrialState.PRUNED
            except (WriteFailed, DamagedFile) as exc:
                # Not the candidate's fault (a full disk, a damaged cache): every next trial would fail
                # alike, so the search stops, and the trial is queued again for when it is fixed.
                trial.set_user_attr("status", "failed")
                trial.set_user_attr("reason", f"stopped: {str(exc).splitlines()[0]}")
                fail_and_retry(self.study, trial._trial_id)
                raise
            except (ValueError, OSError) as exc:  # a candidate the simulator refuses; the search goes on
                trial.set_user_attr("status", "failed")
                trial.set_user_attr("reason", f"failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            except KeyboardInterrupt:
                # Failed and queued again: rerunning the command (or any worker) runs its candidate first.
                trial.set_user_attr("status", "failed")
                trial.set_user_attr("reason", "interrupted")
                fail_and_retry(self.study, trial._trial_id)
                raise
            except BaseException:
                self.study.tell(trial, state=TrialState.FAIL)
                raise
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frozen = self.study.tell(trial, values if state == TrialState.COMPLETE else None, state=state)
        if self.on_trial is not None:
            self.on_trial(frozen)
        return frozen

    def _name_worker(self, trial: Any) -> None:
        # dse.search.attrs.WORKER_ATTRS: "worker" (a dict) is what liveness reads; "worker_id", flat,
        # is a column in trials_dataframe()
        attrs = {"worker": self.worker.to_dict() if self.worker else None,
                 "worker_id": self.worker.worker_id if self.worker else ""}
        retry_of = self.study._storage.get_trial(trial._trial_id).system_attrs.get("failed_trial")
        if retry_of is not None:
            # a retry inherits the failed trial's attributes; start clean, naming the original
            attrs.update(retry_of=retry_of, status="running", reason=None, rungs=[])
        for key, value in attrs.items():
            trial.set_user_attr(key, value)


def _states(study: Any) -> tuple[int, int, int, int]:
    """(sampled trials evaluated, trials running, trials waiting, sampled trials not evaluated) in the study.

    The first is what ``--trials`` counts: trials the strategy asked for that were evaluated (complete,
    or stopped at a lower fidelity). PTQ siblings added after a training, candidates rejected before
    training and duplicates are recorded but do not count: they cost no training.
    """
    from optuna.trial import TrialState

    evaluated = running = waiting = not_evaluated = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.user_attrs.get("sibling_of") is None:
            counted = t.user_attrs.get("status") in ("complete", "pruned")
            evaluated += counted
            not_evaluated += not counted
        running += t.state == TrialState.RUNNING
        waiting += t.state == TrialState.WAITING
    return evaluated, running, waiting, not_evaluated


def evaluated_trials(study: Any) -> int:
    """Sampled trials of the study that were evaluated: what ``--trials`` counts (see _states)."""
    return _states(study)[0]


def _done_candidates(study: Any, *, running: bool = False) -> dict[Candidate, Any]:
    """Candidates that already have a finished (not failed) trial, and with ``running`` those being run."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED) + ((TrialState.RUNNING,) if running else ())
    out = {}
    for t in study.get_trials(deepcopy=False, states=states):
        if t.user_attrs.get("candidate"):
            out[Candidate.from_dict(t.user_attrs["candidate"])] = t
    return out


def _started(study: Any, space: SearchSpace, c: Candidate) -> bool:
    """Whether c is finished, running or queued in any worker. A trial just asked carries its
    candidate only once its worker names it, but its enqueued parameters at once."""
    from optuna.trial import TrialState

    if c in _done_candidates(study, running=True):
        return True
    params = space.params(c)
    live = (TrialState.RUNNING, TrialState.WAITING)
    return any(t.system_attrs.get("fixed_params") == params for t in study.get_trials(deepcopy=False, states=live))


def _drain_retries(loop: _Loop, rungs: tuple[int, ...]) -> None:
    """Run the retries of trials whose worker died (WAITING trials), before anything new."""
    loop.recover()
    while loop.time_left() and _states(loop.study)[2]:
        loop.one(None, rungs)


def run_strategy(study: Any, runner: TrialRunner, space: SearchSpace, strategy: str, *, rungs: tuple[int, ...],
                 n_trials: int | None, timeout_s: float | None, on_trial: Callable[[Any], None] | None = None,
                 worker: WorkerInfo | None = None, heartbeat_s: int | None = None,
                 on_wait: Callable[[str], None] | None = None) -> None:
    """Run the strategy until it is done, the study holds ``n_trials`` evaluated sampled trials, or time is up.

    Any number of processes may run this on one study at once (``dse worker``):
    each asks the shared storage for the next trial, retries trials whose
    worker died, and returns only when nothing is left to run or wait for.
    """
    loop = _Loop(study, runner, space, None if timeout_s is None else time.monotonic() + timeout_s, on_trial,
                 worker, heartbeat_s, on_wait)
    runner.deadline = loop.deadline
    if strategy == "optuna":
        _optuna(loop, rungs, DEFAULT_TRIALS if n_trials is None else n_trials)
        return
    if strategy == "grid":
        check_grid(space, n_trials)
        _grid(loop, space, rungs[-1:])
        return
    if strategy == "incremental":
        _incremental(loop, space, rungs[-1:], n_trials)
        return
    raise StrategyError(f"unknown strategy {strategy!r}")


def _wants_more(study: Any, target: int) -> bool:
    trained, running, waiting, _ = _states(study)
    return bool(waiting) or trained + running < target


def _optuna(loop: _Loop, rungs: tuple[int, ...], target: int) -> None:
    # The target counts sampled trials that were evaluated (see _states); rejections before
    # training and duplicates are recorded but nearly free, so they do not use it up (at most
    # REJECT_FACTOR x target of them, in case almost nothing fits or the sampler keeps repeating itself).
    while loop.time_left():
        loop.recover()
        trained, running, waiting, not_evaluated = _states(loop.study)
        if not_evaluated >= REJECT_FACTOR * target:
            return
        if waiting or trained + running < target:
            # checked again under the ask lock: on SQLite two processes do not both take the last trial
            loop.one(None, rungs, wanted=lambda: _wants_more(loop.study, target))
        elif running:
            # Others' trials may still fail (their worker dies) and need a retry: stay until they end.
            loop.wait(f"{running} trial(s) running in other workers")
        else:
            return


def _grid(loop: _Loop, space: SearchSpace, rungs: tuple[int, ...]) -> None:
    taken = None  # done or being run, by any worker; read again after each trial this worker runs
    for c in space.grid():
        if not loop.time_left():
            return
        if taken is None:
            _drain_retries(loop, rungs)
            taken = _done_candidates(loop.study, running=True)
        if c not in taken:
            # checked again under the ask lock: another worker may have started c since `taken` was read
            loop.one(c, rungs, wanted=lambda c=c: not _started(loop.study, loop.space, c))
            taken = None
    _wait_for_others(loop, rungs)


def _wait_for_others(loop: _Loop, rungs: tuple[int, ...]) -> None:
    while loop.time_left():
        _drain_retries(loop, rungs)
        running = _states(loop.study)[1]
        if not running:
            return
        loop.wait(f"{running} trial(s) running in other workers")


def check_grid(space: SearchSpace, n_trials: int | None) -> int:
    """The grid's size, or StrategyError if it exceeds the trials allowed (checked before a study is made)."""
    size = space.grid_size(limit=GRID_LIMIT)
    limit = GRID_LIMIT if n_trials is None else n_trials
    if size > limit:
        shown = f"more than {GRID_LIMIT:,}" if size > GRID_LIMIT else f"{size:,}"
        raise StrategyError(f"the grid has {shown} candidates, over the {limit:,} trials allowed; "
                            "narrow it with ", Param("space"), " (e.g. design=fspinn, neurons=100..900) or raise ",
                            Param("n_trials"))
    return size


def incremental_sizes(space: SearchSpace) -> tuple[int, ...]:
    """FSpiNN's sizes inside the space's neuron range (the range's own values if none is)."""
    dim = space.dim("neurons")
    sizes = tuple(n for n in FSPINN_SIZES if dim.low <= n <= dim.high)
    return sizes or dim.values()


def _at_least(space: SearchSpace, name: str, bits: int) -> int:
    """The narrowest width of the dimension that holds ``bits`` (its widest if none does)."""
    choices = space.dim(name).values()
    wide_enough = [b for b in choices if b >= bits]
    return min(wide_enough) if wide_enough else max(choices)


def _prefer(space: SearchSpace, name: str, value: Any) -> Any:
    dim = space.dim(name)
    return value if dim.contains(value) else dim.values()[0]


def incremental_candidates(space: SearchSpace, design: str, neurons: int) -> list[Candidate]:
    """The precisions Algorithm 2 tries at one size: FSpiNN's "k-bit" designs, widest first.

    k runs over the space's weight bit-widths; every other value takes k bits
    too, or the nearest wider width the space offers (potentials need 8).
    """
    out = []
    for bits in sorted(space.dim("weights_bits").values(), reverse=True):
        values = {"design": design, "neurons": neurons, "weights_bits": bits, "scheme": _prefer(space, "scheme", "ptq"),
                  "rounding": _prefer(space, "rounding", "nearest"), "rho": _prefer(space, "rho", 4.0),
                  "window_steps": _prefer(space, "window_steps", 50),
                  "exit_margin": _prefer(space, "exit_margin", 0)}  # exits are siblings of each training
        values.update({f"{k}_bits": _at_least(space, f"{k}_bits", bits) for k in ("inh", "vmem", "vth")})
        c = space.candidate(values)
        if c not in out:
            out.append(c)
    return out


def starting_points(space: SearchSpace, fits: Callable[[Candidate], bool]) -> list[Candidate]:
    """The optuna strategy's first trials, fspinn if the space has it:

    1. where FSpiNN's Algorithm 2 ends up: the largest of FSpiNN's sizes whose widest k-bit design fits;
    2. the memory-bound corner: the largest size of the space whose narrowest k-bit design fits. Algorithm 2
       grows N only over FSpiNN's sizes (400 -> 900), so under 1 MB it stops at Net400, while an STDP network
       gains accuracy with size up to Net2500 (docs/results.md section 2) and 4-8-bit PTQ costs little.

    Their trainings and PTQ siblings give the sampler known-good regions before the random start-up.
    """
    designs = space.dim("design").values()
    design = "fspinn" if "fspinn" in designs else designs[0]
    out: list[Candidate] = []
    for n in sorted(incremental_sizes(space), reverse=True):
        fitting = [c for c in incremental_candidates(space, design, n) if fits(c)]
        if fitting:
            out.append(fitting[0])
            break
    for n in sorted(space.dim("neurons").values(), reverse=True):
        narrowest = incremental_candidates(space, design, n)[-1]
        if fits(narrowest):
            if not out or out[0].neurons != n:  # at the same size it is one of the first point's PTQ siblings
                out.append(narrowest)
            break
    return out


def _incremental(loop: _Loop, space: SearchSpace, rungs: tuple[int, ...], n_trials: int | None) -> None:
    for design in space.dim("design").values():
        for n in incremental_sizes(space):
            fits_any = False
            for c in incremental_candidates(space, design, n):
                _drain_retries(loop, rungs)
                trained = _states(loop.study)[0]
                if not loop.time_left() or (n_trials is not None and trained >= n_trials):
                    return
                frozen = _settled(loop, c)
                if frozen is None:
                    frozen = loop.one(c, rungs)
                fits_any |= frozen.state.name == "COMPLETE" and all(v <= 0 for v in frozen.constraints.values())
            if not fits_any:
                break  # memory and energy grow with N: no larger network fits either


def _settled(loop: _Loop, c: Candidate) -> Any:
    """The finished trial of ``c`` (waiting while another worker runs it), or None if it has none."""
    from optuna.trial import TrialState

    while True:
        t = _done_candidates(loop.study, running=True).get(c)
        if t is None or t.state != TrialState.RUNNING:
            return t
        if not loop.time_left():
            return None
        loop.wait(f"trial #{t.number} ({c.label()}) running in another worker")
        loop.recover()
