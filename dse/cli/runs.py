"""Commands that make and read run folders: `dse train`, `evaluate`, `quantize`, `sweep-bits`, `bench`.

Parse, call dse.runs, print; the one-line error policy is main's.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dse.cli.args import add_data_dir, bench_images, neurons, positive_int, seed

__all__ = ["register"]

ENGINES = ("auto", "numba", "torch")


def register(sub: Any) -> None:
    for add in (_add_train, _add_evaluate, _add_quantize, _add_sweep, _add_bench):
        add(sub)


def _add_train(sub: Any) -> None:
    from dse.data import DATASETS
    from dse.models.designs import DESIGNS
    from dse.models.rounding import ROUNDING_MODES

    t = sub.add_parser("train", help="train a design, assign labels, test; write a run folder",
                       description="Train a network unsupervised, assign neuron labels, test, and write "
                                   "manifest.json, weights.npz and weights.png to --out.")
    t.add_argument("--design", choices=DESIGNS, default="fspinn")
    t.add_argument("--dataset", choices=DATASETS, default="mnist")
    t.add_argument("--neurons", type=neurons, default=100, help="excitatory neurons N (default 100)")
    t.add_argument("--epochs", type=positive_int, default=1)
    t.add_argument("--train-samples", type=positive_int, help="use the first K training images (default: all)")
    t.add_argument("--test-samples", type=positive_int, help="use the first K test images (default: all)")
    t.add_argument("--assign-samples", type=positive_int, default=10_000,
                   help="training images used to assign neuron labels (default 10000)")
    t.add_argument("--seed", type=seed, default=0)
    add_data_dir(t)
    t.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a recipe constant, e.g. --set inhibition.rho=3 (repeatable)")
    t.add_argument("--engine", choices=ENGINES, default="auto",
                   help="inference engine (auto: torch on CUDA if present, else numba)")
    t.add_argument("--quant", metavar="SPEC",
                   help="in-training quantization (ITQ), e.g. weights=Q0.8,vmem=Q7.8,vth=Q7.8,inh=Q6.2")
    t.add_argument("--rounding", choices=ROUNDING_MODES, default="nearest",
                   help="rounding of quantized values (default nearest; stochastic is seeded by --seed)")
    t.add_argument("--out", required=True, help="run folder to write")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    t.add_argument("--quiet", action="store_true", help="no progress (bars on a terminal, periodic lines elsewhere)")
    t.set_defaults(handler=cmd_train)


def _add_evaluate(sub: Any) -> None:
    e = sub.add_parser("evaluate", help="re-assign labels and re-test a finished run",
                       description="Re-run label assignment and the test of a run folder; writes evaluation.json.")
    e.add_argument("run_dir")
    add_data_dir(e)
    e.add_argument("--test-samples", type=positive_int)
    e.add_argument("--engine", choices=ENGINES, default="auto")
    e.add_argument("--exit", metavar="RULE", default="off",
                   help="early exit of test images, e.g. margin=3,min_steps=50: stop once the class voted by the "
                        "neurons' spikes leads the runner-up by MARGIN votes, after MIN_STEPS steps (default off)")
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.add_argument("--quiet", action="store_true", help="no progress")
    e.set_defaults(handler=cmd_evaluate)


def _add_quantize(sub: Any) -> None:
    from dse.models.rounding import ROUNDING_MODES

    q = sub.add_parser("quantize", help="post-training quantization (PTQ) of a finished FP32 run",
                       description="Quantize a trained FP32 run to fixed point, re-assign and test, and write "
                                   "a new run folder with its own manifest. Formats are Qi.f (Q*.f takes the "
                                   "integer bits from the run's observed range).")
    q.add_argument("run_dir")
    q.add_argument("--weights", metavar="QI.F", help="input weights, e.g. Q0.8")
    q.add_argument("--inh", metavar="QI.F", help="inhibition strengths, e.g. Q6.2 (fspinn's w_lat 41.6 needs 6 integer bits)")
    q.add_argument("--vmem", metavar="QI.F", help="membrane potential (signed), e.g. Q7.8")
    q.add_argument("--vth", metavar="QI.F", help="threshold V_th + theta (signed), e.g. Q7.8")
    q.add_argument("--rounding", choices=ROUNDING_MODES, default="nearest")
    add_data_dir(q)
    q.add_argument("--test-samples", type=positive_int)
    q.add_argument("--engine", choices=ENGINES, default="auto")
    q.add_argument("--out", required=True)
    q.add_argument("--quiet", action="store_true", help="no progress")
    q.set_defaults(handler=cmd_quantize)


def _add_sweep(sub: Any) -> None:
    from dse.data import DATASETS
    from dse.models.designs import DESIGNS
    from dse.models.rounding import ROUNDING_MODES

    sw = sub.add_parser("sweep-bits", help="accuracy versus weight bit-width for the designs (FSpiNN Fig. 16/17)",
                        description="Train FP32 runs (or reuse them in --out), quantize their weights to each "
                                    "bit-width (PTQ) or train at each bit-width (ITQ), and write a CSV table and "
                                    "an interactive HTML plot (sweep-SCHEME-ROUNDING.csv/.html).")
    sw.add_argument("--designs", nargs="+", choices=DESIGNS, default=list(DESIGNS))
    sw.add_argument("--dataset", choices=DATASETS, default="mnist")
    sw.add_argument("--neurons", type=neurons, default=100)
    sw.add_argument("--bits", type=positive_int, nargs="+", default=[4, 6, 8, 10, 12, 16, 32])
    sw.add_argument("--scheme", choices=("ptq", "itq"), default="ptq")
    sw.add_argument("--rounding", choices=ROUNDING_MODES, default="nearest")
    sw.add_argument("--epochs", type=positive_int, default=1)
    sw.add_argument("--train-samples", type=positive_int)
    sw.add_argument("--test-samples", type=positive_int)
    sw.add_argument("--seed", type=seed, default=0)
    add_data_dir(sw)
    sw.add_argument("--out", required=True, help="folder for the cell runs and the sweep outputs")
    sw.add_argument("--quiet", action="store_true", help="no progress")
    sw.set_defaults(handler=cmd_sweep)


def _add_bench(sub: Any) -> None:
    from dse.data import DATASETS
    from dse.models.designs import DESIGNS

    b = sub.add_parser("bench", help="training and inference throughput of one design",
                       description="Measure training and inference images/s (compile excluded) on this machine.")
    b.add_argument("--design", choices=DESIGNS, default="fspinn")
    b.add_argument("--neurons", type=neurons, default=400)
    b.add_argument("--images", type=bench_images, default=1000, help="images per measurement (default 1000)")
    b.add_argument("--engine", choices=("numba", "torch"), default="numba", help="inference engine")
    b.add_argument("--dataset", choices=DATASETS, default="mnist")
    add_data_dir(b)
    b.add_argument("--seed", type=seed, default=0)
    b.add_argument("--json", action="store_true")
    b.set_defaults(handler=cmd_bench)


def cmd_train(args: argparse.Namespace) -> int:
    from dse.cli.console import console, print_train_summary
    from dse.cli.progress import progress_for
    from dse.models.recipes import parse_overrides
    from dse.runs.train import TrainConfig, train_run

    config = TrainConfig(design=args.design, dataset=args.dataset, neurons=args.neurons,
                         epochs=args.epochs, train_samples=args.train_samples,
                         test_samples=args.test_samples, assign_samples=args.assign_samples,
                         seed=args.seed, overrides=parse_overrides(args.set), engine=args.engine,
                         quant=args.quant, rounding=args.rounding)
    config.validate()
    with progress_for(args.quiet) as progress:
        manifest = train_run(config, Path(args.out), data_dir=args.data_dir, resume=args.resume,
                             progress=progress)
    print_train_summary(manifest, Path(args.out), console())
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from dse.cli.console import console, print_early_exit, print_metrics
    from dse.cli.progress import progress_for
    from dse.models.early_exit import parse_exit
    from dse.runs.inference import evaluate_run
    from dse.runs.validate import finite_json

    exit_rule = parse_exit(args.exit)
    # --json keeps stdout for the document; progress goes to stderr either way
    with progress_for(args.quiet) as progress:
        result = evaluate_run(Path(args.run_dir), data_dir=args.data_dir, test_samples=args.test_samples,
                              engine=args.engine, progress=progress, exit_rule=exit_rule)
    if args.json:
        print(finite_json(result, "--json output", indent=2))
    else:
        con = console()
        print_metrics(result, con)
        print_early_exit(result, con)
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    from dse.cli.console import console, print_metrics
    from dse.cli.progress import progress_for
    from dse.runs.quantize import build_spec, quantize_run

    spec = build_spec(args.weights, args.inh, args.vmem, args.vth)
    with progress_for(args.quiet) as progress:
        m = quantize_run(Path(args.run_dir), Path(args.out), spec, args.rounding, data_dir=args.data_dir,
                         test_samples=args.test_samples, engine=args.engine, progress=progress)
    con = console()
    q = m["quantization"]
    after = f"{100 * m['metrics']['accuracy']:.2f}%"
    change = (f"FP32 {100 * q['fp32_accuracy']:.2f}% -> {after} ({100 * q['accuracy_change']:+.2f} points)"
              if q["fp32_accuracy"] is not None else f"{after} (the FP32 run was not tested)")
    con.print(f"PTQ {q['spec']} ({q['rounding']}) of {args.run_dir}: {change}; weights stored as {q['weight_storage']}")
    print_metrics(m, con)
    con.print(f"run folder  {args.out}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from dse.cli.console import console
    from dse.cli.progress import progress_for
    from dse.runs.sweep import output_stem, sweep_bits

    con = console()

    def show(row: dict[str, Any]) -> None:
        con.print(f"{row['design']:9s} {row['bits']:3d} bits {row['format']:7s} accuracy {100 * row['accuracy']:6.2f}% "
                  f"(FP32 {100 * row['fp32_accuracy']:.2f}%)", markup=False)

    with progress_for(args.quiet) as progress:
        sweep_bits(Path(args.out), designs=tuple(args.designs), dataset=args.dataset, neurons=args.neurons,
                   bits=tuple(args.bits), scheme=args.scheme, rounding=args.rounding, epochs=args.epochs,
                   train_samples=args.train_samples, test_samples=args.test_samples, seed=args.seed,
                   data_dir=args.data_dir, on_row=show, progress=progress)
    stem = Path(args.out) / output_stem(args.scheme, args.rounding)
    con.print(f"wrote {stem}.csv and {stem}.html")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from dse.cli.console import console, print_bench
    from dse.runs.bench import run_bench
    from dse.runs.validate import finite_json

    result = run_bench(args.design, args.neurons, args.images, dataset=args.dataset,
                       data_dir=args.data_dir, engine=args.engine, seed=args.seed)
    if args.json:
        print(finite_json(result, "--json output", indent=2))
    else:
        print_bench(result, console())
    return 0
