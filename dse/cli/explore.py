"""`dse explore` and `dse report`: parse, call dse.search / dse.report, print, exit.

Registered by dse.cli.main through ``register(subparsers)``. Exit status: 0 done,
1 the search ran but no trial fits the budgets (the closest candidates are
listed), 2 bad input (one line on stderr), 130 interrupted (rerun the same
command to resume).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dse.cli.args import (DEFAULT_CACHE, add_data_dir, add_storage, fraction, non_negative_float, positive_float,
                          positive_int, sampler_seed)

__all__ = ["register", "cmd_explore", "cmd_report", "EXIT_NOTHING_FEASIBLE"]

EXIT_NOTHING_FEASIBLE = 1
DEFAULT_TIME_BUDGET_S = 240  # the embedded default (`dse explore --budget-mb 1`): a clone to its result in 6 minutes


def register(sub: Any) -> None:
    from dse.data import DATASETS
    from dse.search.liveness import DEFAULT_HEARTBEAT_S
    from dse.search.jobs import default_jobs
    from dse.search.objectives import DEFAULT_MIN_ACCURACY, STRATEGIES
    from dse.search.select import SELECTIONS
    from dse.search.strategies import DEFAULT_TRIALS

    x = sub.add_parser(
        "explore", help="multi-objective search under memory and energy budgets, with Pareto reports",
        description="Search designs, sizes, bit-widths, rounding, PTQ/ITQ, inhibition ratio and update window for "
                    "the most accurate SNNs within a memory budget (and an energy budget), with memory and energy "
                    "per image modelled on a hardware profile. Prints the feasible Pareto set and the selected "
                    "model, writes trials.csv, pareto.json and an HTML report; the Optuna study stays in its "
                    "storage, and rerunning the same command resumes it.")
    x.add_argument("--budget-mb", type=positive_float, metavar="M", help="memory budget in MB (10^6 bytes); required")
    x.add_argument("--budget-mj", type=positive_float, metavar="E", help="energy budget in mJ per image (modelled)")
    x.add_argument("--min-accuracy", type=fraction, default=DEFAULT_MIN_ACCURACY, metavar="A",
                   help="accuracy floor, a fraction: models below it stay off the front and out of the selection "
                        f"(default {DEFAULT_MIN_ACCURACY:g})")
    x.add_argument("--phase", choices=("inference", "training"), default="inference",
                   help="phase whose memory and energy the budgets and objectives take (default inference)")
    x.add_argument("--profile", default="jetson-nano", metavar="P",
                   help="hardware profile for energy (a bundled name or a .toml file; default jetson-nano)")
    x.add_argument("--accounting", choices=("dense", "minimal"), default="dense",
                   help="memory accounting (default dense: the papers' simulator; see docs/search.md)")
    x.add_argument("--dataset", choices=DATASETS, default="mnist")
    add_data_dir(x)
    x.add_argument("--train-samples", type=positive_int, metavar="K",
                   help="training images at full fidelity (default: all of the data found)")
    x.add_argument("--assign-samples", type=positive_int, metavar="K",
                   help="training images used to assign neuron labels, at most (default: a sixth of the training "
                        "images, at most 10,000: 10,000 on full MNIST, 833 on the bundled subset)")
    x.add_argument("--test-samples", type=positive_int, metavar="K", help="test images (default: all)")
    x.add_argument("--fidelities", default="0.2,1", metavar="LIST",
                   help="training set sizes a trial climbs (optuna strategy): fractions ending at 1, or image "
                        "counts (default 0.2,1)")
    x.add_argument("--strategy", choices=STRATEGIES, default="optuna",
                   help="optuna (default), incremental (FSpiNN Algorithm 2) or grid (exhaustive)")
    x.add_argument("--trials", type=positive_int, metavar="T",
                   help=f"sampled trials that are evaluated (optuna default {DEFAULT_TRIALS}; grid and incremental: all "
                        "they need); rejected candidates, duplicates and the PTQ and early-exit siblings of a training "
                        "come on top")
    x.add_argument("--timeout", type=positive_float, metavar="SEC",
                   help="start no new trial or fidelity after SEC seconds (optuna: with neither --trials nor "
                        f"--timeout, {DEFAULT_TRIALS} trials or {DEFAULT_TIME_BUDGET_S // 60} minutes, whichever "
                        "comes first)")
    add_storage(x)
    x.add_argument("--jobs", type=positive_int, metavar="J",
                   help="trainings at once, each in a `dse worker` process on the study (default: one per core, "
                        f"here {default_jobs()}); numba threads per process = cores // J")
    x.add_argument("--heartbeat", type=positive_int, metavar="SEC",
                   help=f"seconds between a running trial's heartbeats, for every process of the study; a trial "
                        f"silent for 3x this is failed and retried (default: the study's, {DEFAULT_HEARTBEAT_S} "
                        "for a new one)")
    x.add_argument("--study-name", metavar="NAME", help="default: from data, budgets, phase, profile and strategy")
    x.add_argument("--seed", type=sampler_seed, default=0)
    x.add_argument("--select", choices=SELECTIONS, default="accuracy",
                   help="how to pick one model from the front: accuracy (FSpiNN) or reward (tinySNN)")
    x.add_argument("--mu", type=non_negative_float, default=0.5, help="tinySNN trade-off coefficient (default 0.5)")
    x.add_argument("--space", action="append", default=[], metavar="NAME=VALUES",
                   help="restrict a dimension, e.g. --space design=fspinn --space neurons=100..900 (repeatable)")
    x.add_argument("--show-space", action="store_true", help="print the search space and exit")
    x.add_argument("--cache", default=DEFAULT_CACHE, metavar="DIR",
                   help=f"folder of cached run folders, shared by studies (default {DEFAULT_CACHE})")
    x.add_argument("--out", metavar="DIR", help="folder for trials.csv, pareto.json, report.html (default reports/STUDY)")
    x.add_argument("--quiet", action="store_true", help="no line per trial")
    x.add_argument("--evaluator", choices=("snn", "synthetic"), default="snn",
                   help="snn (default): train and test each candidate; synthetic: a known accuracy surface and no "
                        "training, to try budgets, storage and workers in seconds")
    x.add_argument("--synthetic-seconds", type=non_negative_float, default=0.0, metavar="SEC",
                   help="with --evaluator synthetic: wall time each evaluation takes (default 0)")
    x.set_defaults(handler=cmd_explore)
    _register_report(sub)


def _register_report(sub: Any) -> None:
    from dse.search.select import SELECTIONS

    r = sub.add_parser("report", help="write the HTML report of an explore study",
                       description="Rebuild the front of a `dse explore` study from its storage and write one "
                                   "self-contained HTML file (works offline).")
    r.add_argument("study", metavar="STUDY", help="study name (as printed by dse explore)")
    add_storage(r)
    r.add_argument("--out", metavar="FILE", help="HTML file to write (default reports/STUDY/report.html)")
    r.add_argument("--select", choices=SELECTIONS, default="accuracy")
    r.add_argument("--mu", type=non_negative_float, default=0.5)
    r.set_defaults(handler=cmd_report)


def _space(args: argparse.Namespace):
    from dse.search.space import DEFAULT_SPACE, SpaceError

    items: dict[str, str] = {}
    for item in args.space:
        name, sep, values = item.partition("=")
        if not sep or not name.strip():
            raise SpaceError(f"bad --space '{item}': write NAME=VALUES, e.g. neurons=100..900 or design=fspinn")
        items[name.strip()] = values
    return DEFAULT_SPACE.restricted(items)


def _settings(args: argparse.Namespace, space: Any):
    from dse.search.objectives import Budgets, ExploreSettings, parse_fidelities

    budgets = Budgets(memory_mb=args.budget_mb, energy_mj=args.budget_mj, phase=args.phase,
                      min_accuracy=args.min_accuracy)
    return ExploreSettings(budgets=budgets, space=space, profile=args.profile, accounting=args.accounting,
                           strategy=args.strategy, seed=args.seed, fidelities=parse_fidelities(args.fidelities))


def _make_evaluator(args: argparse.Namespace) -> Any:
    """The training behind each trial (tests replace this with the synthetic double)."""
    from dse.search.evaluate import SnnEvaluator
    from dse.search.synthetic import SyntheticEvaluator

    if args.evaluator == "synthetic":
        return SyntheticEvaluator(full=args.train_samples or 5_000, test_images=args.test_samples or 1_000,
                                  seconds=args.synthetic_seconds)

    return SnnEvaluator(dataset=args.dataset, cache_dir=Path(args.cache), data_dir=args.data_dir, seed=args.seed,
                        train_samples=args.train_samples, assign_samples=args.assign_samples,
                        test_samples=args.test_samples)


def _jobs(args: argparse.Namespace) -> Any:
    """The helper processes' settings: what a `dse worker` needs to rebuild this evaluator."""
    from dse.search.jobs import Jobs, default_jobs

    if args.evaluator == "synthetic":
        worker_args = ["--synthetic-seconds", repr(args.synthetic_seconds)]
    else:
        worker_args = ["--cache", str(args.cache)] + (["--data-dir", args.data_dir] if args.data_dir else [])
    return Jobs(args.jobs or default_jobs(), tuple(worker_args))


