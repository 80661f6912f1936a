"""Cold-cache compile time of the engine variants a search uses, and the warm load time.

    python bench/compile_time.py [--repeats 2]

Each measurement runs in a fresh process with an empty numba cache folder
(NUMBA_CACHE_DIR), so it is what a new user's first run waits for: float
weights (FP32 and PTQ-free runs), uint8 codes (<= 8-bit weights) and uint16
codes (9-16 bits), all with float32 state, compiled one after another as the
engine's compile lock does. A second process then loads them from that cache.
Figures are wall-clock on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

_CHILD = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from dse.models import warmup
t_import = time.perf_counter() - t0
out = {"import_s": t_import, "variants": {}}
for weights in ("float32", "uint8", "uint16"):
    t = time.perf_counter()
    warmup.ensure_compiled(np.dtype(weights), np.float32)
    out["variants"][weights] = time.perf_counter() - t
print(json.dumps(out))
"""


def _run_child(cache_dir: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - t
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2, help="cold runs, each with its own empty cache")
    args = ap.parse_args(argv)
    from dse.runs.folder import cpu_model, now_iso

    print(f"Measured {now_iso()} on {cpu_model()} ({os.cpu_count()} cores); wall-clock seconds.")
    print("| run | float32 weights | uint8 codes | uint16 codes | all three | warm load (all three) |")
    print("|---|---|---|---|---|---|")
    for k in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="dse-numba-") as cache:
            cold = _run_child(cache)
            warm = _run_child(cache)
        v, w = cold["variants"], warm["variants"]
        print(f"| cold {k + 1} | {v['float32']:.1f} | {v['uint8']:.1f} | {v['uint16']:.1f} | "
              f"{sum(v.values()):.1f} | {sum(w.values()):.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
