"""The `dse` command: parse, call the library, print, exit.

Known errors (bad flags, data, recipes, run folders) print one line on stderr
and exit with status 2; nothing else is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from dse import __version__

EXIT_USAGE = 2


class CliError(Exception):
    """A usage error found after parsing."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line (main escapes line breaks), no usage dump
        raise CliError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _neurons(text: str) -> int:
    from dse.models.network import MAX_NEURONS

    value = _positive_int(text)
    if value > MAX_NEURONS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_NEURONS} (the simulator holds 784 x N weights), "
                                         f"got {value}")
    return value


# Images are held in memory (784 bytes each, plus a spike count per neuron); a
# throughput figure needs far fewer than this.
MAX_BENCH_IMAGES = 100_000


def _bench_images(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_BENCH_IMAGES:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_BENCH_IMAGES}, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be in 0..2**63-1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from dse.data.locate import DATASETS
    from dse.models.fixedpoint import ROUNDING_MODES
    from dse.models.recipes import DESIGNS

    p = _Parser(prog="dse", description="Design-space exploration for spiking neural networks on small hardware.")
    p.add_argument("--version", action="version", version=f"snn-dse {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    t = sub.add_parser("train", help="train a design, assign labels, test; write a run folder",
                       description="Train a network unsupervised, assign neuron labels, test, and write "
                                   "manifest.json, weights.npz and weights.png to --out.")
    t.add_argument("--design", choices=DESIGNS, default="fspinn")
    t.add_argument("--dataset", choices=DATASETS, default="mnist")
    t.add_argument("--neurons", type=_neurons, default=100, help="excitatory neurons N (default 100)")
    t.add_argument("--epochs", type=_positive_int, default=1)
    t.add_argument("--train-samples", type=_positive_int, help="use the first K training images (default: all)")
    t.add_argument("--test-samples", type=_positive_int, help="use the first K test images (default: all)")
    t.add_argument("--assign-samples", type=_positive_int, default=10_000,
                   help="training images used to assign neuron labels (default 10000)")
    t.add_argument("--seed", type=_seed, default=0)
    t.add_argument("--data-dir", help="folder with the IDX files (default: DSE_DATA_DIR, cache, system, bundled subset)")
    t.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a recipe constant, e.g. --set inhibition.rho=3 (repeatable)")
    t.add_argument("--engine", choices=("auto", "numba", "torch"), default="auto",
                   help="inference engine (auto: torch on CUDA if present, else numba)")
    t.add_argument("--quant", metavar="SPEC",
                   help="in-training quantization (ITQ), e.g. weights=Q0.8,vmem=Q7.8,vth=Q7.8,inh=Q5.3")
    t.add_argument("--rounding", choices=ROUNDING_MODES, default="nearest",
                   help="rounding of quantized values (default nearest; stochastic is seeded by --seed)")
    t.add_argument("--out", required=True, help="run folder to write")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    e = sub.add_parser("evaluate", help="re-assign labels and re-test a finished run",
                       description="Re-run label assignment and the test of a run folder; writes evaluation.json.")
    e.add_argument("run_dir")
    e.add_argument("--data-dir")
    e.add_argument("--test-samples", type=_positive_int)
    e.add_argument("--engine", choices=("auto", "numba", "torch"), default="auto")
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.add_argument("--quiet", action="store_true")

    q = sub.add_parser("quantize", help="post-training quantization (PTQ) of a finished FP32 run",
                       description="Quantize a trained FP32 run to fixed point, re-assign and test, and write "
                                   "a new run folder with its own manifest. Formats are Qi.f (Q*.f takes the "
                                   "integer bits from the run's observed range).")
    q.add_argument("run_dir")
    q.add_argument("--weights", metavar="QI.F", help="input weights, e.g. Q0.8")
    q.add_argument("--inh", metavar="QI.F", help="inhibition strengths, e.g. Q5.3")
    q.add_argument("--vmem", metavar="QI.F", help="membrane potential (signed), e.g. Q7.8")
    q.add_argument("--vth", metavar="QI.F", help="threshold V_th + theta (signed), e.g. Q7.8")
    q.add_argument("--rounding", choices=ROUNDING_MODES, default="nearest")
    q.add_argument("--data-dir")
    q.add_argument("--test-samples", type=_positive_int)
    q.add_argument("--engine", choices=("auto", "numba", "torch"), default="auto")
    q.add_argument("--out", required=True)
    q.add_argument("--quiet", action="store_true")

    sw = sub.add_parser("sweep-bits", help="accuracy versus weight bit-width for the designs (FSpiNN Fig. 16/17)",
                        description="Train FP32 runs (or reuse them in --out), quantize their weights to each "
                                    "bit-width (PTQ) or train at each bit-width (ITQ), and write a CSV table and "
                                    "an interactive HTML plot (sweep-SCHEME-ROUNDING.csv/.html).")
    sw.add_argument("--designs", nargs="+", choices=DESIGNS, default=list(DESIGNS))
    sw.add_argument("--dataset", choices=DATASETS, default="mnist")
    sw.add_argument("--neurons", type=_neurons, default=100)
    sw.add_argument("--bits", type=_positive_int, nargs="+", default=[4, 6, 8, 10, 12, 16, 32])
    sw.add_argument("--scheme", choices=("ptq", "itq"), default="ptq")
    sw.add_argument("--rounding", choices=ROUNDING_MODES, default="nearest")
    sw.add_argument("--epochs", type=_positive_int, default=1)
    sw.add_argument("--train-samples", type=_positive_int)
    sw.add_argument("--test-samples", type=_positive_int)
    sw.add_argument("--seed", type=_seed, default=0)
    sw.add_argument("--data-dir")
    sw.add_argument("--out", required=True, help="folder for the cell runs and the sweep outputs")

    b = sub.add_parser("bench", help="training and inference throughput of one design",
                       description="Measure training and inference images/s (compile excluded) on this machine.")
    b.add_argument("--design", choices=DESIGNS, default="fspinn")
    b.add_argument("--neurons", type=_neurons, default=400)
    b.add_argument("--images", type=_bench_images, default=1000, help="images per measurement (default 1000)")
    b.add_argument("--engine", choices=("numba", "torch"), default="numba", help="inference engine")
    b.add_argument("--dataset", choices=DATASETS, default="mnist")
    b.add_argument("--data-dir")
    b.add_argument("--seed", type=_seed, default=0)
    b.add_argument("--json", action="store_true")

    d = sub.add_parser("data", help="find, inspect or download data sets")
    dsub = d.add_subparsers(dest="data_command", required=True, parser_class=_Parser, metavar="ACTION")
    f = dsub.add_parser("fetch", help="download a data set into the user cache (SHA-256 verified)")
    f.add_argument("name", choices=DATASETS)
    f.add_argument("--dest", help="folder to download into (default: the user cache)")
    f.add_argument("--base-url", help="mirror to download from")
    i = dsub.add_parser("info", help="say which copy of a data set would be used")
    i.add_argument("name", choices=DATASETS)
    i.add_argument("--data-dir")

    # Commands of other modules register themselves: add_parser(...).set_defaults(handler=fn).
    for module in _COMMAND_MODULES:
        __import__(module, fromlist=["register"]).register(sub)
    return p


