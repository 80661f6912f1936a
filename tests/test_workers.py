"""Distributed search and crash recovery, with real processes killed by SIGKILL.

* Three `dse worker` processes join a `dse explore` study in PostgreSQL; one
  is killed mid-trial. The study reaches its trial count, every completed
  trial is kept, the killed trial is failed and retried by another worker,
  and the storage password appears in no output.
* `dse explore` on SQLite is killed mid-trial and rerun with the same
  command: nothing finished is repeated or lost.

The evaluator is the synthetic one with a fixed wall time per evaluation, so
a trial lasts long enough to be killed in, and the whole file runs in
well under a minute.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from tests.conftest import PG_PASSWORD

SECONDS = 1.0  # wall time of one synthetic evaluation
# --jobs 1: `dse explore` runs trials itself (these tests kill it mid-trial); workers join separately
COMMON = ["--evaluator", "synthetic", "--synthetic-seconds", str(SECONDS), "--heartbeat", "1", "--jobs", "1",
          "--space", "design=fspinn", "--space", "neurons=100..1500"]


def _dse(*argv: str, cwd: Path, log: Path) -> subprocess.Popen:
    out = open(log, "wb")
    return subprocess.Popen([sys.executable, "-m", "dse", *argv], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})


def _study(url: str, name: str, deadline: float):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    while True:
        try:
            return optuna.load_study(study_name=name, storage=url)
        except Exception:  # noqa: BLE001 - not there yet, or its tables are being created right now
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _wait(procs: list[subprocess.Popen], timeout: float) -> list[int]:
    end = time.monotonic() + timeout
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=max(end - time.monotonic(), 1)))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise AssertionError("a search process did not finish in time")
    return codes


def _running_in(study, pid: int):
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if (t.user_attrs.get("worker") or {}).get("pid") == pid and t.user_attrs.get("candidate"):
            return t
    return None


def _finished_snapshot(study) -> dict[int, tuple]:
    return {t.number: (t.state.name, tuple(t.values or ()), tuple(sorted(t.params.items())))
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))}


def _trained(study) -> int:
    """What the trial target counts: sampled trials evaluated (PTQ siblings of a training come on top)."""
    return sum(t.user_attrs.get("status") in ("complete", "pruned") and t.user_attrs.get("sibling_of") is None
               for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _kill_mid_trial(study, proc: subprocess.Popen, deadline: float):
    """SIGKILL ``proc`` while it runs a trial; returns that trial's number."""
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the process ended before it could be killed mid-trial"
        t = _running_in(study, proc.pid)
        if t is not None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return t.number
        time.sleep(0.05)
    raise AssertionError("the process never ran a trial")


