"""Compile each engine variant once per machine, one process at a time, and say so while it happens.

numba compiles the engine the first time a variant (a pair of array dtypes:
weight storage and state) is called, and caches the machine code on disk.
Two things need care:
- numba's on-disk index is not safe when two processes compile different
  variants of one function at once (each rewrites the index with its own
  entry, and a data file can end up under the other's key). So compiling
  happens under an exclusive file lock beside numba's cache: the first
  process compiles, the others wait and then load it from the cache.
- compiling takes tens of seconds; a user should hear why nothing moves.
  The notice goes through logging (logger "dse.models") only if the first
  call has not returned after a second, i.e. only when it really compiles.

`ensure_compiled` is called by models.network.Simulator before every engine
call (a set lookup once warm). `precompile` warms variants ahead of use, e.g.
in a background thread while the first training runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from typing import Iterable, Iterator

import numpy as np

log = logging.getLogger("dse.models")

# Seconds after which a first call is taken to be compiling (a cache load takes well under one).
NOTICE_AFTER_S = 1.0
# While it compiles, a line this often (progress lines on a log come every 5 s; this keeps them under 10 s apart).
STILL_COMPILING_EVERY_S = 8.0
# Rough cold compile time of one variant on a 2-core machine (bench/compile_time.py measures it).
TYPICAL_COMPILE_S = 15

_ready: set[tuple[str, str]] = set()
_process_lock = threading.Lock()


def variant_key(weight_dtype: np.dtype | type, state_dtype: np.dtype | type) -> tuple[str, str]:
    """The compiled variant: (weight storage dtype, state dtype), e.g. ('uint8', 'float32')."""
    return np.dtype(weight_dtype).name, np.dtype(state_dtype).name


def describe(key: tuple[str, str]) -> str:
    weights, state = key
    kind = "float weights" if weights.startswith("float") else f"{weights} weight codes"
    return f"{kind}, {state} state"


def is_ready(key: tuple[str, str]) -> bool:
    """Whether this process has the variant loaded (compiled or read from the cache)."""
    return key in _ready


def ensure_compiled(weight_dtype: np.dtype | type, state_dtype: np.dtype | type) -> None:
    """Load the variant from numba's cache, or compile it (under the machine-wide lock) if absent."""
    key = variant_key(weight_dtype, state_dtype)
    if key in _ready:
        return
    with _process_lock:
        if key in _ready:
            return
        # the notice covers waiting for another process that compiles this variant, too
        with _notice_if_slow(key), _machine_lock():
            _first_call(key)
        _ready.add(key)


def precompile(keys: Iterable[tuple[str, str]]) -> threading.Thread:
    """Warm variants in a daemon thread; returns the thread.

    numba holds the GIL while it compiles, but engine calls release it, so a
    training in the caller's thread runs on while the next variant compiles.
    """
    wanted = [k for k in dict.fromkeys(keys) if k not in _ready]

    def work() -> None:
        for key in wanted:
            ensure_compiled(*key)

    thread = threading.Thread(target=work, name="dse-precompile", daemon=True)
    thread.start()
    return thread


def _first_call(key: tuple[str, str]) -> None:
    """One tiny training and inference call with exactly the argument types Simulator passes."""
    from . import engine_numba as eng
    from .constants import engine_constants
    from .counts import new_counts
    from .recipes import load_recipe

    weights, state = (np.dtype(d) for d in key)
    consts = engine_constants(load_recipe("fspinn"), state)
    w = np.ascontiguousarray(np.zeros((784, 1), dtype=weights))
    theta = np.zeros(1, dtype=state)
    images = np.zeros((1, 784), dtype=np.uint8)  # no input spikes: the call itself is instant
    out = np.zeros((1, 1), dtype=np.int32)
    steps = np.zeros(1, dtype=np.int32)
    for learn in (True, False):
        eng.run_images(w, theta, images, 0, 0, learn, consts.fc_for(1), consts.ic, consts.pre_table, consts.post_table,
                       0.128, 0.032, new_counts(), out, np.zeros(1, dtype=np.int32), steps)


@contextlib.contextmanager
def _notice_if_slow(key: tuple[str, str]) -> Iterator[None]:
    """Say that ``key`` compiles once the call has taken NOTICE_AFTER_S, then every STILL_COMPILING_EVERY_S."""
    started = time.perf_counter()
    done = threading.Event()
    said = threading.Event()

    def watch() -> None:
        if done.wait(NOTICE_AFTER_S):
            return
        said.set()
        log.info("compiling the simulation engine for %s (first use on this machine, about %d s; "
                 "cached afterwards)", describe(key), TYPICAL_COMPILE_S)
        # a log file must not look stalled: a cold compile on a busy machine can take minutes
        while not done.wait(STILL_COMPILING_EVERY_S):
            log.info("still compiling %s: %.0f s so far", describe(key), time.perf_counter() - started)

    watcher = threading.Thread(target=watch, name="dse-compile-notice", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        if said.is_set():
            log.info("compiled %s in %.0f s", describe(key), time.perf_counter() - started)


@contextlib.contextmanager
def _machine_lock() -> Iterator[None]:
    """An exclusive lock shared by every process that uses this numba cache (no-op without fcntl)."""
    try:
        import fcntl
    except ImportError:  # Windows: numba's cache race remains possible there
        yield
        return
    path = os.path.join(_cache_dir(), "snn-dse-compile.lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:  # an unwritable cache folder: numba falls back to another one; lock there
        fd = os.open(os.path.join(tempfile.gettempdir(), "snn-dse-compile.lock"), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _cache_dir() -> str:
    """Where numba keeps the engine's compiled code (created if needed)."""
    from . import engine_numba as eng

    try:
        path = eng.run_images._cache._cache_path  # numba internals: a stable attribute since 0.4x
    except AttributeError:
        path = tempfile.gettempdir()
    os.makedirs(path, exist_ok=True)
    return path
