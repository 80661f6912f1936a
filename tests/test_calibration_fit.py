"""Calibration numerics on synthetic records: recovery within intervals, confounded terms, held terms, trust figures."""

from __future__ import annotations

import numpy as np
import pytest

from dse.calibration.calibrate import TIME_NAMES, analyse, cell_groups, design_matrix
from dse.calibration.estimate import estimate
from dse.calibration.fit import bootstrap_intervals, conditioning, relative_nnls
from dse.calibration.heldout import leave_one_group_out, transfer
from dse.calibration.plausible import implausibility, plausible_bounds
from dse.cost.profiles import load_profile
from tests.calibration_synthetic import KNOWN, synthetic_records

BASE = load_profile("cpu")
PRIOR = [float(getattr(BASE.coefficients, n)) for n in TIME_NAMES]
BOUNDS = plausible_bounds(BASE)
TRUTH = np.array([KNOWN[n] for n in TIME_NAMES])


def _matrices(records):
    return design_matrix(records, BASE, "event", "cpu")


def _estimate(records, draws=200, seed=0):
    x, y = _matrices(records)
    return estimate(x, y, TIME_NAMES, PRIOR, BOUNDS, draws=draws, seed=seed, groups=cell_groups(records))


def test_noiseless_full_grid_recovers_every_coefficient_exactly():
    e = _estimate(synthetic_records(), draws=50)
    assert not e.kept
    np.testing.assert_allclose(e.values, TRUTH, rtol=1e-6)
    assert e.rms_fraction < 1e-9


def test_noisy_full_grid_recovers_each_coefficient_within_its_interval():
    # A 95% interval misses now and then by design; over 20 noisy data sets it
    # must cover the truth nearly always, and a miss must be a near miss.
    covered = np.zeros(len(TIME_NAMES))
    seeds = range(20)
    for seed in seeds:
        e = _estimate(synthetic_records(noise=0.05, seed=seed), seed=seed)
        assert not e.kept, e.kept
        low, high = np.array(e.low), np.array(e.high)
        assert (low > 0).all()  # every interval excludes zero
        covered += (low <= TRUTH) & (TRUTH <= high)
        half = (high - low) / 2
        assert (np.abs(np.array(e.values) - TRUTH) <= 3 * half).all()
    rate = covered / len(seeds)
    assert rate.min() >= 0.8 and rate.mean() >= 0.88, dict(zip(TIME_NAMES, rate))


def test_plain_size_grid_cannot_separate_input_spikes_from_steps_and_says_so():
    # At the recipe's own input rate, input spikes grow with steps (exactly, but for
    # pair-wise training, which dispatches each twice): the two per-event costs
    # can hardly be told apart, whatever the noise.
    records = synthetic_records(noise=0.03, seed=2, grid="sizes")
    x, y = _matrices(records)
    cond = conditioning(x, y, TIME_NAMES)
    assert cond.condition_number > 20
    assert {n for n, _ in cond.weakest} == {"time_per_input_spike_ns", "time_per_step_overhead_us"}
    assert cond.confounded_with("time_per_input_spike_ns") == ("time_per_step_overhead_us",)
    e = _estimate(records)
    held = [n for n in e.kept if n in ("time_per_input_spike_ns", "time_per_step_overhead_us")]
    assert len(held) == 1
    assert "not identifiable" in e.kept[held[0]] and "moves it together with" in e.kept[held[0]]
    # the full grid separates them
    full = conditioning(*_matrices(synthetic_records(noise=0.03, seed=2)), TIME_NAMES)
    assert full.condition_number < cond.condition_number / 5


def test_a_well_conditioned_grid_names_no_confounded_terms():
    # Every grid has a weakest direction; below a condition number of 10 it is no confounding.
    full = conditioning(*_matrices(synthetic_records(noise=0.03, seed=2)), TIME_NAMES)
    assert full.condition_number < 10 and full.weakest
    assert all(full.confounded_with(n) == () for n in TIME_NAMES)


def test_identical_columns_are_reported_with_an_infinite_condition_number():
    rng = np.random.default_rng(0)
    a = rng.uniform(1, 2, size=(30, 1))
    x = np.hstack([a, 2 * a, rng.uniform(1, 2, size=(30, 1))])
    y = x @ np.array([1.0, 1.0, 1.0])
    cond = conditioning(x, y, ["a", "b", "c"])
    assert cond.condition_number > 1e12
    assert {n for n, _ in cond.weakest} == {"a", "b"}
    e = estimate(x, y * (1 + 0.02 * rng.normal(size=30)), ["a", "b", "c"], [0.5, 0.5, 0.5], draws=100)
    assert len(e.kept) == 1 and "moves it together with" in next(iter(e.kept.values()))


def test_implausible_coefficient_is_flagged_and_held():
    # synaptic events faster than one operation per SIMD lane per cycle
    fast = {**KNOWN, "time_per_synaptic_event_ns": 0.3 * BOUNDS["time_per_synaptic_event_ns"].low}
    e = _estimate(synthetic_records(fast, noise=0.01, seed=3))
    reason = e.kept["time_per_synaptic_event_ns"]
    assert reason.startswith("implausible") and "faster than one operation per SIMD lane" in reason
    # the data reject the prior too, so it is held at the interval end nearest the prior
    assert "outside that interval" in reason
    k = TIME_NAMES.index("time_per_synaptic_event_ns")
    assert e.values[k] < PRIOR[k]