def test_three_workers_on_postgres_one_killed(tmp_path, postgres_url):
    name, target = f"workers-{os.getpid()}", 16
    argv = ["--storage", postgres_url, "--study-name", name]
    logs = tmp_path / "logs"
    logs.mkdir()
    explore = _dse("explore", "--budget-mb", "1", "--trials", str(target), *COMMON, *argv,
                   "--out", str(tmp_path / "out"), cwd=tmp_path, log=logs / "explore.txt")
    study = _study(postgres_url, name, time.monotonic() + 60)
    workers = [_dse("worker", *argv, "--synthetic-seconds", str(SECONDS), "--worker-id", f"w{k}",
                    cwd=tmp_path, log=logs / f"worker{k}.txt") for k in range(3)]
    victim = workers[1]
    killed = _kill_mid_trial(study, victim, time.monotonic() + 90)
    before = _finished_snapshot(study)

    codes = _wait([explore, workers[0], workers[2]], timeout=180)
    assert codes == [0, 0, 0], [p.read_text() for p in logs.iterdir()]

    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    assert _trained(study) >= target
    assert not [n for n, t in trials.items() if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    # every trial finished before the kill is kept, unchanged
    assert {n: v for n, v in _finished_snapshot(study).items() if n in before} == before
    # the killed trial is failed, and retried (same parameters) by a live process, to completion
    assert trials[killed].state == TrialState.FAIL
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1
    retry = retries[0]
    assert retry.state in (TrialState.COMPLETE, TrialState.PRUNED) and retry.params == trials[killed].params
    assert retry.user_attrs["worker"]["pid"] != victim.pid and retry.user_attrs["retry_of"] == killed
    # each worker sampled with its own seed
    seeds = {t.user_attrs["worker"]["id"]: t.user_attrs["worker"]["sampler_seed"] for t in trials.values()
             if t.user_attrs.get("worker")}
    assert len(seeds) >= 3 and len(set(seeds.values())) == len(seeds)

    report = tmp_path / "report.html"
    assert subprocess.run([sys.executable, "-m", "dse", "report", name, "--storage", postgres_url, "--out",
                           str(report)], cwd=tmp_path, capture_output=True).returncode == 0
    # the password appears in no output: logs, report, trials.csv, pareto.json, anything written
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert report in written and (tmp_path / "out" / "pareto.json") in written
    for p in written:
        assert PG_PASSWORD.encode() not in p.read_bytes(), p
    assert "***@127.0.0.1" in (logs / "worker0.txt").read_text()
    pareto = json.loads((tmp_path / "out" / "pareto.json").read_text())
    assert pareto["storage"].startswith("postgresql://dse:***@")


def test_killed_explore_resumes_on_sqlite_without_repeating(tmp_path):
    target = 8
    url = f"sqlite:///{tmp_path / 'study.db'}"
    argv = ["explore", "--budget-mb", "1", "--trials", str(target), *COMMON, "--storage", url,
            "--study-name", "resume", "--out", str(tmp_path / "out")]
    first = _dse(*argv, cwd=tmp_path, log=tmp_path / "first.txt")
    study = _study(url, "resume", time.monotonic() + 60)
    while _trained(study) < 3:  # some finished work to keep
        assert first.poll() is None, (tmp_path / "first.txt").read_text()
        time.sleep(0.05)
    killed = _kill_mid_trial(study, first, time.monotonic() + 60)
    before = _finished_snapshot(study)
    numbers_before = max(t.number for t in study.get_trials(deepcopy=False))

    second = _dse(*argv, cwd=tmp_path, log=tmp_path / "second.txt")
    assert _wait([second], timeout=120) == [0], (tmp_path / "second.txt").read_text()

    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    assert {n: v for n, v in _finished_snapshot(study).items() if n in before} == before  # nothing lost or changed
    assert trials[killed].state == TrialState.FAIL
    # the dead process was on this host: its trial is retried at once, as the rerun's first trial
    retry = trials[numbers_before + 1]
    assert retry.system_attrs.get("failed_trial") == killed and retry.params == trials[killed].params
    # nothing finished was repeated: the rerun ran exactly the trials still missing (the retry included)
    assert _trained(study) == target
    assert all(t.state != TrialState.RUNNING for t in trials.values())
    assert "feasible" in (tmp_path / "second.txt").read_text()


def test_sigterm_fails_the_running_trial_and_queues_it_at_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    argv = ["explore", "--budget-mb", "1", "--trials", "6", *COMMON, "--heartbeat", "60", "--storage", url,
            "--study-name", "term", "--out", str(tmp_path / "out")]
    proc = _dse(*argv, cwd=tmp_path, log=tmp_path / "log.txt")
    study = _study(url, "term", time.monotonic() + 60)
    while True:
        assert proc.poll() is None, (tmp_path / "log.txt").read_text()
        t = _running_in(study, proc.pid)
        if t is not None:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    trials = {x.number: x for x in study.get_trials(deepcopy=False)}
    assert trials[t.number].state == TrialState.FAIL  # at once, not after the 180 s grace period
    (retry,) = [x for x in trials.values() if x.system_attrs.get("failed_trial") == t.number]
    assert retry.state == TrialState.WAITING and retry.params == trials[t.number].params
    assert "rerun the same command to resume" in (tmp_path / "log.txt").read_text()


def test_grid_study_shared_by_two_processes_covers_every_candidate(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    space = ["--space", "design=fspinn", "--space", "neurons=100..400", "--space", "weights_bits=8,32",
             "--space", "inh_bits=32", "--space", "vmem_bits=32", "--space", "vth_bits=32", "--space", "scheme=ptq",
             "--space", "rounding=nearest", "--space", "rho=2", "--space", "window_steps=50", "--space", "exit_margin=0"]
    common = ["--storage", url, "--study-name", "grid", "--synthetic-seconds", "1.5"]
    explore = _dse("explore", "--budget-mb", "1", "--strategy", "grid", "--evaluator", "synthetic", "--heartbeat", "1",
                   "--jobs", "1",
                   *space, *common,
                   "--out", str(tmp_path / "out"), cwd=tmp_path, log=tmp_path / "explore.txt")
    study = _study(url, "grid", time.monotonic() + 60)
    worker = _dse("worker", *common, cwd=tmp_path, log=tmp_path / "worker.txt")
    assert _wait([explore, worker], timeout=120) == [0, 0], (tmp_path / "worker.txt").read_text()
    done = [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    labels = {t.user_attrs["candidate"]["label"] for t in done}
    assert len(labels) == 8  # 4 sizes x 2 weight widths, each finished
    assert {t.user_attrs["worker"]["pid"] for t in done} == {explore.pid, worker.pid}  # both took a share
    assert len(done) <= len(labels) + 1  # at most a rare race on one candidate
