"""Several trainings at once on one machine: `dse worker` processes that share the explore study.

Training a network is sequential (each image changes the weights the next
one sees), so one training uses one core however many the machine has;
several networks train independently. `dse explore --jobs J` therefore runs
its trials in J `dse worker` processes on its own study (the machinery that
also lets workers on other machines join: shared storage, heartbeats,
retries, the cache's locks), and itself only follows the study, printing each
trial as it ends. Each process gets ``cores // J`` numba threads (at least
one; they parallelise inference), so processes x threads <= cores.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dse.errors import Param, ParameterError

from .interrupts import raise_if_stop_asked

__all__ = ["usable_cores", "default_jobs", "threads_per_job", "JobError", "Jobs", "Helpers", "follow",
           "run_in_helpers"]

POLL_S = 2.0  # how often the following process reads the study (each read: every trial and its attributes)


class JobError(ParameterError):
    """A helper process could not run the study (its own message, one line)."""


@dataclass(frozen=True)
class Jobs:
    """How many trainings run at once, and what a `dse worker` needs to rebuild the evaluator
    (``worker_args``: e.g. ``--cache DIR --data-dir D``); helper logs go to ``log_dir`` (default: a
    temporary folder, removed when every helper succeeded)."""

    count: int
    worker_args: tuple[str, ...] = ()
    log_dir: Path | None = None

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ParameterError(Param("jobs"), f" must be a whole number >= 1, got {self.count!r}")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_jobs() -> int:
    """Trainings at once by default: one per usable core."""
    return usable_cores()


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """numba threads for each of ``jobs`` processes, so that processes x threads <= cores (at least 1)."""
    return max(1, (cores or usable_cores()) // max(jobs, 1))


def _die_with_parent() -> None:
    """Linux: the helper gets SIGTERM when the process that started it dies (killed, crashed), so no
    helper is left running a study nobody follows; it then fails and queues its trial like on Ctrl-C."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Helpers:
    """The `dse worker` processes of one explore run."""

    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @classmethod
    def start(cls, argvs: Sequence[Sequence[str]], threads: int, log_dir: Path) -> Helpers:
        """Start one `python -m dse` process per argv (the arguments after ``dse``), logs in ``log_dir``."""
        log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
        helpers = cls()
        for k, argv in enumerate(argvs):
            log = log_dir / f"job{k + 1}.log"
            with open(log, "wb") as out:
                helpers.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "dse", *argv], stdout=out, stderr=subprocess.STDOUT, env=env,
                    preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None))
            helpers.logs.append(log)
        return helpers

    def running(self) -> bool:
        return any(p.poll() is None for p in self.procs)

    def stop(self, timeout_s: float = 60.0) -> None:
        """Ask every helper to end like on Ctrl-C (its running trial is failed and queued) and wait."""
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        end = time.monotonic() + timeout_s
        for p in self.procs:
            try:
                p.wait(timeout=max(end - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def check(self) -> None:
        """JobError naming the first helper that failed, with the last line it wrote."""
        for p, log in zip(self.procs, self.logs):
            if p.returncode not in (0, None):
                lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
                last = lines[-1].strip() if lines else "no output"
                raise JobError("a search process (", Param("jobs"), f") ended with status {p.returncode}: "
                               f"{last} (log: {log})")


def follow(study: Any, helpers: Helpers, on_trial: Callable[[Any], None] | None, poll_s: float = POLL_S) -> None:
    """Report each trial of the study as it ends, until every helper has exited (JobError at once,
    the others stopped, if one fails)."""
    from optuna.trial import TrialState

    seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    ended = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    while True:
        alive = helpers.running()
        for t in study.get_trials(deepcopy=False, states=ended):
            if t.number not in seen:
                seen.add(t.number)
                if on_trial is not None:
                    on_trial(t)
        try:
            helpers.check()
        except JobError:
            helpers.stop()
            raise
        if not alive:
            return
        time.sleep(poll_s)
        raise_if_stop_asked()


def run_in_helpers(study: Any, storage: str, jobs: Jobs, *, timeout_s: float | None,
                   on_trial: Callable[[Any], None] | None = None) -> None:
    """Run the study's trials in ``jobs.count`` `dse worker` processes and follow it until they are done.

    Ctrl-C reaches the helpers from the terminal; SIGTERM (taken as KeyboardInterrupt by the CLI) is
    passed on: either way each fails and queues its running trial, and the interrupt is raised here.
    """
    import shutil
    import tempfile

    # Logs in a temporary folder unless one is given: kept, and named by the error, only if a helper fails.
    log_dir = jobs.log_dir or Path(tempfile.mkdtemp(prefix="dse-jobs-"))
    argvs = [["worker", "--storage", storage, "--study-name", study.study_name, "--worker-id", f"job{k + 1}",
              "--quiet", *jobs.worker_args, *(["--timeout", f"{max(timeout_s, 1.0):.1f}"] if timeout_s else [])]
             for k in range(jobs.count)]
    helpers = Helpers.start(argvs, threads_per_job(jobs.count), log_dir)
    try:
        follow(study, helpers, on_trial)
    except KeyboardInterrupt:
        helpers.stop()
        raise
    if jobs.log_dir is None:
        shutil.rmtree(log_dir, ignore_errors=True)
