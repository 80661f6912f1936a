"""Terminal rendering: consoles, progress bars and summaries of runs."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any


def console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def wide_console():
    """A console for tables: piped output (files, CI logs) gets 200 columns so tables keep one line per row."""
    from rich.console import Console

    width = None if sys.stdout.isatty() else 200
    return Console(highlight=False, soft_wrap=True, width=width)


class RichProgress:
    """Progress bars with images/s and the running accuracy of training (a dse.runs.train.ProgressSink)."""

    _LABELS = {"train": "training", "assign": "assigning labels", "test": "testing"}

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._progress = None
        self._tasks: dict[str, Any] = {}
        self._t0: dict[str, tuple[float, int]] = {}

    def __enter__(self) -> "RichProgress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self._progress = Progress(
                TextColumn("{task.description:18s}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[acc]}"),
                TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                transient=False)
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def start(self, phase: str, total: int, done: int = 0) -> None:
        self._t0[phase] = (time.perf_counter(), done)
        if self._progress is not None:
            self._tasks[phase] = self._progress.add_task(self._LABELS.get(phase, phase), total=total,
                                                         completed=done, rate="", acc="")

    def advance(self, phase: str, done: int, running_accuracy: float | None = None) -> None:
        if self._progress is None:
            return
        t0, d0 = self._t0[phase]
        dt = time.perf_counter() - t0
        rate = f"{(done - d0) / dt:,.0f} img/s" if dt > 0 else ""
        acc = f"running acc {running_accuracy:.1%}" if running_accuracy is not None else ""
        self._progress.update(self._tasks[phase], completed=done, rate=rate, acc=acc)

    def finish(self, phase: str) -> None:
        if self._progress is not None and phase in self._tasks:
            task = self._tasks[phase]
            self._progress.update(task, completed=self._progress.tasks[task].total)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def print_metrics(result: dict[str, Any], con) -> None:
    m = result["metrics"]
    lo, hi = m["accuracy_ci95"]
    plo, phi = m["accuracy_proportion_ci95"]
    con.print(f"data        {result['data']['source']} (sha256 {result['data']['sha256'][:12]}...)")
    con.print(f"accuracy    {_pct(m['accuracy'])}  (95% CI {_pct(lo)}-{_pct(hi)}, all-activity, n={m['n_test']})")
    con.print(f"proportion  {_pct(m['accuracy_proportion'])}  (95% CI {_pct(plo)}-{_pct(phi)}, proportion weighting)")
    per_class = "  ".join(f"{k}:{_pct(v)}" for k, v in enumerate(m["per_class_accuracy"]))
    con.print(f"per class   {per_class}")
    con.print(f"unassigned  {m['n_unassigned']} neurons")


def print_train_summary(manifest: dict[str, Any], out: Path, con) -> None:
    cfg, tm = manifest["config"], manifest["timings"]
    con.print(f"[bold]{cfg['design']}[/bold] Net{cfg['neurons']} on {cfg['dataset']}, "
              f"{cfg['epochs']} epoch(s), seed {cfg['seed']}")
    print_metrics(manifest, con)
    con.print(f"throughput  training {tm['train_images_per_s']} img/s, inference {tm['infer_images_per_s']} img/s "
              f"(measured on {tm['measured_on']})")
    con.print(f"run folder  {out} (manifest.json, weights.npz, weights.png)")


def print_bench(result: dict[str, Any], con) -> None:
    con.print(f"{result['design']} Net{result['neurons']}: training {result['train_images_per_s']:,.1f} img/s, "
              f"inference {result['infer_images_per_s']:,.1f} img/s ({result['infer_engine']}), "
              f"{result['images']} images of {result['data_source']}; measured on {result['machine']}, "
              f"{result['threads']} threads")


def print_early_exit(result: dict[str, Any], con) -> None:
    """Steps run per test image (all evaluations), and the rule when one stopped images early."""
    ee = result.get("early_exit")
    if not ee:
        return
    st, full = ee["steps_per_test_image"], ee["presentation_steps"]
    rule = f"early exit {ee['rule']}" if ee["rule"] != "off" else "no early exit"
    con.print(f"steps       {rule}: mean {st['mean']:.1f} steps per test image ({100 * st['mean'] / full:.0f}% "
              f"of one {full}-step presentation), median {st['median']:.0f}, 95th percentile {st['p95']:.0f}")