def test_a_term_too_small_to_measure_is_held_at_the_fits_own_value_when_the_data_reject_its_prior():
    # The third term is worth nothing, its prior a lot, and nothing moves with it (the first
    # two move together). Not held at its interval's top (the value nearest the prior): that
    # would add time the measurements never saw to every prediction beyond them.
    rng = np.random.default_rng(3)
    u = rng.uniform(0.5, 1.5, 60)
    x = np.column_stack([u, u * rng.uniform(0.7, 1.3, 60), rng.uniform(0, 1, 60) ** 3])
    y = (x @ np.array([1.0, 2.0, 0.0])) * (1 + 0.03 * rng.normal(size=60))
    e = estimate(x, y, ("a", "b", "tiny"), [1.0, 2.0, 10.0], draws=300)
    reason = e.kept["tiny"]
    assert "cannot tell it from zero" in reason and "the fit's own value" in reason
    low, high = float(reason.split("[")[1].split(",")[0]), float(reason.split(", ")[1].split("]")[0])
    assert low == 0 < high < 10
    assert e.values[2] == pytest.approx(relative_nnls(x, y)[2], abs=1e-6) and e.values[2] < high
    assert e.values[0] + e.values[1] == pytest.approx(3.0, rel=0.05)  # the two that move together: their sum


def test_unexercised_terms_keep_their_prior():
    records = [r for r in synthetic_records() if r["phase"] == "inference"]
    e = _estimate(records, draws=50)
    for name in ("time_per_weight_update_ns", "time_per_byte_dram_ns"):
        assert e.kept[name].startswith("not exercised")
        assert e.values[TIME_NAMES.index(name)] == PRIOR[TIME_NAMES.index(name)]


def test_implausibility_bounds_come_from_the_specs():
    b = BOUNDS["time_per_neuron_update_ns"]
    assert b.low == pytest.approx(2 / BASE.specs.peak_fp32_gflops)
    assert b.high == pytest.approx(64 / BASE.specs.memory_bandwidth_gbps)
    assert implausibility(b.low / 2, b).startswith("faster than")
    assert implausibility(b.high * 2, b).startswith("slower than")
    assert implausibility((b.low + b.high) / 2, b) is None


def test_bootstrap_is_deterministic_and_respects_fixed_terms():
    records = synthetic_records(noise=0.05, seed=5)
    x, y = _matrices(records)
    a = bootstrap_intervals(x, y, {0: 0.5}, draws=40, seed=7, groups=cell_groups(records))
    b = bootstrap_intervals(x, y, {0: 0.5}, draws=40, seed=7, groups=cell_groups(records))
    np.testing.assert_array_equal(a[2], b[2])
    assert (a[2][:, 0] == 0.5).all() and a[0][0] == a[1][0] == 0.5
    with pytest.raises(ValueError, match="level"):
        bootstrap_intervals(x, y, draws=2, level=1.5)


def test_relative_fit_subtracts_fixed_terms():
    x, y = _matrices(synthetic_records())
    k = TIME_NAMES.index("time_per_neuron_update_ns")
    c = relative_nnls(x, y, {k: KNOWN["time_per_neuron_update_ns"]})
    np.testing.assert_allclose(c, TRUTH, rtol=1e-6)


def _exact_fit(x, y):
    return relative_nnls(x, y)


def test_held_out_predictions_are_exact_on_noiseless_records():
    records = synthetic_records()
    x, y = _matrices(records)
    sizes = leave_one_group_out(records, x, y, "size", lambda r: r["neurons"], _exact_fit)
    assert sizes.mape() < 1e-6 and set(sizes.mape_by_group()) == {"100", "225", "400", "625", "900"}
    designs = leave_one_group_out(records, x, y, "design", lambda r: r["design"], _exact_fit)
    assert designs.mape() < 1e-6 and set(designs.summary()["by_phase"]) == {"training", "inference"}
    with pytest.raises(ValueError, match="two or more"):
        leave_one_group_out(records[:1], x[:1], y[:1], "size", lambda r: r["neurons"], _exact_fit)


def test_transfer_predicts_only_the_other_data_set():
    mnist = synthetic_records(noise=0.02, seed=6)
    fashion = synthetic_records(noise=0.02, seed=7, grid="sizes", dataset="fashion-mnist")
    records = mnist + fashion
    x, y = _matrices(records)
    held = transfer(records, x, y, "dataset", lambda r: r["dataset"], "mnist", _exact_fit)
    assert set(held.groups) == {"fashion-mnist"} and len(held.groups) == len(fashion)
    assert held.mape() < 0.05
    with pytest.raises(ValueError, match="another"):
        transfer(mnist, *_matrices(mnist), "dataset", lambda r: r["dataset"], "mnist", _exact_fit)


def test_probes_agree_on_consistent_records_and_catch_a_term_that_is_off():
    records = synthetic_records(noise=0.01, seed=8)
    x, y = _matrices(records)
    good = analyse(records, x, y, BASE, draws=50)
    assert {p.probe.split(" (")[0] for p in good.probes} == {"blank images", "input rate x0.5 and x2",
                                                             "training against inference"}
    assert all(p.agrees(0.05) for p in good.probes), [(p.probe, dict(p.estimates)) for p in good.probes]
    assert set(good.held_out) == {"size", "design"} and good.held_out["size"].mape() < 0.05
    # neuron updates and steps that cost 2.5 times as much when nothing spikes: the blank probe disagrees
    for r in records:
        if r["variant"] == "blank":
            r["cpu_s_per_image"] *= 2.5
    x, y = _matrices(records)
    bad = analyse(records, x, y, BASE, draws=50)
    blank = next(p for p in bad.probes if p.probe.startswith("blank"))
    assert not blank.agrees() and blank.ratio("time_per_neuron_update_ns") > 1.25
