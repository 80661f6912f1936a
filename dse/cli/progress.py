"""Progress of long commands wherever stderr goes: rich bars on a terminal, plain periodic lines elsewhere.

The library reports phases through :class:`dse.runs.train.ProgressSink`
(start, advance, finish); these classes render them. On a terminal, rich
draws live bars. Piped to a file or a batch system's log, where a bar would
print nothing or a mess of control codes, :class:`TextProgress` writes one
plain line per phase start and end and a status line every
``REPORT_PERIOD_S`` seconds while a phase runs, as Brian2's
``report='text'`` does. A background thread writes the periodic lines, so a
phase that reports rarely (one inference chunk of 2,000 images) still shows
that it is alive.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from dse.progress import ProgressSink

__all__ = ["REPORT_PERIOD_S", "STAGES", "progress_for", "RichProgress", "TextProgress", "status_line",
           "SearchProgress"]

# Lines at most this far apart while a phase runs (Brian2 reports every 10 s; half that keeps
# "at least every 10 s" true when the machine is busy).
REPORT_PERIOD_S = 5.0

# progress stage -> (what the user reads, the unit it counts); not the cost model's PHASES
STAGES = {"train": ("training", "images"), "assign": ("assigning labels", "images"), "test": ("testing", "images"),
          "sweep": ("sweep", "cells"), "measure": ("measuring", "cells"), "download": ("downloading", "bytes"),
          "trials": ("search", "trials")}


# Phases that may end before their total: a search stops at its time budget or when nothing is left to try.
ENDS_EARLY = frozenset({"trials"})


def _label(phase: str) -> tuple[str, str]:
    return STAGES.get(phase, (phase, "items"))


@dataclass
class PhaseState:
    """One running phase: how far it got and since when (``done_at_start`` for resumed work)."""

    phase: str
    total: int
    done: int
    done_at_start: int
    started: float
    running_accuracy: float | None = None
    deadline: float | None = None   # the phase ends by then at the latest (a search's --timeout)

    def rate(self, now: float) -> float | None:
        dt = now - self.started
        return (self.done - self.done_at_start) / dt if dt > 0 and self.done > self.done_at_start else None

    def time_left(self, now: float) -> float | None:
        """Seconds to go: at the rate so far, and no later than the deadline; None when unknown."""
        rate = self.rate(now)
        left = [(self.total - self.done) / rate] if rate and self.total > self.done else []
        if self.deadline is not None:
            left.append(max(0.0, self.deadline - now))
        return min(left) if left else None


def _amount(n: int, unit: str) -> str:
    """``1 cell``, ``2,000 images``."""
    return f"{n:,} {unit[:-1] if n == 1 and unit.endswith('s') else unit}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def _rate_text(rate: float, unit: str) -> str:
    if unit == "images":
        return f"{rate:,.0f} img/s"
    if unit == "trials":
        return f"{_duration(1 / rate)} per trial"
    return f"{rate / 1e6:.3g} MB/s" if unit == "bytes" else f"{rate:.2g} {unit}/s"


def status_line(state: PhaseState, now: float) -> str:
    """``training: 2,000/5,000 images (40%), 1,850 img/s, running accuracy 80.1%, 1 s elapsed, about 2 s left``."""
    label, unit = _label(state.phase)
    if state.total > 0:
        parts = [f"{label}: {state.done:,}/{state.total:,} {unit} ({100 * state.done / state.total:.0f}%)"]
    else:  # total unknown (a download without a length)
        parts = [f"{label}: {_amount(state.done, unit)}"]
    rate = state.rate(now)
    if rate is not None:
        parts.append(_rate_text(rate, unit))
    if state.running_accuracy is not None:
        parts.append(f"running accuracy {100 * state.running_accuracy:.1f}%")
    parts.append(f"{_duration(now - state.started)} elapsed")
    left = state.time_left(now)
    if left is not None and state.done < state.total:
        parts.append(f"about {_duration(left)} left")
    return ", ".join(parts)


def finish_line(state: PhaseState, now: float) -> str:
    label, unit = _label(state.phase)
    text = f"{label}: done, {_amount(state.done, unit)} in {_duration(now - state.started)}"
    rate = state.rate(now)
    return text + (f" ({_rate_text(rate, unit)})" if rate is not None else "")


class TextProgress(ProgressSink):
    """Plain progress lines on stderr: at each phase's start and end, and every ``period_s`` while it runs."""

    def __init__(self, period_s: float = REPORT_PERIOD_S, clock: Callable[[], float] = time.monotonic,
                 write: Callable[[str], None] | None = None) -> None:
        self.period_s = period_s
        self._clock = clock
        self._write = write or _stderr_line
        self._phases: dict[str, PhaseState] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "TextProgress":
        self._stop.clear()
        self._thread = threading.Thread(target=self._report_periodically, name="dse-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def start(self, phase: str, total: int, done: int = 0) -> None:
        now = self._clock()
        with self._lock:
            self._phases[phase] = PhaseState(phase, total, done, done, now)
        label, unit = _label(phase)
        size = _amount(total, unit) if total > 0 else f"size unknown, in {unit}"
        self._write(f"{label}: {size}" + (f", resuming after {done:,}" if done else ""))

    def advance(self, phase: str, done: int, running_accuracy: float | None = None) -> None:
        with self._lock:
            state = self._phases.get(phase)
            if state is not None:
                state.done = done
                if running_accuracy is not None:
                    state.running_accuracy = running_accuracy

    def limit(self, phase: str, seconds: float) -> None:
        """``phase`` ends within ``seconds`` from now at the latest (shown in the time left)."""
        with self._lock:
            if phase in self._phases:
                self._phases[phase].deadline = self._clock() + seconds

    def finish(self, phase: str) -> None:
        with self._lock:
            state = self._phases.pop(phase, None)
        if state is not None:
            if phase not in ENDS_EARLY:
                state.done = max(state.done, state.total)  # a known total is reached; an unknown one is what came
            self._write(finish_line(state, self._clock()))

    def report_now(self) -> None:
        """One status line per running phase, outer phases (started first) first."""
        now = self._clock()
        with self._lock:
            lines = [status_line(s, now) for s in self._phases.values()]
        for line in lines:
            self._write(line)

    def _report_periodically(self) -> None:
        while not self._stop.wait(self.period_s):
            self.report_now()


def _stderr_line(text: str) -> None:
    # one write per line: the periodic thread and log messages must not interleave within a line
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class RichProgress(ProgressSink):
    """Live bars on the terminal with images/s, the running accuracy of training, elapsed and remaining time."""

    def __init__(self) -> None:
        from rich.console import Console

        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._phases: dict[str, PhaseState] = {}
        # The bars' console. Lines meant for the terminal while bars run go through it (above the bars):
        # another rich console writes past the live display, and the next redraw mangles both.
        self.console = Console(stderr=True)

    def __enter__(self) -> "RichProgress":
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description:18s}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[acc]}"),
            TimeElapsedColumn(), _time_left_column(self._phases), console=self.console, transient=False,
            # Lines printed to stdout while a bar runs (a search's trial lines) go above the bar when both
            # are the terminal; with stdout piped (`dse explore | tee`) they must stay in the pipe.
            redirect_stdout=sys.stdout.isatty())
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def start(self, phase: str, total: int, done: int = 0) -> None:
        self._phases[phase] = PhaseState(phase, total, done, done, time.monotonic())
        size = total if total > 0 else None  # rich: None is an unknown total
        if phase in self._tasks:  # a phase that comes again (one per sweep cell) reuses its bar
            self._progress.reset(self._tasks[phase], total=size, completed=done, rate="", acc="")
        else:
            self._tasks[phase] = self._progress.add_task(_label(phase)[0], total=size, completed=done,
                                                         rate="", acc="", phase=phase)

    def advance(self, phase: str, done: int, running_accuracy: float | None = None) -> None:
        state = self._phases.get(phase)
        if state is None:
            return
        state.done = done
        state.running_accuracy = running_accuracy if running_accuracy is not None else state.running_accuracy
        rate = state.rate(time.monotonic())
        acc = f"running acc {running_accuracy:.1%}" if running_accuracy is not None else ""
        self._progress.update(self._tasks[phase], completed=done, acc=acc,
                              rate="" if rate is None else _rate_text(rate, _label(phase)[1]))

    def limit(self, phase: str, seconds: float) -> None:
        if phase in self._phases:
            self._phases[phase].deadline = time.monotonic() + seconds

    def finish(self, phase: str) -> None:
        if phase in self._tasks:
            task = self._tasks[phase]
            total = self._progress.tasks[task].total
            if total is not None and phase not in ENDS_EARLY:
                self._progress.update(task, completed=total)


