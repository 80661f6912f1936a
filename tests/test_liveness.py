"""Which trials count as dead: stale heartbeats (any host), gone processes (this host), orphans; and retries."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from dse.search.liveness import Heartbeat, WorkerInfo, derive_seed, recover_stale_trials
from dse.search.study import _storage

# the tests ask for trials by hand, as the workers do; Optuna warns that heartbeats are meant for optimize()
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage")


@pytest.fixture()
def study(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = _storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_s=1)
    return optuna.create_study(storage=storage, study_name="s")


def _running(study, worker: dict | None, beat: bool = True):
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    if beat:
        study._storage.record_heartbeat(trial._trial_id)
    if worker is not None:
        trial.set_user_attr("worker", worker)
    return trial


def _state(study, number: int) -> TrialState:
    return study.get_trials(deepcopy=False)[number].state


def _retries_of(study, number: int):
    return [t for t in study.get_trials(deepcopy=False) if t.system_attrs.get("failed_trial") == number]


def test_a_silent_trial_on_another_host_is_failed_after_the_grace_period_and_retried(study):
    far = {"id": "w", "host": "elsewhere.example", "pid": 1, "started": "1", "sampler_seed": 1}
    t = _running(study, far)
    assert recover_stale_trials(study, 1) == []  # heartbeat is fresh
    time.sleep(4.5)  # grace = 3 beats (SQLite clocks in whole seconds)
    assert recover_stale_trials(study, 1) == [t.number]
    assert _state(study, t.number) == TrialState.FAIL
    (retry,) = _retries_of(study, t.number)
    assert retry.state == TrialState.WAITING and retry.params == study.get_trials()[t.number].params


def test_a_beating_trial_is_never_failed(study):
    far = {"id": "w", "host": "elsewhere.example", "pid": 1, "started": "1", "sampler_seed": 1}
    t = _running(study, far)
    with Heartbeat(study._storage, t._trial_id, 1):
        time.sleep(4)
        assert recover_stale_trials(study, 1) == []
    assert _state(study, t.number) == TrialState.RUNNING


def test_a_trial_of_a_dead_process_on_this_host_is_failed_at_once(study):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = WorkerInfo.here("gone", 0).to_dict() | {"pid": child.pid}
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        live = WorkerInfo.here("live", 0).to_dict() | {"pid": alive.pid, "started": None}
        t_dead, t_live = _running(study, dead), _running(study, live)
        assert recover_stale_trials(study, 1) == [t_dead.number]  # no waiting for the grace period
        assert _state(study, t_live.number) == TrialState.RUNNING
        assert len(_retries_of(study, t_dead.number)) == 1
    finally:
        alive.kill()


def test_a_reused_pid_is_not_taken_for_the_worker(study):
    me = WorkerInfo.here("me", 0).to_dict()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        # the pid exists but belongs to a process started at another time than the worker's
        t = _running(study, me | {"pid": other.pid, "started": "0"})
        assert recover_stale_trials(study, 1) == [t.number]
    finally:
        other.kill()


def test_an_orphan_without_worker_is_failed_after_the_grace_period(study):
    t = _running(study, None, beat=False)
    assert recover_stale_trials(study, 1) == []
    time.sleep(3.5)
    assert recover_stale_trials(study, 1) == [t.number]


def test_retries_stop_after_two():
    from dse.search.liveness import MAX_RETRY

    storage = _storage(None)
    s = optuna.create_study(storage=storage)
    from dse.search.liveness import fail_and_retry

    t = s.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    for _ in range(MAX_RETRY + 1):
        assert fail_and_retry(s, t._trial_id)
        waiting = [w for w in s.get_trials(deepcopy=False) if w.state == TrialState.WAITING]
        if not waiting:
            break
        t = s.ask()
    assert len([w for w in s.get_trials(deepcopy=False) if w.state == TrialState.FAIL]) == MAX_RETRY + 1
    assert not [w for w in s.get_trials(deepcopy=False) if w.state == TrialState.WAITING]


def test_worker_seeds_differ_and_repeat():
    assert derive_seed(0, "a") == derive_seed(0, "a") != derive_seed(0, "b")
    assert derive_seed(0, "a") != derive_seed(1, "a")
    assert WorkerInfo.here(None, 7, derive=False).sampler_seed == 7  # `dse explore` keeps the study's seed
    assert WorkerInfo.here(None, 7).worker_id.endswith(str(os.getpid()))


def test_the_heartbeat_is_the_studys_and_workers_adopt_it(tmp_path):
    from dse.search.explore import explore
    from dse.search.objectives import Budgets, ExploreSettings
    from dse.search.space import DEFAULT_SPACE
    from dse.search.study import heartbeat_of
    from dse.search.synthetic import SyntheticEvaluator
    from dse.search.worker import join_study

    url = f"sqlite:///{tmp_path / 's.db'}"
    settings = ExploreSettings(Budgets(memory_mb=1.0), space=DEFAULT_SPACE.restricted({"design": "fspinn"}))

    def run(beat):
        return explore(settings, SyntheticEvaluator(), storage=url, study_name="hb", n_trials=1, heartbeat_s=beat)

    run(2)
    beats = []
    join_study(url, "hb", lambda ident: SyntheticEvaluator(),
               on_start=lambda w, s, t: beats.append(heartbeat_of(optuna.load_study(study_name="hb", storage=url))))
    assert beats == [2]
    run(None)  # a rerun without --heartbeat keeps the study's
    assert heartbeat_of(optuna.load_study(study_name="hb", storage=url)) == 2
    run(5)
    assert heartbeat_of(optuna.load_study(study_name="hb", storage=url)) == 5
