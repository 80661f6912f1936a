"""How much of its time `dse explore` spends learning: the README's main job, from a cold engine cache.

    python bench/search_efficiency.py                    # `dse explore --budget-mb 1`, cold numba cache
    python bench/search_efficiency.py --from-clone       # the same after a fresh clone and `pip install -e .`
    python bench/search_efficiency.py -- --timeout 120   # arguments after -- go to `dse explore`

Runs the main job in an empty folder with an empty numba cache
(``NUMBA_CACHE_DIR`` set to a new temporary folder, as after a fresh clone),
then `dse bench --design fspinn --neurons 400` in the same run, and prints:
wall time; compile time (the engine's warm-ups in the trainings, summed, and
the time until the first trial started); trials by status; trainings and
images trained; feasible fully evaluated models (complete trials within the
budgets and above the accuracy floor); and the search throughput, images
trained per second of the search's wall time, beside the bench's training
throughput. The machine's load average before and after is printed too: on
a shared machine the figures are not a measurement of the code alone.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STUDY = "mnist-1mb-inference-jetson-nano-optuna"


def _install(work: Path) -> tuple[Path, float]:
    """A fresh clone of this checkout's HEAD with its own venv (`pip install -e .`); returns its python."""
    t0 = time.perf_counter()
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    subprocess.run([sys.executable, "-m", "venv", str(clone / ".venv")], check=True)
    subprocess.run([str(clone / ".venv" / "bin" / "pip"), "install", "-q", "-e", str(clone)], check=True,
                   stdout=subprocess.DEVNULL)
    return clone / ".venv" / "bin" / "python", time.perf_counter() - t0


def _run(python: Path, argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and the processes it waited for) of one `dse` command."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        code = subprocess.run([str(python), "-m", "dse", *argv], cwd=cwd, env=env, stdout=out,
                              stderr=subprocess.STDOUT).returncode
    if code not in (0, 1):
        sys.exit(f"dse {' '.join(argv[:3])} ... ended with status {code}; see {log}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.perf_counter() - t0, cpu


def _compile_seconds(cache: Path) -> float:
    """The engine's warm-ups (compile, or load from the numba cache) of every training, summed."""
    total = 0.0
    for manifest in cache.glob("train-*/manifest.json"):
        total += float(json.loads(manifest.read_text())["timings"].get("compile_s") or 0.0)
    return total


def _compile_notices(log: Path) -> float:
    """Seconds the engine said it spent compiling ("compiled ... in N s" lines of models.warmup)."""
    import re

    return sum(float(m) for m in re.findall(r"^compiled .* in (\d+(?:\.\d+)?) s", log.read_text(), re.M))


def _first_trial_after(storage: str, started: float) -> float | None:
    """Seconds from the start of `dse explore` until its first trial started (compile ahead, set-up)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    trials = optuna.load_study(study_name=STUDY, storage=storage).get_trials(deepcopy=False)
    starts = [t.datetime_start.timestamp() for t in trials if t.datetime_start is not None]
    return min(starts) - started if starts else None


def _summary(out: Path) -> dict:
    rows = list(csv.DictReader(open(out / "trials.csv")))
    pareto = json.loads((out / "pareto.json").read_text())
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    feasible = [r for r in rows if r["status"] == "complete" and r["feasible"] == "True"]
    sel = pareto.get("selected") or {}
    return {"by_status": by_status, "siblings": sum(r["sibling_of"] != "" for r in rows),
            "trainings": sum(int(r["trainings"]) for r in rows),
            "images": sum(int(r["trained_images"]) for r in rows), "feasible": len(feasible),
            "front": len(pareto["front"]), "wall_s": float(pareto["wall_s"]),
            "selected": f"#{sel.get('number')} {sel.get('design')} N{sel.get('neurons')}: "
                        f"{100 * float(sel.get('accuracy') or 0):.1f}%" if sel else "none",
            "below_floor_on_front": sum(float(r["accuracy"]) < pareto["settings"]["budgets"]["min_accuracy"]
                                        for r in pareto["front"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from-clone", action="store_true", help="clone this checkout and install it first (timed)")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR (kept) instead of a temporary folder")
    ap.add_argument("explore_args", nargs="*", help="after --: more arguments for dse explore")
    args = ap.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="dse-search-eff-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    python, install_s = (_install(work) if args.from_clone else (Path(sys.executable), 0.0))
    env = {**os.environ, "NUMBA_CACHE_DIR": tempfile.mkdtemp(prefix="numba-cold-", dir=work)}
    if not args.from_clone:
        env["PYTHONPATH"] = str(REPO)
    run_dir = work / "run"
    run_dir.mkdir(exist_ok=True)
    started = time.time()
    wall, cpu = _run(python, ["explore", "--budget-mb", "1", *args.explore_args], run_dir, env, work / "explore.log")
    s = _summary(run_dir / "reports" / STUDY)
    first = _first_trial_after(f"sqlite:///{run_dir / 'reports' / 'explore.db'}", started)
    _run(python, ["bench", "--design", "fspinn", "--neurons", "400", "--json"], run_dir, env, work / "bench.json")
    bench = json.loads((work / "bench.json").read_text()[(work / "bench.json").read_text().index("{"):])
    train_ips = float(bench["train_images_per_s"])
    search_ips = s["images"] / s["wall_s"]
    compiled = _compile_notices(work / "explore.log")
    load_after = os.getloadavg()
    print(f"dse explore --budget-mb 1 {' '.join(args.explore_args)} (cold numba cache, {os.cpu_count()} cores; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; work folder {work})")
    if args.from_clone:
        print(f"clone + install      {install_s:7.1f} s")
    print(f"explore wall         {wall:7.1f} s (process; search {s['wall_s']:.1f} s)")
    if args.from_clone:
        print(f"clone to result      {install_s + wall:7.1f} s")
    print(f"compile              {compiled:7.1f} s (the engine's notices); warm-ups in the trainings "
          f"{_compile_seconds(run_dir / 'reports' / 'cache'):.1f} s summed; first trial started {first or 0:.1f} s "
          "after launch")
    print("trials               " + ", ".join(f"{v} {k}" for k, v in sorted(s["by_status"].items()))
          + f" ({s['siblings']} siblings: PTQ variants and early-exit tests)")
    print(f"trainings            {s['trainings']} ({s['images']:,} images trained)")
    print(f"feasible models      {s['feasible']} fully evaluated; front {s['front']} "
          f"({s['below_floor_on_front']} below the floor); selected {s['selected']}")
    cores = os.cpu_count() or 1
    print(f"machine share        the search's processes ran {cpu:.0f} CPU-s in {wall:.0f} s on {cores} cores "
          f"({100 * cpu / (wall * cores):.0f}% of the machine; the rest went to other jobs or waiting)")
    print(f"search throughput    {search_ips:7.1f} images trained per second of search wall "
          f"({s['images'] / max(s['wall_s'] - compiled, 1e-9):.1f} per second of it after compiling)")
    print(f"dse bench fspinn 400 {train_ips:7.1f} training images/s, one process "
          f"-> search at {100 * search_ips / train_ips:.0f}% of it")


if __name__ == "__main__":
    main()
