"""Time and energy model: monotone in every count, static-only at zero activity, execution styles."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.cost.energy import ENERGY_COMPONENTS, TIME_COMPONENTS, default_execution, phase_work, price_phase
from dse.cost.model import cost_to_json, estimate_cost
from dse.cost.profiles import load_profile
from dse.cost.quant import parse_precision
from dse.cost.structure import design_structure
from dse.models.counts import COUNT_NAMES

COUNT_KEYS = [k for k in COUNT_NAMES if k != "images"]
PROFILES = {name: load_profile(name) for name in ("cpu", "gtx1060", "jetson-nano")}


def _cost(design, n, phase, counts, precision="fp32", execution="event", profile="cpu"):
    p = PROFILES[profile]
    work = phase_work(design_structure(design), n, phase, counts, parse_precision(precision), execution,
                      cores=p.specs.cores, l2_cache_bytes=p.specs.l2_cache_bytes)
    return price_phase(work, p.coefficients, phase, execution)


counts_strategy = st.fixed_dictionaries({k: st.floats(0, 1e8, allow_nan=False) for k in COUNT_KEYS})


@settings(max_examples=150, deadline=None)
@given(design=st.sampled_from(["baseline", "sl-stdp", "fspinn"]), n=st.integers(1, 5000),
       phase=st.sampled_from(["training", "inference"]), execution=st.sampled_from(["event", "dense"]),
       profile=st.sampled_from(sorted(PROFILES)), precision=st.sampled_from(["fp32", "16bit", "8bit"]),
       counts=counts_strategy, key=st.sampled_from(COUNT_KEYS), extra=st.floats(1e-3, 1e8, allow_nan=False))
def test_energy_and_time_never_decrease_when_a_count_grows(design, n, phase, execution, profile, precision,
                                                            counts, key, extra):
    before = _cost(design, n, phase, counts, precision, execution, profile)
    after = _cost(design, n, phase, {**counts, key: counts[key] + extra}, precision, execution, profile)
    assert after.total_energy_j >= before.total_energy_j * (1 - 1e-12)
    assert after.total_time_s >= before.total_time_s * (1 - 1e-12)
    for comp in ENERGY_COMPONENTS:
        assert after.energy_j[comp] >= before.energy_j[comp] * (1 - 1e-12), comp


@pytest.mark.parametrize("design", ["baseline", "sl-stdp", "fspinn"])
@pytest.mark.parametrize("phase", ["training", "inference"])
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_zero_activity_leaves_only_static_energy(design, phase, profile):
    # The clock ran (350 steps) but nothing else happened: only the per-step
    # overhead costs time, and that time costs only static energy.
    cost = _cost(design, 100, phase, {"steps": 350.0}, execution="event", profile=profile)
    p = PROFILES[profile]
    for comp in ENERGY_COMPONENTS:
        if comp != "static":
            assert cost.energy_j[comp] == 0.0, comp
    assert cost.total_time_s > 0
    assert cost.energy_j["static"] == pytest.approx(p.coefficients.static_power_w * cost.total_time_s)
    assert cost.total_energy_j == pytest.approx(cost.energy_j["static"])
    # with no step either, nothing at all, in both execution styles
    for execution in ("event", "dense"):
        idle = _cost(design, 100, phase, {}, execution=execution, profile=profile)
        assert idle.total_energy_j == 0.0 and idle.total_time_s == 0.0


def test_dense_execution_does_its_work_whatever_the_spikes():
    quiet = _cost("fspinn", 400, "inference", {"steps": 350.0}, execution="dense", profile="gtx1060")
    assert quiet.energy_j["synaptic"] > 0  # a dense simulator multiplies the matrices every step
    assert quiet.work.synaptic_ops == 350 * (784 + 400) * 400


def test_small_networks_stay_in_l2_large_ones_stream_from_dram():
    counts = {"steps": 350.0, "neuron_updates": 350.0 * 100}
    small = _cost("fspinn", 10, "inference", counts, execution="dense", profile="gtx1060")
    large = _cost("fspinn", 4900, "inference", counts, execution="dense", profile="gtx1060")
    assert small.work.dram_bytes == 0
    assert large.work.dram_bytes == 350 * (784 * 4900 + 4900 * 4900) * 4


def test_eight_bit_weights_cut_dense_traffic_and_energy():
    counts = {"steps": 350.0}
    fp32 = _cost("baseline", 4900, "inference", counts, "fp32", "dense", "gtx1060")
    int8 = _cost("baseline", 4900, "inference", counts, "8bit", "dense", "gtx1060")
    assert int8.work.dram_bytes == pytest.approx(fp32.work.dram_bytes / 4)
    assert int8.time_s["memory_traffic"] < fp32.time_s["memory_traffic"]
    assert int8.total_energy_j < fp32.total_energy_j


def test_step_overhead_dominates_small_gpu_networks():
    r = estimate_cost("fspinn", 100, PROFILES["gtx1060"])
    inf = r.phases["inference"]
    assert inf.time_s["step_overhead"] == max(inf.time_s.values())


def test_event_training_runs_on_one_core_inference_on_all():
    counts = {"steps": 350.0, "synaptic_events": 1e6, "neuron_updates": 3.5e4}
    tr = _cost("fspinn", 100, "training", counts)
    inf = _cost("fspinn", 100, "inference", counts)
    cores = PROFILES["cpu"].specs.cores
    per_op_s = PROFILES["cpu"].coefficients.time_per_synaptic_event_ns * 1e-9
    # device-throughput coefficients: one core of C takes C times as long; C images run at once
    assert tr.time_s["synaptic"] == pytest.approx(1e6 * per_op_s * cores)
    assert inf.time_s["synaptic"] == pytest.approx(1e6 * per_op_s)


def test_event_training_prices_the_columns_the_engine_renormalised():
    # SL-STDP, N = 400: 10 column updates on 3 distinct columns; 2 presentations (800 normalisations as specified)
    counts = {"steps": 700.0, "exc_spikes": 40.0, "weight_updates": 784 * 10.0, "normalisations": 800.0}
    guessed = _cost("sl-stdp", 400, "training", counts)
    counted = _cost("sl-stdp", 400, "training", {**counts, "columns_normalised": 3.0})
    assert counted.work.weight_ops == 784 * 10 + 2 * 784 * 3  # the updates, then two passes per changed column
    assert guessed.work.weight_ops == 784 * 10 + 2 * 784 * 10  # without the count: one column per update
    # the dense (clock-driven) pricing keeps the rule as specified: every column, every presentation
    dense = _cost("sl-stdp", 400, "training", {**counts, "columns_normalised": 3.0}, execution="dense")
    assert dense.work.weight_ops == 700 * 784 * 400 + 800 * 784


def test_event_training_prices_the_depressions_the_engine_did():
    counts = {"steps": 350.0, "input_spikes": 5000.0, "exc_spikes": 30.0, "normalisations": 100.0}
    counted = _cost("baseline", 100, "training", {**counts, "depressions": 12_000.0, "columns_normalised": 4.0})
    assert counted.work.weight_ops == 12_000 + 784 * 30 + 2 * 784 * 4
    # without the counts: the fired neurons guessed from an even spread, half of them per input spike
    guessed = _cost("baseline", 100, "training", counts)
    fired = 100 * (1 - math.exp(-30 / 100))
    assert guessed.work.weight_ops == pytest.approx(5000 * fired / 2 + 784 * 30 + 2 * 784 * fired)


def test_pairwise_training_dispatches_each_input_spike_twice():
    """Its synaptic events, then its depression: a call paid even before any neuron has fired."""
    counts = {"steps": 350.0, "input_spikes": 5000.0}
    assert _cost("baseline", 100, "training", counts).work.input_spikes == 10_000
    assert _cost("baseline", 100, "inference", counts).work.input_spikes == 5000
    assert _cost("sl-stdp", 100, "training", counts).work.input_spikes == 5000


def test_default_execution_follows_the_profile_kind():
    assert default_execution(PROFILES["cpu"]) == "event"
    assert default_execution(PROFILES["gtx1060"]) == "dense"
    assert default_execution(PROFILES["jetson-nano"]) == "dense"


def test_energy_is_dynamic_plus_static_power_times_time():
    r = estimate_cost("baseline", 400, PROFILES["gtx1060"])
    c = PROFILES["gtx1060"].coefficients
    for pc in r.phases.values():
        assert set(pc.time_s) == set(TIME_COMPONENTS) and set(pc.energy_j) == set(ENERGY_COMPONENTS)
        w = pc.work
        dynamic = 1e-12 * (w.synaptic_ops * c.energy_per_synaptic_event_pj + w.neuron_ops * c.energy_per_neuron_update_pj
                           + w.weight_ops * c.energy_per_weight_update_pj + w.dram_bytes * c.energy_per_byte_dram_pj)
        assert pc.total_energy_j == pytest.approx(dynamic + c.static_power_w * pc.total_time_s)


def test_report_json_and_labels():
    r = estimate_cost("fspinn", 400, PROFILES["cpu"], precision=parse_precision("8bit"))
    doc = cost_to_json(r, "training")
    assert doc["memory_bytes"] == doc["memory"]["training"]["total_bytes"]
    assert doc["memory"]["training"]["total_bytes"] == sum(doc["memory"]["training"]["components"].values())
    assert doc["time_s"]["training_per_epoch"] == pytest.approx(60_000 * doc["time_s"]["training_per_image"])
    assert doc["labels"]["time"].startswith("modelled from profile cpu (uncalibrated")
    assert doc["labels"]["counts"].startswith("estimated from activity model")
    with pytest.raises(ValueError, match="phase"):
        cost_to_json(r, "test")


def test_calibrated_profile_is_named_in_the_label():
    from dse.cost.model import profile_label
    from dse.cost.schema import Calibration

    cal = Calibration(base_profile="cpu", fit_date="2025-01-31", measurement_files=("m.json",), method="nnls")
    p = dataclasses.replace(PROFILES["cpu"], name="cpu-cal", calibration=cal)
    assert profile_label(p) == "modelled from profile cpu-cal (calibration: nnls of cpu on 2025-01-31 to m.json)"


def test_bad_inputs():
    with pytest.raises(ValueError, match="execution"):
        _cost("fspinn", 10, "inference", {}, execution="spiky")
    with pytest.raises(ValueError, match="must be >= 0"):
        _cost("fspinn", 10, "inference", {"steps": -1.0})
    with pytest.raises(ValueError, match="phase"):
        _cost("fspinn", 10, "assign", {})
