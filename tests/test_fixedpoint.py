"""Tests for dse.models.fixedpoint: formats, parsing, rounding, codes, numba kernels."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dse.models.fixedpoint import (
    MAX_WORD_BITS,
    ROUNDING_MODES,
    FormatError,
    QFormat,
    choose_int_bits,
    format_for_range,
    from_codes,
    parse_format,
    parse_rounding,
    quantization_error_bound,
    quantize,
    quantize_nearest_scalar,
    quantize_stochastic_scalar,
    quantize_truncate_scalar,
    to_codes,
)

# Moderate example counts keep the whole file at a few seconds.
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- strategies ----------------------------------------------------------------


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


# --- QFormat and parsing -------------------------------------------------------


def test_format_properties_examples():
    fmt = QFormat(0, 8)
    assert (fmt.word_bits, fmt.eps, fmt.min_value, fmt.max_value) == (8, 2**-8, 0.0, 1 - 2**-8)
    assert (fmt.min_code, fmt.max_code, fmt.storage_dtype) == (0, 255, np.dtype(np.uint8))
    assert str(fmt) == "Q0.8"

    fmt = QFormat(7, 8, signed=True)
    assert (fmt.word_bits, fmt.min_value, fmt.max_value) == (16, -128.0, 128 - 2**-8)
    assert (fmt.min_code, fmt.max_code, fmt.storage_dtype) == (-(2**15), 2**15 - 1, np.int16)
    assert str(fmt) == "sQ7.8"


@pytest.mark.parametrize(
    "text, dtype",
    [
        ("Q0.8", np.uint8),
        ("Q8.0", np.uint8),
        ("Q0.9", np.uint16),
        ("sQ7.0", np.int8),
        ("sQ0.7", np.int8),
        ("sQ0.8", np.int16),
        ("sQ7.8", np.int16),
        ("Q16.0", np.uint16),
        ("Q16.16", np.uint32),
        ("sQ15.16", np.int32),
        ("sQ16.0", np.int32),
    ],
)
def test_storage_dtype_examples(text, dtype):
    assert parse_format(text).storage_dtype == np.dtype(dtype)


@SETTINGS
@given(formats())
def test_storage_dtype_is_smallest_that_holds_codes(fmt):
    order = [np.dtype(n) for n in ("uint8", "int8", "uint16", "int16", "uint32", "int32")]
    fits = [d for d in order if np.iinfo(d).min <= fmt.min_code and fmt.max_code <= np.iinfo(d).max]
    assert fmt.storage_dtype == fits[0]
    assert fmt.max_value == fmt.max_code * fmt.eps == 2.0**fmt.int_bits - fmt.eps
    assert fmt.min_value == (-(2.0**fmt.int_bits) if fmt.signed else 0.0)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Q0.8", QFormat(0, 8)),
        ("q0.8", QFormat(0, 8)),
        ("uQ0.8", QFormat(0, 8)),
        ("UQ1.7", QFormat(1, 7)),
        ("sQ7.8", QFormat(7, 8, True)),
        ("SQ7.8", QFormat(7, 8, True)),
        ("sq0.15", QFormat(0, 15, True)),
        ("  Q3.5 ", QFormat(3, 5)),
        ("Q8.0", QFormat(8, 0)),
        ("Q32.0", QFormat(32, 0)),
        ("sQ15.16", QFormat(15, 16, True)),
        ("Q00.08", QFormat(0, 8)),
    ],
)
def test_parse_format_accepts(text, expected):
    assert parse_format(text) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("Q-1.8", "integer bits must be >= 0"),
        ("Q1.-8", "fractional bits must be >= 0"),
        ("Q0.0", "at least one"),
        ("sQ0.0", "at least one"),
        ("Q20.20", "exceeds 32"),
        ("Q33.0", "exceeds 32"),
        ("sQ16.16", "exceeds 32"),
        ("Q1.x", "not a whole number"),
        ("Qx.1", "not a whole number"),
        ("Q1.5.2", "not a whole number"),
        ("Q1.2e1", "not a whole number"),
        ("Q+1.2", "not a whole number"),
        ("Q1.", "not a whole number"),
        ("", "empty"),
        ("   ", "empty"),
        ("Q8", "missing '.f'"),
        ("8.8", "must start with"),
        ("xQ1.2", "must start with"),
        ("Q 1.2", "not a whole number"),
    ],
)
def test_parse_format_rejects(text, reason):
    with pytest.raises(FormatError) as info:
        parse_format(text)
    message = str(info.value)
    assert "\n" not in message
    assert repr(text) in message
    assert reason in message


def test_parse_format_rejects_non_string():
    with pytest.raises(FormatError):
        parse_format(8)  # type: ignore[arg-type]


@SETTINGS
@given(formats())
def test_str_round_trips_through_parse(fmt):
    assert parse_format(str(fmt)) == fmt
    assert parse_format(str(fmt).lower()) == fmt


@SETTINGS
@given(st.integers(0, 40), st.integers(0, 40), st.booleans())
def test_word_length_limit(int_bits, frac_bits, signed):
    text = f"{'s' if signed else ''}Q{int_bits}.{frac_bits}"
    word = int_bits + frac_bits + signed
    if int_bits + frac_bits >= 1 and word <= 32:
        assert parse_format(text).word_bits == word
    else:
        with pytest.raises(FormatError):
            parse_format(text)
        with pytest.raises(FormatError):
            QFormat(int_bits, frac_bits, signed)


def test_qformat_constructor_validates():
    with pytest.raises(FormatError, match="integer bits must be >= 0"):
        QFormat(-1, 8)
    with pytest.raises(FormatError, match="must be an integer"):
        QFormat(1.5, 8)  # type: ignore[arg-type]
    with pytest.raises(FormatError, match="must be an integer"):
        QFormat(True, 8)  # type: ignore[arg-type]
    assert QFormat(np.int64(2), np.int32(3)) == QFormat(2, 3)
    assert type(QFormat(np.int64(2), 3).int_bits) is int


def test_parse_rounding():
    for mode in ROUNDING_MODES:
        assert parse_rounding(mode) == mode
        assert parse_rounding(f" {mode.upper()} ") == mode
    with pytest.raises(FormatError) as info:
        parse_rounding("round")
    message = str(info.value)
    assert "'round'" in message and "\n" not in message
    assert all(mode in message for mode in ROUNDING_MODES)


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


# --- codes ---------------------------------------------------------------------


@SETTINGS
@given(st.data(), formats(), st.sampled_from(ROUNDING_MODES))
def test_codes_round_trip(data, fmt, mode):
    x = np.array(data.draw(st.lists(any_float(), min_size=1, max_size=20)))
    codes = to_codes(x, fmt, mode, np.random.default_rng(3))
    assert codes.dtype == fmt.storage_dtype
    assert codes.min() >= fmt.min_code and codes.max() <= fmt.max_code
    values = from_codes(codes, fmt)
    assert values.dtype == np.float64
    expected = quantize(x, fmt, mode, np.random.default_rng(3))
    np.testing.assert_array_equal(values, expected)
    assert np.array_equal(values.view(np.uint64), expected.view(np.uint64))


def test_codes_extremes():
    fmt = parse_format("sQ7.8")
    codes = to_codes([-1e9, 1e9], fmt, "nearest")
    assert codes.tolist() == [fmt.min_code, fmt.max_code]
    fmt = parse_format("Q32.0")
    codes = to_codes([1e20], fmt, "truncate")
    assert codes.dtype == np.uint32 and int(codes[0]) == 2**32 - 1


def test_from_codes_validates():
    fmt = QFormat(0, 8)
    with pytest.raises(ValueError, match="integer dtype"):
        from_codes(np.array([0.5]), fmt)
    with pytest.raises(ValueError, match="out of range"):
        from_codes(np.array([256]), fmt)
    with pytest.raises(ValueError, match="out of range"):
        from_codes(np.array([-1]), fmt)
    assert from_codes(np.array([], dtype=np.int64), fmt).shape == (0,)


# --- choosing formats from a range -----------------------------------------------


@pytest.mark.parametrize(
    "max_abs, bits",
    [(0.0, 0), (0.9, 0), (math.nextafter(1.0, 0.0), 0), (1.0, 1), (1.5, 1), (2.0, 2),
     (3.5, 2), (4.0, 3), (255, 8), (255.9, 8), (256, 9)],
)
def test_choose_int_bits_examples(max_abs, bits):
    assert choose_int_bits(max_abs) == bits
    assert choose_int_bits(max_abs, signed=True) == bits


@SETTINGS
@given(st.floats(0, 1e30))
def test_choose_int_bits_is_smallest(max_abs):
    i = choose_int_bits(max_abs)
    assert i >= 0
    assert 2**i > Fraction(max_abs)
    if i > 0:
        assert 2 ** (i - 1) <= Fraction(max_abs)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_choose_int_bits_rejects(bad):
    with pytest.raises(ValueError):
        choose_int_bits(bad)


def test_format_for_range():
    assert format_for_range(3.5, 6) == QFormat(2, 6)
    assert format_for_range(100.0, 8, signed=True) == parse_format("sQ7.8")
    with pytest.raises(FormatError):
        format_for_range(0.5, 0)  # would be Q0.0
    with pytest.raises(FormatError, match="exceeds 32"):
        format_for_range(1e6, 16)


@SETTINGS
@given(st.floats(0, 1e4), st.integers(0, 12), st.booleans())
def test_format_for_range_represents_max_abs(max_abs, frac_bits, signed):
    assume(max_abs >= 1 or frac_bits >= 1)
    fmt = format_for_range(max_abs, frac_bits, signed=signed)
    # 2**int_bits > max_abs, so max_abs saturates by less than one grid step.
    assert fmt.max_value + fmt.eps == 2.0**fmt.int_bits > max_abs
    assert abs(float(quantize(max_abs, fmt, "nearest")) - max_abs) < fmt.eps


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
