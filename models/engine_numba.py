"""Compiled event-driven engine: a whole presentation (all time steps) per call.

Step order within one step t (the specification; the torch engine and the
numpy reference follow it):
  1. inhibition from the previous step's spikes (one-step synaptic delay):
     lateral: g_i[k] += w_lat per excitatory spike of j != k;
     layer: exc j -> inh j (w_ei), inh j -> exc k != j (w_ie); with a
     one-step loop (inhibition.layer_loop_steps = 1, the recipes' default)
     the inhibitory neurons update here and their spikes reach g_i at once,
     with two (Diehl & Cook as first stepped) they update in step 3 and
     their spikes arrive in the next step;
  2. input spikes of step t: g_e[j] += w[i, j]; pre traces set to 1;
     pair-wise rule: depression of w[i, :] by the post traces;
  3. inhibitory neurons (layer designs, two-step loop), then excitatory neurons:
     conductance-based LIF, exact exponential decay of g, V driven by the
     step-averaged conductance, V clamped at E_inh, refractory hold at reset;
     while learning theta decays by exp(-dt / tau_theta), kept in float64
     (the float32 factor is a multiple of 2^-24 below 1);
  4. spikes: V >= V_th + theta -> reset, refractory, theta += theta_plus;
     post-spike rule (pair-wise, SL-STDP) or FSpiNN spike accumulation;
  5. FSpiNN: at the end of a window with activity, update the winner.
Only the weights of inputs that spiked are touched in step 2; traces are
stored as last-spike times and read through a table of exp(-k dt / tau).
The neuron updates are in neurons.py, the rules and schemes in rules.py.

One compiled variant serves training and inference (learn is a runtime
flag); inference runs blocks of images on threads (nogil), so no parallel
variant is compiled. Variants differ only by array dtypes: the state dtype
(float32; float64 in cross-engine tests) and the weight storage (float, or
uint8/uint16 integer codes in fixed point).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .constants import (
    FC_DT_TAU_M, FC_E_EXC, FC_E_INH, FC_ETA_POST, FC_GE_DECAY, FC_GE_GAIN,
    FC_GI_DECAY, FC_GI_GAIN, FC_K_MAX, FC_NORM_TOTAL, FC_S_TH, FC_THETA_LOG_DECAY,
    FC_TH_EPS, FC_TH_HALF, FC_TH_HI, FC_TH_INV, FC_TH_LO, FC_THETA_PLUS, FC_V_EPS, FC_V_HALF, FC_V_HI, FC_V_INV, FC_V_LO, FC_V_RESET,
    FC_V_REST, FC_V_TH, FC_W_EI, FC_W_INH, FC_W_MAX, FC_W_SCALE, IC_QTH, IC_QV, IC_QW,
    IC_W_MAX_CODE, Q_NONE, Q_STOCHASTIC, IC_EXIT_MARGIN, IC_EXIT_MIN_STEPS, IC_LAYER_LOOP_STEPS, IC_WINNERS,
    FI_DT_TAU_M, FI_E_EXC, FI_GE_DECAY, FI_GE_GAIN, FI_V_RESET, FI_V_REST, FI_V_TH,
    IC_I_REFRAC, IC_MAX_REPRES, IC_MIN_SPIKES, IC_REFRAC, IC_RULE, IC_SCHEME,
    IC_RHO_RAMP_IMAGES, IC_STEPS, IC_THETA_ANNEAL_IMAGES, IC_WINDOW, RULE_FSPINN, RULE_PAIRWISE, SCHEME_LATERAL,
)
from .counts import (
    C_COLUMNS_NORMALISED, C_DEPRESSIONS, C_EXC_SPIKES, C_IMAGES, C_INH_SPIKES, C_INPUT_SPIKES,
    C_NEURON_UPDATES, C_NORMALISATIONS, C_PRESENTATIONS, C_STEPS, C_SYN_EVENTS, C_TRACE_UPDATES,
    C_WEIGHT_UPDATES, C_WINDOW_UPDATES, N_COUNTS,
)
from .early_exit import MAX_CLASSES, NO_LABELS, cast_votes, decided
from .encoding import poisson_csr, stream_seed
from .neurons import (excitatory_step, find_spikes, find_spikes_stochastic, inhibitory_step, on_grid,
                      schedule_image, threshold_candidates, thresholds)
from .rules import (
    deliver_inputs, depress_on_pre_spike, drive_inhibitory_layer, fspinn_update_winners, learn_on_post_spike,
    normalise_dirty, spread_inhibition,
)

# Rounding draws use their own stream, derived from the presentation's input
# stream; stochastic potentials and thresholds draw by counter (step, neuron)
# from two more, so that their loops carry no stream state.
_ROUNDING_STREAM = np.uint64(0xA5A5F00DCAFEBEEF)
_VMEM_STREAM = np.uint64(0x3C6EF372FE94F82B)
_THRESHOLD_STREAM = np.uint64(0x7E57AB1E5EEDF00D)


@njit(cache=True)
def make_scratch(n_neurons, n_inputs, n_steps, dtype_probe, fspinn_learning):
    """Per-thread working memory for one presentation."""
    z = dtype_probe[:0]
    # v, ge, gi, vi, gei, drive; fixed-point threshold (or its lower candidate), upper candidate, fraction
    layer = np.empty((9, n_neurons), dtype=z.dtype)
    theta_exact = np.empty(n_neurons, dtype=np.float64)  # theta in float64 while learning (present)
    counters = np.empty((4, n_neurons), dtype=np.int32)  # refr, refri, t_last_post, n_acc
    t_last_pre = np.empty(n_inputs, dtype=np.int32)
    lists = np.empty((5, n_neurons), dtype=np.int32)  # exc now/prev, inh now/prev, fired
    flags = np.zeros((2, n_neurons), dtype=np.uint8)  # previous-step spikes: exc, inh
    dirty = np.zeros(n_neurons, dtype=np.uint8)
    rows = n_neurons if fspinn_learning else 1
    snap = np.empty((rows, n_inputs), dtype=z.dtype)
    ptr = np.empty(n_steps + 1, dtype=np.int64)
    idx = np.empty(n_inputs * n_steps, dtype=np.int32)
    buf = np.empty(n_inputs * n_steps, dtype=np.int64)
    rng = np.zeros(1, dtype=np.uint64)
    votes = np.zeros(MAX_CLASSES, dtype=np.int32)  # early exit: spikes per assigned class
    stats = np.zeros(2, dtype=np.int64)  # of the last presentation: steps run, exited early
    return (layer, counters, t_last_pre, lists, flags, dirty, snap, ptr, idx, buf, rng, votes, stats, theta_exact)


# indices into the scratch tuple used outside present()
S_DIRTY, S_PTR, S_IDX, S_BUF, S_RNG, S_STATS = 5, 7, 8, 9, 10, 12


@njit(cache=True)
def _layer_constants(fc):
    """The constants each layer update reads, as tuples: excitatory, inhibitory, vmem grid, vth grid."""
    fc_v = (fc[FC_V_REST], fc[FC_E_EXC], fc[FC_E_INH], fc[FC_DT_TAU_M], fc[FC_GE_GAIN], fc[FC_GI_GAIN],
            fc[FC_GE_DECAY], fc[FC_GI_DECAY])
    fc_i = (fc[FI_V_REST], fc[FI_V_RESET], fc[FI_V_TH], fc[FI_DT_TAU_M], fc[FI_E_EXC], fc[FI_GE_DECAY],
            fc[FI_GE_GAIN])
    v_grid = (fc[FC_V_EPS], fc[FC_V_LO], fc[FC_V_HI], fc[FC_V_INV], fc[FC_V_HALF])
    th_grid = (fc[FC_TH_EPS], fc[FC_TH_LO], fc[FC_TH_HI], fc[FC_TH_INV], fc[FC_TH_HALF])
    return fc_v, fc_i, v_grid, th_grid


@njit(cache=True)
def _reset_presentation(v, ge, gi, vi, gei, refr, refri, t_last_post, n_acc, flags, t_last_pre, fc, qv, v_grid,
                        rng):
    """State at the start of a presentation: potentials at rest, no conductance, traces, counters.

    In fixed point each neuron's rest value is put on the vmem grid apart
    (stochastic rounding draws one value per neuron).
    """
    for j in range(v.shape[0]):
        ge[j] = 0
        gi[j] = 0
        vi[j] = fc[FI_V_REST]
        gei[j] = 0
        refr[j] = 0
        refri[j] = 0
        t_last_post[j] = -1
        n_acc[j] = 0
        flags[0, j] = 0
        flags[1, j] = 0
    t_last_pre[:] = -1
    v[:] = fc[FC_V_REST]
    if qv != Q_NONE:
        for j in range(v.shape[0]):
            v[j] = on_grid(fc[FC_V_REST], qv, v_grid[0], v_grid[1], v_grid[2], rng)


@njit(cache=True)
def present(w, theta, ptr, idx, learn, fc, ic, pre_table, post_table, scratch, counts,
            spike_counts, record, raster, labels):
    """Simulate one presentation of pre-encoded input spikes (CSR by step).

    w holds float weights, or integer codes in fixed-point mode (value = code
    x FC_W_SCALE). Mutates w and theta when learn, adds to counts and
    spike_counts (N,). Records the excitatory raster (steps, N) when record.
    In inference with an exit margin (early_exit.py) it stops once the
    class voted by the neuron labels is decided. Returns the number of
    excitatory spikes; scratch[S_STATS] holds the steps run and whether it exited.
    """
    layer, counters, t_last_pre, lists, flags, dirty, snap, _p, _i, _b, rng, votes, stats, theta_exact = scratch
    v, ge, gi, vi, gei, drive = layer[0], layer[1], layer[2], layer[3], layer[4], layer[5]
    thr, thr_hi, thr_frac = layer[6], layer[7], layer[8]
    refr, refri, t_last_post, n_acc = counters[0], counters[1], counters[2], counters[3]
    exc_now, exc_prev, inh_now, inh_prev, fired = lists[0], lists[1], lists[2], lists[3], lists[4]
    flag_exc, flag_inh = flags[0], flags[1]
    n_inputs, n = w.shape
    n_steps, rule = ic[IC_STEPS], ic[IC_RULE]
    lateral = ic[IC_SCHEME] == SCHEME_LATERAL
    one_step_loop = ic[IC_LAYER_LOOP_STEPS] == 1
    qw, qv, qth = ic[IC_QW], ic[IC_QV], ic[IC_QTH]
    fc_v, fc_i, v_grid, th_grid = _layer_constants(fc)
    v_th, v_reset = fc[FC_V_TH], fc[FC_V_RESET]
    fbuf = np.empty(2, dtype=v.dtype)
    _reset_presentation(v, ge, gi, vi, gei, refr, refri, t_last_post, n_acc, flags, t_last_pre, fc, qv, v_grid, rng)
    # frozen thresholds (inference) are put on their grid once per presentation
    if qth != Q_NONE and not learn:
        _fixed_point_thresholds(theta, v_th, qth, th_grid, thr, thr_hi, thr_frac)
    v_key, thr_key = rng[0] ^ _VMEM_STREAM, rng[0] ^ _THRESHOLD_STREAM
    n_prev, n_inh_prev, n_fired, total, window_spikes = 0, 0, 0, 0, 0
    syn, wupd, n_in_total, n_inh_total, n_windows, n_depressed = 0, 0, 0, 0, 0, 0
    depress, exit_margin = learn and rule == RULE_PAIRWISE, 0 if learn else ic[IC_EXIT_MARGIN]
    votes[:] = 0
    t_end, exited = n_steps, 0
    # While learning, theta is carried in float64 through the presentation and theta (the engine's dtype)
    # is its rounding: a decay of 1 - 1e-7 per step is below float32's spacing (docs/model.md, step 3).
    # Each presentation starts from theta itself, so training in chunks (and resuming) stays bit-identical.
    theta_factor = math.exp(np.float64(fc[FC_THETA_LOG_DECAY]))
    if learn:
        theta_exact[:] = theta

    for t in range(n_steps):
        # 1. inhibition from the previous step's spikes, no self-inhibition
        n_inh = 0
        if lateral:
            spread_inhibition(gi, flag_exc, n_prev, fc[FC_W_INH], fbuf)
        else:
            drive_inhibitory_layer(gei, exc_prev, n_prev, fc[FC_W_EI])
            if one_step_loop:  # the inhibitory layer answers at once (ours, docs/model.md)
                n_inh = inhibitory_step(vi, gei, refri, fc_i, ic[IC_I_REFRAC], flag_inh, inh_now)
                n_inh_total += n_inh
                spread_inhibition(gi, flag_inh, n_inh, fc[FC_W_INH], fbuf)
            else:
                spread_inhibition(gi, flag_inh, n_inh_prev, fc[FC_W_INH], fbuf)

        # 2. input spikes: only the rows of inputs that fired are touched
        start, stop = ptr[t], ptr[t + 1]
        deliver_inputs(w, idx, start, stop, ge, drive, qw != Q_NONE)
        for a in range(start, stop):
            if depress:
                depress_on_pre_spike(w, idx[a], t, fired, n_fired, t_last_post, post_table, fc, ic, rng, dirty)
            t_last_pre[idx[a]] = t
        wupd += (stop - start) * n if depress else 0  # the rule as specified: every neuron
        n_depressed += (stop - start) * n_fired if depress else 0  # what the engine touched
        n_in_total += stop - start
        syn += (stop - start) * n

        # 3. inhibitory layer (two-step loop), then excitatory neurons
        if not lateral and not one_step_loop:
            for q in range(n_inh_prev):
                flag_inh[inh_prev[q]] = 0
            n_inh = inhibitory_step(vi, gei, refri, fc_i, ic[IC_I_REFRAC], flag_inh, inh_now)
            n_inh_total += n_inh
        excitatory_step(v, ge, gi, refr, fc_v, qv, v_grid, v_key, t)
        if learn:
            for j in range(n):
                theta_exact[j] *= theta_factor
                theta[j] = theta_exact[j]

        # 4. spikes, reset, adaptive threshold, post-spike learning
        for q in range(n_prev):
            flag_exc[exc_prev[q]] = 0
        if qth != Q_NONE and learn:
            _fixed_point_thresholds(theta, v_th, qth, th_grid, thr, thr_hi, thr_frac)
        if qth == Q_STOCHASTIC:
            n_now = find_spikes_stochastic(v, thr, thr_hi, thr_frac, thr_key, t, exc_now)
        else:
            n_now = find_spikes(v, theta, v_th, thr, qth, exc_now)
        for q in range(n_now):
            j = exc_now[q]
            v[j] = v_reset if qv == Q_NONE else on_grid(v_reset, qv, v_grid[0], v_grid[1], v_grid[2], rng)
            refr[j] = ic[IC_REFRAC]
        n_fired = _note_spikes(exc_now, n_now, t, flag_exc, spike_counts, t_last_post, fired, n_fired, record, raster)
        if learn:
            for q in range(n_now):
                theta_exact[exc_now[q]] += fc[FC_THETA_PLUS]
                theta[exc_now[q]] = theta_exact[exc_now[q]]
                wupd += learn_on_post_spike(w, exc_now[q], t, rule, fc, ic, t_last_pre, pre_table, n_acc, snap,
                                            dirty, rng)
        total += n_now
        window_spikes += n_now
        # inhibition fan-out, counted when emitted (delivered next step)
        syn += n_now * (n - 1) if lateral else n_now + n_inh * (n - 1)

        # 5. FSpiNN window end: one update of the winner (or of the top winners_per_window)
        if learn and rule == RULE_FSPINN and ((t + 1) % ic[IC_WINDOW] == 0 or t == n_steps - 1):
            if window_spikes > 0:
                wupd += n_inputs * fspinn_update_winners(w, snap, n_acc, ic[IC_WINNERS], fc[FC_ETA_POST],
                                                         fc[FC_S_TH], fc[FC_K_MAX], fc[FC_W_MAX], qw,
                                                         fc[FC_W_SCALE], ic[IC_W_MAX_CODE], rng, dirty)
                n_windows += 1
            window_spikes = 0

        # this step's spikes become the previous step's
        n_prev = _keep(exc_now, n_now, exc_prev)
        n_inh_prev = _keep(inh_now, n_inh, inh_prev)
        for q in range(n_inh):
            flag_inh[inh_now[q]] = 1

        # early exit: this step's spikes vote; stop once the class is decided
        if exit_margin > 0:
            cast_votes(votes, labels, exc_now, n_now)
            if t + 1 >= ic[IC_EXIT_MIN_STEPS] and decided(votes, exit_margin):
                t_end, exited = t + 1, 1
                break

    _add_counts(counts, t_end, n, n_inputs, lateral, learn, rule, n_in_total, total, n_inh_total, syn, wupd,
                n_windows, n_depressed)
    stats[0], stats[1] = t_end, exited
    return total


@njit(cache=True)
def _note_spikes(exc_now, n_now, t, flag_exc, spike_counts, t_last_post, fired, n_fired, record, raster):
    """Bookkeeping of this step's spikes: flags, counts, last-spike times, the neurons that fired so far."""
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
    return n_fired


