"""Peak memory of an inference process: FP32 weights versus 8-bit integer codes.

    python bench/memory.py [--neurons 1600 4900] [--images 200]

Each measurement is a fresh subprocess (so peaks do not mix) that loads a
network of N neurons from a weights file, FP32 or Q0.8 codes (as `dse
evaluate` loads a run), runs inference on bundled images with the compiled
engine, and reports its peak resident set size (VmHWM) and the bytes of
the weight array.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys
import numpy as np
from dse.data.locate import load_dataset
from dse.models.counts import new_counts
from dse.models.network import NetworkState, Simulator
from dse.models.quantize import parse_quant
from dse.models.recipes import load_recipe
path, images, spec = sys.argv[1], int(sys.argv[2]), sys.argv[3]
quant = parse_quant(spec) if spec != "fp32" else None
sim = Simulator(load_recipe("fspinn"), quant=quant)
with np.load(path, allow_pickle=False) as z:
    state = NetworkState(z["weights"], z["theta"])
x = load_dataset("mnist").test_images[:images]
sim.infer(state, x, 0, 0, new_counts())
# VmHWM starts afresh at exec; ru_maxrss would carry the parent's peak across fork.
try:
    peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"neurons": state.n_neurons, "weights": spec, "weight_bytes": int(state.weights.nbytes),
                  "peak_rss_kib": peak}))
"""


def measure(n: int, images: int, spec: str, folder: str) -> dict:
    import numpy as np

    from dse.models.network import init_state
    from dse.models.quantize import parse_quant
    from dse.models.recipes import load_recipe

    quant = parse_quant(spec) if spec != "fp32" else None
    state = init_state(n, load_recipe("fspinn"), 0, quant=quant)
    path = f"{folder}/w-{n}-{spec.replace('=', '_')}.npz"
    np.savez(path, weights=state.weights, theta=state.theta)
    out = subprocess.run([sys.executable, "-c", CHILD, path, str(images), spec],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--neurons", type=int, nargs="+", default=[1600, 4900])
    ap.add_argument("--images", type=int, default=200)
    args = ap.parse_args(argv)
    print("| N | weights | weight array | peak RSS | saving vs FP32 |")
    print("|---|---|---|---|---|")
    import tempfile

    tmp = tempfile.mkdtemp(prefix="dse-mem-")
    for n in args.neurons:
        fp32 = measure(n, args.images, "fp32", tmp)
        q8 = measure(n, args.images, "weights=Q0.8", tmp)
        for r in (fp32, q8):
            saving = (fp32["peak_rss_kib"] - r["peak_rss_kib"]) / 1024
            print(f"| {n} | {r['weights']} | {r['weight_bytes'] / 2**20:.2f} MiB | "
                  f"{r['peak_rss_kib'] / 1024:.1f} MiB | {saving:.1f} MiB |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