# Modules that contribute subcommands through a `register(subparsers)` function.
_COMMAND_MODULES: tuple[str, ...] = ("dse.cli.cost", "dse.cli.explore", "dse.cli.worker")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        return _dispatch(args)
    except CliError as exc:
        print(_one_line(_scrubbed(f"error: {exc}", argv)), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: finished chunks are checkpointed; rerun with --resume", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - only our known error types are turned into one line
        if _is_known_error(exc):
            print(_one_line(_scrubbed(f"error: {exc}", argv)), file=sys.stderr)
            return EXIT_USAGE
        if not _storage_urls(argv):
            raise
        # An unexpected error with a database URL about: show the traceback without its password.
        import traceback

        print(_scrubbed("".join(traceback.format_exc()), argv), file=sys.stderr, end="")
        return 1


def _one_line(text: str) -> str:
    """Line breaks that came in with user text (a path, a --space value) shown escaped: errors are one line."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _storage_urls(argv: Sequence[str]) -> list[str]:
    """The storage URLs this command line names (--storage URL, --storage=URL, $DSE_STORAGE)."""
    import os

    urls = [os.environ["DSE_STORAGE"]] if os.environ.get("DSE_STORAGE") else []
    for k, a in enumerate(argv):
        if a == "--storage" and k + 1 < len(argv):
            urls.append(argv[k + 1])
        elif a.startswith("--storage="):
            urls.append(a.partition("=")[2])
    return urls


def _scrubbed(text: str, argv: Sequence[str]) -> str:
    """``text`` with the password of every storage URL of the command line replaced by ***."""
    urls = _storage_urls(argv)
    if not urls:
        return text
    from dse.search.study import scrub

    for url in urls:
        text = scrub(text, url)
    return text


def _is_known_error(exc: Exception) -> bool:
    from dse.data.locate import DataError
    from dse.models.recipes import RecipeError
    from dse.runs.folder import RunError

    return isinstance(exc, (DataError, RecipeError, RunError, ValueError, FileNotFoundError, PermissionError))


def _dispatch(args: argparse.Namespace) -> int:
    if getattr(args, "handler", None) is not None:
        return int(args.handler(args))
    if args.command == "train":
        return _cmd_train(args)
    if args.command == "evaluate":
        return _cmd_evaluate(args)
    if args.command == "bench":
        return _cmd_bench(args)
    if args.command == "quantize":
        return _cmd_quantize(args)
    if args.command == "sweep-bits":
        return _cmd_sweep(args)
    if args.command == "data":
        return _cmd_data(args)
    raise CliError(f"unknown command {args.command}")


def _cmd_train(args: argparse.Namespace) -> int:
    from dse.cli.console import RichProgress, console, print_train_summary
    from dse.models.recipes import parse_overrides
    from dse.runs.train import TrainConfig, train_run

    config = TrainConfig(design=args.design, dataset=args.dataset, neurons=args.neurons,
                         epochs=args.epochs, train_samples=args.train_samples,
                         test_samples=args.test_samples, assign_samples=args.assign_samples,
                         seed=args.seed, overrides=parse_overrides(args.set), engine=args.engine,
                         quant=args.quant, rounding=args.rounding)
    config.validate()
    with RichProgress(enabled=not args.quiet) as progress:
        manifest = train_run(config, Path(args.out), data_dir=args.data_dir, resume=args.resume,
                             progress=progress)
    print_train_summary(manifest, Path(args.out), console())
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from dse.cli.console import RichProgress, console, print_metrics
    from dse.runs.train import evaluate_run

    with RichProgress(enabled=not (args.quiet or args.json)) as progress:
        result = evaluate_run(Path(args.run_dir), data_dir=args.data_dir,
                              test_samples=args.test_samples, engine=args.engine, progress=progress)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_metrics(result, console())
    return 0


def _cmd_quantize(args: argparse.Namespace) -> int:
    from dse.cli.console import RichProgress, console, print_metrics
    from dse.runs.quantize import build_spec, quantize_run

    spec = build_spec(args.weights, args.inh, args.vmem, args.vth)
    with RichProgress(enabled=not args.quiet) as progress:
        m = quantize_run(Path(args.run_dir), Path(args.out), spec, args.rounding, data_dir=args.data_dir,
                         test_samples=args.test_samples, engine=args.engine, progress=progress)
    con = console()
    q = m["quantization"]
    con.print(f"PTQ {q['spec']} ({q['rounding']}) of {args.run_dir}: FP32 {100 * q['fp32_accuracy']:.2f}% -> "
              f"{100 * m['metrics']['accuracy']:.2f}% ({100 * q['accuracy_change']:+.2f} points); "
              f"weights stored as {q['weight_storage']}")
    print_metrics(m, con)
    con.print(f"run folder  {args.out}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from dse.cli.console import console
    from dse.runs.sweep import output_stem, sweep_bits

    con = console()

    def show(row: dict[str, Any]) -> None:
        con.print(f"{row['design']:9s} {row['bits']:3d} bits {row['format']:7s} accuracy {100 * row['accuracy']:6.2f}% "
                  f"(FP32 {100 * row['fp32_accuracy']:.2f}%)")

    sweep_bits(Path(args.out), designs=tuple(args.designs), dataset=args.dataset, neurons=args.neurons,
               bits=tuple(args.bits), scheme=args.scheme, rounding=args.rounding, epochs=args.epochs,
               train_samples=args.train_samples, test_samples=args.test_samples, seed=args.seed,
               data_dir=args.data_dir, on_row=show)
    stem = Path(args.out) / output_stem(args.scheme, args.rounding)
    con.print(f"wrote {stem}.csv and {stem}.html")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from dse.runs.bench import run_bench
    from dse.cli.console import console, print_bench

    result = run_bench(args.design, args.neurons, args.images, dataset=args.dataset,
                       data_dir=args.data_dir, engine=args.engine, seed=args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_bench(result, console())
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from dse.data import locate as data

    if args.data_command == "fetch":
        path = data.fetch_dataset(args.name, args.dest, base_url=args.base_url)
        print(f"{args.name}: verified files in {path}")
        return 0
    ds = data.load_dataset(args.name, args.data_dir)
    info: dict[str, Any] = {"name": ds.name, "source": ds.source, "location": ds.location,
                            "sha256": ds.sha256, "train": len(ds.train_images), "test": len(ds.test_images)}
    for k, v in info.items():
        print(f"{k:9s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
