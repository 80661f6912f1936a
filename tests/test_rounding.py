"""Tests for dse.models.fixedpoint's quantizers: the three rounding modes, by example and by property, numpy and numba."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dse.models.fixedpoint import (ROUNDING_MODES, FormatError, QFormat, parse_format, quantization_error_bound, quantize, quantize_nearest_scalar, quantize_stochastic_scalar, quantize_truncate_scalar, to_codes)
from tests.fixedpoint_strategies import SETTINGS, formats, inside, any_float, q, exact


# --- quantize: examples and errors ------------------------------------------------


def test_quantize_examples():
    fmt = parse_format("sQ1.2")  # grid step 0.25, range [-2, 1.75]
    x = [-3.0, -0.3, -0.125, 0.1, 0.125, 0.3, 1.7, 9.0]
    np.testing.assert_array_equal(
        quantize(x, fmt, "truncate"), [-2.0, -0.5, -0.25, 0.0, 0.0, 0.25, 1.5, 1.75]
    )
    # Round half up: -0.125 (code -0.5) goes to 0, 0.125 (code 0.5) goes to 0.25.
    np.testing.assert_array_equal(
        quantize(x, fmt, "nearest"), [-2.0, -0.25, 0.0, 0.0, 0.25, 0.25, 1.75, 1.75]
    )


def test_truncate_is_floor_not_toward_zero():
    assert quantize(-0.3, "sQ0.1", "truncate") == -0.5
    assert quantize(0.3, "sQ0.1", "truncate") == 0.0


def test_quantize_shapes_and_purity():
    x = np.array([[0.1, 0.7], [0.33, 0.9]])
    before = x.copy()
    for mode in ROUNDING_MODES:
        out = q(x, QFormat(0, 4), mode)
        assert out.shape == x.shape and out.dtype == np.float64
        assert out is not x
    np.testing.assert_array_equal(x, before)
    scalar = quantize(0.3, QFormat(0, 4), "nearest")
    assert isinstance(scalar, np.ndarray) and scalar.shape == () and scalar == 0.3125
    assert quantize([], QFormat(0, 4), "nearest").shape == (0,)


def test_quantize_errors():
    fmt = QFormat(0, 8)
    with pytest.raises(ValueError, match="NaN"):
        quantize([0.5, float("nan")], fmt, "nearest")
    with pytest.raises(ValueError, match="rng"):
        quantize(0.5, fmt, "stochastic")
    with pytest.raises(TypeError, match="Generator"):
        quantize(0.5, fmt, "stochastic", np.random.RandomState(0))  # type: ignore[arg-type]
    with pytest.raises(FormatError, match="choose one of"):
        quantize(0.5, fmt, "banker")
    with pytest.raises(FormatError):
        quantize(0.5, "Q0.0", "nearest")


def test_negative_zero_comes_out_positive():
    for mode in ROUNDING_MODES:
        for fmt in (QFormat(0, 4), QFormat(0, 4, signed=True)):
            out = q(np.array([-0.0, -1e-300]), fmt, mode)
            assert not np.signbit(out[0])


def test_stochastic_is_reproducible_from_seed():
    x = np.linspace(-1, 1, 101)
    fmt = parse_format("sQ1.3")
    np.testing.assert_array_equal(q(x, fmt, "stochastic", 7), q(x, fmt, "stochastic", 7))
    assert not np.array_equal(q(x, fmt, "stochastic", 7), q(x, fmt, "stochastic", 8))


# --- quantize: properties ------------------------------------------------------


@SETTINGS
@given(st.data(), formats(), st.sampled_from(ROUNDING_MODES))
def test_quantize_is_idempotent(data, fmt, mode):
    x = np.array(data.draw(st.lists(any_float(), min_size=1, max_size=20)))
    once = q(x, fmt, mode, seed=1)
    # A different seed for the second pass: on-grid values stay put for any u.
    np.testing.assert_array_equal(q(once, fmt, mode, seed=2), once)


@SETTINGS
@given(formats(), st.integers(), st.floats(0.0, 1.0, exclude_max=True))
def test_stochastic_keeps_grid_values_for_any_u(fmt, code, u):
    value = min(max(code, fmt.min_code), fmt.max_code) * fmt.eps
    assert quantize_stochastic_scalar(value, fmt.eps, fmt.min_value, fmt.max_value, u) == value
    assert quantize_stochastic_scalar(
        value, fmt.eps, fmt.min_value, fmt.max_value, math.nextafter(1.0, 0.0)
    ) == value


@SETTINGS
@given(st.data(), formats(), st.sampled_from(ROUNDING_MODES))
def test_results_on_grid_and_in_range(data, fmt, mode):
    x = np.array(data.draw(st.lists(any_float(), min_size=1, max_size=20)))
    out = q(x, fmt, mode)
    assert np.all((fmt.min_value <= out) & (out <= fmt.max_value))
    codes = out / fmt.eps
    np.testing.assert_array_equal(codes, np.floor(codes))


@SETTINGS
@given(st.data(), formats())
def test_nearest_error_at_most_half_eps(data, fmt):
    x = data.draw(inside(fmt))
    err = abs(exact(quantize(x, fmt, "nearest")) - exact(x))
    assert err <= exact(fmt.eps) / 2
    assert err <= quantization_error_bound(fmt, "nearest")


@SETTINGS
@given(st.data(), formats())
def test_truncate_error_in_zero_to_eps(data, fmt):
    x = data.draw(inside(fmt))
    diff = exact(x) - exact(quantize(x, fmt, "truncate"))  # exact: no float rounding
    assert 0 <= diff < exact(fmt.eps)
    assert diff < quantization_error_bound(fmt, "truncate")


@SETTINGS
@given(st.data(), formats(), st.integers(0, 2**32))
def test_stochastic_error_below_eps(data, fmt, seed):
    x = data.draw(inside(fmt))
    out = quantize(np.full(16, x), fmt, "stochastic", np.random.default_rng(seed))
    for value in out:
        err = abs(exact(value) - exact(x))
        assert err < exact(fmt.eps)
        assert err < quantization_error_bound(fmt, "stochastic")
    # Only the two neighbouring grid points can occur.
    assert len(set(out.tolist())) <= 2


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.data(), formats(max_word=16))
def test_stochastic_is_unbiased(data, fmt):
    x = data.draw(inside(fmt))
    n = 4000
    codes = to_codes(np.full(n, x), fmt, "stochastic", np.random.default_rng(12345))
    # Work in code units with exact arithmetic so the check is not blurred by float sums.
    target = exact(x) / exact(fmt.eps)
    p = float(target - math.floor(target))  # probability of rounding up
    mean = Fraction(int(codes.astype(np.int64).sum()), n)
    standard_error = math.sqrt(p * (1 - p) / n)
    assert abs(float(mean - target)) <= 4 * standard_error + 1e-12


@SETTINGS
@given(formats(), st.sampled_from(ROUNDING_MODES), st.floats(0, 1e300))
def test_saturation(fmt, mode, excess):
    above = np.array([fmt.max_value + fmt.eps + excess, np.inf])
    below = np.array([fmt.min_value - fmt.eps - excess, -np.inf])
    np.testing.assert_array_equal(q(above, fmt, mode), fmt.max_value)
    np.testing.assert_array_equal(q(below, fmt, mode), fmt.min_value)


def test_error_bound_values():
    fmt = QFormat(2, 5)
    assert quantization_error_bound(fmt, "nearest") == 2**-6
    assert quantization_error_bound(fmt, "truncate") == 2**-5
    assert quantization_error_bound("Q2.5", "stochastic") == 2**-5


# --- numba kernels ---------------------------------------------------------------


@SETTINGS
@given(formats(), st.integers(0, 2**32))
def test_numba_kernels_match_numpy_bit_for_bit(fmt, seed):
    rng = np.random.default_rng(seed)
    span = fmt.max_value - fmt.min_value
    x = np.concatenate([
        rng.uniform(fmt.min_value - span, fmt.max_value + span, 48),
        # Half-way points and grid points, where rounding decisions are made.
        (rng.integers(fmt.min_code, fmt.max_code, 8, endpoint=True) + 0.5) * fmt.eps,
        rng.integers(fmt.min_code, fmt.max_code, 8, endpoint=True) * fmt.eps,
        [0.0, -0.0, np.inf, -np.inf, 1e300, -1e300, 5e-324, -5e-324],
    ])
    args = (fmt.eps, fmt.min_value, fmt.max_value)

    def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
        return np.array_equal(a.view(np.uint64), b.view(np.uint64))

    nearest = np.array([quantize_nearest_scalar(v, *args) for v in x])
    assert same_bits(nearest, quantize(x, fmt, "nearest"))
    truncate = np.array([quantize_truncate_scalar(v, *args) for v in x])
    assert same_bits(truncate, quantize(x, fmt, "truncate"))
    # quantize draws one uniform per element in C order; replay the same stream.
    u = np.random.default_rng(seed).random(x.shape)
    stochastic = np.array([quantize_stochastic_scalar(v, *args, w) for v, w in zip(x, u)])
    assert same_bits(stochastic, quantize(x, fmt, "stochastic", np.random.default_rng(seed)))
