"""The exploration report: one self-contained HTML file (plotly.js inlined once), written atomically.

:func:`render_html` is pure (report data in, page text out); :func:`write_report`
writes it. Every string that a user chose or a trial recorded (study name,
storage URL, paths, reasons) goes through :func:`html.escape`; figure data is
JSON that plotly escapes itself (``<`` as ``\\u003c``).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dse.search.costs import MB, MJ_PER_J
from dse.search.explore import ExploreResult
from dse.search.records import TrialRecord
from dse.search.study import mask_url

from . import figures

__all__ = ["ReportData", "render_html", "write_report", "FIGURE_IDS"]

FIGURE_IDS = ("fig-front-memory", "fig-front-energy", "fig-hardware", "fig-bits", "fig-confusion")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{font-size:1.5em;word-break:break-all} h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0} td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}
th{background:#f4f4f4} tr.front td{background:#fff3f3} tr.selected td{background:#eaffea;font-weight:600}
.note{color:#555;font-size:.9em} .grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.scroll{max-height:520px;overflow:auto} img.weights{max-width:100%;image-rendering:pixelated;border:1px solid #ddd}
.warn{background:#fff4e5;border:1px solid #f0b37e;padding:8px 12px}
"""


@dataclass(frozen=True)
class ReportData:
    result: ExploreResult
    hardware: tuple[Any, ...] = ()          # dse.cost.compare.HardwareRow of the selected model, one per profile
    weight_png: bytes | None = None          # the selected model's weights.png
    generated: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.2f}%"


def _num(x: float | None, fmt: str = ".4g") -> str:
    return "" if x is None else format(x, fmt)


