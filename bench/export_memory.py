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

from dse.cli import main as dse

PRESET_8BIT = ["--weights", "Q0.8", "--inh", "Q5.3", "--vmem", "Q7.0", "--vth", "Q7.0", "--rounding", "nearest"]


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


def table(reports: list[dict]) -> str:
    head = ("| N | flash measured | of which parameters | model minimal parameters | difference | "
            "model dense parameters | code + C library | RAM measured (data + bss + stack) | "
            "model minimal state | model dense state |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in reports:
        f, m = r["flash_components"], r["model"]
        code = sum(v for k, v in f.items() if k.startswith(("inference code", "C library", "example: main")))
        flash = r["flash_without_test_images"]
        lines.append(f"| {r['neurons']} | {flash:,} B | {r['parameters_measured']:,} B | "
                     f"{r['parameters_model_minimal']:,} B | {100 * r['parameters_difference']:+.2f}% | "
                     f"{r['parameters_model_dense']:,} B | {code:,} B | {r['ram_bytes']:,} B | "
                     f"{m['minimal']['state']:,} B | {m['dense']['state']:,} B |")
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
    print(table(reports))
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
