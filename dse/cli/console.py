"""Terminal rendering: the console every command prints through, and summaries of runs."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


# Columns of output that is not a terminal (a file, a pipe, a CI log), for every command: wide enough
# that table rows keep one line each (rich would take 80). $COLUMNS, when set, wins.
PIPED_WIDTH = 200


def console(stderr: bool = False):
    """A rich console on stdout (or stderr): the terminal's width, or PIPED_WIDTH when piped."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    piped = not stream.isatty() and not os.environ.get("COLUMNS", "").isdigit()
    return Console(highlight=False, soft_wrap=True, stderr=stderr, width=PIPED_WIDTH if piped else None)


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
    if "health" in result:
        from dse.runs.health import health_line

        style = "" if result["health"]["status"] == "ok" else "[bold red]"
        con.print(f"health      {style}{health_line(result['health'])}", markup=bool(style))


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
