"""Compiled event-driven engine: a whole presentation (all time steps) per call.

Step order within one step t (the specification; the torch engine follows it):
  1. inhibition from the previous step's spikes (one-step synaptic delay):
     lateral: g_i[k] += w_lat per excitatory spike of j != k;
     layer: exc j -> inh j (w_ei), inh j -> exc k != j (w_ie);
  2. input spikes of step t: g_e[j] += w[i, j]; pre traces set to 1;
     pair-wise rule: depression of w[i, :] by the post traces;
  3. inhibitory neurons (layer designs), then excitatory neurons:
     conductance-based LIF, exact exponential decay of g, V driven by the
     step-averaged conductance, V clamped at E_inh, refractory hold at reset;
  4. spikes: V >= V_th + theta -> reset, refractory, theta += theta_plus;
     post-spike rule (pair-wise, SL-STDP) or FSpiNN spike accumulation;
  5. FSpiNN: at the end of a window with activity, update the winner.
Only the weights of inputs that spiked are touched in step 2; traces are
stored as last-spike times and read through a table of exp(-k dt / tau).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .constants import (
    FC_DT_TAU_M, FC_E_EXC, FC_E_INH, FC_ETA_POST, FC_ETA_PRE, FC_GE_DECAY, FC_GE_GAIN,
    FC_GI_DECAY, FC_GI_GAIN, FC_K_MAX, FC_MU, FC_NORM_TOTAL, FC_S_TH, FC_THETA_DECAY,
    FC_TH_EPS, FC_TH_HI, FC_TH_LO, FC_THETA_PLUS, FC_V_EPS, FC_V_HI, FC_V_LO, FC_V_RESET,
    FC_V_REST, FC_V_TH, FC_W_EI, FC_W_INH, FC_W_MAX, FC_W_SCALE, FC_X_TAR, IC_QTH, IC_QV, IC_QW,
    IC_W_MAX_CODE, Q_NEAREST, Q_NONE, Q_STOCHASTIC,
    FI_DT_TAU_M, FI_E_EXC, FI_GE_DECAY, FI_GE_GAIN, FI_V_RESET, FI_V_REST, FI_V_TH,
    IC_I_REFRAC, IC_MAX_REPRES, IC_MIN_SPIKES, IC_POST_EVERY, IC_REFRAC, IC_RULE, IC_SCHEME,
    IC_STEPS, IC_WINDOW, RULE_FSPINN, RULE_PAIRWISE, RULE_SL, SCHEME_LATERAL,
)
from .counts import (
    C_EXC_SPIKES, C_IMAGES, C_INH_SPIKES, C_INPUT_SPIKES, C_NEURON_UPDATES, C_NORMALISATIONS,
    C_PRESENTATIONS, C_STEPS, C_SYN_EVENTS, C_TRACE_UPDATES, C_WEIGHT_UPDATES, C_WINDOW_UPDATES,
    N_COUNTS,
)
from .encoding import poisson_csr, stream_seed, uniform_open0

# Rounding draws use their own stream, derived from the presentation's input stream.
_ROUNDING_STREAM = np.uint64(0xA5A5F00DCAFEBEEF)


@njit(cache=True)
def make_scratch(n_neurons, n_inputs, n_steps, dtype_probe, fspinn_learning):
    """Per-thread working memory for one presentation."""
    z = dtype_probe[:0]
    v = np.empty(n_neurons, dtype=z.dtype)
    ge = np.empty(n_neurons, dtype=z.dtype)
    gi = np.empty(n_neurons, dtype=z.dtype)
    vi = np.empty(n_neurons, dtype=z.dtype)
    gei = np.empty(n_neurons, dtype=z.dtype)
    drive = np.empty(n_neurons, dtype=z.dtype)
    refr = np.empty(n_neurons, dtype=np.int32)
    refri = np.empty(n_neurons, dtype=np.int32)
    t_last_pre = np.empty(n_inputs, dtype=np.int32)
    t_last_post = np.empty(n_neurons, dtype=np.int32)
    lists = np.empty((5, n_neurons), dtype=np.int32)  # exc now/prev, inh now/prev, fired
    flags = np.zeros((2, n_neurons), dtype=np.uint8)  # previous-step spikes: exc, inh
    n_acc = np.empty(n_neurons, dtype=np.int32)
    dirty = np.zeros(n_neurons, dtype=np.uint8)
    rows = n_neurons if fspinn_learning else 1
    snap = np.empty((rows, n_inputs), dtype=z.dtype)
    ptr = np.empty(n_steps + 1, dtype=np.int64)
    idx = np.empty(n_inputs * n_steps, dtype=np.int32)
    buf = np.empty(n_inputs * n_steps, dtype=np.int64)
    rng = np.zeros(1, dtype=np.uint64)
    return (v, ge, gi, vi, gei, drive, refr, refri, t_last_pre, t_last_post, lists, flags, n_acc,
            dirty, snap, ptr, idx, buf, rng)


# indices into the scratch tuple used outside present()
S_DIRTY, S_PTR, S_IDX, S_BUF, S_RNG = 13, 15, 16, 17, 18


@njit(cache=True, inline="always")
def _trace(table, t, t_last):
    if t_last < 0:
        return table[0] * 0
    return table[t - t_last]


@njit(cache=True, inline="always")
def _next_u(rng):
    """Uniform [0, 1) from the per-presentation stream (stochastic rounding)."""
    s, u = uniform_open0(rng[0])
    rng[0] = s
    return 1.0 - u


@njit(cache=True, inline="always")
def _round_units(y, mode, rng):
    """Round y (in units of eps) to an integer: truncate, nearest (half up) or stochastic."""
    r = np.floor(y)
    if mode == Q_NEAREST:
        if y - r >= 0.5:
            r += 1.0
    elif mode == Q_STOCHASTIC:
        if _next_u(rng) >= 1.0 - (y - r):
            r += 1.0
    return r


@njit(cache=True, inline="always")
def _store_weight(w, i, j, value, qmode, scale, max_code, rng):
    """Write a weight value: as is in float mode, else as a saturated integer code."""
    if qmode == Q_NONE:
        w[i, j] = value
    else:
        c = _round_units(value / scale, qmode, rng)
        c = c if c > 0.0 else 0.0
        c = c if c < max_code else max_code
        w[i, j] = c


@njit(cache=True, inline="always")
def _round_value(x, mode, eps, lo, hi, rng):
    """A potential on its fixed-point grid, saturated to [lo, hi]."""
    x = x if x > lo else lo
    x = x if x < hi else hi
    return _round_units(x / eps, mode, rng) * eps


@njit(cache=True, inline="always")
def _depress_row(w, i, t, fired, n_fired, t_last_post, post_table, eta_pre, mu, qw, w_scale,
                 max_code, rng, dirty):
    """Pair-wise rule on a presynaptic spike of input i: dw = -eta_pre x_post w^mu.

    Only neurons that fired earlier in this presentation have x_post > 0.
    """
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
        _store_weight(w, i, j, wij if wij > zero else zero, qw, w_scale, max_code, rng)
        dirty[j] = 1


@njit(cache=True, inline="always")
def _post_update(w, j, t, t_last_pre, pre_table, eta, x_tar, w_max, mu, qw, w_scale, max_code, rng):
    """Post-spike rule on column j: dw = eta (x_pre - x_tar) (w_max - w)^mu, clipped to [0, w_max].

    x_tar = 0 gives the pair-wise potentiation (FSpiNN Eq. 3); x_tar > 0 SL-STDP.
    """
    zero = pre_table[0] * 0
    if qw == Q_NONE and mu == 1:
        for i in range(w.shape[0]):
            x = _trace(pre_table, t, t_last_pre[i])
            wij = w[i, j]
            room = w_max - wij
            room = room if room > zero else zero
            wij = wij + eta * (x - x_tar) * room
            wij = wij if wij > zero else zero
            w[i, j] = wij if wij < w_max else w_max
        return
    for i in range(w.shape[0]):
        x = _trace(pre_table, t, t_last_pre[i])
        wij = w[i, j] * w_scale
        room = w_max - wij
        room = room if room > zero else zero
        pot = room if mu == 1 else room ** mu
        wij = wij + eta * (x - x_tar) * pot
        wij = wij if wij > zero else zero
        _store_weight(w, i, j, wij if wij < w_max else w_max, qw, w_scale, max_code, rng)


@njit(cache=True)
def present(w, theta, ptr, idx, learn, fc, ic, pre_table, post_table, scratch, counts,
            spike_counts, record, raster):
    """Simulate one presentation of pre-encoded input spikes (CSR by step).

    w holds float weights, or integer codes in fixed-point mode (value = code
    x FC_W_SCALE). Mutates w and theta when learn, adds to counts and
    spike_counts (N,). Records the excitatory raster (steps, N) when record.
    Returns the number of excitatory spikes.
    """
    (v, ge, gi, vi, gei, drive, refr, refri, t_last_pre, t_last_post, lists, flags, n_acc, dirty,
     snap, _p, _i, _b, rng) = scratch
    n_inputs, n = w.shape
    n_steps = ic[IC_STEPS]
    rule = ic[IC_RULE]
    lateral = ic[IC_SCHEME] == SCHEME_LATERAL
    zero = fc[FC_V_REST] * 0
    v_rest, v_reset, v_th = fc[FC_V_REST], fc[FC_V_RESET], fc[FC_V_TH]
    e_exc, e_inh, dt_tau = fc[FC_E_EXC], fc[FC_E_INH], fc[FC_DT_TAU_M]
    ge_decay, gi_decay, ge_gain, gi_gain = fc[FC_GE_DECAY], fc[FC_GI_DECAY], fc[FC_GE_GAIN], fc[FC_GI_GAIN]
    theta_plus, theta_decay = fc[FC_THETA_PLUS], fc[FC_THETA_DECAY]
    w_max, eta_pre, eta_post, mu, x_tar = fc[FC_W_MAX], fc[FC_ETA_PRE], fc[FC_ETA_POST], fc[FC_MU], fc[FC_X_TAR]
    w_inh, w_ei = fc[FC_W_INH], fc[FC_W_EI]
    iv_rest, iv_reset, iv_th = fc[FI_V_REST], fc[FI_V_RESET], fc[FI_V_TH]
    idt_tau, ie_exc, ige_decay, ige_gain = fc[FI_DT_TAU_M], fc[FI_E_EXC], fc[FI_GE_DECAY], fc[FI_GE_GAIN]
    refrac, irefrac = ic[IC_REFRAC], ic[IC_I_REFRAC]
    window, post_every = ic[IC_WINDOW], ic[IC_POST_EVERY]
    qw, qv, qth = ic[IC_QW], ic[IC_QV], ic[IC_QTH]
    w_scale, max_code = fc[FC_W_SCALE], ic[IC_W_MAX_CODE]
    v_eps, v_lo, v_hi = fc[FC_V_EPS], fc[FC_V_LO], fc[FC_V_HI]
    th_eps, th_lo, th_hi = fc[FC_TH_EPS], fc[FC_TH_LO], fc[FC_TH_HI]
    exc_now, exc_prev, inh_now, inh_prev, fired = lists[0], lists[1], lists[2], lists[3], lists[4]
    flag_exc, flag_inh = flags[0], flags[1]
    fbuf = np.empty(2, dtype=v.dtype)

    for j in range(n):
        v[j] = v_rest if qv == Q_NONE else _round_value(v_rest, qv, v_eps, v_lo, v_hi, rng)
        ge[j] = zero
        gi[j] = zero
        vi[j] = iv_rest
        gei[j] = zero
        refr[j] = 0
        refri[j] = 0
        t_last_post[j] = -1
        n_acc[j] = 0
        flag_exc[j] = 0
        flag_inh[j] = 0
    t_last_pre[:] = -1
    n_prev, n_inh_prev, n_fired = 0, 0, 0
    total, window_spikes = 0, 0
    syn, wupd, n_in_total, n_inh_total, n_windows = 0, 0, 0, 0, 0

    for t in range(n_steps):
        # 1. inhibition from the previous step's spikes, no self-inhibition
        # (spike counts are cast to the state dtype first so that the
        # products round exactly as in the batched engine)
        if lateral:
            if n_prev > 0:
                fbuf[0] = n_prev
                fbuf[1] = n_prev - 1
                all_in, self_in = w_inh * fbuf[0], w_inh * fbuf[1]
                for k in range(n):
                    gi[k] += self_in if flag_exc[k] else all_in
        else:
            for q in range(n_prev):
                gei[exc_prev[q]] += w_ei
            if n_inh_prev > 0:
                fbuf[0] = n_inh_prev
                fbuf[1] = n_inh_prev - 1
                all_in, self_in = w_inh * fbuf[0], w_inh * fbuf[1]
                for k in range(n):
                    gi[k] += self_in if flag_inh[k] else all_in

        # 2. input spikes: only the rows of inputs that fired are touched.
        # Float weights add straight into g_e (the hot path). Integer codes are
        # summed apart and added once: an exact sum, whatever the order, which
        # keeps the batched engine bit-identical in fixed point.
        start, stop = ptr[t], ptr[t + 1]
        depress = learn and rule == RULE_PAIRWISE
        coded = qw != Q_NONE and stop > start
        target = drive if coded else ge
        if coded:
            for j in range(n):
                drive[j] = zero
        for a in range(start, stop):
            i = idx[a]
            for j in range(n):
                target[j] += w[i, j]
            if depress:
                _depress_row(w, i, t, fired, n_fired, t_last_post, post_table, eta_pre, mu,
                             qw, w_scale, max_code, rng, dirty)
            t_last_pre[i] = t
        if coded:
            for j in range(n):
                ge[j] += drive[j]
        if depress:
            wupd += (stop - start) * n
        n_in = stop - start
        n_in_total += n_in
        syn += n_in * n

        # 3a. inhibitory layer
        n_inh = 0
        if not lateral:
            for q in range(n_inh_prev):
                flag_inh[inh_prev[q]] = 0
            for j in range(n):
                r = refri[j]
                g = gei[j] * ige_gain
                vn = vi[j] + idt_tau * ((iv_rest - vi[j]) + g * (ie_exc - vi[j]))
                gei[j] *= ige_decay
                if r > 0:
                    refri[j] = r - 1
                elif vn >= iv_th:
                    vi[j] = iv_reset
                    refri[j] = irefrac
                    inh_now[n_inh] = j
                    n_inh += 1
                else:
                    vi[j] = vn
            n_inh_total += n_inh

        # 3b. excitatory neurons (branch-free in float mode so it vectorises)
        if qv == Q_NONE:
            for j in range(n):
                r = refr[j]
                vj = v[j]
                vn = vj + dt_tau * ((v_rest - vj) + ge[j] * ge_gain * (e_exc - vj)
                                    + gi[j] * gi_gain * (e_inh - vj))
                vn = vn if vn > e_inh else e_inh
                v[j] = vn if r == 0 else vj
                refr[j] = r - 1 if r > 0 else 0
                ge[j] *= ge_decay
                gi[j] *= gi_decay
        else:
            for j in range(n):
                r = refr[j]
                vj = v[j]
                vn = vj + dt_tau * ((v_rest - vj) + ge[j] * ge_gain * (e_exc - vj)
                                    + gi[j] * gi_gain * (e_inh - vj))
                vn = vn if vn > e_inh else e_inh
                if r == 0:
                    v[j] = _round_value(vn, qv, v_eps, v_lo, v_hi, rng)
                refr[j] = r - 1 if r > 0 else 0
                ge[j] *= ge_decay
                gi[j] *= gi_decay
        if learn:
            for j in range(n):
                theta[j] *= theta_decay

        # 4. spikes (a refractory neuron sits at v_reset < threshold)
        for q in range(n_prev):
            flag_exc[exc_prev[q]] = 0
        n_now = 0
        if qth == Q_NONE:
            for j in range(n):
                if v[j] >= v_th + theta[j]:
                    exc_now[n_now] = j
                    n_now += 1
        else:
            for j in range(n):
                if v[j] >= _round_value(v_th + theta[j], qth, th_eps, th_lo, th_hi, rng):
                    exc_now[n_now] = j
                    n_now += 1
        for q in range(n_now):
            j = exc_now[q]
            v[j] = v_reset if qv == Q_NONE else _round_value(v_reset, qv, v_eps, v_lo, v_hi, rng)
            refr[j] = refrac
        for q in range(n_now):
            j = exc_now[q]
            flag_exc[j] = 1
            spike_counts[j] += 1
            if t_last_post[j] < 0:
                fired[n_fired] = j
                n_fired += 1
            t_last_post[j] = t
            if record:
                raster[t, j] = 1
            if not learn:
                continue
            theta[j] += theta_plus
            if rule == RULE_PAIRWISE:
                _post_update(w, j, t, t_last_pre, pre_table, eta_post, zero, w_max, mu, qw, w_scale,
                             max_code, rng)
                dirty[j] = 1
                wupd += n_inputs
            elif rule == RULE_SL:
                n_acc[j] += 1
                if n_acc[j] >= post_every:
                    n_acc[j] = 0
                    _post_update(w, j, t, t_last_pre, pre_table, eta_post, x_tar, w_max, mu, qw,
                                 w_scale, max_code, rng)
                    dirty[j] = 1
                    wupd += n_inputs
            else:
                # FSpiNN: accumulate spikes, record the pre traces at this spike
                n_acc[j] += 1
                for i in range(n_inputs):
                    snap[j, i] = _trace(pre_table, t, t_last_pre[i])
        total += n_now
        window_spikes += n_now
        # inhibition fan-out, counted when emitted (delivered next step)
        syn += n_now * (n - 1) if lateral else n_now + n_inh * (n - 1)

        # 5. FSpiNN window end: one update of the winner
        if learn and rule == RULE_FSPINN and ((t + 1) % window == 0 or t == n_steps - 1):
            if window_spikes > 0:
                best = 0
                for j in range(1, n):
                    if n_acc[j] > n_acc[best]:
                        best = j
                k = n_acc[best] / fc[FC_S_TH]
                k = k if k < fc[FC_K_MAX] else fc[FC_K_MAX]
                scale = k * eta_post
                for i in range(n_inputs):
                    wij = w[i, best] * w_scale
                    wij = wij + scale * snap[best, i] * (w_max - wij)
                    _store_weight(w, i, best, wij if wij < w_max else w_max, qw, w_scale, max_code, rng)
                dirty[best] = 1
                wupd += n_inputs
                n_windows += 1
            window_spikes = 0

        # this step's spikes become the previous step's
        for q in range(n_now):
            exc_prev[q] = exc_now[q]
        n_prev = n_now
        for q in range(n_inh):
            inh_prev[q] = inh_now[q]
            flag_inh[inh_now[q]] = 1
        n_inh_prev = n_inh

    n_layers = 1 if lateral else 2
    counts[C_STEPS] += n_steps
    counts[C_INPUT_SPIKES] += n_in_total
    counts[C_EXC_SPIKES] += total
    counts[C_INH_SPIKES] += n_inh_total
    counts[C_NEURON_UPDATES] += n_steps * n * n_layers
    counts[C_SYN_EVENTS] += syn
    if learn:
        counts[C_WEIGHT_UPDATES] += wupd
        n_traces = n_inputs + (n if rule == RULE_PAIRWISE else 0)
        counts[C_TRACE_UPDATES] += n_steps * n_traces
        counts[C_WINDOW_UPDATES] += n_windows
    return total


@njit(cache=True)
def normalise_dirty(w, dirty, norm_total, qmode, scale, max_code, rng):
    """Rescale each changed neuron's incoming weights to sum to norm_total.

    Columns that did not change already sum to norm_total, so skipping them
    is exact up to rounding. In fixed point the rescaled weights are rounded
    back onto the grid (in-training quantization).
    """
    n_inputs, n = w.shape
    for j in range(n):
        if dirty[j] == 0:
            continue
        dirty[j] = 0
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
                    _store_weight(w, i, j, w[i, j] * scale * f, qmode, scale, max_code, rng)


@njit(cache=True)
def run_image(w, theta, image, image_index, seed, learn, fc, ic, pre_table, post_table,
              rate_scale, boost_scale, scratch, counts, spike_counts):
    """Present one image, re-presenting with a higher rate while it evokes too few spikes.

    spike_counts receives the excitatory counts of the last presentation.
    Returns the number of presentations.
    """
    ptr, idx, buf, rng = scratch[S_PTR], scratch[S_IDX], scratch[S_BUF], scratch[S_RNG]
    dirty = scratch[S_DIRTY]
    n_steps = ic[IC_STEPS]
    n = w.shape[1]
    dummy = np.zeros((1, 1), dtype=np.uint8)
    n_pres = 0
    counts[C_IMAGES] += 1
    for rep in range(ic[IC_MAX_REPRES] + 1):
        s = stream_seed(seed, image_index, rep)
        poisson_csr(image, rate_scale + rep * boost_scale, n_steps, s, ptr, idx, buf)
        rng[0] = s ^ _ROUNDING_STREAM
        spike_counts[:] = 0
        got = present(w, theta, ptr, idx, learn, fc, ic, pre_table, post_table, scratch,
                      counts, spike_counts, False, dummy)
        n_pres += 1
        counts[C_PRESENTATIONS] += 1
        if learn:
            normalise_dirty(w, dirty, fc[FC_NORM_TOTAL], ic[IC_QW], fc[FC_W_SCALE],
                            ic[IC_W_MAX_CODE], rng)
            counts[C_NORMALISATIONS] += n
        if got >= ic[IC_MIN_SPIKES]:
            break
    return n_pres


@njit(cache=True)
def train_images(w, theta, images, first_index, seed, fc, ic, pre_table, post_table,
                 rate_scale, boost_scale, counts, spike_counts_out):
    """Train on images in order (learning is sequential). Mutates w, theta."""
    n_inputs, n = w.shape
    scratch = make_scratch(n, n_inputs, ic[IC_STEPS], pre_table, ic[IC_RULE] == RULE_FSPINN)
    for k in range(images.shape[0]):
        run_image(w, theta, images[k], first_index + k, seed, True, fc, ic, pre_table,
                  post_table, rate_scale, boost_scale, scratch, counts, spike_counts_out[k])


@njit(cache=True, parallel=True)
def infer_images(w, theta, images, first_index, seed, fc, ic, pre_table, post_table,
                 rate_scale, boost_scale, n_blocks, counts_out, spike_counts_out):
    """Inference over images in parallel blocks; weights and theta are read only.

    counts_out: (n_blocks, N_COUNTS), summed by the caller.
    """
    n_inputs, n = w.shape
    n_img = images.shape[0]
    for b in prange(n_blocks):
        lo = b * n_img // n_blocks
        hi = (b + 1) * n_img // n_blocks
        scratch = make_scratch(n, n_inputs, ic[IC_STEPS], pre_table, False)
        for k in range(lo, hi):
            run_image(w, theta, images[k], first_index + k, seed, False, fc, ic, pre_table,
                      post_table, rate_scale, boost_scale, scratch, counts_out[b],
                      spike_counts_out[k])


def present_given(w, theta, spikes, learn, consts, counts=None, rng_seed=0):
    """Run one presentation of given dense spikes (steps, 784); returns the raster.

    For tests and cross-engine checks: no Poisson sampling, no re-presentation.
    """
    n_inputs, n = w.shape
    steps = spikes.shape[0]
    ptr = np.zeros(steps + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(spikes.sum(axis=1))
    idx = np.nonzero(spikes)[1].astype(np.int32)
    scratch = make_scratch(n, n_inputs, steps, consts.pre_table, True)
    scratch[S_RNG][0] = np.uint64(rng_seed)
    counts = np.zeros(N_COUNTS, dtype=np.int64) if counts is None else counts
    raster = np.zeros((steps, n), dtype=np.uint8)
    spike_counts = np.zeros(n, dtype=np.int64)
    present(w, theta, ptr, idx, learn, consts.fc, consts.ic, consts.pre_table, consts.post_table,
            scratch, counts, spike_counts, True, raster)
    if learn:
        normalise_dirty(w, scratch[S_DIRTY], consts.fc[FC_NORM_TOTAL], consts.ic[IC_QW],
                        consts.fc[FC_W_SCALE], consts.ic[IC_W_MAX_CODE], scratch[S_RNG])
    return raster