@njit(cache=True)
def _keep(now, n_now, prev):
    """prev[:n_now] = now[:n_now]: this step's spikes become the previous step's."""
    for q in range(n_now):
        prev[q] = now[q]
    return n_now


@njit(cache=True)
def _fixed_point_thresholds(theta, v_th, qth, grid, thr, thr_hi, thr_frac):
    """Thresholds on the vth grid: rounded (truncate, nearest) or as candidates (stochastic)."""
    if qth == Q_STOCHASTIC:
        threshold_candidates(theta, v_th, grid, thr, thr_hi, thr_frac)
    else:
        thresholds(theta, v_th, thr, grid)


@njit(cache=True)
def _add_counts(counts, n_steps, n, n_inputs, lateral, learn, rule, n_in_total, n_exc, n_inh_total, syn, wupd,
                n_windows, n_depressed):
    """Activity counts of one presentation (models/counts.py: the rule as specified, clock-driven,
    and the depressions the engine actually did)."""
    counts[C_STEPS] += n_steps
    counts[C_INPUT_SPIKES] += n_in_total
    counts[C_EXC_SPIKES] += n_exc
    counts[C_INH_SPIKES] += n_inh_total
    counts[C_NEURON_UPDATES] += n_steps * n * (1 if lateral else 2)
    counts[C_SYN_EVENTS] += syn
    if learn:
        counts[C_WEIGHT_UPDATES] += wupd
        n_traces = n_inputs + (n if rule == RULE_PAIRWISE else 0)
        counts[C_TRACE_UPDATES] += n_steps * n_traces
        counts[C_WINDOW_UPDATES] += n_windows
        counts[C_DEPRESSIONS] += n_depressed


