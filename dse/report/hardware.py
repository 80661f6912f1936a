"""`dse compare-hw --html`: one self-contained page (plotly.js inlined) with the rows as a chart and a table.

Compute, then render: the rows come from :mod:`dse.cost.compare`; this module
only draws them.  Every user-given or file-given string (title, profile and
device names, labels) is HTML-escaped; plotly escapes ``<``, ``>`` and ``/``
inside its JSON, and the title is escaped again before plotly sees it so its
pseudo-HTML renders it as text.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dse.cost.compare import HardwareRow

from .units import log_axis, si

__all__ = ["hw_figure", "hw_html", "write_hw_html", "table_cells", "TABLE_COLUMNS"]


# Figures take one unit per axis, the one the terminal shows for typical values.
MJ_PER_J = 1e3
MS_PER_S = 1e3


def _bars(rows: Sequence[HardwareRow], phase: str, ratio: str | None) -> tuple[list[float | None], list[float | None]]:
    """Energy (mJ) and time (ms) per image of ``phase``: this design's, or with ``ratio`` ("vs") the other's."""
    key = f"{phase}_per_image"
    energy, time = [], []
    for r in rows:
        e_scale = t_scale = 1.0
        if ratio is not None:
            e_scale = r.energy_ratio[phase] if r.energy_ratio else None
            t_scale = r.time_ratio[phase] if r.time_ratio else None
        energy.append(None if e_scale is None else r.energy_j[key] * e_scale * MJ_PER_J)
        time.append(None if t_scale is None else r.time_s[key] * t_scale * MS_PER_S)
    return energy, time


def hw_figure(rows: Sequence[HardwareRow], title: str, design_label: str, vs_label: str | None = None) -> Any:
    """Energy and time per image (log scale), training and inference, one group of bars per device.

    Every design in the legend has its bars in both panels: a legend entry
    toggles the same bars left and right.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = [html.escape(r.display_name) + (" *" if r.label != "modelled" else "") for r in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("energy per image (mJ)", "time per image (ms)"))
    series = [(design_label, None, 1.0)] + ([(vs_label, "vs", 0.45)] if vs_label is not None else [])
    energy_all: list[float | None] = []
    time_all: list[float | None] = []
    for label, ratio, opacity in series:
        for phase, colour in (("training", "#1f77b4"), ("inference", "#ff7f0e")):
            energy, time = _bars(rows, phase, ratio)
            energy_all += energy
            time_all += time
            name, group = f"{html.escape(label)} {phase}", f"{ratio or 'this'}-{phase}"
            for col, ys in ((1, energy), (2, time)):
                fig.add_trace(go.Bar(name=name, x=names, y=ys, marker_color=colour, opacity=opacity,
                                     legendgroup=group, showlegend=col == 1), row=1, col=col)
    fig.update_yaxes(**log_axis(energy_all), row=1, col=1)
    fig.update_yaxes(**log_axis(time_all), row=1, col=2)
    fig.update_layout(title=html.escape(title), barmode="group", template="plotly_white", height=560)
    return fig


def hw_html(rows: Sequence[HardwareRow], title: str, design_label: str, vs_label: str | None = None,
            notes: Sequence[str] = ()) -> str:
    import plotly.io as pio

    fig = hw_figure(rows, title, design_label, vs_label)
    chart = pio.to_html(fig, include_plotlyjs=True, full_html=False)
    e = html.escape
    columns = [*TABLE_COLUMNS] + ([f"{vs_label} / this: energy (train, infer)"] if vs_label else []) + ["source"]
    head = "<tr><th>device</th><th>label</th>" + "".join(f"<th>{e(c)}</th>" for c in columns) + "</tr>"
    body = []
    for r in rows:
        cells = table_cells(r, with_ratio=vs_label is not None) + [r.source]
        body.append(f"<tr><td>{e(r.display_name)}</td><td>{e(r.label)}</td>"
                    + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
    note_html = "".join(f"<p>{e(n)}</p>" for n in notes)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{e(title)}</title>"
            "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:13px}"
            "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}</style></head><body>"
            f"<h1>{e(title)}</h1>{chart}<table>{head}{''.join(body)}</table>{note_html}</body></html>\n")


# The columns the terminal (`dse compare-hw`) and the HTML table share, after the device.
TABLE_COLUMNS = ("fits train/infer", "train time/img", "infer time/img", "train energy/img", "infer energy/img",
                 "train energy/epoch")


def table_cells(r: HardwareRow, with_ratio: bool) -> list[str]:
    """One row's cells under TABLE_COLUMNS (and the energy ratio): the same text in the terminal and the page."""
    fits = "n/a" if r.fits is None else "/".join("yes" if r.fits[p] else "NO" for p in ("training", "inference"))
    cells = [fits, si(r.time_s["training_per_image"], "s"), si(r.time_s["inference_per_image"], "s"),
             si(r.energy_j["training_per_image"], "J"), si(r.energy_j["inference_per_image"], "J"),
             si(r.energy_j["training_per_epoch"], "J")]
    if with_ratio:
        cells.append(f"{r.energy_ratio['training']:.2f}x, {r.energy_ratio['inference']:.2f}x"
                     if r.energy_ratio else "n/a")
    return cells


def write_hw_html(path: str | Path, rows: Sequence[HardwareRow], title: str, design_label: str,
                  vs_label: str | None = None, notes: Sequence[str] = ()) -> Path:
    from dse.runs.folder import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, hw_html(rows, title, design_label, vs_label, notes).encode("utf-8"))
    return path
