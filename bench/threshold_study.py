"""The adaptive-threshold study behind the recipes' theta constants (docs/results.md, section 2).

    python bench/threshold_study.py --data-dir DIR [--runs runs/threshold-study] [--only N ...]

DIR holds mnist/ and fashion-mnist/. Each row is one `dse train` run (seed 0;
one epoch unless a row limits the training images); finished runs are
reused. Prints one markdown row per run with the `dse train` command that
reproduces it. "D&C" is Diehl & Cook's fixed threshold (theta_plus 0.05 mV,
tau_theta 1e7 ms); "ours" is the recipes' default (theta_plus 0.1 mV,
tau_theta = 1e7 ms x N / 1000).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from dse.models.recipes import parse_overrides
from dse.runs.train import TrainConfig, train_run

DC = ("excitatory.theta_plus_mv=0.05", "excitatory.tau_theta_at_neurons=0")


def _fixed(theta_plus: float, tau_ms: float) -> tuple[str, ...]:
    return (f"excitatory.theta_plus_mv={theta_plus:g}", f"excitatory.tau_theta_ms={tau_ms:g}",
            "excitatory.tau_theta_at_neurons=0")


# (design, data set, N, training images or None for all, test images or None, overrides)
STUDY = [
    ("fspinn", "mnist", 100, 2000, 1000, DC),
    ("fspinn", "mnist", 100, 2000, 1000, ()),
    ("fspinn", "mnist", 100, None, None, DC),
    ("fspinn", "mnist", 100, None, None, _fixed(0.05, 1e6)),
    ("fspinn", "mnist", 100, None, None, ()),
    ("fspinn", "mnist", 100, None, None, _fixed(0.2, 1e6)),
    ("fspinn", "mnist", 100, None, None, _fixed(0.1, 3e6)),
    ("fspinn", "mnist", 100, None, None, ("excitatory.theta_plus_mv=0.05", "excitatory.tau_theta_at_neurons=400")),
    ("fspinn", "mnist", 400, None, None, DC),
    ("fspinn", "mnist", 400, None, None, _fixed(0.05, 1e6)),
    ("fspinn", "mnist", 400, None, None, _fixed(0.1, 1e6)),
    ("fspinn", "mnist", 400, None, None, _fixed(0.1, 3e6)),
    ("fspinn", "mnist", 1600, None, None, DC),
    ("fspinn", "mnist", 1600, None, None, _fixed(0.1, 1e6)),
    ("fspinn", "fashion-mnist", 400, None, None, DC),
    ("fspinn", "fashion-mnist", 400, None, None, _fixed(0.1, 1e6)),
    ("baseline", "fashion-mnist", 100, None, None, DC),
    ("baseline", "fashion-mnist", 100, None, None, ()),
    ("baseline", "fashion-mnist", 400, None, None, DC),
    ("baseline", "fashion-mnist", 400, None, None, _fixed(0.1, 1e6)),
    ("baseline", "fashion-mnist", 400, None, None, _fixed(0.1, 3e6)),
]


def _slug(design, dataset, n, train, overrides) -> str:
    parts = [design, dataset, str(n), f"t{train or 'all'}"]
    parts += [o.split(".", 1)[1].replace("=", "") for o in overrides]
    return "-".join(parts)


def _command(design, dataset, n, train, test, overrides, out) -> str:
    argv = ["dse", "train", "--design", design, "--dataset", dataset, "--neurons", str(n)]
    if train:
        argv += ["--train-samples", str(train)]
    if test:
        argv += ["--test-samples", str(test)]
    argv += ["--data-dir", f"DATA/{dataset}", "--out", str(out)]
    for o in overrides:
        argv += ["--set", o]
    return shlex.join(argv)


def _rule(overrides) -> str:
    if not overrides:
        return "ours"
    if tuple(overrides) == DC:
        return "D&C"
    if tuple(overrides) == ("excitatory.theta_plus_mv=0.05", "excitatory.tau_theta_at_neurons=400"):
        return "scaled: +0.05 mV, 1e7 ms x N / 400"
    values = dict(o.split("=", 1) for o in overrides)
    return f"fixed: +{values['excitatory.theta_plus_mv']} mV, {values['excitatory.tau_theta_ms']} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--runs", default="runs/threshold-study")
    ap.add_argument("--only", type=int, nargs="+", help="only these network sizes")
    args = ap.parse_args(argv)
    print("| design | data | N | images | threshold | accuracy (95% CI) | proportion | pres./img | "
          "spikes/img | theta mean (mV) | health | command |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for design, dataset, n, train, test, overrides in STUDY:
        if args.only and n not in args.only:
            continue
        out = Path(args.runs) / _slug(design, dataset, n, train, overrides)
        if (out / "manifest.json").exists():
            m = json.loads((out / "manifest.json").read_text())
        else:
            cfg = TrainConfig(design=design, dataset=dataset, neurons=n, train_samples=train,
                              test_samples=test, seed=0, overrides=parse_overrides(list(overrides)))
            m = train_run(cfg, out, data_dir=str(Path(args.data_dir) / dataset))
        mt, tc, h = m["metrics"], m["counts"]["training"], m["health"]
        lo, hi = mt["accuracy_ci95"]
        print(f"| {design} | {dataset} | {n} | {train or 'all'} | {_rule(overrides)} "
              f"| {100 * mt['accuracy']:.2f}% ({100 * lo:.1f}-{100 * hi:.1f}) | {100 * mt['accuracy_proportion']:.2f}% "
              f"| {tc['presentations'] / tc['images']:.2f} | {tc['exc_spikes'] / tc['images']:.1f} "
              f"| {h['theta_mv']['mean']:.1f} | {h['status']} "
              f"| `{_command(design, dataset, n, train, test, overrides, out)}` |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
