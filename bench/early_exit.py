"""Early exit: accuracy and steps run against the exit margin, and inference images/s (issue 15).

    python bench/early_exit.py --data-dir DIR [--designs fspinn baseline] [--datasets mnist fashion-mnist]
                               [--neurons 400] [--margins 1 2 3 4 6 8] [--rounds 3] [--runs runs/early-exit]
                               [--out reports/early-exit]

DIR holds mnist/ and fashion-mnist/. For each data set and design it trains
NetN for one epoch (or reuses the run folder under --runs), makes an 8-bit
PTQ copy (weights Q0.8, nearest), assigns labels once on 10,000 training
images at full length, then runs the full test set without exit and with every
margin, in --rounds rounds (each margin's speed-up is taken against the
full-length run of its own round; medians are printed). Prints one table
per network, writes rows.jsonl and early-exit.html (accuracy against mean
steps, one curve per network) to --out. Figures are
measured on this machine (wall clock, numba engine, all cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _trained(run_dir: Path, design: str, dataset: str, neurons: int, data_dir: str, seed: int) -> Path:
    from dse.runs.train import TrainConfig, train_run

    if not (run_dir / "manifest.json").exists():
        print(f"training {design} Net{neurons} on {dataset} -> {run_dir}", flush=True)
        train_run(TrainConfig(design=design, dataset=dataset, neurons=neurons, seed=seed), run_dir,
                  data_dir=f"{data_dir}/{dataset}")
    return run_dir


def _ptq(run_dir: Path, out: Path, data_dir: str, dataset: str) -> Path:
    from dse.runs.quantize import quantize_run

    if not (out / "manifest.json").exists():
        print(f"PTQ 8-bit of {run_dir} -> {out}", flush=True)
        quantize_run(run_dir, out, "weights=Q0.8", "nearest", data_dir=f"{data_dir}/{dataset}")
    return out


def _network(run_dir: Path):
    from dse.models.network import NetworkState, Simulator
    from dse.models.quantize import parse_quant
    from dse.runs import folder
    from dse.runs.validate import run_recipe

    m = folder.read_manifest(run_dir)
    arrays = folder.load_npz(run_dir / folder.WEIGHTS)
    q = m.get("quantization") or {}
    quant = parse_quant(q["spec"], q["rounding"], seed=m["config"]["seed"]) if q.get("scheme") == "ptq" else None
    sim = Simulator(run_recipe(run_dir, m), quant=quant)
    state = NetworkState(np.ascontiguousarray(arrays["weights"]), np.ascontiguousarray(arrays["theta"]))
    return m, sim, state


def sweep(run_dir: Path, margins: list[int], data_dir: str, rounds: int = 3) -> list[dict]:
    """One row per margin (0 = full length first) for one trained network.

    Speed is measured in ``rounds`` rounds, each running the full-length test and then every
    margin, so each margin's speed-up is taken against the full-length run of its own round (the
    machine's load drifts between rounds); rows give the median over rounds. Accuracy and steps are
    the same in every round (the inputs are counter-based streams): they are checked to be.
    """
    from dse.data.locate import load_dataset
    from dse.models.counts import new_counts
    from dse.models.early_exit import OFF, ExitRule
    from dse.runs.accuracy import accuracy_with_ci
    from dse.runs.readout import assign_labels, predict_all_activity
    from dse.runs.inference import ASSIGN_STREAM, TEST_STREAM

    m, sim, state = _network(run_dir)
    cfg = m["config"]
    ds = load_dataset(cfg["dataset"], f"{data_dir}/{cfg['dataset']}")
    seed = cfg["seed"]
    assign = sim.infer(state, ds.train_images[:10_000], ASSIGN_STREAM, seed, new_counts())
    assignment = assign_labels(assign, ds.train_labels[:10_000])
    labels = assignment.labels.astype(np.int32)
    order = [0, *margins]
    measured: dict[int, list[tuple[float, float, np.ndarray]]] = {k: [] for k in order}
    for _ in range(rounds):
        for margin in order:
            rule = ExitRule(margin, 0) if margin else OFF
            steps = np.zeros(len(ds.test_images), dtype=np.int32)
            t = time.perf_counter()
            counts = sim.infer(state, ds.test_images, TEST_STREAM, seed, new_counts(), exit_rule=rule,
                               labels=labels, steps=steps)
            seconds = time.perf_counter() - t
            acc = accuracy_with_ci(predict_all_activity(counts, assignment), ds.test_labels)
            measured[margin].append((len(steps) / seconds, acc.accuracy, steps))
    rows = []
    for margin in order:
        runs = measured[margin]
        speeds = [r[0] for r in runs]
        ratios = [r[0] / full[0] for r, full in zip(runs, measured[0])]
        if any(r[1] != runs[0][1] or not np.array_equal(r[2], runs[0][2]) for r in runs):
            raise SystemExit(f"{run_dir} margin {margin}: accuracy or steps differ between rounds")
        rule = ExitRule(margin, 0) if margin else OFF
        steps = runs[0][2]
        rows.append({"design": cfg["design"], "dataset": cfg["dataset"], "neurons": cfg["neurons"],
                     "precision": (m.get("quantization") or {}).get("spec", "fp32"), "exit": rule.spec(),
                     "margin": margin, "accuracy": runs[0][1], "ci95": _wilson(runs[0][1], len(steps)),
                     "mean_steps": float(steps.mean()), "median_steps": float(np.median(steps)),
                     "images_per_s": float(np.median(speeds)), "speedup": float(np.median(ratios)),
                     "speedup_range": [float(min(ratios)), float(max(ratios))], "rounds": rounds,
                     "run": str(run_dir)})
    return rows


def _wilson(accuracy: float, n: int) -> list[float]:
    from dse.runs.accuracy import wilson_interval

    return list(wilson_interval(int(round(accuracy * n)), n))


def _table(rows: list[dict]) -> str:
    full = rows[0]
    ref_acc, ref_steps = full["accuracy"], full["mean_steps"]
    lines = [f"{full['design']} Net{full['neurons']} {full['precision']} on {full['dataset']} "
             f"(full length: {100 * ref_acc:.2f}%, {ref_steps:.1f} steps/image, {full['images_per_s']:,.0f} img/s; "
             f"speeds are medians of {full['rounds']} rounds, each speed-up against the full-length run of its round)",
             "",
             "| exit | accuracy (95% CI) | change | mean steps | of full | median steps | img/s | speed-up (range) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows[1:]:
        lo, hi = r["speedup_range"]
        lines.append(f"| {r['exit']} | {100 * r['accuracy']:.2f}% ({100 * r['ci95'][0]:.2f}-{100 * r['ci95'][1]:.2f}) "
                     f"| {100 * (r['accuracy'] - ref_acc):+.2f} | {r['mean_steps']:.1f} | "
                     f"{100 * r['mean_steps'] / ref_steps:.0f}% | {r['median_steps']:.0f} | {r['images_per_s']:,.0f} | "
                     f"{r['speedup']:.2f}x ({lo:.2f}-{hi:.2f}) |")
    return "\n".join(lines)


def _html(all_rows: list[dict], path: Path) -> None:
    import plotly.graph_objects as go

    from dse.runs.folder import atomic_write_bytes

    fig = go.Figure()
    keys = sorted({(r["dataset"], r["design"], r["precision"]) for r in all_rows})
    for key in keys:
        rows = [r for r in all_rows if (r["dataset"], r["design"], r["precision"]) == key]
        rows.sort(key=lambda r: r["mean_steps"])
        fig.add_trace(go.Scatter(
            x=[r["mean_steps"] for r in rows], y=[100 * r["accuracy"] for r in rows], mode="lines+markers",
            name=" ".join(key), text=[r["exit"] for r in rows],
            error_y={"type": "data", "symmetric": False,
                     "array": [100 * (r["ci95"][1] - r["accuracy"]) for r in rows],
                     "arrayminus": [100 * (r["accuracy"] - r["ci95"][0]) for r in rows]},
            hovertemplate="%{text}<br>%{x:.1f} steps/image<br>%{y:.2f}%<extra></extra>"))
    fig.update_layout(title="Early exit: test accuracy against mean steps per image (measured)",
                      xaxis_title="mean steps run per test image", yaxis_title="accuracy (%), 95% Wilson interval")
    atomic_write_bytes(path, fig.to_html(include_plotlyjs=True, full_html=True).encode())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--designs", nargs="+", default=["fspinn", "baseline"])
    ap.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    ap.add_argument("--neurons", type=int, default=400)
    ap.add_argument("--margins", type=int, nargs="+", default=[1, 2, 3, 4, 6, 8])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=3, help="speed rounds (full length, then every margin)")
    ap.add_argument("--runs", default="runs/early-exit")
    ap.add_argument("--out", default="reports/early-exit")
    args = ap.parse_args(argv)
    from dse.runs.folder import atomic_write_bytes, cpu_model, now_iso

    out = Path(args.out)
    all_rows: list[dict] = []
    print(f"Measured {now_iso()} on {cpu_model()}; numba engine; full test sets.\n", flush=True)
    for dataset in args.datasets:
        for design in args.designs:
            fp32 = _trained(Path(args.runs) / f"{dataset}-{design}-{args.neurons}", design, dataset, args.neurons,
                            args.data_dir, args.seed)
            for run in (fp32, _ptq(fp32, fp32.with_name(fp32.name + "-q8"), args.data_dir, dataset)):
                rows = sweep(run, args.margins, args.data_dir, args.rounds)
                all_rows += rows
                print(_table(rows) + "\n", flush=True)
    atomic_write_bytes(out / "rows.jsonl", "".join(json.dumps(r) + "\n" for r in all_rows).encode())
    _html(all_rows, out / "early-exit.html")
    print(f"wrote {out / 'rows.jsonl'} and {out / 'early-exit.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