def _rung_printer(con: Any, quiet: bool) -> Any:
    """One line per fidelity rung a trial of this process reaches (with --jobs 1)."""
    def on_rung(number: int, cand: Any, rung: dict[str, Any]) -> None:
        if not quiet:
            made = "cached"
            if rung["trained_images"]:
                made = f"continued from {rung['continued_from']}" if rung.get("continued_from") else "trained"
            judged = " (the FP32 network it quantizes)" if rung.get("measured") == "fp32" else ""
            con.print(f"     #{number} {rung['images']} images ({made}, {rung['seconds']:.1f} s): accuracy "
                      f"{100 * rung['accuracy']:.2f}%{judged}", markup=False, highlight=False)

    return on_rung


def cmd_explore(args: argparse.Namespace) -> int:
    from dse.cli.progress import SearchProgress, progress_for
    from dse.cli.session import (outputs_of, quiet_optuna, search_console, sigterm_as_interrupt, storage_failures,
                                 study_owner, trial_printer, waiting_printer)
    from dse.report.build import report_data
    from dse.report.dashboard import publish_to_dashboard
    from dse.report.html import write_report
    from dse.report.terminal import print_result, print_space
    from dse.runs.folder import check_out_dir, claim_folder, writing
    from dse.search import costs
    from dse.search.explore import explore, write_outputs
    from dse.search.runner import capped_space
    from dse.search.study import default_study_name, load_existing_study, mask_url, slug

    con = search_console()
    space = _space(args)
    if args.show_space and args.budget_mb is None:
        print_space(space, con)
        return 0
    if args.budget_mb is None:
        raise ValueError("dse explore: --budget-mb is required (e.g. --budget-mb 1), or give --show-space")
    costs.check_profile(args.profile)
    settings = _settings(args, space)
    _, cap_note = capped_space(space, settings)
    if args.show_space:
        print_space(space, con, cap_note)
        return 0
    quiet_optuna()
    evaluator = _make_evaluator(args)
    name = args.study_name or default_study_name(args.strategy, args.dataset, args.budget_mb, args.budget_mj,
                                                 args.phase, args.profile, args.evaluator)
    out_dir = Path(args.out) if args.out else Path("reports") / slug(name)
    check_out_dir(out_dir)  # before the search, not after it
    check_out_dir(Path(args.cache), "cache_dir")
    # An output folder belongs to one study: checked now, recorded when the outputs are written.
    owner = study_owner(name, args.storage)
    claim_folder(out_dir, owner, "out_dir", outputs_of, record=False)
    trials, timeout = _announce(con, args, name, getattr(evaluator, "data_source", None), cap_note)
    # trial k/N, elapsed and time left: a bar on a terminal, plain lines on stderr otherwise
    tracker = SearchProgress(progress_for(args.quiet), trials, timeout)
    lines = tracker.console_for_lines(con)
    on_trial = tracker.on_trial(trial_printer(lines, args.quiet, lambda: settings.budgets))

    sigterm_as_interrupt()
    try:
        with storage_failures(args.storage), tracker.sink:
            result = explore(settings, evaluator, storage=args.storage, study_name=name, n_trials=trials,
                             timeout_s=timeout, select=args.select, mu=args.mu, on_trial=on_trial,
                             on_rung=_rung_printer(lines, args.quiet), heartbeat_s=args.heartbeat,
                             on_wait=waiting_printer(lines, args.quiet),
                             jobs=_jobs(args), on_start=tracker.start)
            tracker.finish()
    except KeyboardInterrupt:
        print(f"interrupted: rerun the same command to resume study '{name}'", file=sys.stderr)
        return 130
    kept = (f"the study '{name}' is kept in {mask_url(args.storage)}: free space and rerun the same command "
            "(a finished study is not searched again)")
    with writing("out_dir", out_dir, kept):
        claim_folder(out_dir, owner, "out_dir", outputs_of)
        paths = write_outputs(result, out_dir)
        report = write_report(out_dir / "report.html", report_data(result, (cap_note,) if cap_note else ()))
    if args.storage and ":memory:" not in args.storage:
        with storage_failures(args.storage):  # the note and front figure optuna-dashboard shows, if installed
            publish_to_dashboard(load_existing_study(args.storage, name), result)
    print_result(result, con)
    con.print(f"wall time {result.wall_s:.1f} s; wrote {paths['trials']}, {paths['pareto']}", markup=False)
    con.print(f"dashboard: optuna-dashboard {mask_url(args.storage)}", markup=False)
    con.print(f"report: {report}", markup=False)
    return 0 if result.front else EXIT_NOTHING_FEASIBLE


