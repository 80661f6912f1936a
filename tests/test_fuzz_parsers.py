"""Fuzzing the string parsers users type into (fixed-point formats, --quant, fidelities, --space).

The property: see tests/fuzz_common.py.
"""

from __future__ import annotations

import math

from hypothesis import assume, given, strategies as st

from dse.cost.quant import PRESETS, parse_precision
from dse.models.fixedpoint import ROUNDING_MODES, FormatError, QFormat, parse_format
from dse.models.quantize import QUANT_KEYS, QuantConfig, parse_quant
from tests.fuzz_common import FUZZ, assert_one_line, numberish, format_text, quant_spec, no_breaks, space_text


# --------------------------------------------------------------------------- fixed-point and precision parsers


@FUZZ
@given(text=format_text)
def test_fuzz_parse_format(text):
    try:
        fmt = parse_format(text)
    except FormatError as exc:
        assert_one_line(exc)
        return
    assert isinstance(fmt, QFormat) and 1 <= fmt.word_bits <= 32
    assert parse_format(str(fmt)) == fmt


_ranges = st.one_of(st.none(), st.dictionaries(
    st.sampled_from(QUANT_KEYS),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**20), st.none(), st.text(max_size=4)),
    max_size=4))


@FUZZ
@given(spec=st.one_of(quant_spec, st.text(max_size=30)),
       rounding=st.one_of(st.sampled_from(ROUNDING_MODES), st.text(max_size=10)), ranges=_ranges)
def test_fuzz_parse_quant(spec, rounding, ranges):
    try:
        config = parse_quant(spec, rounding, ranges=ranges)
    except FormatError as exc:
        assert_one_line(exc)
        return
    assert isinstance(config, QuantConfig)
    assert config.weights is None or not config.weights.signed
    assert config.inhibition is None or not config.inhibition.signed
    assert all(f is None or f.signed for f in (config.vmem, config.vth))
    again = parse_quant(config.spec() if not config.is_float else "", config.rounding)
    assert (again.weights, again.inhibition, again.vmem, again.vth) == (
        config.weights, config.inhibition, config.vmem, config.vth)


@FUZZ
@given(spec=st.one_of(quant_spec, st.text(max_size=30), st.sampled_from([*PRESETS, "FP32", " 8bit ", "4bit", "16"])))
def test_fuzz_parse_precision(spec):
    try:
        precision = parse_precision(spec)
    except FormatError as exc:
        assert_one_line(exc)
        return
    assert isinstance(precision, QuantConfig)
    assert all(1 <= b <= 32 for b in precision.bit_widths().values())
    assert parse_precision(precision.spec()).formats() == precision.formats()


# --------------------------------------------------------------------------- search parsers (dse/search)
# Their messages quote the text verbatim, line breaks included (handed over:
# tests/test_bad_input.py::test_handed_over_search_messages_keep_one_line), so
# texts here hold none.


@FUZZ
@given(text=st.one_of(no_breaks, st.lists(numberish, max_size=5).map(",".join)))
def test_fuzz_parse_fidelities(text):
    from dse.search.objectives import parse_fidelities

    assume("\n" not in text and "\r" not in text)
    try:
        values = parse_fidelities(text)
    except ValueError as exc:
        assert_one_line(exc)
        return
    assert values and all(math.isfinite(v) and v > 0 for v in values)
    assert all(b > a for a, b in zip(values, values[1:]))
    assert values[-1] == 1.0 or all(v == int(v) for v in values)


@FUZZ
@given(name=st.one_of(st.sampled_from(["design", "neurons", "weights_bits", "inh_bits", "vmem_bits", "vth_bits",
                                       "scheme", "rounding", "rho", "window_steps"]), no_breaks),
       text=space_text)
def test_fuzz_space_restriction(name, text):
    from dse.search.space import DEFAULT_SPACE, SearchSpace, SpaceError

    assume("\n" not in text and "\r" not in text)
    try:
        space = DEFAULT_SPACE.restricted({name: text})
    except SpaceError as exc:
        assert_one_line(exc)
        return
    assert isinstance(space, SearchSpace)
    dim, before = space.dim(name), DEFAULT_SPACE.dim(name)
    if dim.kind == "categorical":
        assert dim.choices and len(set(dim.choices)) == len(dim.choices)
        for c in dim.choices:
            assert c in before.allowed if before.allowed else before.bounds[0] <= c <= before.bounds[1]
    else:
        lo, hi = before.bounds
        assert lo <= dim.low <= dim.high <= hi and math.isfinite(dim.step) and dim.step > 0