def _time_left_column(phases: dict[str, PhaseState]) -> Any:
    """A rich column of the time left by PhaseState.time_left: the rate so far, and a deadline if there is one."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class TimeLeft(ProgressColumn):
        def render(self, task: Any) -> Text:
            state = phases.get(task.fields.get("phase", ""))
            left = None if state is None or task.finished else state.time_left(time.monotonic())
            return Text("" if left is None else f"~{_duration(left)} left", style="progress.remaining")

    return TimeLeft()


class SilentProgress(ProgressSink):
    """--quiet: nothing."""

    def __enter__(self) -> "SilentProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def limit(self, phase: str, seconds: float) -> None:
        return None


def progress_for(quiet: bool = False) -> ProgressSink:
    """The sink for this process's stderr: nothing, rich bars on a terminal, or plain periodic lines."""
    if quiet:
        return SilentProgress()
    return RichProgress() if sys.stderr.isatty() else TextProgress()


class SearchProgress:
    """A search's trial k/N, elapsed time and time left, from the trials as they end (in this process or,
    with --jobs, in its helpers).

    k counts what ``--trials`` counts (sampled trials evaluated, a resumed study's earlier ones included);
    N is the target (unknown for a grid or incremental search without --trials). Plain lines, when
    piped, come after every such trial as well as periodically: a trial may take minutes.
    """

    def __init__(self, sink: ProgressSink, target: int | None, timeout_s: float | None) -> None:
        self.sink, self.target, self.timeout_s = sink, target, timeout_s
        self.done = 0

    def start(self, study: Any) -> None:
        from dse.search.strategies import evaluated_trials

        self.done = evaluated_trials(study)
        self.sink.start("trials", self.target or 0, self.done)
        if self.timeout_s is not None:
            self.sink.limit("trials", self.timeout_s)

    def on_trial(self, printer: Callable[[Any], None]) -> Callable[[Any], None]:
        """``printer`` (the line per trial), then the count."""
        def on_trial(frozen: Any) -> None:
            printer(frozen)
            attrs = frozen.user_attrs
            if frozen.state.name in ("COMPLETE", "PRUNED") and attrs.get("sibling_of") is None \
                    and attrs.get("status") in ("complete", "pruned"):
                self.done += 1
                self.sink.advance("trials", self.done)
                if isinstance(self.sink, TextProgress):
                    self.sink.report_now()

        return on_trial

    def finish(self) -> None:
        self.sink.finish("trials")

    def console_for_lines(self, con: Any) -> Any:
        """Where the lines printed while the search runs go: ``con`` (stdout), or the bar's console when
        stdout and the bar share the terminal (so the lines scroll above the bar instead of through it)."""
        if isinstance(self.sink, RichProgress) and sys.stdout.isatty():
            return self.sink.console
        return con