def _announce(con: Any, args: argparse.Namespace, name: str, source: str | None,
              cap_note: str | None) -> tuple[int | None, float | None]:
    """Print what is searched, where and under which budgets; returns (trials, timeout) of the search."""
    from dse.search.strategies import DEFAULT_TRIALS
    from dse.search.study import mask_url

    con.print(f"study {name!r} in {mask_url(args.storage)}; strategy {args.strategy}; "
              f"budget {args.budget_mb:g} MB" + (f", {args.budget_mj:g} mJ/image" if args.budget_mj else "")
              + f" ({args.phase}, profile {args.profile}, modelled)" + (f"; data: {source}" if source else ""),
              markup=False)
    if cap_note:
        con.print(cap_note, markup=False)
    trials, timeout = args.trials, args.timeout
    if args.strategy == "optuna" and trials is None and timeout is None:
        trials, timeout = DEFAULT_TRIALS, DEFAULT_TIME_BUDGET_S
        con.print(f"budget of the search: {trials} trials or {timeout // 60} minutes, whichever comes first "
                  "(--trials, --timeout)", markup=False)
    return trials, timeout


def cmd_report(args: argparse.Namespace) -> int:
    from dse.cli.console import console
    from dse.cli.session import outputs_of, quiet_optuna, storage_failures, study_owner
    from dse.report.build import write_study_report
    from dse.report.terminal import print_result
    from dse.runs.folder import check_out_file, claim_folder, writing
    from dse.search.study import slug

    quiet_optuna()
    out = Path(args.out) if args.out else Path("reports") / slug(args.study) / "report.html"
    check_out_file(out, "out_dir", "report.html")
    claim_folder(out.parent, study_owner(args.study, args.storage), "out_dir", outputs_of, record=False)
    with storage_failures(args.storage), writing("out_dir", out, "the study is unchanged: free space and run again"):
        path, result = write_study_report(args.storage, args.study, out, select=args.select, mu=args.mu)
    con = console()
    print_result(result, con)
    con.print(f"report: {path}", markup=False)
    return 0