@njit(cache=True)
def run_image(w, theta, image, image_index, seed, learn, fc, ic, pre_table, post_table,
              rate_scale, boost_scale, scratch, counts, spike_counts, labels):
    """Present one image, re-presenting with a higher rate while it evokes too few spikes.

    spike_counts receives the excitatory counts of the last presentation. A
    presentation that exits early is decided and not repeated. Returns the
    number of steps run over all presentations.
    """
    ptr, idx, buf, rng = scratch[S_PTR], scratch[S_IDX], scratch[S_BUF], scratch[S_RNG]
    dirty, stats = scratch[S_DIRTY], scratch[S_STATS]
    n_steps = ic[IC_STEPS]
    n = w.shape[1]
    dummy = np.zeros((1, 1), dtype=np.uint8)
    steps_run = 0
    counts[C_IMAGES] += 1
    for rep in range(ic[IC_MAX_REPRES] + 1):
        s = stream_seed(seed, image_index, rep)
        poisson_csr(image, rate_scale + rep * boost_scale, n_steps, s, ptr, idx, buf)
        rng[0] = s ^ _ROUNDING_STREAM
        spike_counts[:] = 0
        got = present(w, theta, ptr, idx, learn, fc, ic, pre_table, post_table, scratch,
                      counts, spike_counts, False, dummy, labels)
        steps_run += stats[0]
        counts[C_PRESENTATIONS] += 1
        if learn:
            counts[C_COLUMNS_NORMALISED] += normalise_dirty(w, dirty, fc[FC_NORM_TOTAL], ic[IC_QW], fc[FC_W_SCALE],
                                                            ic[IC_W_MAX_CODE], rng)
            counts[C_NORMALISATIONS] += n
        if got >= ic[IC_MIN_SPIKES] or stats[1]:
            break
    return steps_run


