"""Commands of the cost model: `dse cost` and `dse compare-hw`.

Parse, call the library, print; errors are ValueErrors with one line, which
the main CLI prints as ``error: ...`` with exit status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dse.cli.args import execution_mode, positive_float, positive_int

__all__ = ["register"]



def _common_design_args(p: argparse.ArgumentParser, *, required: bool) -> None:
    from dse.data import DATASETS
    from dse.models.designs import DESIGNS

    p.add_argument("--design", choices=DESIGNS, required=required)
    p.add_argument("--neurons", type=positive_int, required=required, help="excitatory neurons N")
    p.add_argument("--quant", default="fp32", metavar="SPEC",
                   help="precision: fp32 (default), 16bit, 8bit, or KEY=FORMAT items such as "
                        "weights=Q0.8,inh=Q6.2,vmem=Q7.8,vth=Q7.8 (values left out stay FP32)")
    p.add_argument("--accounting", choices=("dense", "minimal"), default="dense",
                   help="dense: as the papers' simulator stores it (default); minimal: what the network needs")
    p.add_argument("--execution", choices=("auto", "dense", "event"), default="auto",
                   help="how the simulator runs: dense clock-driven (GPU default) or event-driven (CPU default)")
    p.add_argument("--dataset", choices=DATASETS, default="mnist")


def register(subparsers: Any) -> None:
    from dse.models.designs import DESIGNS

    c = subparsers.add_parser(
        "cost", help="memory, time and energy of a design on one device (modelled)",
        description="Predict memory per component, and time and energy per image and per epoch, of a design "
                    "on a hardware profile. Counts come from the activity model, or from a finished run "
                    "(--from-run).")
    _common_design_args(c, required=False)
    c.add_argument("--profile", default="cpu", help="bundled profile name or a profile .toml (default cpu)")
    c.add_argument("--phase", choices=("inference", "training"), default="inference",
                   help="phase whose memory is the JSON's memory_bytes (default inference)")
    c.add_argument("--from-run", metavar="RUN_DIR", help="use the per-image counts of a finished `dse train` run")
    c.add_argument("--early-exit-steps", type=positive_float, metavar="STEPS",
                   help="inference with early exit: mean steps per image (as `dse evaluate --exit` reports); "
                        "inference counts scale to it and memory adds the class votes")
    c.add_argument("--json", action="store_true", help="print a JSON document")
    c.set_defaults(handler=cmd_cost)

    h = subparsers.add_parser(
        "compare-hw", help="one design on every hardware profile: fits? time and energy per image",
        description="One row per hardware profile: does it fit in memory, time and energy per image for "
                    "training and inference, energy per training epoch; measured or modelled.")
    _common_design_args(h, required=True)
    h.add_argument("--profiles", action="append", default=[], metavar="NAME[,NAME...]",
                   help="profiles or profile files to compare (default: every bundled profile)")
    h.add_argument("--vs-design", choices=DESIGNS, help="report energy ratios against this design")
    h.add_argument("--vs-quant", default="fp32", metavar="SPEC", help="precision of --vs-design (default fp32)")
    h.add_argument("--measurements", metavar="FILE", help="add this machine's measured row from `dse measure`")
    h.add_argument("--html", metavar="PATH", help="write a self-contained plotly chart")
    h.add_argument("--title", help="chart title")
    h.add_argument("--json", action="store_true")
    h.set_defaults(handler=cmd_compare_hw)



# --------------------------------------------------------------------------- helpers


def _si(x: float, unit: str) -> str:
    from dse.report.units import si

    return si(x, unit)


def _bytes(x: int) -> str:
    return _si(float(x), "B")


# --------------------------------------------------------------------------- cost


def cmd_cost(args: argparse.Namespace) -> int:
    from dse.cost.model import cost_to_json, estimate_cost, run_counts
    from dse.cost.profiles import load_profile
    from dse.cost.quant import parse_precision
    from dse.runs.validate import finite_json

    counts = label = None
    design, neurons, dataset, quant = args.design, args.neurons, args.dataset, args.quant
    if args.from_run:
        rc = run_counts(args.from_run)
        for flag, given, run_value in (("--design", design, rc.design), ("--neurons", neurons, rc.neurons)):
            if given is not None and given != run_value:
                raise ValueError(f"{flag} {given} disagrees with the run in {args.from_run} ({run_value})")
        design, neurons, dataset = rc.design, rc.neurons, rc.dataset
        if quant == "fp32" and rc.quant:
            quant = rc.quant
        counts, label = rc.counts, rc.label
    if design is None or neurons is None:
        raise ValueError("give --design and --neurons (or --from-run RUN_DIR)")
    precision = parse_precision(quant)
    profile = load_profile(args.profile)
    report = estimate_cost(design, neurons, profile, precision=precision, accounting=args.accounting,
                           execution=execution_mode(args.execution), dataset=dataset, counts=counts, counts_label=label,
                           early_exit_steps=args.early_exit_steps)
    doc = cost_to_json(report, args.phase)
    if args.json:
        print(finite_json(doc, "--json output", indent=2))
        return 0
    _print_cost(doc)
    return 0


def _print_cost(doc: dict[str, Any]) -> None:
    from rich.table import Table

    from dse.cli.console import console

    con = console()
    con.print(f"{doc['design']} Net{doc['neurons']}, precision {doc['quant']}, {doc['accounting']} accounting, "
              f"profile {doc['profile']} ({doc['execution']} execution)", markup=False)
    mem = Table(title="memory", title_justify="left")
    mem.add_column("component")
    mem.add_column("inference", justify="right")
    mem.add_column("training", justify="right")
    names = list(doc["memory"]["training"]["components"])
    for name in names:
        inf = doc["memory"]["inference"]["components"].get(name)
        mem.add_row(name, "-" if inf is None else _bytes(inf), _bytes(doc["memory"]["training"]["components"][name]))
    fits = doc["fits_in_device_memory"]
    mem.add_row("total", _bytes(doc["memory"]["inference"]["total_bytes"]),
                _bytes(doc["memory"]["training"]["total_bytes"]), style="bold")
    mem.add_row(f"fits in {_bytes(doc['device_memory_bytes'])}?", "yes" if fits["inference"] else "NO",
                "yes" if fits["training"] else "NO")
    con.print(mem)
    cost = Table(title="time and energy per image", title_justify="left")
    cost.add_column("component")
    for ph in ("training", "inference"):
        cost.add_column(f"{ph} time", justify="right")
        cost.add_column(f"{ph} energy", justify="right")
    comps = list(doc["breakdown"]["training"]["time_s"]) + ["static"]
    for comp in comps:
        cells = []
        for ph in ("training", "inference"):
            t = doc["breakdown"][ph]["time_s"].get(comp)
            e = doc["breakdown"][ph]["energy_j"].get(comp)
            cells += ["-" if t is None else _si(t, "s"), "-" if e is None else _si(e, "J")]
        cost.add_row(comp, *cells)
    t, e = doc["time_s"], doc["energy_j"]
    cost.add_row("total", _si(t["training_per_image"], "s"), _si(e["training_per_image"], "J"),
                 _si(t["inference_per_image"], "s"), _si(e["inference_per_image"], "J"), style="bold")
    con.print(cost)
    con.print(f"per epoch (60,000 images): training {_si(t['training_per_epoch'], 's')}, "
              f"{_si(e['training_per_epoch'], 'J')}; test set (10,000): {_si(t['inference_per_test_set'], 's')}, "
              f"{_si(e['inference_per_test_set'], 'J')}", markup=False)
    for key, text in doc["labels"].items():
        con.print(f"{key}: {text}", markup=False)


# --------------------------------------------------------------------------- compare-hw


def _profiles(items: list[str]) -> list[Any]:
    from dse.cost.profiles import list_profiles, load_profile

    names = [n.strip() for item in items for n in item.split(",") if n.strip()] or list_profiles()
    profiles = [load_profile(n) for n in names]
    seen: dict[str, str] = {}
    for given, profile in zip(names, profiles):
        if profile.name in seen:  # two rows nobody could tell apart
            raise ValueError(f"--profiles: '{seen[profile.name]}' and '{given}' are both the profile named "
                             f"'{profile.name}'; give each profile once, under its own name")
        seen[profile.name] = given
    return profiles


def cmd_compare_hw(args: argparse.Namespace) -> int:
    from dse.cost.compare import compare_hw, measured_row, paper_reference, rows_to_json
    from dse.cost.quant import parse_precision
    from dse.runs.validate import finite_json

    precision = parse_precision(args.quant)
    vs = (args.vs_design, parse_precision(args.vs_quant)) if args.vs_design else None
    profiles = _profiles(args.profiles)
    if args.html:
        from dse.runs.folder import check_out_file

        check_out_file(Path(args.html), "html", "compare-hw.html")
    rows = compare_hw(args.design, args.neurons, profiles, precision=precision, accounting=args.accounting,
                      execution=execution_mode(args.execution), dataset=args.dataset, vs=vs)
    notes = []
    if args.measurements:
        from dse.calibration.measure import load_measurements

        doc = load_measurements(Path(args.measurements), ("wall_s_per_image", "energy_j_per_image"))
        row = measured_row(doc, args.design, args.neurons, precision, vs)
        if row is None:
            notes.append(f"{args.measurements}: no measurement of {args.design} Net{args.neurons} "
                         f"{precision.spec()} (both phases)")
        else:
            rows.append(row)
    paper = paper_reference(args.design, precision, vs, args.neurons)
    if paper:
        notes.append(paper)
    design_label = f"{args.design} {precision.label}"
    vs_label = f"{vs[0]} {vs[1].label}" if vs else None
    title = args.title or f"{design_label} Net{args.neurons} on {len(profiles)} devices"
    if args.html:
        from dse.report.hardware import write_hw_html

        write_hw_html(args.html, rows, title, design_label, vs_label, notes)
    if args.json:
        print(finite_json({"design": args.design, "neurons": args.neurons, "quant": precision.label,
                           "accounting": args.accounting, "vs": vs_label, "rows": rows_to_json(rows),
                           "notes": notes, "html": args.html}, "--json output", indent=2))
        return 0
    _print_rows(rows, title, vs_label, notes, args.html)
    return 0


def _print_rows(rows: list[Any], title: str, vs_label: str | None, notes: list[str], html_path: str | None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from dse.cli.console import console

    from dse.report.hardware import TABLE_COLUMNS, table_cells

    con = console()
    table = Table(title=escape(title), title_justify="left")
    for col in ("device", *TABLE_COLUMNS):
        table.add_column(col, justify="left" if col == "device" else "right")
    if vs_label:
        table.add_column(f"{escape(vs_label)} / this: energy (train, infer)", justify="right")
    table.add_column("figures")
    for r in rows:
        table.add_row(escape(r.profile), *table_cells(r, with_ratio=vs_label is not None), r.label)
    con.print(table)
    sources = sorted({r.source for r in rows})
    for s in sources:
        con.print(f"source: {s}", markup=False)
    for n in notes:
        con.print(n, markup=False)
    if html_path:
        con.print(f"chart written to {html_path}", markup=False)
