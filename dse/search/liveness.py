"""Which trials are alive: heartbeats, worker identities, and recovery of trials whose worker died.

Every trial a `dse explore` or `dse worker` process runs carries the worker
that runs it (user attribute ``worker``: id, host, pid, process start time,
sampler seed) and a heartbeat thread that stamps the trial in the storage
every ``heartbeat_s`` seconds (Optuna's ``record_heartbeat``). A trial is
*stale*, and its worker presumed dead, when

* its heartbeat is older than the grace period (Optuna's own rule, run by
  ``optuna.storages.fail_stale_trials``; works across machines), or
* its worker ran on this host and that process no longer exists (exact and
  immediate: a rerun after a kill or Ctrl-C need not wait for the grace
  period), or
* it never named its worker and started longer ago than the grace period
  (killed between ``ask`` and its first stamp).

A stale trial is marked FAIL and handed to Optuna's retry callback
(``RetryHeartbeatStaleTrialCallback``),
which enqueues its parameters as a new WAITING trial (system attribute
``failed_trial`` names the original) that the next ``ask`` of any worker pops.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cachefolders import key_lock

__all__ = ["WorkerInfo", "Heartbeat", "recover_stale_trials", "retry_callback", "derive_seed", "fail_and_retry",
           "DEFAULT_HEARTBEAT_S", "MAX_RETRY", "grace_s", "ask_lock"]

DEFAULT_HEARTBEAT_S = 20
MAX_RETRY = 2  # a candidate that kills its worker every time (e.g. out of memory) is tried 3 times in all


def grace_s(heartbeat_s: int) -> int:
    """Seconds without a heartbeat after which a trial's worker counts as dead."""
    return 3 * heartbeat_s


def derive_seed(study_seed: int, worker_id: str) -> int:
    """A sampler seed per worker: NSGA-II/TPE with one shared seed propose the same points in parallel."""
    digest = hashlib.sha256(f"{study_seed}:{worker_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _process_start(pid: int) -> str | None:
    """The kernel's start time of a process (clock ticks since boot), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its closing one
    return stat.rsplit(")", 1)[-1].split()[19]


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str
    sampler_seed: int
    host: str
    pid: int
    started: str | None

    @classmethod
    def here(cls, worker_id: str | None, study_seed: int, *, derive: bool = True) -> WorkerInfo:
        host, pid = socket.gethostname(), os.getpid()
        wid = worker_id or f"{host}-{pid}"
        seed = derive_seed(study_seed, wid) if derive else study_seed
        return cls(worker_id=wid, sampler_seed=seed, host=host, pid=pid, started=_process_start(pid))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.worker_id, "sampler_seed": self.sampler_seed, "host": self.host, "pid": self.pid,
                "started": self.started}


def _dead_here(info: dict[str, Any] | None) -> bool:
    """True if the worker ran on this host and its process is gone (False when unsure)."""
    if not info or info.get("host") != socket.gethostname() or not isinstance(info.get("pid"), int):
        return False
    pid = info["pid"]
    if pid == os.getpid():
        return False  # this very process: its own trials are not stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    started = _process_start(pid)
    return started is not None and info.get("started") is not None and started != info["started"]


class Heartbeat:
    """Stamps a trial every ``interval_s`` seconds in a daemon thread while the ``with`` block runs."""

    def __init__(self, storage: Any, trial_id: int, interval_s: int | None) -> None:
        self._storage, self._trial_id, self._interval = storage, trial_id, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self._interval:
            self._storage.record_heartbeat(self._trial_id)  # at once: a trial is never long without a stamp
            self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{self._trial_id}", daemon=True)
            self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._storage.record_heartbeat(self._trial_id)
            except Exception:  # noqa: BLE001 - a lost beat must not kill the trial; the next one retries
                pass

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


@contextmanager
def ask_lock(study: Any) -> Iterator[None]:
    """Held around ``Study.ask`` by every process of a study in a SQLite file.

    ``ask`` pops a queued (WAITING) trial by reading its state and then setting it RUNNING. PostgreSQL
    and MySQL lock the row in between (SELECT ... FOR UPDATE); SQLite has no row locks, and its Python
    driver begins the transaction only at the write, so two processes can both read WAITING and both
    run the trial (seen with `dse explore --jobs 2`: the second tell fails). A SQLite file is on one
    machine, so an flock beside it makes popping atomic there; other storages need nothing.
    """
    backend = getattr(study._storage, "_backend", study._storage)
    url = getattr(getattr(backend, "engine", None), "url", None)
    database = url.database if url is not None and url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with key_lock(Path(f"{database}.ask-lock")):  # (Windows has no flock: the race stays possible there)
        yield


def retry_callback():
    """Optuna's callback that enqueues a failed trial's parameters again (renamed in Optuna 4.9)."""
    import optuna

    cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(max_retry=MAX_RETRY)


def fail_and_retry(study: Any, trial_id: int) -> bool:
    """Mark a RUNNING trial FAIL and enqueue its retry; False if another process finished it first."""
    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    try:
        if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
            return False
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    retry_callback()(study, storage.get_trial(trial_id))
    return True


def recover_stale_trials(study: Any, heartbeat_s: int | None) -> list[int]:
    """Fail the trials whose worker is dead and enqueue their retries; returns their numbers."""
    import optuna
    from optuna.trial import TrialState

    running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    if not running:
        return []
    if heartbeat_s:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.storages.fail_stale_trials(study)  # heartbeat older than the grace period; the storage retries
    now = dt.datetime.now()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        info = t.user_attrs.get("worker")
        # The worker stamps a heartbeat and then names itself right after `ask`, so a trial
        # without a name long after it started was orphaned in between.
        orphaned = (heartbeat_s and info is None and t.datetime_start is not None
                    and (now - t.datetime_start).total_seconds() > grace_s(heartbeat_s))
        if orphaned or _dead_here(info):
            fail_and_retry(study, t._trial_id)
    return sorted(t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
                  if t.number in running)
