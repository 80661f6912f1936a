"""Neuron updates of one time step, compiled: excitatory and inhibitory LIF, fixed-point grids.

Each function advances every neuron of a layer by one step (step 3 and 4 of
the order in engine_numba). They are plain numba functions: numba compiles
each once and LLVM inlines them into the step loop, so they cost no call.

Fixed-point potentials (FSpiNN Eq. 6, tinySNN Sec. 2.3): a value x is put on
the grid k x eps of its Qi.f format by saturating to [lo, hi] and rounding
x / eps to an integer. eps is a power of two, so x / eps equals x x (1/eps)
exactly and the fast loops multiply. Nearest rounds half up, truncate rounds
toward minus infinity, stochastic rounds up with probability frac(x / eps).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .constants import (FC_THETA_PLUS, FC_THETA_PLUS_END, FC_W_INH, FC_W_INH_START, IC_RHO_RAMP_IMAGES,
                        IC_THETA_ANNEAL_FROM, IC_THETA_ANNEAL_IMAGES, Q_NEAREST, Q_NONE, Q_STOCHASTIC)
from .encoding import counter_uniform, uniform_open0


@njit(cache=True)
def ramp_at(start, end, ramp_from, ramp_to, image_index):
    """A per-image training constant at image_index (0-based, counted over the whole run): start up to
    image ramp_from, then linearly to end at image ramp_to, then end; ramp_to = 0 means always start.

    Two schedules use it (both ours, docs/model.md): the annealed threshold step (theta_plus from
    0.1 to 0.03 mV: large steps while the thresholds find their level, smaller ones once the
    receptive fields settle) and fspinn's lateral inhibition (rho from 2x to 4x the excitatory
    strength, the paper's "adaptive inhibition strength"). A function of the image's index alone,
    so a resumed run gets the same values as an unbroken one.
    """
    if ramp_to <= 0 or image_index <= ramp_from:
        return start
    if image_index >= ramp_to:
        return end
    return start + (end - start) * ((image_index - ramp_from) / (ramp_to - ramp_from))


@njit(cache=True)
def schedule_image(fc_image, fc, ic, image_index):
    """Write the training constants of image image_index into fc_image (a copy of fc): the annealed
    threshold step and the lateral inhibition ramped from FC_W_INH_START to FC_W_INH (both ours)."""
    if ic[IC_THETA_ANNEAL_IMAGES] > 0:
        fc_image[FC_THETA_PLUS] = ramp_at(fc[FC_THETA_PLUS], fc[FC_THETA_PLUS_END], ic[IC_THETA_ANNEAL_FROM],
                                          ic[IC_THETA_ANNEAL_IMAGES], image_index)
    if ic[IC_RHO_RAMP_IMAGES] > 0:
        fc_image[FC_W_INH] = ramp_at(fc[FC_W_INH_START], fc[FC_W_INH], 0, ic[IC_RHO_RAMP_IMAGES], image_index)


@njit(cache=True)
def next_uniform(rng):
    """A uniform draw in [0, 1) from the presentation's rounding stream (a 1-element uint64 array)."""
    s, u = uniform_open0(rng[0])
    rng[0] = s
    return 1.0 - u


@njit(cache=True)
def round_units(y, mode, rng):
    """Round y (a value in units of eps) to an integer: truncate, nearest (half up) or stochastic."""
    r = np.floor(y)
    if mode == Q_NEAREST:
        if y - r >= 0.5:
            r += 1.0
    elif mode == Q_STOCHASTIC:
        if next_uniform(rng) >= 1.0 - (y - r):
            r += 1.0
    return r


@njit(cache=True)
def on_grid(x, mode, eps, lo, hi, rng):
    """x on its fixed-point grid: saturate to [lo, hi], then round to a multiple of eps."""
    x = x if x > lo else lo
    x = x if x < hi else hi
    return round_units(x / eps, mode, rng) * eps


@njit(cache=True)
def on_grid_fast(x, grid):
    """on_grid for truncate and nearest without branches, so that loops vectorise.

    grid = (eps, lo, hi, 1/eps, half), all in the state dtype; a fraction
    >= half rounds up (nearest: 0.5; truncate: 2, never). Equal to on_grid
    bit for bit: eps is a power of two, so x x (1/eps) equals x / eps
    exactly, and y - floor(y) is exact.
    """
    eps, lo, hi, inv, half = grid
    x = x if x > lo else lo
    x = x if x < hi else hi
    y = x * inv
    k = np.floor(y)
    k = k + 1.0 if y - k >= half else k
    return k * eps


@njit(cache=True)
def excitatory_step(v, ge, gi, refr, fc_v, qv, grid, key, t):
    """Conductance-based LIF, one Euler step (FSpiNN Eq. 1-2, method notes 8):

        V' = V + dt/tau_m [(V_rest - V) + g_e c_e (E_exc - V) + g_i c_i (E_inh - V)],  V' >= E_inh,

    where c = tau/dt (1 - exp(-dt/tau)) is the step-averaged conductance
    factor; then g_e <- g_e exp(-dt/tau_e), g_i <- g_i exp(-dt/tau_i). A
    refractory neuron keeps V and counts down. In fixed point V' is put on
    the vmem grid before it is stored; stochastic rounding takes draw
    t N + j of the stream key.

    fc_v = (v_rest, e_exc, e_inh, dt_tau, ge_gain, gi_gain, ge_decay, gi_decay).
    """
    n = v.shape[0]
    # One loop per rounding mode, each free of branches on the mode so that it vectorises.
    if qv == Q_NONE:
        for j in range(n):
            _advance(v, refr, ge, gi, j, lif_candidate(v[j], ge[j], gi[j], fc_v), fc_v)
    elif qv == Q_STOCHASTIC:
        base = t * n
        for j in range(n):
            vq = on_grid_by_counter(lif_candidate(v[j], ge[j], gi[j], fc_v), grid, key, base + j)
            _advance(v, refr, ge, gi, j, vq, fc_v)
    else:
        for j in range(n):
            _advance(v, refr, ge, gi, j, on_grid_fast(lif_candidate(v[j], ge[j], gi[j], fc_v), grid), fc_v)