def _table(headers: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for k, row in enumerate(rows):
        cls = f' class="{_e(classes[k])}"' if classes and classes[k] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_TRIAL_HEADERS = ["#", "status", "design", "N", "bits w/inh/vmem/vth", "scheme", "rounding", "rho", "T_w",
                  "exit margin", "images", "accuracy", "memory MB", "energy mJ/img", "reward", "trainings", "reason"]


def _trial_row(r: TrialRecord, mu: float) -> list[Any]:
    c = r.candidate
    bits = "/".join("fp32" if b == 32 else str(b) for b in c.bits().values()) if c else ""
    reward = r.reward(mu)
    status = r.status + (" (feasible)" if r.feasible else " (below the accuracy floor)" if r.below_floor else "")
    if r.sibling_of is not None and c and c.exit_margin:
        status += f", early-exit test of #{r.sibling_of}'s network"
    elif r.sibling_of is not None:
        status += f", PTQ sibling of #{r.sibling_of}" if c and c.quantized else f", the network #{r.sibling_of} trained"
    return [r.number, status, c.design if c else "", c.neurons if c else "",
            bits, c.scheme if c else "", c.rounding if c and c.quantized else "", _num(c.rho, "g") if c and c.rho else "",
            c.window_steps if c and c.window_steps else "", c.exit_margin if c and c.exit_margin else "",
            r.images or "",
            _pct(r.accuracy) if r.accuracy is not None else (f"({_pct(r.last_accuracy)})" if r.last_accuracy is not None else ""),
            _num(r.memory_mb), _num(r.energy_mj), _num(reward, ".4f"), r.trainings, r.reason]


def _figure_html(fig: Any, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def _summary(result: ExploreResult) -> str:
    ident = result.identity
    b = result.budgets
    ev = ident.get("evaluator", {})
    counts = result.counts()
    rows = [
        ["strategy", ident.get("strategy")],
        ["data", f"{ev.get('dataset', ev.get('evaluator', ''))} ({ev.get('train_images', '?')} training images at full fidelity, "
                 f"{ev.get('test_images', '?')} test images; sha256 {str(ev.get('data_sha256', 'n/a'))[:12]})"],
        ["budgets", f"memory {b.memory_mb:g} MB" + (f", energy {b.energy_mj:g} mJ per image" if b.energy_mj else "")
         + f", phase {b.phase}; accuracy floor {100 * b.min_accuracy:g}%"],
        ["hardware profile", f"{ident.get('profile')} (memory accounting: {ident.get('accounting')})"],
        ["fidelities (training images)", ", ".join(str(x) for x in ident.get("rungs", []))],
        ["seed", ident.get("seed")],
        ["trials", f"{counts['complete']} complete ({counts['feasible']} feasible; "
                   f"{sum(r.sibling_of is not None for r in result.records)} PTQ siblings evaluated without training), "
                   f"{counts['pruned']} stopped at a lower fidelity, {counts['rejected']} rejected before training, "
                   f"{counts['duplicate']} duplicates, {counts['failed']} failed"],
        ["training spent", f"{counts['trainings']} trainings, {counts['trained_images']:,} images"],
        ["selection", f"{result.selection}" + (f" (tinySNN reward, mu = {result.mu:g})" if result.selection == "reward" else
                                                " (FSpiNN Algorithm 2: most accurate, then smallest)")],
        ["storage", mask_url(result.storage)],
    ]
    if result.wall_s is not None:
        rows.append(["wall time of the last run", f"{result.wall_s:.1f} s"])
    return _table(["", ""], rows)


def render_html(data: ReportData) -> str:
    """The whole page; plotly.js is inlined once in the head."""
    from plotly.offline import get_plotlyjs

    res = data.result
    b = res.budgets
    accuracy = ("accuracy is <b>synthetic</b> (the synthetic evaluator's known accuracy surface: nothing was "
                "trained or tested)" if res.synthetic else "accuracy is measured on the test set")
    parts = [f"<h1>Design-space exploration: {_e(res.study_name)}</h1>",
             f'<p class="note">Generated by snn-dse {_e(data.generated)}. Memory and energy are <b>modelled</b> '
             f"(cost model and hardware profile), {accuracy}. Error bars: 95% Wilson interval of accuracy.</p>",
             _summary(res)]
    for note in data.notes:
        parts.append(f'<p class="note">{_e(note)}</p>')

    parts.append("<h2>Selected model</h2>")
    if res.selected is not None:
        s = res.selected
        parts.append(_table(_TRIAL_HEADERS, [_trial_row(s, res.mu)], ["selected"]))
        if s.accuracy_ci95:
            parts.append(f'<p class="note">accuracy 95% interval {_pct(s.accuracy_ci95[0])} to {_pct(s.accuracy_ci95[1])}; '
                         f"run folder {_e(s.run_dir or 'n/a')}</p>")
    else:
        parts.append('<p class="warn">No trial is feasible: none fits every budget at or above the accuracy floor. '
                     "The closest candidates (least relative excess over the budgets):</p>")
        parts.append(_table(_TRIAL_HEADERS, [_trial_row(r, res.mu) for r in res.closest]))

    parts.append("<h2>Pareto fronts</h2>")
    parts.append('<div class="grid">' + _figure_html(figures.front_figure(res.records, res.front, b, "memory_mb", res.selected), FIGURE_IDS[0])
                 + _figure_html(figures.front_figure(res.records, res.front, b, "energy_mj", res.selected), FIGURE_IDS[1]) + "</div>")
    parts.append(f"<h2>Feasible Pareto set ({len(res.front)})</h2>")
    if res.front:
        parts.append(_table(_TRIAL_HEADERS, [_trial_row(r, res.mu) for r in res.front],
                            ["selected" if res.selected and r.number == res.selected.number else "front" for r in res.front]))
    else:
        parts.append('<p class="note">empty</p>')

    parts += _hardware_section(data)

    parts.append("<h2>Accuracy versus bit-width</h2>")
    parts.append(_figure_html(figures.bits_figure(res.records), FIGURE_IDS[3]))

    parts.append("<h2>Selected model: confusion matrix and weights</h2>")
    sel = res.selected
    parts.append('<div class="grid">')
    if sel is not None and sel.confusion:
        parts.append("<div>" + _figure_html(figures.confusion_figure(sel.confusion, res.synthetic), FIGURE_IDS[4])
                     + "</div>")
    else:
        parts.append('<p class="note">no confusion matrix</p>')
    if data.weight_png:
        img = base64.b64encode(data.weight_png).decode("ascii")
        parts.append(f'<div><img class="weights" alt="learned weights of the selected model" src="data:image/png;base64,{img}">'
                     '<p class="note">Receptive fields (input weights) of the selected model.</p></div>')
    else:
        parts.append('<p class="note">weight image not available (the run folder is not on this machine)</p>')
    parts.append("</div>")

    parts.append(f"<h2>All trials ({len(res.records)})</h2>")
    front_ids = {r.number for r in res.front}
    parts.append('<div class="scroll">' + _table(
        _TRIAL_HEADERS, [_trial_row(r, res.mu) for r in res.records],
        ["selected" if sel and r.number == sel.number else ("front" if r.number in front_ids else "") for r in res.records])
        + "</div>")
    parts.append('<p class="note">Accuracy in parentheses: measured at the lower fidelity where the trial stopped. '
                 "The study stays in its storage: <code>optuna-dashboard "
                 f"{_e(mask_url(res.storage))}</code> opens it.</p>")

    title = _e(f"dse explore: {res.study_name}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>"
            f"<style>{_CSS}</style>\n<script type=\"text/javascript\">{get_plotlyjs()}</script>\n</head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def _hardware_section(data: ReportData) -> list[str]:
    """The selected model priced on every bundled profile: a figure and a table."""
    b = data.result.budgets
    parts = ["<h2>Hardware comparison of the selected model</h2>"]
    if not data.hardware:
        return parts + ['<p class="note">no selected model</p>']
    parts.append(_figure_html(figures.hardware_figure(data.hardware, b.phase, b), FIGURE_IDS[2]))
    parts.append(_table(["profile", "device", "kind", "time per image (ms)", "energy per image (mJ)",
                         "model memory (MB)", "device memory (MB)"],
                        [[h.profile, h.display_name, h.kind, _num(1e3 * h.time_per_image_s(b.phase)),
                          _num(h.energy_per_image_j(b.phase) * MJ_PER_J), _num(h.memory_bytes[b.phase] / MB),
                          f"{h.device_memory_bytes / MB:,.0f}"] for h in data.hardware]))
    counts = "the synthetic evaluator's, not measured" if data.result.synthetic else "measured on the trial's run"
    parts.append(f'<p class="note">Same activity counts ({counts}), priced by each profile.</p>')
    return parts


def write_report(path: Path, data: ReportData) -> Path:
    from dse.runs.folder import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, render_html(data).encode("utf-8"))
    return path
