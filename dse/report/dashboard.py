"""A study's summary and front figure where optuna-dashboard shows them (its note and its custom plots).

optuna-dashboard is optional: without it nothing is written (the flat
attributes and the constraint list of :mod:`dse.search.attrs` need no
dashboard code). With it, `dse explore` leaves in the study a Markdown note
(budgets, how to read the constraint list, the counts, the front) and the
report's accuracy-versus-memory figure, through the dashboard's own API
(``save_note``, ``save_plotly_graph_object``), so the dashboard shows what the
HTML report shows.
"""

from __future__ import annotations

from typing import Any

from dse.search.attrs import CONSTRAINT_ORDER
from dse.search.explore import ExploreResult

from . import figures

__all__ = ["FRONT_FIGURE_ID", "note_text", "publish_to_dashboard"]

FRONT_FIGURE_ID = "dse-front-memory"  # saved again under the same id on every run: replaced, not added


def note_text(result: ExploreResult) -> str:
    """The study's note, in Markdown."""
    b = result.budgets
    counts = result.counts()
    budgets = f"memory {b.memory_mb:g} MB" + (f", energy {b.energy_mj:g} mJ per image" if b.energy_mj else "")
    names = [n for n in CONSTRAINT_ORDER if n != "energy_mj" or b.energy_mj is not None]
    how = "synthetic (nothing trained)" if result.synthetic else "measured on the test set"
    name = result.study_name.replace("`", "'")  # a code span: Markdown or HTML in a study name stays text
    lines = [f"## dse explore: `{name}`", "",
             f"Budgets ({b.phase}): {budgets}; accuracy floor {100 * b.min_accuracy:g}%. "
             f"Memory and energy are modelled; accuracy is {how}.", "",
             f"Constraints (value minus budget, feasible when every one is <= 0), in this order: {', '.join(names)} "
             "(a trial rejected before training has no accuracy: its list stops before min_accuracy).", "",
             f"Trials: {counts['complete']} complete ({counts['feasible']} feasible), {counts['pruned']} stopped at a "
             f"lower fidelity, {counts['rejected']} rejected before training (state Pruned, user attribute status "
             f"= rejected), {counts['failed']} failed. Sort the trial table by the user attributes accuracy, "
             "accuracy_low, accuracy_high, memory_mb, energy_mj.", ""]
    if result.front:
        lines += ["| # | candidate | accuracy (95% CI) | memory MB | energy mJ |", "|---|---|---|---|---|"]
        for r in result.front:
            lo, hi = r.accuracy_ci95 or (r.accuracy, r.accuracy)
            label = r.candidate.label() if r.candidate else "?"
            lines.append(f"| {r.number} | {label} | {100 * r.accuracy:.2f}% ({100 * lo:.1f} to {100 * hi:.1f}) "
                         f"| {r.memory_mb:.4g} | {r.energy_mj:.4g} |")
    else:
        lines.append("No trial is feasible.")
    return "\n".join(lines) + "\n"


def publish_to_dashboard(study: Any, result: ExploreResult) -> bool:
    """Save the note and the front figure in ``study``; False (nothing written) without optuna-dashboard."""
    try:
        from optuna_dashboard import save_note, save_plotly_graph_object
    except ImportError:
        return False
    save_note(study, note_text(result))
    fig = figures.front_figure(result.records, result.front, result.budgets, "memory_mb", result.selected)
    save_plotly_graph_object(study, fig, graph_object_id=FRONT_FIGURE_ID)
    return True
