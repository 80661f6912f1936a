"""Tests for dse.models.fixedpoint: formats, parsing, integer codes, choosing formats from a range."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from dse.models.fixedpoint import (ROUNDING_MODES, FormatError, QFormat, choose_int_bits, format_for_range, from_codes, parse_format, parse_rounding, quantize, to_codes)
from tests.fixedpoint_strategies import SETTINGS, formats, any_float


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
