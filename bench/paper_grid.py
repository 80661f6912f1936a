"""FSpiNN's accuracy grid (Fig. 13a / 14a): every size x design x data set, one epoch, resumable.

    python bench/paper_grid.py --data-dir DIR [--out reports/paper-grid] [--sizes ...]
                               [--designs ...] [--datasets ...] [--seed 0] [--set S.K=V ...]
    python bench/paper_grid.py --out reports/paper-grid --table      # print the table only
    (more processes, on this machine or others sharing OUT: start the same command again)

DIR holds mnist/ and fashion-mnist/. Each cell is one `dse train` run (60,000
training images, labels assigned on the first 10,000, full 10,000-image test)
in OUT/runs/; each finished cell appends one JSON line to OUT/grid.jsonl.
A rerun skips the cells already in the file (same recipe, seed and
overrides) and redoes a cell that was interrupted. Cells run cheapest first. Processes started
with the same command share the grid: each cell is locked while it runs (a lock the system
drops if its process dies), so a process takes the next cell that is neither finished nor
running elsewhere (`--shard K/N` still splits the list up front). Progress lines are printed
(and flushed) even when the output goes to a file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from dse.runs import folder as rundir
from dse.models.constants import ENGINE_REVISION
from dse.models.recipes import DESIGNS, RecipeError, load_recipe, parse_overrides
from dse.runs.train import ProgressSink, TrainConfig, train_run
from dse.search.cachefolders import key_lock, try_key_lock

SIZES = (100, 400, 900, 1600, 2500, 3600, 4900)
DATASETS = ("mnist", "fashion-mnist")
# FSpiNN TCAD 2020 Sec. V-A: FSpiNN's accuracy and its improvement over the
# baseline (Fig. 13a MNIST, Fig. 14a Fashion-MNIST), one epoch. The baseline
# figure is FSpiNN's minus the stated improvement.
PAPER = {
    "mnist": {100: (89.2, 13.2), 400: (95.6, 7.2), 900: (94.4, 2.4), 1600: (95.2, 2.2),
              2500: (90.0, 0.8), 3600: (92.8, 4.8), 4900: (92.4, 2.4)},
    "fashion-mnist": {100: (60.2, 14.2), 400: (64.8, 5.2), 900: (66.0, 3.6), 1600: (68.8, 3.5),
                      2500: (60.6, 3.0), 3600: (64.4, 27.0), 4900: (61.6, 11.0)},
}


# Relative training cost per image and neuron, to run cheap cells first (a partial grid then
# covers every design): baseline / SL-STDP / fspinn from docs/results.md section 1 (Net400:
# 1,019 / 1,847 / 2,564 img/s); Fashion-MNIST images evoke about twice the input spikes.
DESIGN_COST = {"baseline": 2.5, "sl-stdp": 1.4, "fspinn": 1.0}
DATASET_COST = {"mnist": 1.0, "fashion-mnist": 2.0}


class BadInput(Exception):
    """A bad argument: reported as one line, exit status 2."""


def cell_id(dataset: str, design: str, neurons: int) -> str:
    return f"{dataset}/{design}/{neurons}"


def config_digest(args: argparse.Namespace, design: str, neurons: int) -> str:
    """Hash of the recipe as it acts at this size (after overrides) and of the data limits.

    A changed default in a design's TOML makes its finished cells stale, so they are run again;
    a key that cannot act at this size is left out, so cells it does not touch are kept; an engine
    that trains differently (models.constants.ENGINE_REVISION) makes every cell stale.
    """
    recipe = load_recipe(design, parse_overrides(args.set)).acting_at(neurons)
    text = json.dumps({"recipe": recipe, "train": args.train_samples, "test": args.test_samples,
                       "engine_revision": ENGINE_REVISION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of the grid file; a line cut short by an interruption is ignored (with a note)."""
    if not path.exists():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            print(f"note: {path}:{number} is not a complete JSON line (interrupted write); ignored", flush=True)
    return rows


