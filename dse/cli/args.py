"""What the commands share: the parser class, the number types, and the common flags.

The types turn text into checked values (argparse prints their message as
``argument --X: ...``); the ``add_*`` helpers add a flag that several commands
take, with one wording. Nothing here imports more than the standard library at
import time, so `dse --help` stays fast.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

__all__ = [
    "CliError", "Parser", "MAX_BENCH_IMAGES", "DEFAULT_CACHE",
    "positive_int", "seed", "sampler_seed", "neurons", "bench_images", "positive_float", "non_negative_float",
    "fraction",
    "add_data_dir", "add_storage", "default_storage", "execution_mode",
]

# Images are held in memory (784 bytes each, plus a spike count per neuron); a
# throughput figure needs far fewer than this.
MAX_BENCH_IMAGES = 100_000
DEFAULT_CACHE = "reports/cache"
DATA_DIR_HELP = "folder with the IDX files (default: DSE_DATA_DIR, cache, system, bundled subset)"


class CliError(Exception):
    """A usage error found while parsing."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line (main escapes line breaks), no usage dump
        raise CliError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def _parsed(text: str, convert: Any, expected: str) -> Any:
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got '{text}'") from None


def positive_int(text: str) -> int:
    value = _parsed(text, int, "a whole number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def neurons(text: str) -> int:
    from dse.models.network import MAX_NEURONS

    value = positive_int(text)
    if value > MAX_NEURONS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_NEURONS} (the simulator holds 784 x N weights), "
                                         f"got {value}")
    return value


def bench_images(text: str) -> int:
    value = positive_int(text)
    if value > MAX_BENCH_IMAGES:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_BENCH_IMAGES}, got {value}")
    return value


def seed(text: str) -> int:
    value = _parsed(text, int, "a whole number")
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be in 0..2**63-1, got {value}")
    return value


MAX_SAMPLER_SEED = 2**32 - 1  # Optuna's samplers seed numpy's RandomState, which takes 32 bits


def sampler_seed(text: str) -> int:
    """--seed of a search: it seeds the sampler too, whose range is 32 bits."""
    value = _parsed(text, int, "a whole number")
    if not 0 <= value <= MAX_SAMPLER_SEED:
        raise argparse.ArgumentTypeError(f"must be in 0..2**32-1 (the sampler's range), got {value}")
    return value


def positive_float(text: str) -> float:
    value = _parsed(text, float, "a number")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = _parsed(text, float, "a number")
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def fraction(text: str) -> float:
    value = _parsed(text, float, "a number")
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise argparse.ArgumentTypeError(f"must be a fraction in 0..1 (0.5 = 50%), got {text}")
    return value


def add_data_dir(p: Any, help: str | None = DATA_DIR_HELP) -> None:
    """--data-dir, the first place the data lookup tries."""
    p.add_argument("--data-dir", help=help)


def default_storage() -> str:
    """$DSE_STORAGE if set (keeps a password out of shell history and process lists), else SQLite."""
    from dse.search.study import DEFAULT_STORAGE

    return os.environ.get("DSE_STORAGE") or DEFAULT_STORAGE


def add_storage(p: Any) -> None:
    """--storage, shared by explore, report and worker."""
    from dse.search.study import DEFAULT_STORAGE

    p.add_argument("--storage", default=default_storage(), metavar="URL",
                   help=f"Optuna storage URL: sqlite:///FILE (one machine) or postgresql://USER@HOST/DB (several; "
                        f"password from ~/.pgpass or the URL); default $DSE_STORAGE, else {DEFAULT_STORAGE}")


def execution_mode(value: str) -> str | None:
    """--execution: ``auto`` lets the profile decide (None); ``dense`` or ``event`` force one."""
    return None if value == "auto" else value
