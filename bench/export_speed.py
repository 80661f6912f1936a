"""Inference images/s of the exported C (host build) beside the numba engine, measured in the same run.

    python bench/export_speed.py [--sizes 100 400] [--images 200] [--seconds 3] [--work reports/export-bench]

fspinn 8-bit (the cost model's preset) at each N, on the first --images test
images. The C library runs one image at a time on one core (bench.c, built
as exported (-O2, the small input generator) and fast (-O3 -fno-trapping-math,
the raster input generator); -ffp-contract=off as always); the engine runs
`Simulator.infer` (what `dse evaluate` runs) on 1 thread and on all of them,
and, for scale, on the FP32 run the 8-bit one was quantized from.
Each figure repeats the images until --seconds have passed; compile time is
excluded. They are measured in turn, --rounds times, and each keeps its best
round, so that a burst of load from other processes hits one sample, not one
column. Single-threaded figures are images per CPU second (what a machine
shared with other work still measures faithfully); the multi-threaded ones
are wall-clock.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numba

from export_memory import quantized_fspinn


def c_images_per_s(export_dir: Path, opt, seconds: float) -> float:
    from dse.export import toolchain

    exe = toolchain.build_host(export_dir, opt=opt, bench=True)
    out = subprocess.run([str(exe), str(seconds)], capture_output=True, text=True, check=True).stdout.split()
    return float(out[out.index("images_per_cpu_s") + 1])


def engine_images_per_s(run: Path, images: int, threads: int, seconds: float) -> float:
    """`Simulator.infer` on the run (8-bit or FP32), as `dse evaluate` runs it."""
    from dse.runs import folder as rundir
    from dse.data.locate import load_dataset
    from dse.models.counts import new_counts
    from dse.models.network import NetworkState, Simulator
    from dse.runs.inference import TEST_STREAM, run_quant
    from dse.runs.validate import run_recipe

    manifest = rundir.read_manifest(run)
    arrays = rundir.load_npz(run / rundir.WEIGHTS)
    sim = Simulator(run_recipe(run, manifest), quant=run_quant(manifest))
    state = NetworkState(arrays["weights"], arrays["theta"])
    x = load_dataset(manifest["config"]["dataset"]).test_images[:images].reshape(images, -1)
    numba.set_num_threads(threads)
    sim.infer(state, x[:1], TEST_STREAM, 0, new_counts())  # compile (or load from the cache) first
    clock = time.process_time if threads == 1 else time.perf_counter  # CPU time where it means one core
    done, start, wall = 0, clock(), time.perf_counter()
    while time.perf_counter() - wall < seconds:
        sim.infer(state, x, TEST_STREAM, int(manifest["config"]["seed"]), new_counts())
        done += images
    return done / (clock() - start)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 400])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--train-samples", type=int, default=500)
    ap.add_argument("--work", default="reports/export-bench")
    args = ap.parse_args(argv)
    from dse.export import toolchain
    from dse.export.writer import export_run
    from dse.runs.folder import cpu_model

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    all_threads = numba.config.NUMBA_NUM_THREADS
    rows = []
    for n in args.sizes:
        run = quantized_fspinn(work, n, args.train_samples)
        out = work / f"fspinn-{n}-8bit-speed"
        if out.exists():
            shutil.rmtree(out)
        export_run(run, out, images=args.images)
        fp32 = run.parent / run.name.replace("-8bit", "-fp32")
        best = [0.0] * 5
        for _ in range(args.rounds):
            sample = (c_images_per_s(out, "-O2", args.seconds),
                      c_images_per_s(out, (*toolchain.FAST_FLAGS, *toolchain.RASTER_FLAGS), args.seconds),
                      engine_images_per_s(run, args.images, 1, args.seconds),
                      engine_images_per_s(run, args.images, all_threads, args.seconds),
                      engine_images_per_s(fp32, args.images, all_threads, args.seconds))
            best = [max(a, b) for a, b in zip(best, sample)]
        rows.append((n, *best))
    print(f"\nfspinn 8-bit inference, {args.images} MNIST test images, {cpu_model()}, {all_threads} threads, "
          f"best of {args.rounds} rounds of {args.seconds:g} s")
    print(f"| N | C -O2, 1 core (CPU time) | C {' '.join((*toolchain.FAST_FLAGS, *toolchain.RASTER_FLAGS))}, "
          "1 core (CPU time) | "
          f"numba engine, 1 thread (CPU time) | numba engine, {all_threads} threads (wall) | "
          f"numba engine, FP32 run, {all_threads} threads (wall) |")
    print("|---|---|---|---|---|---|")
    for n, c2, c3, e1, en, f32 in rows:
        print(f"| {n} | {c2:,.0f} img/s | {c3:,.0f} img/s | {e1:,.0f} img/s | {en:,.0f} img/s | {f32:,.0f} img/s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