def append_row(path: Path, row: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with key_lock(path.with_name(path.name + ".lock")):  # one writer at a time across processes
        # A line cut short by an interruption has no newline: start on a fresh line.
        cut = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        with path.open("a", encoding="utf-8") as f:
            f.write(("\n" if cut else "") + json.dumps(row, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())


class LineProgress(ProgressSink):
    """Plain progress lines (no terminal control), at most one a minute and at every 20%."""

    def __init__(self, label: str, every_s: float = 60.0) -> None:
        self.label, self.every_s = label, every_s
        self._phase: dict[str, tuple[float, int, int, float, int]] = {}

    def start(self, phase: str, total: int, done: int = 0) -> None:
        now = time.perf_counter()
        self._phase[phase] = (now, done, total, now, 0)

    def advance(self, phase: str, done: int, running_accuracy: float | None = None) -> None:
        t0, d0, total, last, last_fifth = self._phase[phase]
        now = time.perf_counter()
        fifth = 5 * done // max(total, 1)
        if now - last < self.every_s and fifth == last_fifth:
            return
        rate = (done - d0) / (now - t0) if now > t0 else 0.0
        acc = f", running accuracy {100 * running_accuracy:.1f}%" if running_accuracy is not None else ""
        print(f"  {self.label} {phase} {done:,}/{total:,} ({rate:,.0f} img/s{acc})", flush=True)
        self._phase[phase] = (t0, d0, total, now, fifth)


def command_line(args: argparse.Namespace, dataset: str, design: str, neurons: int, out: Path) -> str:
    """The `dse train` command that reproduces one cell.

    The data folder is written as DATA/<data set> and the run folder as GRID/<its place in the
    grid folder> whatever they were here: rows are committed and read on other machines;
    data_sha256 names the data exactly.
    """
    parts = ["dse", "train", "--design", design, "--dataset", dataset, "--neurons", str(neurons),
             "--seed", str(args.seed), "--data-dir", f"DATA/{dataset}",
             "--out", f"GRID/{in_grid(args, out)}"]
    for flag, value in (("--train-samples", args.train_samples), ("--test-samples", args.test_samples)):
        if value is not None:
            parts += [flag, str(value)]
    for item in args.set:
        parts += ["--set", item]
    return shlex.join(parts)


def run_cell(args: argparse.Namespace, dataset: str, design: str, neurons: int, digest: str) -> dict[str, Any]:
    label = f"[{dataset} {design} Net{neurons}]"
    out = cell_dir(args, dataset, design, neurons, digest)
    if out.exists() and not (out / rundir.MANIFEST).exists():
        print(f"{label} redoing an interrupted run ({out})", flush=True)
        shutil.rmtree(out)
    load_start = os.getloadavg()[0]
    t0, cpu0 = time.perf_counter(), time.process_time()
    cpu_s = None
    if (out / rundir.MANIFEST).exists():  # finished, but its row was never written
        manifest = rundir.read_manifest(out)
        tm = manifest["timings"]
        wall_s, wall_source = tm["train_s"] + tm["infer_s"] + tm["compile_s"], "manifest timings"
    else:
        print(f"{label} starting (load average {load_start:.2f})", flush=True)
        cfg = TrainConfig(design=design, dataset=dataset, neurons=neurons, seed=args.seed,
                          overrides=parse_overrides(args.set), train_samples=args.train_samples,
                          test_samples=args.test_samples)
        manifest = train_run(cfg, out, data_dir=str(Path(args.data_dir) / dataset),
                             progress=LineProgress(label))
        wall_s, wall_source = time.perf_counter() - t0, "measured around the run"
        # CPU seconds of all this process's threads: what the cell costs whatever else shares the cores
        cpu_s = round(time.process_time() - cpu0, 3)
    row = _row(args, manifest, dataset, design, neurons, digest, out, wall_s, wall_source, load_start)
    return {**row, "cpu_s": cpu_s}


def _row(args, manifest, dataset, design, neurons, digest, out, wall_s, wall_source, load_start) -> dict[str, Any]:
    mt, tm, tc = manifest["metrics"], manifest["timings"], manifest["counts"]["training"]
    return {
        "cell": cell_id(dataset, design, neurons), "dataset": dataset, "design": design,
        "neurons": neurons, "seed": args.seed, "overrides": parse_overrides(args.set),
        "config_digest": digest, "epochs": manifest["config"]["epochs"],
        "accuracy": mt["accuracy"], "accuracy_ci95": mt["accuracy_ci95"],
        "accuracy_proportion": mt["accuracy_proportion"],
        "accuracy_proportion_ci95": mt["accuracy_proportion_ci95"],
        "n_train": manifest["data"]["n_train_used"], "n_assign": manifest["data"]["n_assign_used"],
        "n_test": mt["n_test"], "data_sha256": manifest["data"]["sha256"],
        "wall_s": round(wall_s, 3), "wall_source": wall_source,
        "train_s": tm["train_s"], "infer_s": tm["infer_s"], "compile_s": tm["compile_s"],
        "train_images_per_s": tm["train_images_per_s"],
        "presentations_per_image": round(tc["presentations"] / tc["images"], 3),
        "health": manifest.get("health"),
        "command": command_line(args, dataset, design, neurons, out),
        "code_version": manifest["versions"]["snn_dse"],
        "machine": {"cpu": manifest["versions"]["cpu"], "cpu_count": manifest["versions"]["cpu_count"],
                    "load_average_start": round(load_start, 2),
                    "load_average_end": round(os.getloadavg()[0], 2)},
        "run_dir": in_grid(args, out), "finished": rundir.now_iso(),
    }


def in_grid(args: argparse.Namespace, path: Path) -> str:
    """A path inside the grid folder (--out), relative to it: what a committed row may name."""
    return path.relative_to(args.out).as_posix()


def _check_args(args: argparse.Namespace) -> None:
    for design in args.designs:
        if design not in DESIGNS:
            raise BadInput(f"unknown design '{design}': choose from {', '.join(DESIGNS)}")
    for dataset in args.datasets:
        if dataset not in DATASETS:
            raise BadInput(f"unknown data set '{dataset}': choose from {', '.join(DATASETS)}")
    for name, values in (("--sizes", args.sizes), ("--train-samples", [args.train_samples]),
                         ("--test-samples", [args.test_samples])):
        bad = [v for v in values if v is not None and v <= 0]
        if bad:
            raise BadInput(f"{name} must be positive, got {bad[0]}")
    if not args.table:
        if not args.data_dir:
            raise BadInput("--data-dir is required to run cells (it holds mnist/ and fashion-mnist/)")
        for dataset in args.datasets:
            if not (Path(args.data_dir) / dataset).is_dir():
                raise BadInput(f"--data-dir {args.data_dir}: no folder '{dataset}' in it")
    try:
        parse_overrides(args.set)
        for design in args.designs:
            load_recipe(design, parse_overrides(args.set))
    except RecipeError as exc:
        raise BadInput(str(exc)) from None


def run_grid(args: argparse.Namespace) -> list[dict[str, Any]]:
    path = Path(args.out) / "grid.jsonl"
    rows = read_rows(path)
    t0 = time.perf_counter()
    todo = cell_order(args)
    for k, (neurons, dataset, design) in enumerate(todo, 1):
        digest = config_digest(args, design, neurons)
        name = cell_id(dataset, design, neurons)
        with try_key_lock(cell_dir(args, dataset, design, neurons, digest).with_suffix(".lock")) as mine:
            if mine:
                rows = read_rows(path)  # other processes may have finished cells meanwhile
            if _find(rows, dataset, design, neurons, args.seed, digest) is not None:
                print(f"[{k}/{len(todo)}] {name}: done already, skipped", flush=True)
                continue
            if not mine:
                print(f"[{k}/{len(todo)}] {name}: running in another process, skipped", flush=True)
                continue
            row = run_cell(args, dataset, design, neurons, digest)
            append_row(path, row)
        rows.append(row)
        print(f"[{k}/{len(todo)}] {row['cell']}: {100 * row['accuracy']:.2f}% "
              f"({100 * row['accuracy_ci95'][0]:.1f}-{100 * row['accuracy_ci95'][1]:.1f}), "
              f"health {row['health']['status']}, {row['wall_s']:.0f} s; "
              f"{time.perf_counter() - t0:.0f} s this session", flush=True)
    return rows


def cell_dir(args: argparse.Namespace, dataset: str, design: str, neurons: int, digest: str) -> Path:
    return Path(args.out) / "runs" / f"{dataset}-{design}-{neurons}-s{args.seed}-{digest}"


def cell_order(args: argparse.Namespace) -> list[tuple[int, str, str]]:
    """(N, data set, design) to run: by size, or cheapest first; then this process's share."""
    todo = [(n, d, s) for n in args.sizes for d in args.datasets for s in args.designs]
    if args.order == "cost":
        todo.sort(key=lambda c: c[0] * DATASET_COST[c[1]] * DESIGN_COST[c[2]])
    k, n = args.shard
    return todo[k::n]


def _find(rows, dataset, design, neurons, seed, digest):
    for row in reversed(rows):
        if (row["cell"], row["seed"], row["config_digest"]) == (cell_id(dataset, design, neurons), seed, digest):
            return row
    return None


def _pct(row: dict[str, Any] | None, ci: bool = True) -> str:
    if row is None:
        return "-"
    text = f"{100 * row['accuracy']:.2f}%"
    if ci:
        text += f" ({100 * row['accuracy_ci95'][0]:.1f}-{100 * row['accuracy_ci95'][1]:.1f})"
    if row["health"] and row["health"]["status"] != "ok":
        text += f" **{row['health']['status']}**"
    return text


def table(args: argparse.Namespace, rows: list[dict[str, Any]]) -> str:
    """Markdown tables beside the paper, then the wall time of every cell and in total."""
    digests = {(d, n): config_digest(args, d, n) for d in args.designs for n in args.sizes}
    lines = []
    for dataset in args.datasets:
        fig = "13a" if dataset == "mnist" else "14a"
        lines += [f"\n{dataset} (paper: FSpiNN TCAD 2020 Fig. {fig}, one epoch)\n",
                  "| N | " + " | ".join(f"{d} (ours)" for d in args.designs) + " | FSpiNN (paper) | baseline (paper) |",
                  "|---|" + "---|" * (len(args.designs) + 2)]
        for n in args.sizes:
            cells = [_pct(_find(rows, dataset, d, n, args.seed, digests[d, n])) for d in args.designs]
            paper = PAPER[dataset].get(n)
            ref = [f"{paper[0]:.1f}%", f"{paper[0] - paper[1]:.1f}%"] if paper else ["-", "-"]
            lines.append(f"| {n} | " + " | ".join(cells + ref) + " |")
    lines += ["\nwall time per cell (s) and training img/s\n",
              "| data set | N | " + " | ".join(args.designs) + " |", "|---|---|" + "---|" * len(args.designs)]
    total, shown = 0.0, []
    for dataset in args.datasets:
        for n in args.sizes:
            found = [_find(rows, dataset, d, n, args.seed, digests[d, n]) for d in args.designs]
            shown += [r for r in found if r]
            total += sum(r["wall_s"] for r in found if r)
            cells = [f"{r['wall_s']:,.0f} ({r['train_images_per_s']:,.0f} img/s)" if r else "-" for r in found]
            lines.append(f"| {dataset} | {n} | " + " | ".join(cells) + " |")
    done = sum(1 for ds in args.datasets for n in args.sizes for d in args.designs
               if _find(rows, ds, d, n, args.seed, digests[d, n]))
    cells_total = len(args.datasets) * len(args.sizes) * len(args.designs)
    lines.append(f"\n{done}/{cells_total} cells measured; their wall time adds up to {total:,.0f} s "
                 f"({total / 3600:.2f} h)")
    timed = [r for r in shown if r.get("cpu_s")]
    if timed:
        lines.append(f"process CPU time of the {len(timed)} cells that recorded it: "
                     f"{sum(r['cpu_s'] for r in timed):,.0f} s")
    lines += _machine_lines(shown)  # the cells in the table, not rows of recipes since changed
    return "\n".join(lines)


def _machine_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Where the cells ran, and how busy the machine was (a shared machine slows every cell)."""
    out = []
    for (cpu, cores), group in _group_by_machine(rows).items():
        loads = [r["machine"][k] for r in group for k in ("load_average_start", "load_average_end")]
        out.append(f"measured on {cpu} ({cores} logical CPUs), {len(group)} cells; 1-minute load average "
                   f"{min(loads):.1f}-{max(loads):.1f} during them (above {cores} means shared cores)")
    return out


def _group_by_machine(rows):
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["machine"]["cpu"], r["machine"]["cpu_count"]), []).append(r)
    return groups


def _parse_shard(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 0 <= int(k) < int(n)):
        raise BadInput(f"--shard {text}: write K/N with 0 <= K < N, e.g. 1/2")
    return int(k), int(n)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help="folder holding mnist/ and fashion-mnist/")
    ap.add_argument("--out", default="reports/paper-grid", help="grid.jsonl and runs/ go here")
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--designs", nargs="+", default=list(DESIGNS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-samples", type=int, help="first K training images only (smoke tests); default all")
    ap.add_argument("--test-samples", type=int, help="first K test images only; default all 10,000")
    ap.add_argument("--set", action="append", default=[], help="recipe override SECTION.KEY=VALUE, all designs")
    ap.add_argument("--order", choices=("cost", "size"), default="cost",
                    help="cheapest cells first (default) or by size")
    ap.add_argument("--shard", default="0/1", metavar="K/N",
                    help="run every N-th cell starting at the K-th (0-based): N processes share a grid")
    ap.add_argument("--table", action="store_true", help="print the table from grid.jsonl; run nothing")
    args = ap.parse_args(argv)
    try:
        args.shard = _parse_shard(args.shard)
        _check_args(args)
        rows = read_rows(Path(args.out) / "grid.jsonl") if args.table else run_grid(args)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table(args, rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
