"""Numbers as people read them, the same in the terminal and in HTML: SI prefixes, and log axes that label decades.

``si(0.00432, "J")`` is ``"4.32 mJ"``: a table cell carries its unit, so a
column can hold nJ next to kJ without a reader counting zeros. Figures use
one fixed unit per axis instead (mJ, ms, MB), named in the axis title.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["si", "log_axis"]

_PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"))


def si(x: float, unit: str) -> str:
    """``x`` in ``unit`` with the largest SI prefix that keeps the number at least 1, 3 significant digits."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g} {unit}"
    for factor, prefix in _PREFIXES:
        if abs(x) >= factor:
            return f"{x / factor:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def _tick_text(value: float) -> str:
    return f"{value:g}"


def log_axis(values: Iterable[Any]) -> dict[str, Any]:
    """Plotly settings of a log axis over ``values`` that label decades only (1, 2, 5 steps within one decade).

    Plotly's own log ticks label every minor tick (2, 3, ... 9) when the data
    span a decade or two, which reads as a wall of numbers.
    """
    positive = [float(v) for v in values if v is not None and math.isfinite(float(v)) and float(v) > 0]
    if not positive:
        return {"type": "log"}
    lo, hi = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
    hi = max(hi, lo + 1)
    inside = sum(min(positive) <= 10.0 ** k <= max(positive) for k in range(lo, hi + 1))
    if inside >= 2:
        ticks = [10.0 ** k for k in range(lo, hi + 1)]
    else:  # data within about a decade (2 to 80, say): decades alone would leave one label or none in view
        ticks = [m * 10.0 ** k for k in range(lo, hi + 1) for m in (1, 2, 5) if m * 10.0 ** k <= 10.0 ** hi]
    return {"type": "log", "tickmode": "array", "tickvals": ticks, "ticktext": [_tick_text(t) for t in ticks]}
