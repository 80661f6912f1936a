"""What long library calls report while they run; the caller renders it (the library itself stays silent).

A phase ("train", "assign", "test", "sweep", "measure", "download") starts
with a total, advances, and finishes. The command line renders phases as
rich bars on a terminal and as plain periodic lines elsewhere
(dse.cli.progress); a program using the library passes its own sink, or
none.
"""

from __future__ import annotations

__all__ = ["ProgressSink"]


class ProgressSink:
    """Receives progress; every method does nothing here, so a subclass overrides what it shows."""

    def start(self, phase: str, total: int, done: int = 0) -> None: ...
    def advance(self, phase: str, done: int, running_accuracy: float | None = None) -> None: ...
    def finish(self, phase: str) -> None: ...
