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
                    "design x size x precision (and, in the full grid, probes that change the input rate, the "
                    "presentation length or blank the images); record wall time, CPU time and energy per image "
                    "(NVML, RAPL or modelled power x time, labelled) in OUT/measurements.json. "
                    "Cells already measured are skipped.")
    m.add_argument("--designs", nargs="+", choices=DESIGNS, default=list(DESIGNS))
    m.add_argument("--sizes", nargs="+", default=None, metavar="N", help="network sizes (default 100 225 400 625 900)")
    m.add_argument("--quant", action="append", default=[], metavar="SPEC",
                   help="precision to measure (repeatable; default fp32)")
    m.add_argument("--images", type=bench_images, default=None, help="images per phase and cell (default 300)")
    m.add_argument("--repeats", type=positive_int, default=None,
                   help="rounds over the grid; each record keeps its fastest sample (default 5)")
    m.add_argument("--grid", choices=("full", "sizes"), default="full",
                   help="full (default): the sizes plus the probes that separate the cost terms; "
                        "sizes: every design x size at the recipe's input only")
    m.add_argument("--threads", type=positive_int, default=1,
                   help="inference threads (default 1: CPU time is then robust to other processes' load)")
    m.add_argument("--dataset", choices=DATASETS, default="mnist")
    add_data_dir(m)
    m.add_argument("--seed", type=seed, default=0)
    m.add_argument("--engine", choices=("numba", "torch", "auto"), default="numba", help="inference engine")
    m.add_argument("--profile", default="cpu", help="profile whose power models energy without a counter")
    m.add_argument("--out", required=True, help="folder for measurements.json")
    m.add_argument("--json", action="store_true")
    m.add_argument("--quiet", action="store_true", help="no progress")
    m.set_defaults(handler=cmd_measure)

    k = subparsers.add_parser(
        "calibrate", help="fit a profile's time coefficients to measurements; write a new profile",
        description="Non-negative least squares fit of the time coefficients to `dse measure` records, with "
                    "bootstrap 95% intervals; coefficients the records cannot identify, or that are physically "
                    "implausible, are held and flagged. Held-out error (leave one size out, leave one design out, "
                    "MNIST to Fashion-MNIST when both are given), per-term probes, and a NEW profile file (the base "
                    "profile is never edited).")
    k.add_argument("measurements", nargs="+", help="measurements.json files")
    k.add_argument("--profile", default="cpu", help="base profile (default cpu)")
    k.add_argument("--out", required=True, help="new profile file, e.g. reports/cpu-calibrated.toml")
    k.add_argument("--target", choices=("cpu", "wall"), default="cpu",
                   help="fit process CPU time (default; robust on a shared machine) or wall time")
    k.add_argument("--execution", choices=("auto", "dense", "event"), default="auto")
    k.add_argument("--force", action="store_true", help="replace --out if it exists")
    k.add_argument("--bootstrap", type=positive_int, default=1000, metavar="DRAWS",
                   help="bootstrap resamples for the 95%% intervals (default 1000)")
    k.add_argument("--json", action="store_true")
    k.set_defaults(handler=cmd_calibrate)


# --------------------------------------------------------------------------- measure


def cmd_measure(args: argparse.Namespace) -> int:
    from dse.cli.console import console
    from dse.cli.progress import progress_for
    from dse.calibration.measure import DEFAULT_IMAGES, DEFAULT_REPEATS, DEFAULT_SIZES, Settings, measure_grid, parse_sizes
    from dse.runs.validate import finite_json

    sizes = parse_sizes(args.sizes) if args.sizes else list(DEFAULT_SIZES)
    settings = Settings(images=args.images or DEFAULT_IMAGES, dataset=args.dataset, data_dir=args.data_dir,
                        seed=args.seed, engine=args.engine, repeats=args.repeats or DEFAULT_REPEATS,
                        threads=args.threads)
    con = console()
    quiet = args.json

    def on_record(r: dict[str, Any], skipped: bool) -> None:
        if quiet:
            return
        what = "kept " if skipped else ""
        con.print(f"{what}{r['key']}: {1e3 * r['wall_s_per_image']:.3f} ms wall, "
                  f"{1e3 * r['cpu_s_per_image']:.3f} ms CPU, {r['energy_j_per_image']:.3g} J per image "
                  f"({r['energy_source']})", markup=False)

    with progress_for(args.quiet) as progress:
        doc = measure_grid(args.designs, sizes, args.quant or ["fp32"], settings, Path(args.out), grid=args.grid,
                           profile_name=args.profile, on_record=on_record, progress=progress)
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
    from dse.cli.console import console
    from dse.runs.validate import finite_json

    res = calibrate(args.measurements, args.profile, args.out, target=args.target,
                    execution=execution_mode(args.execution), force=args.force, draws=args.bootstrap)
    doc = calibration_doc(res, args.profile)
    if args.json:
        print(finite_json(doc, "--json output", indent=2))
        return 0
    con = console()
    for line in calibration_lines(res, doc):
        con.print(line, markup=False)
    return 0


