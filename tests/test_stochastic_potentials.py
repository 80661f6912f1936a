"""Stochastic rounding of potentials and thresholds in the compiled engine: unbiased, counter-based draws."""

from __future__ import annotations

import numpy as np
import pytest

from dse.models.constants import Q_NEAREST, Q_STOCHASTIC, Q_TRUNCATE
from dse.models.neurons import (excitatory_step, find_spikes, find_spikes_stochastic, on_grid, thresholds,
                                threshold_candidates)

EPS = 2.0 ** -4
GRID = np.array([EPS, -128.0, 128.0 - EPS, 1.0 / EPS, 0.5], dtype=np.float64)


def grid(half: float = 0.5) -> tuple:
    return (GRID[0], GRID[1], GRID[2], GRID[3], half)


def test_threshold_candidates_bracket_the_threshold():
    theta = np.array([0.0, 0.01, 0.03125, 200.0], dtype=np.float64)  # the last saturates at hi
    lo, hi, frac = (np.empty(4) for _ in range(3))
    threshold_candidates(theta, -52.0, grid(), lo, hi, frac)
    x = np.minimum(-52.0 + theta, GRID[2])
    np.testing.assert_array_equal(lo, np.floor(x / EPS) * EPS)
    np.testing.assert_array_equal(hi, lo + EPS)
    np.testing.assert_allclose(frac, x / EPS - np.floor(x / EPS))
    assert frac[3] == 0.0  # saturated: never rounds up


def test_undecided_neuron_fires_with_the_probability_of_rounding_down():
    """V between the candidates fires iff the threshold rounds down: probability 1 - frac."""
    theta = np.array([0.0, 0.0, 0.0, 0.0])
    v_th = -52.0 + 0.25 * EPS  # frac = 0.25: rounds up (no spike) one time in four
    lo, hi, frac = (np.empty(4) for _ in range(3))
    threshold_candidates(theta, v_th, grid(), lo, hi, frac)
    v = np.array([lo[0] - EPS, lo[0], lo[0] + 0.5 * EPS, hi[0]])  # below, undecided x2, above
    out = np.empty(4, dtype=np.int32)
    fired = np.zeros(4)
    steps = 20_000
    for t in range(steps):
        n = find_spikes_stochastic(v, lo, hi, frac, np.uint64(12345), t, out)
        fired[out[:n]] += 1
    assert fired[0] == 0 and fired[3] == steps
    for j in (1, 2):
        p = fired[j] / steps
        assert abs(p - 0.75) < 4 * np.sqrt(0.75 * 0.25 / steps)


def test_a_neurons_draw_does_not_depend_on_the_others():
    """Counter-based draws: skipping decided neurons leaves every other neuron's outcome unchanged."""
    rng = np.random.default_rng(0)
    n = 64
    theta = rng.uniform(0, 2, n)
    lo, hi, frac = (np.empty(n) for _ in range(3))
    threshold_candidates(theta, -52.0, grid(), lo, hi, frac)
    v_undecided = lo + 0.5 * EPS
    out = np.empty(n, dtype=np.int32)
    for t in range(50):
        n_all = find_spikes_stochastic(v_undecided, lo, hi, frac, np.uint64(7), t, out)
        all_fired = set(out[:n_all])
        v_mixed = v_undecided.copy()
        v_mixed[::2] = hi[::2]  # even neurons now decided (fire without drawing)
        n_mix = find_spikes_stochastic(v_mixed, lo, hi, frac, np.uint64(7), t, out)
        mixed = set(out[:n_mix])
        assert {j for j in all_fired if j % 2} == {j for j in mixed if j % 2}


@pytest.mark.parametrize("mode, half", [(Q_NEAREST, 0.5), (Q_TRUNCATE, 2.0)])
def test_vectorised_thresholds_equal_scalar_rounding(mode, half):
    rng = np.random.default_rng(3)
    theta = np.concatenate([rng.uniform(-1, 3, 500), np.arange(-3, 3) * EPS * 0.5, [500.0, -500.0]])
    thr = np.empty_like(theta)
    thresholds(theta, -52.0, thr, grid(half))
    scalar = np.array([on_grid(-52.0 + x, mode, EPS, GRID[1], GRID[2], np.zeros(1, np.uint64)) for x in theta])
    np.testing.assert_array_equal(thr, scalar)
    v = thr.copy()
    out = np.empty(len(v), dtype=np.int32)
    assert find_spikes(v, theta, -52.0, thr, mode, out) == len(v)  # V == threshold fires


def test_stochastic_potentials_are_unbiased():
    """With no input, V moves by dt/tau (V_rest - V); stochastic rounding keeps that step on average."""
    n, steps = 256, 400
    v0 = -60.0 + 0.3 * EPS
    fc_v = (-65.0, 0.0, -100.0, 0.01, 1.0, 1.0, 0.0, 0.0)  # v_rest, e_exc, e_inh, dt/tau, gains, decays
    exact = v0 + 0.01 * (-65.0 - v0)
    means = []
    for t in range(steps):
        v = np.full(n, v0)
        ge, gi = np.zeros(n), np.zeros(n)
        refr = np.zeros(n, dtype=np.int32)
        excitatory_step(v, ge, gi, refr, fc_v, Q_STOCHASTIC, grid(), np.uint64(99), t)
        assert set(np.unique(v)) <= {np.floor(exact / EPS) * EPS, np.floor(exact / EPS) * EPS + EPS}
        means.append(v.mean())
    assert abs(np.mean(means) - exact) < 4 * EPS / np.sqrt(n * steps)


def test_refractory_neurons_keep_their_potential_under_stochastic_rounding():
    v = np.full(8, -61.03)
    refr = np.array([0, 3, 0, 1, 0, 0, 2, 0], dtype=np.int32)
    fc_v = (-65.0, 0.0, -100.0, 0.01, 1.0, 1.0, 1.0, 1.0)
    excitatory_step(v, np.zeros(8), np.zeros(8), refr, fc_v, Q_STOCHASTIC, grid(), np.uint64(1), 0)
    assert np.all(v[[1, 3, 6]] == -61.03)
    assert np.all(np.abs(v[[0, 2, 4, 5, 7]] / EPS - np.round(v[[0, 2, 4, 5, 7]] / EPS)) == 0)
    np.testing.assert_array_equal(refr, [0, 2, 0, 0, 0, 0, 1, 0])
