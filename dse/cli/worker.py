"""`dse worker`: join a study that `dse explore` made, and run its trials (any number of workers, any machines).

Registered by dse.cli.main through ``register(subparsers)``. Exit status: 0 the
study is done (its trial target reached, or its strategy finished, and no
trial left running), 2 bad input (one line on stderr), 130 interrupted (the
running trial is failed and queued for another worker).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dse.cli.args import DEFAULT_CACHE, add_data_dir, add_storage, non_negative_float, positive_float, positive_int

__all__ = ["register", "cmd_worker"]


def register(sub: Any) -> None:
    w = sub.add_parser(
        "worker", help="run trials of an existing explore study (parallel and distributed search)",
        description="Join a study created by `dse explore` (same storage and study name) and run its trials "
                    "until it is done. Space, budgets, profile, strategy, seed and data come from the study; "
                    "each worker derives its own sampler seed. Start any number of workers on any number of "
                    "machines against one PostgreSQL database; trials of a worker that dies are retried by "
                    "the others. Trained networks are cached in --cache: point every worker at one shared "
                    "folder to reuse trainings across machines.")
    add_storage(w)
    w.add_argument("--study-name", required=True, metavar="NAME", help="the study to join (as printed by dse explore)")
    w.add_argument("--cache", default=DEFAULT_CACHE, metavar="DIR",
                   help=f"folder of cached run folders, shared by workers (default {DEFAULT_CACHE})")
    add_data_dir(w, help="folder with the IDX files; must hold the same data as the study's")
    w.add_argument("--worker-id", metavar="ID",
                   help="name of this worker, seeds its sampler (default HOST-PID; give one for repeatable runs)")
    w.add_argument("--trials", type=positive_int, metavar="T",
                   help="sampled trials that are evaluated, in the whole study (default: the target `dse explore` recorded)")
    w.add_argument("--timeout", type=positive_float, metavar="SEC", help="start no new trial after SEC seconds")
    w.add_argument("--synthetic-seconds", type=non_negative_float, default=0.0, metavar="SEC",
                   help="for studies made with --evaluator synthetic: wall time each evaluation takes")
    w.add_argument("--quiet", action="store_true", help="no line per trial")
    w.set_defaults(handler=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    from dse.cli.session import (quiet_optuna, search_console, sigterm_as_interrupt, storage_failures, trial_printer,
                                 waiting_printer)
    from dse.runs.folder import check_out_dir
    from dse.search.study import mask_url
    from dse.search.worker import evaluator_from_identity, join_study

    check_out_dir(Path(args.cache), "cache_dir")
    con = search_console()
    quiet_optuna()
    budgets = None
    ran: list[int] = []

    def make_evaluator(identity: dict[str, Any]) -> Any:
        return evaluator_from_identity(identity, cache_dir=Path(args.cache), data_dir=args.data_dir,
                                       synthetic_seconds=args.synthetic_seconds)

    def on_start(worker: Any, settings: Any, target: int | None) -> None:
        nonlocal budgets
        budgets = settings.budgets
        goal = f"{target} evaluated sampled trials" if target is not None else "until its strategy is done"
        con.print(f"worker {worker.worker_id} (sampler seed {worker.sampler_seed}) joined study "
                  f"{args.study_name!r} in {mask_url(args.storage)}: strategy {settings.strategy}, {goal}",
                  markup=False, highlight=False)

    print_trial = trial_printer(con, args.quiet, lambda: budgets)

    def on_trial(frozen: Any) -> None:
        ran.append(frozen.number)
        print_trial(frozen)

    sigterm_as_interrupt()
    try:
        with storage_failures(args.storage):
            result = join_study(args.storage, args.study_name, make_evaluator, worker_id=args.worker_id,
                                n_trials=args.trials, timeout_s=args.timeout,
                                on_trial=on_trial, on_wait=waiting_printer(con, args.quiet), on_start=on_start)
    except KeyboardInterrupt:
        print(f"interrupted: the running trial is failed and queued again; rerun a worker on study "
              f"'{args.study_name}' to continue", file=sys.stderr)
        return 130
    counts = result.counts()
    con.print(f"worker ran {len(ran)} trial(s); study now: {counts['complete']} complete, {counts['pruned']} "
              f"stopped early, {counts['rejected']} rejected, {counts['failed']} failed; "
              f"{len(result.front)} on the feasible front; `dse report {result.study_name} --storage ...` "
              "writes the report", markup=False, highlight=False)
    return 0
