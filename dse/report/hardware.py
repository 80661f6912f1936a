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

__all__ = ["hw_figure", "hw_html", "write_hw_html"]


def hw_figure(rows: Sequence[HardwareRow], title: str, design_label: str, vs_label: str | None = None) -> Any:
    """Energy and time per image (log scale), training and inference, one group of bars per device."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = [html.escape(r.display_name) + (" *" if r.label != "modelled" else "") for r in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("energy per image (J)", "time per image (s)"))
    for phase, colour in (("training", "#1f77b4"), ("inference", "#ff7f0e")):
        key = f"{phase}_per_image"
        fig.add_trace(go.Bar(name=f"{html.escape(design_label)} {phase}", x=names,
                             y=[r.energy_j[key] for r in rows], marker_color=colour,
                             legendgroup=phase), row=1, col=1)
        fig.add_trace(go.Bar(name=f"{html.escape(design_label)} {phase}", x=names,
                             y=[r.time_s[key] for r in rows], marker_color=colour,
                             legendgroup=phase, showlegend=False), row=1, col=2)
        if vs_label is not None:
            # the comparison design's energy = ours x ratio
            ys = [r.energy_j[key] * r.energy_ratio[phase] if r.energy_ratio else None for r in rows]
            fig.add_trace(go.Bar(name=f"{html.escape(vs_label)} {phase}", x=names, y=ys, marker_color=colour,
                                 opacity=0.45, legendgroup=f"vs-{phase}"), row=1, col=1)
    fig.update_yaxes(type="log")
    fig.update_layout(title=html.escape(title), barmode="group", template="plotly_white", height=560)
    return fig


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def hw_html(rows: Sequence[HardwareRow], title: str, design_label: str, vs_label: str | None = None,
            notes: Sequence[str] = ()) -> str:
    import plotly.io as pio

    fig = hw_figure(rows, title, design_label, vs_label)
    chart = pio.to_html(fig, include_plotlyjs=True, full_html=False)
    e = html.escape
    head = ("<tr><th>device</th><th>label</th><th>fits (train / infer)</th><th>train s/img</th>"
            "<th>infer s/img</th><th>train J/img</th><th>infer J/img</th><th>J/epoch</th>"
            + ("<th>energy ratio train / infer</th>" if vs_label else "") + "<th>source</th></tr>")
    body = []
    for r in rows:
        fits = "n/a" if r.fits is None else " / ".join("yes" if r.fits[p] else "NO" for p in ("training", "inference"))
        ratio = ""
        if vs_label:
            ratio = ("<td>" + (f"{r.energy_ratio['training']:.2f}x / {r.energy_ratio['inference']:.2f}x"
                               if r.energy_ratio else "n/a") + "</td>")
        body.append(f"<tr><td>{e(r.display_name)}</td><td>{e(r.label)}</td><td>{fits}</td>"
                    f"<td>{_fmt(r.time_s['training_per_image'])}</td><td>{_fmt(r.time_s['inference_per_image'])}</td>"
                    f"<td>{_fmt(r.energy_j['training_per_image'])}</td>"
                    f"<td>{_fmt(r.energy_j['inference_per_image'])}</td>"
                    f"<td>{_fmt(r.energy_j['training_per_epoch'])}</td>{ratio}<td>{e(r.source)}</td></tr>")
    note_html = "".join(f"<p>{e(n)}</p>" for n in notes)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{e(title)}</title>"
            "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:13px}"
            "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}</style></head><body>"
            f"<h1>{e(title)}</h1>{chart}<table>{head}{''.join(body)}</table>{note_html}</body></html>\n")


def write_hw_html(path: str | Path, rows: Sequence[HardwareRow], title: str, design_label: str,
                  vs_label: str | None = None, notes: Sequence[str] = ()) -> Path:
    from dse.runs.folder import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, hw_html(rows, title, design_label, vs_label, notes).encode("utf-8"))
    return path
