"""Commands of the calibration: `dse measure` (this machine's time and energy per image), `dse calibrate`.

Parse, call dse.calibration, print; errors are ValueErrors with one line, which
the main CLI prints as ``error: ...`` with exit status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dse.cli.args import add_data_dir, bench_images, execution_mode, positive_int, seed

__all__ = ["register"]


def register(subparsers: Any) -> None:
    from dse.data import DATASETS
    from dse.models.designs import DESIGNS

    m = subparsers.add_parser(
        "measure", help="measure time and energy per image of a grid of designs on this machine",
        description="Train on the first K training images and infer on the first K test images for each "
                    "design x size x precision; record wall time, CPU time and energy per image "
                    "(NVML, RAPL or modelled power x time, labelled) in OUT/measurements.json. "
                    "Cells already measured are skipped.")
    m.add_argument("--designs", nargs="+", choices=DESIGNS, default=list(DESIGNS))
    m.add_argument("--sizes", nargs="+", default=None, metavar="N", help="network sizes (default 100 225 400 625 900)")
    m.add_argument("--quant", action="append", default=[], metavar="SPEC",
                   help="precision to measure (repeatable; default fp32)")
    m.add_argument("--images", type=bench_images, default=None, help="images per phase and cell (default 300)")
    m.add_argument("--repeats", type=positive_int, default=None,
                   help="rounds over the grid; each record keeps its fastest sample (default 5)")
    m.add_argument("--dataset", choices=DATASETS, default="mnist")
    add_data_dir(m)
    m.add_argument("--seed", type=seed, default=0)
    m.add_argument("--engine", choices=("numba", "torch", "auto"), default="numba", help="inference engine")
    m.add_argument("--profile", default="cpu", help="profile whose power models energy without a counter")
    m.add_argument("--out", required=True, help="folder for measurements.json")
    m.add_argument("--json", action="store_true")
    m.set_defaults(handler=cmd_measure)

    k = subparsers.add_parser(
        "calibrate", help="fit a profile's time coefficients to measurements; write a new profile",
        description="Non-negative least squares fit of the time coefficients to `dse measure` records, "
                    "leave-one-size-out error, and a NEW profile file (the base profile is never edited).")
    k.add_argument("measurements", nargs="+", help="measurements.json files")
    k.add_argument("--profile", default="cpu", help="base profile (default cpu)")
    k.add_argument("--out", required=True, help="new profile file, e.g. reports/cpu-calibrated.toml")
    k.add_argument("--target", choices=("cpu", "wall"), default="cpu",
                   help="fit process CPU time (default; robust on a shared machine) or wall time")
    k.add_argument("--execution", choices=("auto", "dense", "event"), default="auto")
    k.add_argument("--force", action="store_true", help="replace --out if it exists")
    k.add_argument("--json", action="store_true")
    k.set_defaults(handler=cmd_calibrate)


# --------------------------------------------------------------------------- measure


def cmd_measure(args: argparse.Namespace) -> int:
    from dse.cli.console import wide_console
    from dse.calibration.measure import DEFAULT_IMAGES, DEFAULT_REPEATS, DEFAULT_SIZES, Settings, measure_grid, parse_sizes
    from dse.runs.validate import finite_json

    sizes = parse_sizes(args.sizes) if args.sizes else list(DEFAULT_SIZES)
    settings = Settings(images=args.images or DEFAULT_IMAGES, dataset=args.dataset, data_dir=args.data_dir,
                        seed=args.seed, engine=args.engine, repeats=args.repeats or DEFAULT_REPEATS)
    con = wide_console()
    quiet = args.json

    def on_record(r: dict[str, Any], skipped: bool) -> None:
        if quiet:
            return
        what = "kept " if skipped else ""
        con.print(f"{what}{r['key']}: {1e3 * r['wall_s_per_image']:.3f} ms wall, "
                  f"{1e3 * r['cpu_s_per_image']:.3f} ms CPU, {r['energy_j_per_image']:.3g} J per image "
                  f"({r['energy_source']})", markup=False)

    doc = measure_grid(args.designs, sizes, args.quant or ["fp32"], settings, Path(args.out),
                       profile_name=args.profile, on_record=on_record)
    path = Path(args.out) / "measurements.json"
    if args.json:
        print(finite_json({"file": str(path), "records": len(doc["records"]), "machine": doc["machine"]},
                          "--json output", indent=2))
        return 0
    machine = doc["machine"]
    con.print(f"{len(doc['records'])} records in {path}", markup=False)
    con.print(f"machine: {machine['cpu']}, {machine['cores']} cores; GPU: {machine['nvidia']}; {machine['rapl']}",
              markup=False)
    return 0


# --------------------------------------------------------------------------- calibrate


def cmd_calibrate(args: argparse.Namespace) -> int:
    from dse.calibration.calibrate import calibrate
    from dse.cli.console import wide_console
    from dse.runs.validate import finite_json

    res = calibrate(args.measurements, args.profile, args.out, target=args.target, execution=execution_mode(args.execution),
                    force=args.force)
    held = res.held_out
    phases = sorted(set(held.phases))
    doc = {
        "profile": res.profile.name, "file": str(res.out_path), "base_profile": args.profile,
        "target": res.target, "execution": res.execution, "records": res.n_records,
        "coefficients": {k: getattr(res.profile.coefficients, k) for k in res.time_fit.coefficients},
        "exercised": dict(res.time_fit.identifiable),
        "in_sample": {"rms_fraction": res.time_fit.rms_fraction, "max_fraction": res.time_fit.max_fraction},
        "leave_one_size_out": {"mape": held.mape(), "by_phase": {ph: held.mape(ph) for ph in phases},
                               "by_size": {str(k): v for k, v in held.mape_by_size().items()}},
        "energy_fitted": res.energy_fitted,
    }
    if args.json:
        print(finite_json(doc, "--json output", indent=2))
        return 0
    con = wide_console()
    con.print(f"fitted {res.n_records} records ({res.target} time per image, {res.execution} execution) "
              f"-> {res.out_path} (profile {res.profile.name})", markup=False)
    for k, v in doc["coefficients"].items():
        note = "" if doc["exercised"][k] else "  (not exercised: prior kept)"
        con.print(f"  {k:28s} {v:.4g}{note}", markup=False)
    con.print(f"in-sample relative error: rms {100 * res.time_fit.rms_fraction:.1f}%, "
              f"max {100 * res.time_fit.max_fraction:.1f}%", markup=False)
    by_phase = ", ".join(f"{ph} {100 * v:.1f}%" for ph, v in doc["leave_one_size_out"]["by_phase"].items())
    by_size = ", ".join(f"N={k}: {100 * v:.1f}%" for k, v in doc["leave_one_size_out"]["by_size"].items())
    con.print(f"held-out (leave one size out) MAPE {100 * held.mape():.1f}% ({by_phase}); {by_size}", markup=False)
    if not res.energy_fitted:
        con.print("energy: no measured energy in these records; energy per operation re-derived from the fitted "
                  "times (busy device at board power), DRAM energy and static power kept from the base profile",
                  markup=False)
    return 0
