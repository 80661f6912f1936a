"""Terminal rendering of an exploration: the space, one line per trial, the front and the choice."""

from __future__ import annotations

from typing import Any

from dse.search.explore import ExploreResult
from dse.search.records import TrialRecord
from dse.search.space import SearchSpace

__all__ = ["print_space", "trial_line", "print_result"]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def print_space(space: SearchSpace, con: Any, note: str | None = None) -> None:
    from rich.table import Table

    t = Table(title="dse explore search space", title_justify="left")
    for col in ("dimension", "values", "applies when", "meaning"):
        t.add_column(col)
    for row in space.describe():
        t.add_row(*row)
    con.print(t)
    if note:
        con.print(note)
    con.print("Restrict any dimension with --space NAME=VALUES, e.g. --space design=fspinn --space neurons=100..900 "
              "--space weights_bits=4,8,32 (32 = FP32).")


def _sibling_origin(c) -> str:
    """How a sibling trial came from trial #{n} (a template: n is filled in)."""
    if c is not None and c.exit_margin:
        what = "FP32" if not c.quantized else ("ITQ" if c.scheme == "itq" else "PTQ")
        return f"early-exit test of the {what} network of #{{n}}, no training of its own"
    if c is not None and not c.quantized:
        return "the FP32 network #{n} trained"
    return "PTQ of #{n}'s training, no training of its own"


def trial_line(r: TrialRecord) -> str:
    """One line per finished trial, as the search goes."""
    label = r.candidate.label() if r.candidate else "?"
    if r.status == "complete":
        tag = "feasible" if r.feasible else ("below the accuracy floor" if r.below_floor else "over budget")
        if r.sibling_of is not None:
            made = _sibling_origin(r.candidate)
            label, tag = f"+ {label}", f"{tag}; {made.format(n=r.sibling_of)}"
        return (f"#{r.number:<3d} {label:48s} acc {_pct(r.accuracy)}  mem {r.memory_mb:.3g} MB  "
                f"energy {r.energy_mj:.3g} mJ  [{tag}]")
    if r.status == "pruned":
        return f"#{r.number:<3d} {label:48s} acc {_pct(r.last_accuracy)} at {r.images} images  [{r.reason}]"
    return f"#{r.number:<3d} {label:48s} [{r.reason or r.status}]"


def _rows_table(title: str, records: list[TrialRecord], mu: float, show_reward: bool, selected: int | None):
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    cols = ["#", "design", "N", "bits w/inh/vmem/vth", "scheme", "accuracy (95% CI)", "memory MB", "energy mJ/img"]
    if show_reward:
        cols.append(f"reward (mu={mu:g})")
    for c in cols:
        t.add_column(c, justify="right" if c not in ("design", "scheme", "bits w/inh/vmem/vth") else "left")
    for r in records:
        c = r.candidate
        bits = "/".join("fp32" if b == 32 else str(b) for b in c.bits().values()) if c else ""
        scheme = (f"{c.scheme}-{c.rounding}" if c.quantized else "fp32") if c else ""
        if c and c.design == "fspinn":
            scheme += f" rho{c.rho:g} Tw{c.window_steps}"
        if c and c.exit_margin:
            scheme += f" exit{c.exit_margin}"
        acc = _pct(r.accuracy)
        if r.accuracy is None and r.last_accuracy is not None:
            acc = f"({_pct(r.last_accuracy)} at {r.images})"
        elif r.accuracy_ci95:
            acc += f" ({100 * r.accuracy_ci95[0]:.1f}-{100 * r.accuracy_ci95[1]:.1f})"
        row = [str(r.number), c.design if c else "", str(c.neurons) if c else "", bits, scheme, acc,
               "-" if r.memory_mb is None else f"{r.memory_mb:.3g}", "-" if r.energy_mj is None else f"{r.energy_mj:.3g}"]
        if show_reward:
            rw = r.reward(mu)
            row.append("-" if rw is None else f"{rw:.4f}")
        t.add_row(*row, style="bold green" if selected == r.number else None)
    return t


def print_result(result: ExploreResult, con: Any) -> None:
    counts = result.counts()
    b = result.budgets
    siblings = sum(r.sibling_of is not None and r.status == "complete" for r in result.records)
    con.print(f"trials: {counts['complete']} complete ({counts['feasible']} feasible; {siblings} of them PTQ siblings "
              f"evaluated without training), {counts['pruned']} stopped at a lower fidelity, {counts['rejected']} "
              f"rejected before training, {counts['duplicate']} duplicates, {counts['failed']} failed; "
              f"{counts['trainings']} trainings ({counts['trained_images']:,} images)")
    show_reward = result.selection == "reward"
    budget = f"{b.memory_mb:g} MB" + (f" and {b.energy_mj:g} mJ/image" if b.energy_mj else "") + f" ({b.phase})"
    if b.min_accuracy > 0:
        budget += f" at >= {100 * b.min_accuracy:g}% accuracy"
    if not result.front:
        con.print(f"[bold red]No feasible model:[/bold red] no trial fits {budget}. Closest candidates "
                  "(least relative excess over the budgets):")
        con.print(_rows_table("closest candidates", list(result.closest), result.mu, show_reward, None))
        return
    sel = result.selected
    con.print(_rows_table(f"Feasible Pareto set within {budget}: memory and energy modelled", list(result.front),
                          result.mu, show_reward, sel.number if sel else None))
    if sel is not None:
        how = (f"tinySNN reward R = A - {result.mu:g} x M (M = memory / FP32 memory) = {sel.reward(result.mu):.4f}"
               if show_reward else "most accurate feasible model (FSpiNN Algorithm 2; ties: smaller)")
        con.print(f"[bold]selected[/bold] #{sel.number} {sel.candidate.label()}: accuracy {_pct(sel.accuracy)}, "
                  f"memory {sel.memory_mb:.3g} MB, energy {sel.energy_mj:.3g} mJ/image; {how}")
