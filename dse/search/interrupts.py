"""A stop asked for by signal (SIGTERM): raised at once, and remembered.

The CLI takes SIGTERM (pre-emption, a batch system's time limit) like Ctrl-C: its handler raises
KeyboardInterrupt in the main thread, so the running trial is failed and queued again at once.
Python drops an exception raised while the main thread runs a finalizer (a ``__del__`` or weakref
callback, e.g. of a database connection): it prints "Exception ignored" and goes on. So the request
is remembered too, and the search checks it where a trial's work ends and before it asks for the
next one (seen in CI: a search given SIGTERM mid-trial finished and exited 0).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

__all__ = ["stop_on_sigterm", "raise_if_stop_asked"]

_asked = threading.Event()


def _stop(signum: int, frame: Any) -> None:
    _asked.set()
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """From now on SIGTERM ends the search like Ctrl-C (main thread only; elsewhere the embedding
    program's own handling stays)."""
    _asked.clear()
    try:
        signal.signal(signal.SIGTERM, _stop)
    except ValueError:  # not the main thread
        pass


def raise_if_stop_asked() -> None:
    """KeyboardInterrupt if a SIGTERM came, even one whose own raise was lost."""
    if _asked.is_set():
        raise KeyboardInterrupt
