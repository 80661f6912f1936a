"""Measured flash and RAM of the exported C (Cortex-M4) beside the cost model, for fspinn 8-bit.

    python bench/export_memory.py [--sizes 100 400 1600] [--train-samples 500] [--work reports/export-bench]

For each N: train fspinn FP32 on a few hundred images (the size of the
program does not depend on how well it learned), quantize to the cost
model's 8-bit preset, `dse export --images 1`, cross-compile for a
Cortex-M4 (arm-none-eabi-gcc -O2), run it under QEMU (stack measured by
painting), and print a markdown table: measured flash and RAM, the
parameter part against `dse cost --accounting minimal` (and dense), and the
rest per component from the linker's map file.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from dse.cli.main import main as dse

PRESET_8BIT = ["--weights", "Q0.8", "--inh", "Q6.2", "--vmem", "Q7.0", "--vth", "Q7.0", "--rounding", "nearest"]


def quantized_fspinn(work: Path, n: int, train_samples: int, test_samples: int = 200) -> Path:
    """An fspinn 8-bit run of N neurons in `work` (made once, reused after)."""
    fp32, q8 = work / f"fspinn-{n}-fp32", work / f"fspinn-{n}-8bit"
    if not (fp32 / "manifest.json").exists():
        shutil.rmtree(fp32, ignore_errors=True)
        _ok(dse(["train", "--design", "fspinn", "--neurons", str(n), "--train-samples", str(train_samples),
                 "--assign-samples", str(train_samples), "--test-samples", str(test_samples), "--quiet",
                 "--out", str(fp32)]))
    if not (q8 / "manifest.json").exists():
        shutil.rmtree(q8, ignore_errors=True)
        _ok(dse(["quantize", str(fp32), *PRESET_8BIT, "--quiet", "--out", str(q8)]))
    return q8


def _ok(code: int) -> None:
    if code != 0:
        sys.exit(code)


def measure(work: Path, n: int, train_samples: int) -> dict:
    from dse.export.report import size_report
    from dse.export.writer import export_run

    out = work / f"fspinn-{n}-8bit-c"
    shutil.rmtree(out, ignore_errors=True)
    export_run(quantized_fspinn(work, n, train_samples), out, images=1)
    return size_report(out, "cortex-m4")


def _sum(parts: dict[str, int], *prefixes: str) -> int:
    return sum(v for k, v in parts.items() if k.startswith(prefixes))


def flash_table(reports: list[dict]) -> str:
    lines = ["| N | flash measured | parameters measured | model minimal parameters | difference | "
             "model dense parameters | neuron labels | inference code (snn.c) | C library | example code |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in reports:
        f = r["flash_components"]
        lines.append(
            f"| {r['neurons']} | {r['flash_without_test_images']:,} B | {r['parameters_measured']:,} B | "
            f"{r['parameters_model_minimal']:,} B | {100 * r['parameters_difference']:+.2f}% | "
            f"{r['parameters_model_dense']:,} B | {_sum(f, 'neuron labels'):,} B | "
            f"{_sum(f, 'inference code'):,} B | {_sum(f, 'C library'):,} B | {_sum(f, 'example: main'):,} B |")
    return "\n".join(lines)


def ram_table(reports: list[dict]) -> str:
    lines = ["| N | RAM measured | neuron state | input drive | Poisson generator | spike counts | "
             "stack (measured) | C library, example, padding | model minimal state | model dense state |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in reports:
        ram, layout, m = r["ram_components"], r["state_layout"], r["model"]
        state = ram["snn_state (neuron and input state)"]
        drive = layout["input drive of the step (int32)"]
        poisson = sum(v for k, v in layout.items() if k.startswith(("Poisson", "log(1 - p)", "stream")))
        neurons = state - drive - poisson  # V, g_e, g_i, counters, flags, and the struct's padding
        counts, stack = ram["spike counts (output)"], r["stack_bytes"] or 0
        rest = r["ram_bytes"] - state - counts - stack
        lines.append(f"| {r['neurons']} | {r['ram_bytes']:,} B | {neurons:,} B | {drive:,} B | {poisson:,} B | "
                     f"{counts:,} B | {stack:,} B | {rest:,} B | {m['minimal']['state']:,} B | "
                     f"{m['dense']['state']:,} B |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 400, 1600])
    ap.add_argument("--train-samples", type=int, default=500)
    ap.add_argument("--work", default="reports/export-bench", help="folder for the runs and exports")
    ap.add_argument("--json", default=None, help="also write the full reports as JSON")
    args = ap.parse_args(argv)
    from dse.export.report import render

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    reports = [measure(work, n, args.train_samples) for n in args.sizes]
    for r in reports:
        print(render(r), end="\n\n")
    print(flash_table(reports), end="\n\n")
    print(ram_table(reports))
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
