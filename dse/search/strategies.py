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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable

from .runner import Pruned, Rejected, TrialRunner
from .space import Candidate, SearchSpace

__all__ = ["run_strategy", "make_sampler", "incremental_sizes", "check_grid", "StrategyError", "DEFAULT_TRIALS"]

DEFAULT_TRIALS = 25
REJECT_FACTOR = 10
GRID_LIMIT = 100_000
FSPINN_SIZES = tuple(k * k for k in range(10, 80, 10))  # Net100 ... Net4900 (FSpiNN Sec. V)


class StrategyError(ValueError):
    """A strategy cannot run on this space or trial budget (one line)."""


def make_sampler(strategy: str, seed: int, n_trials: int):
    import optuna

    if strategy != "optuna":
        return optuna.samplers.RandomSampler(seed=seed)  # unused: every parameter is enqueued
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # A few random trials first, then multivariate TPE (group: rho and T_w exist for fspinn only).
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(4, min(10, n_trials // 3)),
                                          multivariate=True, group=True, constant_liar=True)


@dataclass
class _Loop:
    study: Any
    runner: TrialRunner
    space: SearchSpace
    deadline: float | None
    on_trial: Callable[[Any], None] | None

    def time_left(self) -> bool:
        return self.deadline is None or time.monotonic() < self.deadline

    def one(self, candidate: Candidate | None, rungs: tuple[int, ...]) -> Any:
        """Ask, run, tell one trial (a fixed candidate is enqueued first); returns the frozen trial."""
        import optuna
        from optuna.trial import TrialState

        if candidate is not None:
            self.study.enqueue_trial(self.space.params(candidate))
        trial = self.study.ask()
        state, values = TrialState.FAIL, None
        try:
            c = self.space.suggest(trial)
            values = self.runner.run(trial, c, rungs)
            state = TrialState.COMPLETE
        except (Rejected, Pruned, optuna.TrialPruned):
            state = TrialState.PRUNED
        except (ValueError, OSError) as exc:  # a candidate the simulator refuses; the search goes on
            trial.set_user_attr("status", "failed")
            trial.set_user_attr("reason", f"failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        except KeyboardInterrupt:
            # Left RUNNING on purpose: rerunning the command marks it failed and runs its candidate again.
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


def _finished(study: Any) -> list[Any]:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))


def _done_candidates(study: Any) -> dict[Candidate, Any]:
    """Candidates that already have a finished (not failed) trial, for resuming grid/incremental runs."""
    from optuna.trial import TrialState

    out = {}
    for t in _finished(study):
        if t.state != TrialState.FAIL and t.user_attrs.get("candidate"):
            out[Candidate.from_dict(t.user_attrs["candidate"])] = t
    return out


def run_strategy(study: Any, runner: TrialRunner, space: SearchSpace, strategy: str, *, rungs: tuple[int, ...],
                 n_trials: int | None, timeout_s: float | None, on_trial: Callable[[Any], None] | None = None,
                 retry: list[dict[str, Any]] | None = None) -> None:
    """Run the strategy until it is done, the study holds ``n_trials`` finished trials, or time is up."""
    loop = _Loop(study, runner, space, None if timeout_s is None else time.monotonic() + timeout_s, on_trial)
    runner.deadline = loop.deadline
    if strategy == "optuna":
        # --trials counts trials that trained (complete, or stopped at a lower fidelity);
        # rejections before training are recorded but nearly free, so they do not use up the
        # budget (at most REJECT_FACTOR x T trials in all, in case almost nothing fits or all fail).
        target = DEFAULT_TRIALS if n_trials is None else n_trials
        for params in retry or ():  # candidates of trials an interruption cut short, first
            study.enqueue_trial(params)
        while loop.time_left():
            finished = _finished(study)
            trained = sum(t.user_attrs.get("status") in ("complete", "pruned") for t in finished)
            if trained >= target or len(finished) >= REJECT_FACTOR * target:
                return
            loop.one(None, rungs)
        return
    if strategy == "grid":
        check_grid(space, n_trials)
        candidates: Iterator[Candidate] = space.grid()
        done = _done_candidates(study)
        for c in candidates:
            if not loop.time_left():
                return
            if c not in done:
                loop.one(c, rungs[-1:])
        return
    if strategy == "incremental":
        _incremental(loop, space, rungs[-1:], n_trials)
        return
    raise StrategyError(f"unknown strategy {strategy!r}")


def check_grid(space: SearchSpace, n_trials: int | None) -> int:
    """The grid's size, or StrategyError if it exceeds the trials allowed (checked before a study is made)."""
    size = space.grid_size(limit=GRID_LIMIT)
    limit = GRID_LIMIT if n_trials is None else n_trials
    if size > limit:
        shown = f"more than {GRID_LIMIT:,}" if size > GRID_LIMIT else f"{size:,}"
        raise StrategyError(f"the grid has {shown} candidates, over the {limit:,} trials allowed; "
                            "narrow it with --space (e.g. --space design=fspinn --space neurons=100..900) "
                            "or raise --trials")
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
                  "rounding": _prefer(space, "rounding", "nearest"), "rho": _prefer(space, "rho", 2.0),
                  "window_steps": _prefer(space, "window_steps", 50)}
        values.update({f"{k}_bits": _at_least(space, f"{k}_bits", bits) for k in ("inh", "vmem", "vth")})
        c = space.candidate(values)
        if c not in out:
            out.append(c)
    return out


def _incremental(loop: _Loop, space: SearchSpace, rungs: tuple[int, ...], n_trials: int | None) -> None:
    done = _done_candidates(loop.study)
    count = sum(t.user_attrs.get("status") in ("complete", "pruned") for t in _finished(loop.study))
    for design in space.dim("design").values():
        for n in incremental_sizes(space):
            fits_any = False
            for c in incremental_candidates(space, design, n):
                if not loop.time_left() or (n_trials is not None and count >= n_trials):
                    return
                frozen = done.get(c)
                if frozen is None:
                    frozen = loop.one(c, rungs)
                    count += frozen.user_attrs.get("status") in ("complete", "pruned")
                fits_any |= frozen.state.name == "COMPLETE" and all(v <= 0 for v in frozen.constraints.values())
            if not fits_any:
                break  # memory and energy grow with N: no larger network fits either
