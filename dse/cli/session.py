"""What the search commands (`dse explore`, `dse report`, `dse worker`) share while they run a study.

A console wide enough for one trial per line, optuna's own logging kept quiet,
SIGTERM taken as Ctrl-C, and the lines printed per trial and per wait.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

__all__ = ["search_console", "quiet_optuna", "sigterm_as_interrupt", "trial_printer", "waiting_printer"]


def search_console():
    """The terminal console; logs and pipes get at least 150 columns, so table rows keep one line."""
    from dse.cli.console import console

    con = console()
    if not con.is_terminal:
        con.width = max(con.width, 150)
    return con


def quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", module="optuna")


def sigterm_as_interrupt() -> None:
    """SIGTERM (pre-emption, a batch system's time limit) ends a search like Ctrl-C: the running
    trial is failed and queued again at once, instead of waiting out its heartbeat."""
    import signal

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (an embedding program): its own handling stays
        pass


def trial_printer(con: Any, quiet: bool, budgets: Callable[[], Any]) -> Callable[[Any], None]:
    """Prints one line per finished trial (``budgets()`` gives the study's budgets when the trial ends)."""
    from dse.report.terminal import trial_line
    from dse.search.records import record_from_trial

    def on_trial(frozen: Any) -> None:
        if not quiet:
            con.print(trial_line(record_from_trial(frozen.number, frozen.state.name, frozen.values,
                                                   frozen.user_attrs, budgets())), markup=False, highlight=False)

    return on_trial


def waiting_printer(con: Any, quiet: bool) -> Callable[[str], None]:
    """Says once per distinct reason that this process waits for other workers' trials."""
    said: set[str] = set()

    def on_wait(why: str) -> None:
        if not quiet and why not in said:
            said.add(why)
            con.print(f"     waiting: {why}", markup=False, highlight=False)

    return on_wait
