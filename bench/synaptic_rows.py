"""Does a synaptic event cost more once the weights outgrow L2, or when its row is misaligned?

    .venv/bin/python bench/synaptic_rows.py [--images 300] [--repeats 4]

Inference (one thread, the untrained SL-STDP network, the first MNIST test
images) at sizes whose rows are not a whole number of 32-byte AVX2 vectors
(N not a multiple of 8), across the profile's L2 (1 MB: N = 334), then at
N = 400, 408 and 416 (rows of whole vectors) with the weights copied to a
64-byte aligned address and to one 16 bytes past it.

Each run's per-step cost (neuron updates and the step) comes from a run on
blank images and is subtracted; the rest is input spikes x a + synaptic events
x b, with a fitted over all the misaligned sizes together. The table prints
b for each size (ns per synaptic event on one core). docs/cost-model.md
quotes it ("Row alignment").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MISALIGNED = (225, 301, 351, 401, 451, 501, 625, 701, 801, 900, 1001)
WHOLE_VECTORS = (400, 408, 416)


def _copy_at(weights: np.ndarray, offset: int) -> np.ndarray:
    """The weights copied to an address `offset` bytes past a 64-byte boundary."""
    buf = np.empty(weights.nbytes + 128, dtype=np.uint8)
    start = (-buf.ctypes.data) % 64 + offset
    out = buf[start:start + weights.nbytes].view(weights.dtype).reshape(weights.shape)
    out[...] = weights
    return out


def _time(sim, state, images, repeats: int) -> tuple[float, dict[str, float]]:
    """Fastest process CPU time per image, and the counts per image."""
    from dse.models.counts import counts_to_dict, new_counts, per_image

    sim.infer(state, images[:3], 0, 0, new_counts())  # compiled before timing
    best, counts = float("inf"), None
    for _ in range(repeats):
        counts = new_counts()
        t0 = time.process_time()
        sim.infer(state, images, 0, 0, counts)
        best = min(best, time.process_time() - t0)
    return best / len(images), per_image(counts_to_dict(counts))


def _spike_and_synaptic_part(sim, state, images, repeats: int) -> tuple[float, float, float]:
    """(seconds per image left after the per-step cost, input spikes, synaptic events) per image."""
    t, c = _time(sim, state, images, repeats)
    tb, cb = _time(sim, state, np.zeros_like(images), repeats)
    return t - tb / cb["steps"] * c["steps"], c["input_spikes"], c["synaptic_events"]


def main(argv: list[str] | None = None) -> int:
    import numba

    from dse.data.locate import load_dataset
    from dse.models.network import NetworkState, Simulator, init_state
    from dse.models.recipes import load_recipe

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=4)
    args = ap.parse_args(argv)
    numba.set_num_threads(1)
    images = np.ascontiguousarray(load_dataset("mnist").test_images[:args.images])
    recipe = load_recipe("sl-stdp")
    sim = Simulator(recipe)

    def part(n: int, offset: int) -> tuple[float, float, float]:
        st = init_state(n, recipe, 0)
        return _spike_and_synaptic_part(sim, NetworkState(_copy_at(st.weights, offset), st.theta), images,
                                        args.repeats)

    rows = {n: part(n, 0) for n in MISALIGNED}
    a, _ = np.linalg.lstsq(np.array([[s, e] for _, s, e in rows.values()]),
                           np.array([r for r, _, _ in rows.values()]), rcond=None)[0]
    print(f"input spike (fitted over the misaligned sizes): {a * 1e9:.1f} ns on one core")
    print("N     matrix MiB  rows          address  ns per synaptic event (one core)")
    for n, (rest, spikes, events) in rows.items():
        print(f"{n:<5d} {784 * n * 4 / 2 ** 20:10.2f}  misaligned    any      {(rest - a * spikes) / events * 1e9:.4f}")
    for n in WHOLE_VECTORS:
        for offset in (0, 16):
            rest, spikes, events = part(n, offset)
            where = "aligned" if offset == 0 else "16 B off"
            print(f"{n:<5d} {784 * n * 4 / 2 ** 20:10.2f}  whole vectors {where:8s} {(rest - a * spikes) / events * 1e9:.4f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