def calibration_doc(res: Any, base_name: str) -> dict[str, Any]:
    """The JSON document of `dse calibrate --json`."""
    est = res.analysis.estimate
    return {
        "profile": res.profile.name, "file": str(res.out_path), "base_profile": base_name,
        "target": res.target, "execution": res.execution, "records": res.n_records,
        "coefficients": {k: {"value": getattr(res.profile.coefficients, k), "fitted": est.fitted(k),
                             "interval_95": list(res.profile.coefficient_intervals[k])
                             if est.fitted(k) else None, "held_because": est.kept.get(k)}
                         for k in est.names},
        "grid": {"condition_number": est.conditioning.condition_number,
                 "weakest_direction": dict(est.conditioning.weakest)},
        "in_sample": {"rms_fraction": est.rms_fraction, "max_fraction": est.max_fraction},
        "held_out": {kind: h.summary() for kind, h in res.analysis.held_out.items()},
        "probes": [{"probe": p.probe, "records": p.records, "estimates": dict(p.estimates), "fitted": dict(p.fitted),
                    "agrees_within_25pct": p.agrees()} for p in res.analysis.probes],
        "energy_fitted": res.energy_fitted,
    }


_HELD_OUT_TITLES = {"size": "leave one size out", "design": "leave one design out",
                    "dataset": "mnist -> other data sets"}


def calibration_lines(res: Any, doc: dict[str, Any]) -> list[str]:
    """The text report: coefficients with intervals, one line per held coefficient, held-out and probe figures."""
    est = res.analysis.estimate
    lines = [f"fitted {res.n_records} records ({res.target} time per image, {res.execution} execution) "
             f"-> {res.out_path} (profile {res.profile.name})",
             f"grid: condition number {est.conditioning.condition_number:.3g} (relative design matrix, unit columns)"]
    for k, c in doc["coefficients"].items():
        if c["fitted"]:
            lo, hi = c["interval_95"]
            lines.append(f"  {k:28s} {c['value']:.4g}  95% [{lo:.4g}, {hi:.4g}]")
        else:
            lines.append(f"  {k:28s} {c['value']:.4g}  HELD: {c['held_because']}")
    lines.append(f"in-sample relative error: rms {100 * est.rms_fraction:.1f}%, max {100 * est.max_fraction:.1f}%")
    for kind, h in res.analysis.held_out.items():
        by_phase = ", ".join(f"{ph} {100 * v:.1f}%" for ph, v in h.summary()["by_phase"].items())
        by_group = ", ".join(f"{g}: {100 * v:.1f}%" for g, v in h.mape_by_group().items())
        lines.append(f"held-out ({_HELD_OUT_TITLES[kind]}) MAPE {100 * h.mape():.1f}% ({by_phase}); {by_group}")
    for p in res.analysis.probes:
        terms = ", ".join(f"{t} {p.estimates[t]:.4g} vs {p.fitted[t]:.4g} ({100 * (p.ratio(t) - 1):+.0f}%)"
                          for t in p.estimates)
        lines.append(f"probe {p.probe}, {p.records} records: {terms}")
    if not res.energy_fitted:
        lines.append("energy: no measured energy in these records; energy per operation re-derived from the "
                     "calibrated times (busy device at board power), DRAM energy and static power kept from the base "
                     "profile")
    return lines
