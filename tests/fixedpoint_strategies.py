"""Hypothesis strategies and helpers shared by the fixed-point tests (test_fixedpoint, test_rounding)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, settings, strategies as st

from dse.models.fixedpoint import MAX_WORD_BITS, QFormat, quantize

__all__ = ["SETTINGS", "formats", "inside", "any_float", "q", "exact"]

# Moderate example counts keep the whole file at a few seconds.
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def formats(draw: st.DrawFn, max_word: int = MAX_WORD_BITS) -> QFormat:
    """Any valid QFormat with at most max_word bits."""
    signed = draw(st.booleans())
    budget = max_word - (1 if signed else 0)
    int_bits = draw(st.integers(0, min(budget, 12)))
    frac_bits = draw(st.integers(1 if int_bits == 0 else 0, budget - int_bits))
    return QFormat(int_bits, frac_bits, signed)


def inside(fmt: QFormat) -> st.SearchStrategy[float]:
    """Floats inside [min_value, max_value]."""
    return st.floats(fmt.min_value, fmt.max_value, allow_nan=False)


def any_float() -> st.SearchStrategy[float]:
    return st.floats(allow_nan=False, allow_infinity=True)


def q(x, fmt, mode, seed=0):
    """quantize with a fresh seeded rng (used only by stochastic)."""
    return quantize(x, fmt, mode, np.random.default_rng(seed))


def exact(x: float) -> Fraction:
    return Fraction(float(x))
