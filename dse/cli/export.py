"""`dse export`: parse, export, optionally measure, print.

Errors are one line (exit 2) through the main CLI; the library names its
parameters (out_dir, images, target) and the CLI shows them as flags.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dse.cli.args import add_data_dir, positive_int

__all__ = ["register"]

_TARGETS = ("c",)                       # = dse.export.writer.TARGETS, literal so that --help stays fast
_CORES = ("cortex-m4", "cortex-m7")     # = dse.export.toolchain.CORES
MAX_IMAGES = 10_000                     # a test set's size


def _images(text: str) -> int:
    value = positive_int(text)
    if value > MAX_IMAGES:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_IMAGES} (the test set), got {value}")
    return value


def register(sub: Any) -> None:
    e = sub.add_parser(
        "export", help="write a quantized run as a self-contained C99 inference library",
        description="Write a quantized run folder as C99: snn_model.h (weight codes, thresholds, labels, "
                    "constants), snn.c (the inference step loop, bit-exact with the engine), an example main.c "
                    "that checks K embedded test images against the engine, a Cortex-M startup for QEMU's "
                    "MPS2 boards, and a Makefile. FP32 runs are refused: quantize first (`dse quantize`).")
    e.add_argument("run_dir", metavar="RUN_DIR", help="a quantized run folder (`dse quantize` or `dse train --quant`)")
    e.add_argument("--target", choices=_TARGETS, required=True, help="output language (c)")
    e.add_argument("--out", required=True, help="folder to write (must not exist, or be empty)")
    e.add_argument("--images", type=_images, default=10,
                   help="test images the example embeds and checks against the engine (default 10)")
    add_data_dir(e, "folder with the run's data set, for the test images (default: the usual lookup)")
    e.add_argument("--report", action="store_true",
                   help="cross-compile for --core, run under QEMU, and print measured flash/RAM beside "
                        "`dse cost --accounting minimal` and `dense` (needs arm-none-eabi-gcc)")
    e.add_argument("--core", choices=_CORES, default="cortex-m4", help="Cortex-M core of --report (default m4)")
    e.add_argument("--json", action="store_true", help="print the export (and report) as JSON")
    e.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from dse.export import toolchain
    from dse.export.writer import export_run

    if args.report:  # refuse before writing anything
        missing = toolchain.cross_toolchain_missing(args.core)
        if missing:
            raise ValueError(f"--report: {missing}")
    info = export_run(Path(args.run_dir), Path(args.out), target=args.target, images=args.images,
                      data_dir=args.data_dir)
    report = None
    if args.report:
        from dse.export.report import size_report

        report = size_report(Path(args.out), args.core)
    if args.json:
        print(json.dumps({"export": info, "report": report}, indent=2))
        return 0
    q = info["quantization"]
    print(f"exported {args.run_dir} ({info['design']}, N={info['neurons']}, {q['spec']}, {q['rounding']} "
          f"rounding) to {args.out}")
    print(f"  host:      make -C {args.out}        (builds and runs the example on {info['images']} test images)")
    print(f"  Cortex-M4: make -C {args.out} qemu   (arm-none-eabi-gcc, qemu-system-arm)")
    if report is not None:
        from dse.export.report import render

        print()
        print(render(report))
    return 0
