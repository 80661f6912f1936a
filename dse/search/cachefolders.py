"""Run folders made once per key in a cache shared by processes (and machines): lock, build, rename.

A folder is built under a temporary name by whoever holds the key's lock and
renamed into place when complete, so a reader never sees half a run and two
workers asking for one key build it once.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["cached_folder", "key_lock", "try_key_lock"]


def cached_folder(final: Path, make: Any) -> tuple[dict[str, Any], bool]:
    """The manifest of the run folder ``final``, made under a temporary name first if missing.

    Workers sharing the cache take the key's lock before making it: the second
    waits for the first and reuses its folder instead of training the same
    network again. Partial folders left by a worker that died are removed by the
    next holder of the lock (only a lock holder writes them).
    """
    from dse.runs import folder

    if (final / folder.MANIFEST).exists():
        return folder.read_manifest(final), False
    final.parent.mkdir(parents=True, exist_ok=True)
    with key_lock(final.parent / f".{final.name}.lock"):
        if (final / folder.MANIFEST).exists():  # made by another worker while this one waited
            return folder.read_manifest(final), False
        for stale in final.parent.glob(f".{final.name}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)
        partial = final.parent / f".{final.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            manifest = make(partial)
            if final.exists():  # a folder without a manifest: an unfinished copy from an older version
                shutil.rmtree(final)
            os.rename(partial, final)
            return manifest, True
        finally:
            if partial.exists():
                shutil.rmtree(partial, ignore_errors=True)


@contextmanager
def key_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (flock) on ``path``; the kernel releases it if the process dies.

    flock works between processes on one machine and on NFSv4 and most shared
    file systems; where fcntl does not exist (Windows) the rename into place
    still keeps the cache consistent, but two workers may train one key twice.
    """
    with _flock(path, wait=True):
        yield


@contextmanager
def try_key_lock(path: Path) -> Iterator[bool]:
    """``key_lock`` without waiting: yields True while this process holds the lock on ``path``,
    False at once if another process holds it (a process that died holds nothing).

    Where fcntl does not exist (Windows) it always yields True: work may then be done twice.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with _flock(path, wait=False) as held:
        yield held


@contextmanager
def _flock(path: Path, wait: bool) -> Iterator[bool]:
    try:
        import fcntl
    except ImportError:
        yield True
        return
    with open(path, "a+b") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
