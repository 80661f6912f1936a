"""Checks of numbers read from files or about to be written as JSON (shared by every loader)."""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

__all__ = ["MAX_MAGNITUDE", "number_fields", "bounded", "finite_json", "is_number", "short_repr"]

# Numbers read from files (counts, coefficients, measured times) beyond this magnitude describe no
# machine or network, and the cost model's products of them (count x coefficient x images) would
# overflow to inf, which prints as invalid JSON. Far below overflow: a product of three stays finite.
MAX_MAGNITUDE = 1e30


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and bounded(x, math.inf)


def short_repr(value: Any) -> str:
    text = repr(value)
    return (text[:40] + "...") if len(text) > 43 else text


def number_fields(values: Mapping[str, Any], low: float, high: float) -> str | None:
    """None if every value is a finite number in [low, high]; else ``"KEY is VALUE, ..."`` for the first."""
    for key, value in values.items():
        if not is_number(value):
            return f"{key} is {short_repr(value)}, not a finite number"
        if not low <= value <= high:
            return f"{key} is {value:g}, outside [{low:g}, {high:g}]"
    return None


def bounded(value: float, high: float = MAX_MAGNITUDE) -> bool:
    """Finite, and at most ``high`` in magnitude (see MAX_MAGNITUDE)."""
    try:
        return math.isfinite(value) and abs(value) <= high
    except OverflowError:  # an int too large for a float
        return False


def finite_json(obj: Any, what: str, **dumps_kwargs: Any) -> str:
    """``json.dumps`` that refuses NaN and Infinity (which it would print as invalid JSON)."""
    try:
        return json.dumps(obj, allow_nan=False, **dumps_kwargs)
    except ValueError:
        raise ValueError(f"{what}: a value is not finite (NaN or infinity), so it cannot be written as JSON; "
                         "check the inputs it was computed from") from None
