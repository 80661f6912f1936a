"""Learning-rule magnitudes pinned by hand from the equations of docs/model.md.

One excitatory neuron, three 1 ms steps, input 0 spiking at t = 1 and the
other 783 inputs silent; every weight starts at 0.1 (column sum 78.4). The
neuron's threshold is put below V_reset (theta = -14 mV: V_th + theta =
-66 mV < -65 mV), so it spikes at every step t = 0, 1, 2 whatever its input;
alone, it receives no inhibition. The expected weights below were computed
on paper (the arithmetic is in the comments), not by running either engine;
both the compiled engine and the readable reference must give them.

Shared numbers: a = exp(-dt / tau_trace) = exp(-1/20) = 0.951229424500714.
After the presentation the column is rescaled to sum to 78.4.
"""

from __future__ import annotations

import numpy as np
import pytest

from dse.models import engine_numba as en
from dse.models.constants import engine_constants
from dse.models.recipes import load_recipe
from dse.models.reference import reference_presentation

STEPS = 3
# Constants the arithmetic uses, pinned so that a changed default cannot move them.
PINNED = {"input.presentation_steps": str(STEPS), "excitatory.refractory_ms": "2",
          "excitatory.theta_plus_mv": "0.05", "excitatory.tau_theta_ms": "1e7",
          "excitatory.tau_theta_at_neurons": "0",
          "plasticity.eta_post": "0.01", "plasticity.w_max": "1", "plasticity.mu": "1",
          "plasticity.tau_pre_ms": "20", "weights.norm_total": "78.4"}


def _run(design: str, extra: dict[str, str]):
    recipe = load_recipe(design, {**PINNED, **extra})
    w = np.full((784, 1), 0.1)
    theta = np.array([-14.0])
    spikes = np.zeros((STEPS, 784), dtype=np.uint8)
    spikes[1, 0] = 1
    raster_ref, w_ref, theta_ref = reference_presentation(recipe, w, theta, spikes, True)
    raster = en.present_given(w, theta, spikes, True, engine_constants(recipe, np.float64))
    np.testing.assert_array_equal(raster[:, 0], [1, 1, 1])   # the set-up: a spike every step
    np.testing.assert_array_equal(raster_ref[:, 0], [1, 1, 1])
    return w[:, 0], theta, w_ref[:, 0], theta_ref


def _check(design, extra, spiking_input, silent_input):
    w, theta, w_ref, theta_ref = _run(design, extra)
    for got in (w, w_ref):
        assert got[0] == pytest.approx(spiking_input, abs=1e-12)
        np.testing.assert_allclose(got[1:], silent_input, atol=1e-12)
    # theta: three steps of theta <- theta x exp(-1/1e7), then + 0.05 for the spike:
    # ((-14 d + 0.05) d + 0.05) d + 0.05 = -13.849995815 mV
    for th in (theta, theta_ref):
        assert th[0] == pytest.approx(-13.849995815000629, abs=1e-10)


def test_pairwise_rule_baseline():
    """FSpiNN Eq. 3, mu = 1: pre spike dw = -eta_pre x_post w; post spike dw = eta_post x_pre (w_max - w).

    t = 0: post spike; every x_pre = 0, so nothing changes.
    t = 1: input 0 spikes: depression with x_post = a (post spike one step ago):
             w = 0.1 - 1e-4 x a x 0.1 = 0.1 - 9.51229e-6 = 0.099990487705755
           post spike, x_pre(0) = 1: w += 0.01 x 1 x (1 - 0.099990487705755)
             = 0.099990487705755 + 0.009000095122942 = 0.108990582828697
    t = 2: post spike, x_pre(0) = a: w += 0.01 x a x (1 - 0.108990582828697)
             = 0.108990582828697 + 0.008475543751206 = 0.117466126579903
    Silent inputs keep 0.1 (x_pre = 0; never pre-spiking, so never depressed).
    Normalisation: sum = 78.3 + 0.117466126579903 = 78.417466126579903;
      input 0: 0.117466126579903 x 78.4 / 78.417466126579903 = 0.117439963043423
      others:  0.1 x 78.4 / 78.417466126579903 = 0.099977726739408
    """
    _check("baseline", {"plasticity.eta_pre": "1e-4", "plasticity.tau_post_ms": "20"},
           0.117439963043423, 0.099977726739408)


