"""Pure figure builders for the exploration report: records in, plotly figures out.

Nothing here reads files or the study; tests check the data behind each
figure (the traces' x, y and names), the browser test checks the page.
User-chosen strings (study names, paths) never enter a figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dse.search.objectives import Budgets
from dse.search.pareto import non_dominated
from dse.search.records import TrialRecord
from dse.search.space import FP32_BITS

from .units import log_axis

__all__ = ["front_figure", "hardware_figure", "bits_figure", "confusion_figure", "AXES"]

AXES = {"memory_mb": "memory (MB, modelled)", "energy_mj": "energy per image (mJ, modelled)"}
COLORS = {"front": "#d62728", "feasible": "#1f77b4", "infeasible": "#7f7f7f", "below_floor": "#9467bd",
          "pruned": "#bcbd22", "rejected": "#c7c7c7", "selected": "#2ca02c"}
# The title sits in its own row below plotly's tool bar (top right, 30 px): in a half-width figure a
# title at the top runs under the tools, which show on hover (always, on touch screens).
_TOP, _TITLE_AT = 90, 45  # pixels from the top: the margin above the plot area, the title's middle
_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=_TOP, b=50), height=460,
               title_y=1 - _TITLE_AT / 460, title_yanchor="middle",
               legend=dict(orientation="h", y=-0.18))


def _hover(r: TrialRecord) -> str:
    c = r.candidate
    label = c.label() if c else "?"
    acc = r.accuracy if r.accuracy is not None else r.last_accuracy
    parts = [f"#{r.number} {label}", f"status {r.status}"]
    if acc is not None:
        parts.append(f"accuracy {100 * acc:.2f}%" + ("" if r.accuracy is not None else f" at {r.images} images")
                     + (f" (95% CI {100 * r.accuracy_ci95[0]:.1f} to {100 * r.accuracy_ci95[1]:.1f})"
                        if r.accuracy_ci95 else ""))
    if r.memory_mb is not None:
        parts.append(f"memory {r.memory_mb:.3g} MB")
    if r.energy_mj is not None:
        parts.append(f"energy {r.energy_mj:.3g} mJ/image")
    return "<br>".join(parts)


def _interval(records: Sequence[TrialRecord], color: str) -> dict[str, Any]:
    """Asymmetric error bars (percentage points) from each trial's stored 95% Wilson interval of accuracy;
    none where a trial has no interval (stopped at a lower fidelity, rejected)."""
    up, down = [], []
    for r in records:
        ci, acc = r.accuracy_ci95, r.accuracy
        up.append(100 * (ci[1] - acc) if ci and acc is not None else None)
        down.append(100 * (acc - ci[0]) if ci and acc is not None else None)
    return dict(type="data", symmetric=False, array=up, arrayminus=down, visible=any(v is not None for v in up),
                color=color, thickness=1, width=2)


def _staircase(points: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """The 2-D front (max accuracy, min x) as a step line, in increasing x."""
    idx = non_dominated([(x, -y) for x, y in points])
    pts = sorted({points[i] for i in idx})
    xs: list[float] = []
    ys: list[float] = []
    for k, (x, y) in enumerate(pts):
        if k:
            xs.append(x)
            ys.append(ys[-1])
        xs.append(x)
        ys.append(y)
    return xs, ys


def front_figure(records: Sequence[TrialRecord], front: Sequence[TrialRecord], budgets: Budgets, x: str,
                 selected: TrialRecord | None = None):
    """Accuracy versus memory or energy: feasible, front, infeasible, pruned and rejected trials apart."""
    import plotly.graph_objects as go

    if x not in AXES:
        raise ValueError(f"unknown axis {x!r}")
    on_front = {r.number for r in front}
    groups: dict[str, list[TrialRecord]] = {k: [] for k in ("feasible", "infeasible", "below_floor", "pruned",
                                                             "rejected")}
    for r in records:
        if r.status == "complete" and r.number not in on_front:
            groups["feasible" if r.feasible else "below_floor" if r.below_floor else "infeasible"].append(r)
        elif r.status == "pruned":
            groups["pruned"].append(r)
        elif r.status == "rejected" and x == "memory_mb":
            groups["rejected"].append(r)
    names = {"feasible": "feasible", "infeasible": "over budget (trained)",
             "below_floor": f"below the accuracy floor of {100 * budgets.min_accuracy:g}%",
             "pruned": "stopped at a lower fidelity (accuracy there)", "rejected": "rejected before training (not trained)"}
    fig = go.Figure()
    for key, rs in groups.items():
        rs = [r for r in rs if getattr(r, x) is not None]
        fig.add_trace(go.Scatter(
            x=[getattr(r, x) for r in rs],
            y=[0.0 if r.status == "rejected" else 100 * r.last_accuracy for r in rs],
            error_y=_interval(rs, COLORS[key]),
            mode="markers", name=f"{names[key]} ({len(rs)})", text=[_hover(r) for r in rs], hoverinfo="text",
            marker=dict(color=COLORS[key], size=7 if key != "rejected" else 6,
                        symbol={"infeasible": "x", "below_floor": "triangle-down-open", "pruned": "diamond-open",
                                "rejected": "line-ns-open"}.get(key, "circle"),
                        line=dict(width=1, color=COLORS[key]))))
    fx = [getattr(r, x) for r in front]
    fy = [100 * r.accuracy for r in front]
    sx, sy = _staircase(list(zip(fx, fy)))
    fig.add_trace(go.Scatter(x=sx, y=sy, mode="lines", name="front in this view", hoverinfo="skip",
                             line=dict(color=COLORS["front"], width=1, dash="dot")))
    fig.add_trace(go.Scatter(x=fx, y=fy, mode="markers", name=f"feasible Pareto set ({len(front)})",
                             error_y=_interval(front, COLORS["front"]),
                             text=[_hover(r) for r in front], hoverinfo="text",
                             marker=dict(color=COLORS["front"], size=10, line=dict(width=1, color="black"))))
    if selected is not None and getattr(selected, x) is not None:
        fig.add_trace(go.Scatter(x=[getattr(selected, x)], y=[100 * selected.accuracy], mode="markers",
                                 name="selected", text=[_hover(selected)], hoverinfo="text",
                                 error_y=_interval([selected], "black"),  # the star hides the front's bar
                                 marker=dict(color=COLORS["selected"], size=18, symbol="star",
                                             line=dict(width=1, color="black"))))
    budget = budgets.memory_mb if x == "memory_mb" else budgets.energy_mj
    if budget is not None:
        # a trace, not a shape: shapes on log axes take log coordinates, traces take data
        fig.add_trace(go.Scatter(x=[budget, budget], y=[0, 100], mode="lines", hoverinfo="name",
                                 name=f"budget {budget:g} {'MB' if x == 'memory_mb' else 'mJ'}",
                                 line=dict(color="black", dash="dash", width=1.5)))
    fig.update_layout(title=f"Accuracy vs {AXES[x].split(' (')[0]} ({budgets.phase})", xaxis_title=AXES[x],
                      yaxis_title="accuracy (%)", **_LAYOUT)
    fig.update_xaxes(**log_axis([v for trace in fig.data for v in trace.x]))
    return fig


def hardware_figure(rows: Sequence[Any], phase: str, budgets: Budgets | None = None):
    """Modelled energy and time per image of one model on every hardware profile (bars, log scale)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("energy per image (mJ)", "time per image (ms)"))
    names = [r.profile for r in rows]
    energy_mj = [r.energy_per_image_j(phase) * 1_000.0 for r in rows]
    time_ms = [1e3 * r.time_per_image_s(phase) for r in rows]
    fig.add_trace(go.Bar(x=names, y=energy_mj, name="energy (mJ)",
                         marker_color="#1f77b4", text=[_bar_text(e) for e in energy_mj], textangle=0,
                         hovertext=[r.display_name for r in rows]), row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=time_ms, name="time (ms)",
                         marker_color="#ff7f0e", text=[_bar_text(t) for t in time_ms], textangle=0,
                         hovertext=[r.display_name for r in rows]), row=1, col=2)
    if budgets is not None and budgets.energy_mj is not None:
        # labelled on the line itself: the figure has no legend
        fig.add_trace(go.Scatter(x=names, y=[budgets.energy_mj] * len(names), mode="lines+text",
                                 text=[""] * (len(names) - 1) + [f"budget {budgets.energy_mj:g} mJ"],
                                 textposition="top left", name=f"budget {budgets.energy_mj:g} mJ",
                                 line=dict(color="black", dash="dash")),
                      row=1, col=1)
    fig.update_yaxes(**log_axis(energy_mj + ([budgets.energy_mj] if budgets and budgets.energy_mj else [])), row=1, col=1)
    fig.update_yaxes(**log_axis(time_ms), row=1, col=2)
    fig.update_layout(title=f"Selected model on each hardware profile ({phase}, modelled)", showlegend=False,
                      **_LAYOUT)
    return fig