@njit(cache=True)
def lif_candidate(vj, gej, gij, fc_v):
    """V' of one neuron (the equation of excitatory_step), clamped at E_inh."""
    v_rest, e_exc, e_inh, dt_tau, ge_gain, gi_gain, _, _ = fc_v
    vn = vj + dt_tau * ((v_rest - vj) + gej * ge_gain * (e_exc - vj) + gij * gi_gain * (e_inh - vj))
    return vn if vn > e_inh else e_inh


@njit(cache=True)
def _advance(v, refr, ge, gi, j, vn, fc_v):
    """Neuron j takes V' = vn unless refractory (then it counts down); its conductances decay."""
    r = refr[j]
    v[j] = vn if r == 0 else v[j]
    refr[j] = r - 1 if r > 0 else 0
    ge[j] *= fc_v[6]
    gi[j] *= fc_v[7]


@njit(cache=True)
def on_grid_by_counter(x, grid, key, counter):
    """on_grid with stochastic rounding by draw `counter` of the stream key (no state to carry)."""
    eps, lo, hi, inv, _ = grid
    x = x if x > lo else lo
    x = x if x < hi else hi
    y = x * inv
    k = np.floor(y)
    k = k + 1.0 if counter_uniform(key, counter) >= 1.0 - (y - k) else k
    return k * eps


@njit(cache=True)
def inhibitory_step(vi, gei, refri, fc_i, irefrac, spiked, inh_now):
    """Inhibitory-layer LIF, one step (baseline, SL-STDP): excitatory conductance only,

        V' = V + dt/tau [(V_rest - V) + g c (E_exc - V)];  spike when V' >= V_th,

    then V = V_reset for irefrac steps. Sets spiked[j] (1 or 0) for every
    neuron and writes the spiking indices (ascending) to inh_now; returns how
    many spiked. fc_i = (v_rest, v_reset, v_th, dt_tau, e_exc, ge_decay, ge_gain).
    The update is branch-free so that it vectorises like the excitatory one
    (it costs about as much per neuron); the rare spikes are gathered after.
    """
    iv_rest, iv_reset, iv_th, idt_tau, ie_exc, ige_decay, ige_gain = fc_i
    any_spike = 0
    for j in range(vi.shape[0]):
        r = refri[j]
        vj = vi[j]
        g = gei[j] * ige_gain
        vn = vj + idt_tau * ((iv_rest - vj) + g * (ie_exc - vj))
        gei[j] *= ige_decay
        fire = (r == 0) & (vn >= iv_th)
        vi[j] = iv_reset if fire else (vn if r == 0 else vj)
        refri[j] = irefrac if fire else (r - 1 if r > 0 else 0)
        spiked[j] = fire
        any_spike |= fire
    n_inh = 0
    if any_spike:
        for j in range(vi.shape[0]):
            if spiked[j]:
                inh_now[n_inh] = j
                n_inh += 1
    return n_inh


@njit(cache=True)
def thresholds(theta, v_th, thr, grid):
    """thr[j] = V_th + theta_j on the vth grid, rounded to nearest or truncated (vectorised)."""
    for j in range(theta.shape[0]):
        thr[j] = on_grid_fast(v_th + theta[j], grid)


@njit(cache=True)
def threshold_candidates(theta, v_th, grid, thr_lo, thr_hi, frac):
    """Stochastic thresholds: V_th + theta_j, saturated, rounds to k eps (thr_lo) or (k+1) eps (thr_hi),
    up with probability frac = (V_th + theta_j) / eps - k. Branch-free, so it vectorises."""
    eps, lo, hi, inv, _ = grid
    for j in range(theta.shape[0]):
        x = v_th + theta[j]
        x = x if x > lo else lo
        x = x if x < hi else hi
        y = x * inv
        k = np.floor(y)
        thr_lo[j] = k * eps
        thr_hi[j] = (k + 1.0) * eps
        frac[j] = y - k


@njit(cache=True)
def find_spikes_stochastic(v, thr_lo, thr_hi, frac, key, t, exc_now):
    """Spikes against stochastically rounded thresholds, drawing only where the draw decides.

    A neuron at or above thr_hi fires and one below thr_lo does not, whatever
    the threshold rounds to; one in between fires unless the threshold
    rounds up (draw >= 1 - frac). Draw (t, j) is counter-based (number
    t N + j of the stream key), so skipping the decided neurons changes no draw.
    """
    n = v.shape[0]
    n_now = 0
    for j in range(n):
        vj = v[j]
        if vj >= thr_hi[j] or (vj >= thr_lo[j] and counter_uniform(key, t * n + j) < 1.0 - frac[j]):
            exc_now[n_now] = j
            n_now += 1
    return n_now


@njit(cache=True)
def find_spikes(v, theta, v_th, thr, qth, exc_now):
    """Excitatory spikes: V >= V_th + theta (or the fixed-point threshold thr when qth is set).

    A refractory neuron sits at V_reset < threshold, so it cannot fire.
    Writes spiking indices (ascending) to exc_now; returns how many.
    """
    n_now = 0
    if qth == Q_NONE:
        for j in range(v.shape[0]):
            if v[j] >= v_th + theta[j]:
                exc_now[n_now] = j
                n_now += 1
    else:
        for j in range(v.shape[0]):
            if v[j] >= thr[j]:
                exc_now[n_now] = j
                n_now += 1
    return n_now

