"""Scale-out of one study over worker processes: trials per minute with 1, 2, 4 ... processes.

    python bench/workers.py                              # SQLite file, this machine
    python bench/workers.py --storage postgresql://USER@HOST/DB --workers 1 2 4 8

Each run is `dse explore --evaluator synthetic --synthetic-seconds S` plus
K-1 `dse worker` processes on a fresh study; the evaluator sleeps S seconds
per evaluation instead of training, so the figure is the search machinery's
own throughput and overhead (storage round trips, sampling, heartbeats),
not the simulator's. Prints the wall time from start until the last process
ends, trained trials per minute, the speed-up over one process, and how many
trials the study holds (a study reaches its target; overshoot is counted).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _dse(*argv: str, cwd: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dse", *argv, "--quiet"], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def _wait_for_study(storage: str, name: str) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    while True:
        try:
            optuna.load_study(study_name=name, storage=storage)
            return
        except KeyError:
            time.sleep(0.1)


def _trained(storage: str, name: str) -> tuple[int, int]:
    import optuna

    study = optuna.load_study(study_name=name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    return sum(t.user_attrs.get("status") in ("complete", "pruned") for t in trials), len(trials)


def one_run(workers: int, trials: int, seconds: float, storage: str | None, cwd: str) -> dict:
    name = f"bench-{workers}w-{os.getpid()}-{time.time_ns()}"
    url = storage or f"sqlite:///{Path(cwd) / 'bench.db'}"
    common = ["--storage", url, "--study-name", name, "--synthetic-seconds", str(seconds)]
    t0 = time.perf_counter()
    procs = [_dse("explore", "--budget-mb", "1", "--trials", str(trials), "--evaluator", "synthetic",
                  "--fidelities", "1", "--out", str(Path(cwd) / name), *common, cwd=cwd)]
    _wait_for_study(url, name)
    procs += [_dse("worker", *common, "--worker-id", f"w{k}", cwd=cwd) for k in range(1, workers)]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"a search process failed ({p.returncode}): {err.decode()[-500:]}")
    wall = time.perf_counter() - t0
    trained, total = _trained(url, name)
    return {"workers": workers, "wall_s": wall, "trained": trained, "trials": total}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--trials", type=int, default=24, help="trained trials per study (default 24)")
    ap.add_argument("--seconds", type=float, default=2.0, help="seconds per synthetic evaluation (default 2)")
    ap.add_argument("--storage", help="storage URL (default: a SQLite file in a temporary folder)")
    args = ap.parse_args()
    print(f"{args.trials} trained trials per study, {args.seconds:g} s per evaluation (synthetic: no training), "
          f"storage {'SQLite (temporary)' if not args.storage else 'as given'}; {os.cpu_count()} CPUs")
    print(f"{'processes':>9} {'wall s':>8} {'trials/min':>10} {'speed-up':>8} {'trained':>7} {'trials':>6}")
    base = None
    with tempfile.TemporaryDirectory() as cwd:
        for k in args.workers:
            r = one_run(k, args.trials, args.seconds, args.storage, cwd)
            rate = 60 * r["trained"] / r["wall_s"]
            base = base or rate
            print(f"{k:>9} {r['wall_s']:>8.1f} {rate:>10.1f} {rate / base:>7.2f}x {r['trained']:>7} {r['trials']:>6}")


if __name__ == "__main__":
    main()
