"""What fixed point costs the engine: training and inference images/s of quantized networks against FP32.

    python bench/fixed_point_speed.py [--design fspinn] [--neurons 400] [--images 1000] [--rounds 3]

Each round trains a fresh network of every precision on the same images, then
tests it on as many (compile excluded), the precisions alternating within a
round so that a busy machine slows them alike. It prints the median images/s
of each precision, its ratio to FP32 in the same rounds (range over the
rounds), and the work per image (presentations, excitatory spikes): a
quantized network that spikes more does more work, which is not the engine's
cost per operation. Issue 10 asks for quantized potentials at most 1.5x the
FP32 engine's time and integer weight codes no slower than float weights.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

PRECISIONS = (
    ("fp32", None, "nearest"),
    ("weights Q0.8 (uint8 codes)", "weights=Q0.8", "nearest"),
    ("weights Q0.16 (uint16 codes)", "weights=Q0.16", "nearest"),
    ("weights Q0.8, V and threshold sQ7.8, nearest", "weights=Q0.8,vmem=sQ7.8,vth=sQ7.8", "nearest"),
    ("weights Q0.8, V and threshold sQ7.8, stochastic", "weights=Q0.8,vmem=sQ7.8,vth=sQ7.8", "stochastic"),
)


def _measure(design: str, neurons: int, x: np.ndarray, spec: str | None, rounding: str) -> dict[str, float]:
    from dse.models.counts import counts_to_dict, new_counts
    from dse.models.network import Simulator, init_state
    from dse.models.quantize import parse_quant
    from dse.models.recipes import load_recipe
    from dse.runs.inference import TEST_STREAM

    recipe = load_recipe(design)
    quant = parse_quant(spec, rounding, seed=0) if spec else None
    sim = Simulator(recipe, quant=quant)
    warm = init_state(neurons, recipe, 0, quant=quant)
    sim.train(warm, x[:2], 0, 0, new_counts())
    sim.infer(warm, x[:2], TEST_STREAM, 0, new_counts())
    state = init_state(neurons, recipe, 0, quant=quant)
    tc, ic = new_counts(), new_counts()
    t = time.perf_counter()
    sim.train(state, x, 0, 0, tc)
    train_s = time.perf_counter() - t
    t = time.perf_counter()
    sim.infer(state, x, TEST_STREAM, 0, ic)
    infer_s = time.perf_counter() - t
    c = counts_to_dict(tc)
    return {"train": len(x) / train_s, "infer": len(x) / infer_s,
            "presentations": c["presentations"] / len(x), "spikes": c["exc_spikes"] / len(x)}


def main(argv: list[str] | None = None) -> int:
    import numba

    from dse.data.locate import load_dataset
    from dse.runs import folder

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", default="fspinn")
    ap.add_argument("--neurons", type=int, default=400)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    x = np.ascontiguousarray(load_dataset("mnist").train_images[:args.images])
    rows: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in PRECISIONS}
    for r in range(args.rounds):
        for name, spec, rounding in PRECISIONS:
            rows[name].append(_measure(args.design, args.neurons, x, spec, rounding))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    fp32 = rows["fp32"]
    print(f"\n{args.design} N{args.neurons}, {args.images} bundled MNIST images, {args.rounds} rounds; "
          f"{folder.cpu_model()}, {numba.get_num_threads()} threads; measured wall-clock")
    print("| precision | train img/s | x FP32 time | infer img/s | x FP32 time | presentations/img | spikes/img |")
    print("|---|---|---|---|---|---|---|")
    for name, _, _ in PRECISIONS:
        cells = [name]
        for phase in ("train", "infer"):
            rate = statistics.median(m[phase] for m in rows[name])
            slow = [f[phase] / m[phase] for f, m in zip(fp32, rows[name])]  # time ratio, same round
            cells += [f"{rate:,.0f}", f"{statistics.median(slow):.2f} ({min(slow):.2f}-{max(slow):.2f})"]
        cells += [f"{statistics.median(m['presentations'] for m in rows[name]):.2f}",
                  f"{statistics.median(m['spikes'] for m in rows[name]):.1f}"]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