def test_sl_stdp_rule():
    """SL-STDP: every K-th post spike (K = 2), dw = eta_post (x_pre - x_tar) (w_max - w), x_tar = 0.1.

    Spikes at t = 0, 1, 2 bring the counter to 1, 2 (update, counter back to 0), 1:
    one update, at t = 1, where x_pre(0) = 1 and every other x_pre = 0.
      input 0: 0.1 + 0.01 x (1 - 0.1) x (1 - 0.1) = 0.1 + 0.0081 = 0.1081
      silent:  0.1 + 0.01 x (0 - 0.1) x (1 - 0.1) = 0.1 - 0.0009 = 0.0991
    Normalisation: sum = 0.1081 + 783 x 0.0991 = 77.7034;
      input 0: 0.1081 x 78.4 / 77.7034 = 0.109069101223370
      silent:  0.0991 x 78.4 / 77.7034 = 0.099988417495245
    """
    _check("sl-stdp", {"plasticity.x_tar": "0.1", "plasticity.post_every": "2"},
           0.109069101223370, 0.099988417495245)


def test_fspinn_rule():
    """FSpiNN Eq. 4-5: at a window end, k = min(N_acc / S_th, k_max), dw = k eta_post x_pre,rec (w_max - w).

    T_w = 2 steps: windows end at t = 1 and at the last step t = 2. S_th = 4, k_max = 1.
    N_acc counts spikes since the presentation began; x_pre,rec is taken at the latest spike.
    t = 1: N_acc = 2, k = 2/4 = 0.5; x_pre,rec(0) = 1 (input 0 spiked this step):
             w = 0.1 + 0.5 x 0.01 x 1 x (1 - 0.1) = 0.1 + 0.0045 = 0.1045
    t = 2: N_acc = 3, k = 3/4 = 0.75; x_pre,rec(0) = a:
             w = 0.1045 + 0.75 x 0.01 x a x (1 - 0.1045) = 0.1045 + 0.006388694622303 = 0.110888694622303
    Silent inputs: x_pre,rec = 0, unchanged. Normalisation: sum = 78.3 + 0.110888694622303;
      input 0: 0.110888694622303 x 78.4 / 78.410888694622303 = 0.110873295828170
      silent:  0.1 x 78.4 / 78.410888694622303 = 0.099986113287576
    """
    _check("fspinn", {"plasticity.window_steps": "2", "plasticity.s_th": "4", "plasticity.k_max": "1"},
           0.110873295828170, 0.099986113287576)


def test_fspinn_updates_only_the_winner():
    """Two neurons: the one with the higher threshold never fires, never wins, keeps its weights."""
    recipe = load_recipe("fspinn", {**PINNED, "plasticity.window_steps": "2"})
    w = np.full((784, 2), 0.1)
    theta = np.array([-14.0, 40.0])
    spikes = np.zeros((STEPS, 784), dtype=np.uint8)
    spikes[1, 0] = 1
    raster = en.present_given(w, theta, spikes, True, engine_constants(recipe, np.float64))
    assert raster[:, 1].sum() == 0
    np.testing.assert_array_equal(w[:, 1], 0.1)
    assert w[0, 0] == pytest.approx(0.110873295828170, abs=1e-12)


@pytest.mark.parametrize("winners", [1, 2])
def test_fspinn_several_winners_each_get_the_hand_computed_update(winners):
    """plasticity.winners_per_window (ours): two identical neurons without inhibition (rho = 0) both
    spike at every step, so they tie on N_acc. One winner: only neuron 0 (lowest index on ties)
    learns, by the numbers of test_fspinn_rule; two winners: both columns get exactly those numbers."""
    recipe = load_recipe("fspinn", {**PINNED, "plasticity.window_steps": "2", "plasticity.s_th": "4",
                                    "plasticity.k_max": "1", "inhibition.rho": "0", "inhibition.rho_ramp_images": "0",
                                    "plasticity.winners_per_window": str(winners)})
    w0 = np.full((784, 2), 0.1)
    theta = np.array([-14.0, -14.0])
    spikes = np.zeros((STEPS, 784), dtype=np.uint8)
    spikes[1, 0] = 1
    raster_ref, w_ref, _ = reference_presentation(recipe, w0, theta, spikes, True)
    w = w0.copy()
    raster = en.present_given(w, theta.copy(), spikes, True, engine_constants(recipe, np.float64))
    for r, got in ((raster, w), (raster_ref, w_ref)):
        np.testing.assert_array_equal(r, np.ones((STEPS, 2)))
        assert got[0, 0] == pytest.approx(0.110873295828170, abs=1e-12)
        np.testing.assert_allclose(got[1:, 0], 0.099986113287576, atol=1e-12)
        if winners == 2:
            assert got[0, 1] == pytest.approx(0.110873295828170, abs=1e-12)
            np.testing.assert_allclose(got[1:, 1], 0.099986113287576, atol=1e-12)
        else:
            np.testing.assert_array_equal(got[:, 1], 0.1)
