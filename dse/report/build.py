"""Gather what the report shows (the I/O edge): the study's result, the selected model's files and costs."""

from __future__ import annotations

from pathlib import Path

from dse.search import costs
from dse.search.explore import ExploreResult, result_from_study
from dse.search.study import load_existing_study

from .html import ReportData, write_report

__all__ = ["report_data", "write_study_report"]


def report_data(result: ExploreResult, notes: tuple[str, ...] = ()) -> ReportData:
    from dse import __version__
    from dse.runs.folder import now_iso

    ident = result.identity
    sel = result.selected
    hardware: tuple = ()
    png = None
    if sel is not None and sel.candidate is not None and sel.counts_per_image:
        hardware = tuple(costs.hardware_comparison(sel.candidate, result.budgets.phase, sel.counts_per_image,
                                                   ident.get("accounting", "dense")))
    if sel is not None and sel.run_dir:
        png = _weights_png(Path(sel.run_dir))
    labels = costs.cost_labels(ident.get("profile", "jetson-nano"), ident.get("accounting", "dense"),
                               synthetic=result.synthetic)
    notes = (f"Memory: {labels['memory']}.", f"Energy: {labels['energy']}.", *notes)
    return ReportData(result=result, hardware=hardware, weight_png=png,
                      generated=f"{__version__} on {now_iso()}", notes=notes)


def _weights_png(run_dir: Path) -> bytes | None:
    """The run's weights.png; an early-exit test (``exit-*`` in the cache) shows the network it tested."""
    import json

    path = run_dir / "weights.png"
    if not path.is_file():
        try:
            doc = json.loads((run_dir / "manifest.json").read_text())
            if doc.get("kind") == "exit-sweep" and isinstance(doc.get("source"), str) and "/" not in doc["source"]:
                path = run_dir.parent / doc["source"] / "weights.png"
        except (OSError, ValueError, AttributeError):
            return None
    return path.read_bytes() if path.is_file() else None


def write_study_report(storage: str | None, study_name: str, out: Path, *, select: str = "accuracy",
                       mu: float = 0.5) -> tuple[Path, ExploreResult]:
    """`dse report`: rebuild the result from the study alone and write the HTML file."""
    study = load_existing_study(storage, study_name)
    result = result_from_study(study, storage, select=select, mu=mu)
    return write_report(out, report_data(result)), result
