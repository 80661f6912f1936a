"""Learning rules and inhibition schemes of the three designs, one compiled helper each.

Each docstring carries the equation (docs/model.md has the derivations and
which parts are reconstructions). The helpers are plain numba functions that
LLVM inlines into the step loop of engine_numba.present.

Traces are not decayed every step: each input and neuron keeps the time of
its last spike, and a trace is read as table[t - t_last] with
table[k] = exp(-k dt / tau), which equals the clock-driven decay exactly.

Weights are floats, or integer codes in fixed point (value = code x scale):
store_weight writes either, rounding a new value onto the code grid.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .constants import (FC_ETA_POST, FC_ETA_PRE, FC_MU, FC_W_MAX, FC_W_SCALE, FC_X_TAR, IC_POST_EVERY, IC_QW,
                        IC_W_MAX_CODE, Q_NONE, RULE_PAIRWISE, RULE_SL)
from .neurons import round_units


@njit(cache=True)
def trace(table, t, t_last):
    """x(t) = exp(-(t - t_last) dt / tau) after a spike at t_last; 0 if there was none."""
    if t_last < 0:
        return table[0] * 0
    return table[t - t_last]


@njit(cache=True)
def store_weight(w, i, j, value, qmode, scale, max_code, rng):
    """w[i, j] = value in float mode; else the code round(value / scale), saturated to [0, max_code]."""
    if qmode == Q_NONE:
        w[i, j] = value
    else:
        c = round_units(value / scale, qmode, rng)
        c = c if c > 0.0 else 0.0
        c = c if c < max_code else max_code
        w[i, j] = c


# --------------------------------------------------------------------------- inhibition


@njit(cache=True)
def spread_inhibition(gi, spiked, n_spiked, w_inh, fbuf):
    """One source layer inhibits every excitatory neuron but its own partner (no self-inhibition):

        g_i[k] += w_inh x (number of sources that spiked at t-1, not counting k's own).

    Used by both schemes: lateral (source = excitatory layer, w_inh = w_lat =
    rho x 10.4, FSpiNN Sec. III) and layer (source = inhibitory layer,
    w_inh = w_ie = 17, Diehl & Cook). spiked[k] flags source k's spike.
    The spike counts are cast to the state dtype first so that the products
    round exactly as in the batched engine.
    """
    if n_spiked == 0:
        return
    fbuf[0] = n_spiked
    fbuf[1] = n_spiked - 1
    all_in, self_in = w_inh * fbuf[0], w_inh * fbuf[1]
    for k in range(gi.shape[0]):
        gi[k] += self_in if spiked[k] else all_in


@njit(cache=True)
def drive_inhibitory_layer(gei, exc_prev, n_prev, w_ei):
    """Layer scheme, excitatory to inhibitory: each excitatory spike of j adds w_ei (10.4) to g_e of inhibitory j."""
    for q in range(n_prev):
        gei[exc_prev[q]] += w_ei


# --------------------------------------------------------------------------- input drive


@njit(cache=True)
def deliver_inputs(w, idx, start, stop, ge, drive, coded):
    """Input spikes of this step: g_e[j] += sum over spiking inputs i of w[i, j] (only their rows are read).

    Float weights add straight into g_e. Integer codes are summed apart and
    added once: an exact sum, whatever the order, which keeps the batched
    engine bit-identical in fixed point.
    """
    if not coded:
        for a in range(start, stop):
            i = idx[a]
            for j in range(w.shape[1]):
                ge[j] += w[i, j]
        return
    drive[:] = 0  # (scratch memory: never read before this)
    for a in range(start, stop):
        i = idx[a]
        for j in range(w.shape[1]):
            # A code converted to float32 on its own is exact (< 2^24) and keeps the sum in single
            # precision; left implicit, uint16 + float32 goes through float64 and ran at half speed.
            drive[j] += np.float32(w[i, j])
    for j in range(ge.shape[0]):
        ge[j] += drive[j]


# --------------------------------------------------------------------------- pair-wise STDP (FSpiNN Eq. 3)


@njit(cache=True)
def depress_on_pre_spike(w, i, t, fired, n_fired, t_last_post, post_table, fc, ic, rng, dirty):
    """Pair-wise rule, presynaptic spike of input i: dw[i, j] = -eta_pre x_post,j w[i, j]^mu, w >= 0.

    Only neurons that fired earlier in this presentation have x_post > 0.
    """
    eta_pre, mu, qw, w_scale, max_code = fc[FC_ETA_PRE], fc[FC_MU], ic[IC_QW], fc[FC_W_SCALE], ic[IC_W_MAX_CODE]
    zero = post_table[0] * 0
    if qw == Q_NONE and mu == 1:
        # the common case, kept free of the fixed-point and power branches
        for q in range(n_fired):
            j = fired[q]
            wij = w[i, j]
            wij -= eta_pre * post_table[t - t_last_post[j]] * wij
            w[i, j] = wij if wij > zero else zero
            dirty[j] = 1
        return
    for q in range(n_fired):
        j = fired[q]
        x_post = post_table[t - t_last_post[j]]
        wij = w[i, j] * w_scale
        dep = wij if mu == 1 else wij ** mu
        wij -= eta_pre * x_post * dep
        store_weight(w, i, j, wij if wij > zero else zero, qw, w_scale, max_code, rng)
        dirty[j] = 1


@njit(cache=True)
def potentiate_on_post_spike(w, j, t, t_last_pre, pre_table, eta, x_tar, w_max, mu, qw, w_scale,
                             max_code, rng):
    """Post-spike rule on column j: dw[i, j] = eta (x_pre,i - x_tar) (w_max - w[i, j])^mu, clipped to [0, w_max].

    x_tar = 0: the pair-wise potentiation (FSpiNN Eq. 3); x_tar > 0: SL-STDP
    (Srinivasan et al. 2017, reconstruction), which depresses inputs that
    were silent before the spike.
    """
    zero = pre_table[0] * 0
    if qw == Q_NONE and mu == 1:
        for i in range(w.shape[0]):
            x = trace(pre_table, t, t_last_pre[i])
            wij = w[i, j]
            room = w_max - wij
            room = room if room > zero else zero
            wij = wij + eta * (x - x_tar) * room
            wij = wij if wij > zero else zero
            w[i, j] = wij if wij < w_max else w_max
        return
    for i in range(w.shape[0]):
        x = trace(pre_table, t, t_last_pre[i])
        wij = w[i, j] * w_scale
        room = w_max - wij
        room = room if room > zero else zero
        pot = room if mu == 1 else room ** mu
        wij = wij + eta * (x - x_tar) * pot
        wij = wij if wij > zero else zero
        store_weight(w, i, j, wij if wij < w_max else w_max, qw, w_scale, max_code, rng)


@njit(cache=True)
def sl_stdp_on_post_spike(w, j, t, n_acc, post_every, t_last_pre, pre_table, eta, x_tar, w_max, mu, qw,
                          w_scale, max_code, rng):
    """SL-STDP: a 2-bit counter per neuron; every post_every-th spike applies the post rule with x_tar.

    Returns True when the column was updated.
    """
    n_acc[j] += 1
    if n_acc[j] < post_every:
        return False
    n_acc[j] = 0
    potentiate_on_post_spike(w, j, t, t_last_pre, pre_table, eta, x_tar, w_max, mu, qw, w_scale,
                             max_code, rng)
    return True


@njit(cache=True)
def learn_on_post_spike(w, j, t, rule, fc, ic, t_last_pre, pre_table, n_acc, snap, dirty, rng):
    """The design's rule on a spike of neuron j; returns the weight elements written.

    pair-wise: potentiation now; SL-STDP: every K-th spike; FSpiNN: the spike
    is accumulated and the traces recorded, the update waits for the window end.
    """
    n_inputs = w.shape[0]
    qw, w_scale, max_code = ic[IC_QW], fc[FC_W_SCALE], ic[IC_W_MAX_CODE]
    eta, w_max, mu, x_tar = fc[FC_ETA_POST], fc[FC_W_MAX], fc[FC_MU], fc[FC_X_TAR]
    if rule == RULE_PAIRWISE:
        potentiate_on_post_spike(w, j, t, t_last_pre, pre_table, eta, x_tar * 0, w_max, mu, qw, w_scale, max_code,
                                 rng)
        dirty[j] = 1
        return n_inputs
    if rule == RULE_SL:
        if sl_stdp_on_post_spike(w, j, t, n_acc, ic[IC_POST_EVERY], t_last_pre, pre_table, eta, x_tar, w_max, mu,
                                 qw, w_scale, max_code, rng):
            dirty[j] = 1
            return n_inputs
        return 0
    fspinn_record_spike(snap, j, t, n_acc, t_last_pre, pre_table)
    return 0


# --------------------------------------------------------------------------- FSpiNN (Sec. III, Eq. 4-5)


@njit(cache=True)
def fspinn_record_spike(snap, j, t, n_acc, t_last_pre, pre_table):
    """FSpiNN: neuron j accumulates its spike (N_acc,j += 1) and records the presynaptic traces at it."""
    n_acc[j] += 1
    for i in range(snap.shape[1]):
        snap[j, i] = trace(pre_table, t, t_last_pre[i])


@njit(cache=True)
def fspinn_update_winners(w, snap, n_acc, n_winners, eta_post, s_th, k_max, w_max, qw, w_scale, max_code, rng,
                          dirty):
    """FSpiNN window end: the winner j* = argmax N_acc (lowest index on ties) is updated once,

        k = min(N_acc,j* / S_th, k_max)                                   (Eq. 4, reconstruction)
        w[:, j*] <- min(w[:, j*] + k eta_post x_pre,recorded (w_max - w[:, j*]), w_max)   (Eq. 5)

    With n_winners > 1 (ours; the paper updates one) the n_winners neurons with
    the most accumulated spikes are updated, each with its own k, in falling
    N_acc order (lowest index first on ties); a neuron that has not fired is
    never a winner. Marks the updated columns in dirty; returns how many.
    """
    updated = 0
    taken_count, taken_j = 0, -1  # the last winner: later ones come after it in (N_acc falling, j rising)
    for _ in range(n_winners):
        best = -1
        for j in range(n_acc.shape[0]):
            c = n_acc[j]
            if c <= 0 or (updated > 0 and (c > taken_count or (c == taken_count and j <= taken_j))):
                continue
            if best < 0 or c > n_acc[best]:
                best = j
        if best < 0:
            break
        k = n_acc[best] / s_th
        k = k if k < k_max else k_max
        scale = k * eta_post
        for i in range(w.shape[0]):
            wij = w[i, best] * w_scale
            wij = wij + scale * snap[best, i] * (w_max - wij)
            store_weight(w, i, best, wij if wij < w_max else w_max, qw, w_scale, max_code, rng)
        dirty[best] = 1
        taken_count, taken_j = n_acc[best], best
        updated += 1
    return updated


# --------------------------------------------------------------------------- normalisation


@njit(cache=True)
def normalise_dirty(w, dirty, norm_total, qmode, scale, max_code, rng):
    """After a training presentation: each changed column rescaled so that sum_i w[i, j] = norm_total (78.4).

    Columns that did not change already sum to norm_total, so skipping them
    is exact up to rounding. In fixed point the rescaled weights are rounded
    back onto the grid (in-training quantization). Returns the number of
    columns renormalised (the cost model's ``columns_normalised``).
    """
    n_inputs, n = w.shape
    done = 0
    for j in range(n):
        if dirty[j] == 0:
            continue
        dirty[j] = 0
        done += 1
        s = 0.0
        for i in range(n_inputs):
            s += w[i, j] * scale
        if s > 0.0:
            f = norm_total / s
            if qmode == Q_NONE:
                for i in range(n_inputs):
                    w[i, j] = w[i, j] * f
            else:
                for i in range(n_inputs):
                    store_weight(w, i, j, w[i, j] * scale * f, qmode, scale, max_code, rng)
    return done