@njit(cache=True, nogil=True)
def run_images(w, theta, images, first_index, seed, learn, fc, ic, pre_table, post_table,
               rate_scale, boost_scale, counts, spike_counts_out, labels, steps_out):
    """Run images in order: learning (sequential by nature) or one inference block of a thread.

    Mutates w and theta when learn. Releases the GIL, so inference blocks run
    on several threads at once (weights and theta are then only read).
    steps_out receives the steps each image ran (all its presentations).
    """
    n_inputs, n = w.shape
    scratch = make_scratch(n, n_inputs, ic[IC_STEPS], pre_table, learn and ic[IC_RULE] == RULE_FSPINN)
    # An annealed threshold step and a ramped lateral inhibition change per image: a private copy of
    # the constants carries them. Inference uses the constants as given (the ramp's end).
    per_image = learn and (ic[IC_THETA_ANNEAL_IMAGES] > 0 or ic[IC_RHO_RAMP_IMAGES] > 0)
    fc_image = fc.copy() if per_image else fc
    for k in range(images.shape[0]):
        if per_image:
            schedule_image(fc_image, fc, ic, first_index + k)
        steps_out[k] = run_image(w, theta, images[k], first_index + k, seed, learn, fc_image, ic, pre_table,
                                 post_table, rate_scale, boost_scale, scratch, counts, spike_counts_out[k], labels)


