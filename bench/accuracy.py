"""Full-size accuracy runs (one epoch, full test set): the figures in docs/results.md.

    python bench/accuracy.py --data-dir DIR [--sizes 100 400] [--datasets mnist fashion-mnist]
                             [--designs baseline sl-stdp fspinn] [--runs runs/accuracy]

DIR holds mnist/ and fashion-mnist/. Each cell is one `dse train` run folder;
finished cells are skipped on a rerun, so the grid can be interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dse.runs.train import TrainConfig, train_run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 400])
    ap.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    ap.add_argument("--designs", nargs="+", default=["baseline", "sl-stdp", "fspinn"])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", default="runs/accuracy")
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args(argv)
    from dse.models.recipes import parse_overrides

    print("| data set | design | N | accuracy (95% CI) | proportion | train img/s | presentations/img |")
    print("|---|---|---|---|---|---|---|")
    for dataset in args.datasets:
        for n in args.sizes:
            for design in args.designs:
                out = Path(args.runs) / f"{dataset}-{design}-{n}-e{args.epochs}-s{args.seed}"
                if (out / "manifest.json").exists():
                    m = json.loads((out / "manifest.json").read_text())
                else:
                    cfg = TrainConfig(design=design, dataset=dataset, neurons=n, epochs=args.epochs,
                                      seed=args.seed, overrides=parse_overrides(args.set))
                    m = train_run(cfg, out, data_dir=str(Path(args.data_dir) / dataset),
                                  resume=(out / "checkpoint.json").exists())
                mt, tc = m["metrics"], m["counts"]["training"]
                lo, hi = mt["accuracy_ci95"]
                print(f"| {dataset} | {design} | {n} | {100 * mt['accuracy']:.2f}% ({100 * lo:.1f}-{100 * hi:.1f}) "
                      f"| {100 * mt['accuracy_proportion']:.2f}% | {m['timings']['train_images_per_s']:,.0f} "
                      f"| {tc['presentations'] / tc['images']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
