"""Memory model: the FSpiNN Sec. V-C figures (dense accounting), minimal accounting, precision specs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.cost.memory import MB, memory_report
from dse.cost.quant import PRESETS, parse_precision
from dse.models.fixedpoint import FormatError, QFormat
from dse.models.quantize import QuantConfig

FP32 = parse_precision("fp32")
_FIELD = {"weights": "weights", "inh": "inhibition", "vmem": "vmem", "vth": "vth"}  # spec key -> QuantConfig field
BIT8 = parse_precision("8bit")
BIT16 = parse_precision("16bit")


def _mem(design: str, n: int, precision: QuantConfig = FP32, phase: str = "inference", accounting: str = "dense") -> int:
    return memory_report(design, n, phase, precision, accounting).total_bytes


def _within(value: float, target: float, tol: float = 0.05) -> bool:
    return abs(value - target) <= tol * target


# --------------------------------------------------------------------------- the paper (FSpiNN Sec. V-C)


@pytest.mark.parametrize("phase", ["inference", "training"])
def test_dense_accounting_reproduces_fspinn_sec_vc_at_net4900(phase):
    base = _mem("baseline", 4900, phase=phase)
    # "consumes more than 200MB" (Sec. I, Fig. 1b) -- decimal MB, "just over"
    assert 200 * MB < base < 200 * MB * 1.05
    assert _within(base / _mem("fspinn", 4900, phase=phase), 1.9)      # FSpiNN FP32: 1.9x smaller
    assert _within(base / _mem("fspinn", 4900, BIT16, phase), 3.7)      # FSpiNN 16-bit: 3.7x
    assert _within(base / _mem("fspinn", 4900, BIT8, phase), 7.5)       # FSpiNN 8-bit: 7.5x
    assert _within(_mem("fspinn", 4900, BIT8, phase), 28 * MB)          # "about 28MB"


def test_dense_accounting_reproduces_net3600_ratios():
    base = _mem("baseline", 3600)
    assert _within(base / _mem("fspinn", 3600), 1.8)
    assert _within(base / _mem("fspinn", 3600, BIT16), 3.6)
    assert _within(base / _mem("fspinn", 3600, BIT8), 7.3)


def test_fspinn_8bit_span_net100_to_net4900():
    small, large = _mem("fspinn", 100, BIT8), _mem("fspinn", 4900, BIT8)
    assert _within(large, 28 * MB)
    # The paper's 0.16 MB at Net100 holds a size-independent ~70 kB we cannot identify
    # (docs/cost-model.md); our structural count is the 784N + N^2 + state part of it.
    assert 0.08 * MB < small < 0.16 * MB


def test_sl_stdp_stores_what_the_baseline_stores_plus_counters():
    for phase in ("inference", "training"):
        assert _mem("sl-stdp", 400, phase=phase) >= _mem("baseline", 400, phase=phase) - 400 * 4
    assert _mem("sl-stdp", 400, phase="inference") == _mem("baseline", 400, phase="inference")


# --------------------------------------------------------------------------- structure of the accounting


@pytest.mark.parametrize("design", ["baseline", "sl-stdp", "fspinn"])
@pytest.mark.parametrize("accounting", ["dense", "minimal"])
def test_training_needs_at_least_inference(design, accounting):
    for n in (1, 100, 4900):
        assert _mem(design, n, phase="training", accounting=accounting) > _mem(design, n, accounting=accounting)


def test_minimal_drops_the_n_by_n_matrices():
    dense = memory_report("fspinn", 4900, "inference", FP32, "dense").by_name()
    minimal = memory_report("fspinn", 4900, "inference", FP32, "minimal").by_name()
    assert dense["lateral_weights"] == 4900 * 4900 * 4
    assert minimal["lateral_weights"] == 4
    assert dense["input_weights"] == minimal["input_weights"] == 784 * 4900 * 4
    base_min = memory_report("baseline", 4900, "inference", FP32, "minimal").by_name()
    assert base_min["exc_to_inh_weights"] == base_min["inh_to_exc_weights"] == 4
    # minimal is dominated by the input weights for every design
    for d in ("baseline", "sl-stdp", "fspinn"):
        total = _mem(d, 4900, accounting="minimal")
        assert 784 * 4900 * 4 <= total < 784 * 4900 * 4 * 1.02


def test_components_are_named_and_positive():
    r = memory_report("baseline", 10, "training", BIT8, "minimal")
    names = [c.name for c in r.components]
    assert len(names) == len(set(names))
    assert {"input_weights", "pre_traces", "post_traces", "inh_potentials"} <= set(names)
    assert all(c.bytes > 0 for c in r.components)
    assert r.total_bytes == sum(r.by_name().values())


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_neurons_must_be_positive_int(bad):
    with pytest.raises(ValueError, match="neurons"):
        memory_report("fspinn", bad)


def test_unknown_design_phase_accounting():
    with pytest.raises(ValueError, match="design"):
        memory_report("nope", 10)
    with pytest.raises(ValueError, match="phase"):
        memory_report("fspinn", 10, "test")
    with pytest.raises(ValueError, match="accounting"):
        memory_report("fspinn", 10, accounting="sparse")


# --------------------------------------------------------------------------- linear in bit-width


def _fmt(word_bits: int, signed: bool) -> QFormat:
    body = word_bits - (1 if signed else 0)
    return QFormat(body // 2, body - body // 2, signed)


@settings(max_examples=60, deadline=None)
@given(design=st.sampled_from(["baseline", "sl-stdp", "fspinn"]),
       n=st.integers(1, 3000),
       key=st.sampled_from(["weights", "inh", "vmem", "vth"]),
       phase=st.sampled_from(["inference", "training"]),
       accounting=st.sampled_from(["dense", "minimal"]),
       b1=st.integers(2, 32), b2=st.integers(2, 32), b3=st.integers(2, 32))
def test_memory_is_linear_in_each_bit_width(design, n, key, phase, accounting, b1, b2, b3):
    signed = key in ("vmem", "vth")

    def bits(b: int) -> int:
        p = QuantConfig(**{_FIELD[key]: _fmt(b, signed)})
        return memory_report(design, n, phase, p, accounting).total_bits

    # affine: equal slopes between any two pairs of bit-widths
    slope = bits(b2) - bits(b1)
    assert (bits(b3) - bits(b1)) * (b2 - b1) == slope * (b3 - b1)
    # and the slope is the number of stored elements of that value
    elements = sum(c.elements for c in memory_report(design, n, phase, FP32, accounting).components if c.value == key)
    assert slope == elements * (b2 - b1)
    # bytes follow bits up to rounding each component to whole bytes
    assert abs(memory_report(design, n, phase, QuantConfig(**{_FIELD[key]: _fmt(b1, signed)}), accounting).total_bytes * 8
               - bits(b1)) < 8 * 30


# --------------------------------------------------------------------------- --quant specs


def test_presets_and_specs():
    assert FP32.bit_widths() == {"weights": 32, "inh": 32, "vmem": 32, "vth": 32}
    assert BIT8.bit_widths() == {"weights": 8, "inh": 8, "vmem": 8, "vth": 8}
    assert BIT16.bit_widths() == {"weights": 16, "inh": 16, "vmem": 16, "vth": 16}
    p = parse_precision("weights=Q0.8,vmem=Q8.8")
    assert p.bit_widths() == {"weights": 8, "inh": 32, "vmem": 17, "vth": 32}  # potentials are signed
    assert parse_precision(p.spec()).bit_widths() == p.bit_widths()
    assert parse_precision("").is_float and parse_precision(None).label == "fp32"
    assert set(PRESETS) == {"fp32", "16bit", "8bit"}
    assert parse_precision("8BIT").label == "8bit"


@pytest.mark.parametrize("spec, match", [
    ("weights=Q-1.8", "integer bits"),
    ("weights=Q0.40", "exceeds 32"),
    ("foo=Q1.1", "KEY=FORMAT"),
    ("weights=Q0.8,weights=Q0.4", "twice"),
    ("8bits", "preset"),
    ("weights=sQ0.8", "non-negative"),
])
def test_bad_specs_are_one_line_errors(spec, match):
    with pytest.raises(FormatError, match=match) as info:
        parse_precision(spec)
    assert "\n" not in str(info.value)
