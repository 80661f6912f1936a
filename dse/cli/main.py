"""The `dse` command: one parser, one dispatch (each command's ``handler``), one error policy.

Every command module adds its subcommands with ``register(subparsers)`` and
sets ``handler=`` on each; ``main`` parses and calls the handler. Known errors
(bad flags, data, recipes, run folders) print one line on stderr and exit with
status 2; nothing else is written.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from dse import __version__
from dse.cli import calibration, cost, data, explore, export, runs, worker
from dse.cli.args import CliError, Parser

EXIT_USAGE = 2

# Library parameters whose flag is not "--" + the name with dashes (dse.errors.ParameterError names parameters).
FLAG_OF_PARAM = {"memory_mb": "--budget-mb", "energy_mj": "--budget-mj", "out_dir": "--out", "cache_dir": "--cache",
                 "n_trials": "--trials"}

# In the order `dse --help` lists them.
COMMAND_GROUPS = (runs, data, cost, calibration, explore, worker, export)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="dse", description="Design-space exploration for spiking neural networks on small hardware.")
    p.add_argument("--version", action="version", version=f"snn-dse {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return p


class _StderrLines(logging.Handler):
    """Library messages (logger "dse") as plain lines on whatever sys.stderr is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            # one write per line: progress lines come from another thread
            sys.stderr.write(_one_line(self.format(record)) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


_LIBRARY_HANDLER = _StderrLines()


def route_library_messages() -> None:
    """The CLI, not the library, decides where library messages go: info and up, to stderr."""
    logger = logging.getLogger("dse")
    if _LIBRARY_HANDLER not in logger.handlers:
        logger.addHandler(_LIBRARY_HANDLER)
    logger.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    route_library_messages()
    try:
        args = build_parser().parse_args(argv)
        return int(args.handler(args))
    except CliError as exc:
        print(_one_line(_scrubbed(f"error: {exc}", argv)), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: finished chunks are checkpointed; rerun with --resume", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - only our known error types are turned into one line
        if _is_known_error(exc):
            print(_one_line(_scrubbed(f"error: {_message(exc)}", argv)), file=sys.stderr)
            return EXIT_USAGE
        if not _storage_urls(argv):
            raise
        # An unexpected error with a database URL about: show the traceback without its password.
        import traceback

        print(_scrubbed("".join(traceback.format_exc()), argv), file=sys.stderr, end="")
        return 1


def flag_of(param: str) -> str:
    """The command-line flag of a library parameter: ``budget_mb`` -> ``--budget-mb`` (FLAG_OF_PARAM first)."""
    return FLAG_OF_PARAM.get(param) or "--" + param.replace("_", "-")


def _message(exc: Exception) -> str:
    """What the user sees of an error: parameters named by their flags."""
    from dse.errors import ParameterError

    return exc.render(flag_of) if isinstance(exc, ParameterError) else str(exc)


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
    from dse.data import DataError
    from dse.models.recipes import RecipeError
    from dse.runs.folder import RunError

    return isinstance(exc, (DataError, RecipeError, RunError, ValueError, FileNotFoundError, PermissionError))


if __name__ == "__main__":
    sys.exit(main())