def present_given(w, theta, spikes, learn, consts, counts=None, rng_seed=0, labels=NO_LABELS, image_index=0):
    """Run one presentation of given dense spikes (steps, 784); returns the raster.

    For tests and cross-engine checks: no Poisson sampling, no re-presentation.
    With an exit rule in consts (and labels), the raster holds only the steps run.
    Learning uses the constants of training image image_index (schedule_image).
    """
    n_inputs, n = w.shape
    base = consts.fc_for(n)
    fc = base
    if learn:
        fc = base.copy()
        schedule_image(fc, base, consts.ic, image_index)
    steps = spikes.shape[0]
    ptr = np.zeros(steps + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(spikes.sum(axis=1))
    idx = np.nonzero(spikes)[1].astype(np.int32)
    scratch = make_scratch(n, n_inputs, steps, consts.pre_table, True)
    scratch[S_RNG][0] = np.uint64(rng_seed)
    counts = np.zeros(N_COUNTS, dtype=np.int64) if counts is None else counts
    raster = np.zeros((steps, n), dtype=np.uint8)
    spike_counts = np.zeros(n, dtype=np.int64)
    present(w, theta, ptr, idx, learn, fc, consts.ic, consts.pre_table, consts.post_table,
            scratch, counts, spike_counts, True, raster, labels)
    if learn:
        counts[C_COLUMNS_NORMALISED] += normalise_dirty(w, scratch[S_DIRTY], consts.fc[FC_NORM_TOTAL],
                                                        consts.ic[IC_QW], consts.fc[FC_W_SCALE],
                                                        consts.ic[IC_W_MAX_CODE], scratch[S_RNG])
        counts[C_NORMALISATIONS] += n
    return raster[:scratch[S_STATS][0]]
