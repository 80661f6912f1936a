"""Throughput grid: designs x sizes, training and inference images/s, one table.

    python bench/throughput.py [--images 2000] [--sizes 100 400 1600] [--out reports/throughput.md]

Each cell is `dse bench` (compile excluded, untrained network, 350 steps of
1 ms, MNIST training images). Figures are wall-clock measurements on this
machine; the table header says which.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dse.runs.bench import run_bench
from dse.runs.folder import atomic_write_bytes, cpu_model, now_iso

# BindsNET 0.3.4 on a 2-core machine like CI's (issue #2): Diehl & Cook, 350 ms/image.
BINDSNET = {("baseline", 400): (5.8, 9.5), ("baseline", 1600): (1.1, None)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 400, 1600])
    ap.add_argument("--designs", nargs="+", default=["baseline", "sl-stdp", "fspinn"])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default="reports/throughput.md")
    ap.add_argument("--json", default=None, help="also write raw results as JSON")
    args = ap.parse_args(argv)

    rows, raw = [], []
    for n in args.sizes:
        for design in args.designs:
            r = run_bench(design, n, args.images, data_dir=args.data_dir)
            raw.append(r)
            bn = BINDSNET.get((design, n))
            speedup = f"{r['train_images_per_s'] / bn[0]:,.0f}x" if bn else ""
            rows.append(f"| {design} | {n} | {r['train_images_per_s']:,.0f} | "
                        f"{r['train_presentations_per_image']:.2f} | {r['infer_images_per_s']:,.0f} | {speedup} |")
            print(rows[-1], flush=True)
    head = [f"Measured {now_iso()} on {cpu_model()} ({raw[0]['threads']} threads), "
            f"{args.images} images of {raw[0]['data_source']}, 350 steps of 1 ms.", "",
            "| design | N | train img/s | presentations/img | infer img/s | vs BindsNET train |",
            "|---|---|---|---|---|---|"]
    text = "\n".join(head + rows) + "\n"
    atomic_write_bytes(Path(args.out), text.encode())
    if args.json:
        atomic_write_bytes(Path(args.json), json.dumps(raw, indent=2).encode())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
