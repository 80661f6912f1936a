"""Thresholds and spikes over a network's first training images: how a collapse starts.

    python bench/early_dynamics.py --data-dir DIR --design baseline --dataset fashion-mnist
                                   --neurons 900 [--images 2000] [--every K] [--set S.K=V ...]

Trains on the first images of the seeded epoch order (seed 0, as `dse train`)
and prints, for growing spans of images, the presentations per image, the
excitatory spikes per presentation and theta's percentiles (min, median,
max). A layer design that fires in synchronous volleys shows thousands of
spikes per presentation in its first images and thresholds racing to the
E_exc ceiling (docs/results.md, section 2.3).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from dse.data.locate import load_dataset
from dse.models.counts import counts_to_dict, new_counts
from dse.models.network import Simulator, init_state
from dse.models.recipes import load_recipe, parse_overrides
from dse.runs.train import epoch_order

SPANS = (50, 200, 500, 1000, 2000, 5000, 10000, 20000, 60000)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, help="folder holding the data set's folder")
    ap.add_argument("--design", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--neurons", type=int, required=True)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--every", type=int, help="print every K images (default: spans growing from 50)")
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args(argv)
    if args.every is not None and args.every < 1:
        ap.error("--every must be a positive number of images")
    recipe = load_recipe(args.design, parse_overrides(args.set))
    sim = Simulator(recipe)
    state = init_state(args.neurons, recipe, 0)
    data = load_dataset(args.dataset, str(Path(args.data_dir) / args.dataset))
    images = data.train_images[epoch_order(len(data.train_images), 0, 0)]
    print("| images | presentations/img | spikes/presentation | theta min / median / max (mV) |")
    print("|---|---|---|---|")
    done = 0
    spans = range(args.every, args.images + args.every, args.every) if args.every else SPANS
    for stop in spans:
        stop = min(stop, args.images)
        if stop <= done:
            break
        counts = new_counts()
        sim.train(state, images[done:stop], done, 0, counts)
        c = counts_to_dict(counts)
        lo, mid, hi = np.percentile(state.theta, [0, 50, 100])
        print(f"| {done:,}-{stop:,} | {c['presentations'] / c['images']:.2f} "
              f"| {c['exc_spikes'] / c['presentations']:,.1f} | {lo:.1f} / {mid:.1f} / {hi:.1f} |", flush=True)
        done = stop
    return 0


if __name__ == "__main__":
    sys.exit(main())
