"""How many of a trained network's neurons never learned, and what the readout made of them.

    python bench/untrained_neurons.py RUN_DIR [RUN_DIR ...]

RUN_DIR is a `dse train` run folder (manifest.json, weights.npz). The run's initial
weights are drawn again from its recipe and seed (models.network.init_state), so each
neuron's column can be compared with the one it started from: a neuron whose column
never changed was never updated (fspinn updates only each window's winner); one that
changed by less than a tenth of its weight mass learned little. For each group the
script prints how many neurons it holds, their thresholds, and the classes the run's
label assignment gave them. Prints one markdown block per run (docs/results.md 2.7).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from dse.errors import ParameterError
from dse.models.network import float_weights, init_state
from dse.runs import folder as rundir
from dse.runs import validate

# Relative L1 change below which a neuron "learned little": its column moved by under a
# tenth of its weight mass (78.4), i.e. it still answers mostly with its random start.
LITTLE = 0.1


def load(run_dir: Path) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(config, weights now, weights at the start, theta, neuron labels) of a run, validated."""
    manifest = rundir.read_manifest(run_dir)
    config = validate.run_config(run_dir, manifest)
    recipe = validate.run_recipe(run_dir, manifest)
    quant = validate.run_quant_checked(run_dir, manifest)
    state = validate.run_state(run_dir, manifest, recipe, quant)
    labels = validate.run_labels(run_dir, manifest)
    if labels is None:
        raise rundir.RunError(f"{run_dir}: weights.npz stores no neuron_labels (a run written before they "
                              "were stored); retrain it with the current `dse train`")
    start = init_state(config["neurons"], recipe, config["seed"], quant=quant)
    return (config, np.asarray(float_weights(state, quant), dtype=np.float64),
            np.asarray(float_weights(start, quant), dtype=np.float64), np.asarray(state.theta, np.float64), labels)


def relative_change(now: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Per neuron: sum |w - w0| over its inputs, over sum w0 (0 = never updated)."""
    return np.abs(now - start).sum(axis=0) / start.sum(axis=0)


def describe(name: str, theta: np.ndarray, labels: np.ndarray) -> str:
    if theta.size == 0:
        return f"| {name} | 0 | | |"
    q = np.quantile(theta, [0.0, 0.5, 1.0])
    per_class = np.bincount(labels + 1, minlength=11)  # slot 0: unassigned (-1)
    classes = ", ".join(f"{c}: {per_class[c + 1]}" for c in range(10) if per_class[c + 1])
    if per_class[0]:
        classes += f", unassigned: {per_class[0]}"
    return f"| {name} | {theta.size} | {q[0]:.1f} / {q[1]:.1f} / {q[2]:.1f} | {classes} |"


def report(run_dir: Path) -> str:
    config, now, start, theta, labels = load(run_dir)
    change = relative_change(now, start)
    never = change == 0.0
    little = (change > 0.0) & (change < LITTLE)
    rest = change >= LITTLE
    lines = [f"{config['design']} Net{config['neurons']} on {config['dataset']}, seed {config['seed']} "
             f"({run_dir.name}); weight change relative to the start: median {np.median(change):.2f}",
             "",
             "| neurons | count | theta min / median / max (mV) | assigned classes |",
             "|---|---|---|---|",
             describe("never updated", theta[never], labels[never]),
             describe(f"changed by under {LITTLE:.0%}", theta[little], labels[little]),
             describe("learned", theta[rest], labels[rest])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    args = p.parse_args(argv)
    for i, run_dir in enumerate(args.runs):
        try:
            print(("\n" if i else "") + report(run_dir), flush=True)
        except ParameterError as exc:  # RunError and the validators' errors: one line, exit 2
            print(f"bench/untrained_neurons.py: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