def _bar_text(v: float) -> str:
    """3 significant digits, never in exponent notation (plotly writes 1031 as 1.03e+03 with .3g)."""
    return f"{v:,.0f}" if v >= 1000 else f"{v:.3g}"


def bits_figure(records: Sequence[TrialRecord]):
    """Accuracy of complete trials versus their weight bit-width, one trace per design and scheme."""
    import plotly.graph_objects as go

    fig = go.Figure()
    done = [r for r in records if r.status == "complete" and r.candidate is not None]
    keys = sorted({(r.candidate.design, r.candidate.scheme) for r in done})
    widths = sorted({r.candidate.weights_bits for r in done})
    for design, scheme in keys:
        rs = sorted((r for r in done if (r.candidate.design, r.candidate.scheme) == (design, scheme)),
                    key=lambda r: r.candidate.weights_bits)
        fig.add_trace(go.Scatter(
            x=[_bits_label(r.candidate.weights_bits) for r in rs], y=[100 * r.accuracy for r in rs],
            mode="markers", name=f"{design} {scheme}", text=[_hover(r) for r in rs], hoverinfo="text",
            marker=dict(size=8, symbol={"ptq": "circle", "itq": "diamond", "fp32": "square"}[scheme])))
    fig.update_layout(title="Accuracy vs weight bit-width (complete trials)", xaxis_title="weight bits",
                      yaxis_title="accuracy (%)", **_LAYOUT)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=[_bits_label(b) for b in widths])
    return fig


def _bits_label(bits: int) -> str:
    return "FP32" if bits == FP32_BITS else str(bits)


def confusion_figure(confusion: Sequence[Sequence[int]], synthetic: bool = False):
    """Confusion matrix: rows true class, columns predicted class plus "no decision" (``synthetic``: made up
    by the synthetic evaluator to match its accuracy, and titled so)."""
    import plotly.graph_objects as go

    n_rows = len(confusion)
    cols = [str(k) for k in range(n_rows)] + (["none"] if confusion and len(confusion[0]) > n_rows else [])
    fig = go.Figure(go.Heatmap(z=[list(r) for r in confusion], x=cols, y=[str(k) for k in range(n_rows)],
                               colorscale="Blues", texttemplate="%{z}", hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
    fig.update_layout(title=f"Confusion matrix ({'synthetic' if synthetic else 'test set'})",
                      xaxis_title="predicted",
                      yaxis_title="true", **{**_LAYOUT, "height": 510, "title_y": 1 - _TITLE_AT / 510})
    fig.update_yaxes(autorange="reversed")
    return fig
