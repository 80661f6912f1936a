"""What the search commands (`dse explore`, `dse report`, `dse worker`) share while they run a study.

A console wide enough for one trial per line, optuna's own logging kept quiet,
SIGTERM taken as Ctrl-C, the lines printed per trial and per wait, failures of
the database as one line, and who owns an output folder.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

__all__ = ["search_console", "quiet_optuna", "sigterm_as_interrupt", "trial_printer", "waiting_printer",
           "storage_failures", "study_owner", "outputs_of"]


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
    from dse.search.interrupts import stop_on_sigterm

    stop_on_sigterm()


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


@contextmanager
def storage_failures(url: str | None) -> Iterator[None]:
    """Failures of the database itself during a search (disk full, connection lost) as one line.

    Finished trials are committed one by one, so they are kept; a trial running at the failure is
    found dead and run again by the next process that joins the study.
    """
    from dse.search.study import StudyError, mask_url, scrub

    try:
        yield
    except StudyError:
        raise
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy, the drivers and Optuna wrap each other
        cause = _database_cause(exc)
        if cause is None:
            raise
        raise StudyError(f"--storage {mask_url(url)}: the database failed ({scrub(cause, url)}); finished trials "
                         "are kept: free space (or restore the connection) and rerun the same command") from None


def _database_cause(exc: BaseException) -> str | None:
    """The database's own first line of an error that came from the storage, else None."""
    import optuna
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    seen, todo, found = set(), [exc], None
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, DBAPIError) and e.orig is not None:
            return (str(e.orig).strip().splitlines() or [type(e.orig).__name__])[0]
        if isinstance(e, (SQLAlchemyError, optuna.exceptions.StorageInternalError)):
            found = found or (str(e).strip().splitlines() or [type(e).__name__])[0]
        todo += [e.__cause__, e.__context__]
    return found


def study_owner(name: str, url: str | None) -> dict[str, str]:
    """Who an output folder belongs to: the study, and its storage (SQLite by absolute path, passwords masked)."""
    from dse.search.study import mask_url

    if url and url.startswith("sqlite:///") and ":memory:" not in url:
        return {"study": name, "storage": "sqlite:///" + str(Path(url[len("sqlite:///"):]).resolve())}
    return {"study": name, "storage": mask_url(url)}


def outputs_of(folder: Path) -> str | None:
    """The study whose outputs a folder holds, from its pareto.json (folders written before owner markers)."""
    import json

    try:
        doc = json.loads((Path(folder) / "pareto.json").read_text())
    except (OSError, ValueError):
        return None
    return str(doc["study"]) if isinstance(doc, dict) and doc.get("study") is not None else None
