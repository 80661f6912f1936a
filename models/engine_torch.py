"""Batched, clock-driven inference engine in torch (CPU, or CUDA where present).

It follows the step order of engine_numba (see its docstring) for a batch of
images at once: input drive is a dense (B, 784) x (784, N) product per step.
Input spikes come from the same counter-based Poisson streams as the compiled
engine, so both engines see identical inputs for the same seed; in float64
they produce identical spikes, in float32 they differ only where summation
order flips a threshold crossing.
"""

from __future__ import annotations

import numpy as np

from .constants import (
    FC_DT_TAU_M, FC_E_EXC, FC_E_INH, FC_GE_DECAY, FC_GE_GAIN, FC_GI_DECAY, FC_GI_GAIN,
    FC_V_RESET, FC_V_REST, FC_V_TH, FC_W_EI, FC_W_INH, FI_DT_TAU_M, FI_E_EXC, FI_GE_DECAY,
    FI_GE_GAIN, FI_V_RESET, FI_V_REST, FI_V_TH, IC_I_REFRAC, IC_MAX_REPRES, IC_MIN_SPIKES,
    IC_REFRAC, IC_SCHEME, SCHEME_LATERAL, EngineConstants, IC_EXIT_MARGIN, IC_EXIT_MIN_STEPS, IC_LAYER_LOOP_STEPS,
    FC_V_EPS, FC_V_LO, FC_V_HI,
    FC_TH_EPS, FC_TH_LO, FC_TH_HI, IC_QV, IC_QTH, Q_NONE, Q_NEAREST, Q_STOCHASTIC,
)
from .counts import (
    C_EXC_SPIKES, C_IMAGES, C_INH_SPIKES, C_INPUT_SPIKES, C_NEURON_UPDATES, C_PRESENTATIONS,
    C_STEPS, C_SYN_EVENTS,
)
from .early_exit import MAX_CLASSES
from .encoding import encode_dense


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def present_batch(weights, theta, spikes, consts: EngineConstants, record: bool = False, labels=None):
    """Simulate one presentation of a batch of dense spikes (B, steps, 784) (torch tensors).

    Returns (spike counts (B, N) int64, raster (B, steps, N) bool or None,
    inhibitory spike total, steps run (B,) int64). With an exit margin in
    consts.ic and neuron labels (N,), each image stops as in the compiled
    engine (models/early_exit.py): its counts and raster end at its exit step.
    """
    import torch

    fc = [float(x) for x in consts.fc_for(int(weights.shape[1]))]  # the size's inhibition, as the compiled engine
    ic = consts.ic
    dtype, device = weights.dtype, weights.device
    b, steps, _ = spikes.shape
    n = weights.shape[1]
    lateral = int(ic[IC_SCHEME]) == SCHEME_LATERAL
    one_step_loop = int(ic[IC_LAYER_LOOP_STEPS]) == 1

    def const(k):
        return torch.tensor(fc[k], dtype=dtype, device=device)

    v_rest, v_reset, v_th = const(FC_V_REST), const(FC_V_RESET), const(FC_V_TH)
    e_exc, e_inh, dt_tau = const(FC_E_EXC), const(FC_E_INH), const(FC_DT_TAU_M)
    ge_decay, gi_decay, ge_gain, gi_gain = const(FC_GE_DECAY), const(FC_GI_DECAY), const(FC_GE_GAIN), const(FC_GI_GAIN)
    w_inh, w_ei = const(FC_W_INH), const(FC_W_EI)
    inh_layer = tuple(const(k) for k in (FI_V_REST, FI_V_RESET, FI_V_TH, FI_DT_TAU_M, FI_E_EXC, FI_GE_DECAY,
                                         FI_GE_GAIN)) + (int(ic[IC_I_REFRAC]),)
    refrac = int(ic[IC_REFRAC])
    round_v, round_th = _potential_rounders(ic, const)
    v_reset = round_v(v_reset)

    zeros = torch.zeros((b, n), dtype=dtype, device=device)
    v, ge, gi = zeros + round_v(v_rest), zeros.clone(), zeros.clone()
    vi, gei = zeros + inh_layer[0], zeros.clone()
    refr, refri = (torch.zeros((b, n), dtype=torch.int32, device=device) for _ in range(2))
    prev, prev_inh = (torch.zeros((b, n), dtype=torch.bool, device=device) for _ in range(2))
    counts = torch.zeros((b, n), dtype=torch.int64, device=device)
    raster = torch.zeros((b, steps, n), dtype=torch.bool, device=device) if record else None
    threshold = round_th(v_th + theta.to(dtype))
    inh_total = 0
    spikes = spikes.to(dtype)
    exit_margin, exit_min_steps = int(ic[IC_EXIT_MARGIN]), int(ic[IC_EXIT_MIN_STEPS])
    running = torch.ones(b, dtype=torch.bool, device=device)
    steps_run = torch.full((b,), steps, dtype=torch.int64, device=device)
    if exit_margin > 0:
        votes = torch.zeros((b, MAX_CLASSES), dtype=dtype, device=device)  # whole numbers, exact
        vote_of = _one_hot_labels(labels, n, device).to(dtype)

    for t in range(steps):
        if lateral:
            gi = gi + w_inh * (prev.sum(dim=1, keepdim=True) - prev.to(torch.int64)).to(dtype)
        else:
            gei = gei + w_ei * prev.to(dtype)
            if one_step_loop:
                vi, gei, refri, prev_inh = _inhibitory_step(vi, gei, refri, inh_layer)
                inh_total += int((prev_inh & running[:, None]).sum())
            gi = gi + w_inh * (prev_inh.sum(dim=1, keepdim=True) - prev_inh.to(torch.int64)).to(dtype)
        ge = ge + spikes[:, t, :] @ weights
        if not lateral and not one_step_loop:
            vi, gei, refri, spk_i = _inhibitory_step(vi, gei, refri, inh_layer)
            inh_total += int((spk_i & running[:, None]).sum())
            prev_inh = spk_i
        vn = v + dt_tau * ((v_rest - v) + ge * ge_gain * (e_exc - v) + gi * gi_gain * (e_inh - v))
        vn = round_v(torch.maximum(vn, e_inh))
        v = torch.where(refr == 0, vn, v)
        refr = torch.where(refr > 0, refr - 1, 0)
        ge = ge * ge_decay
        gi = gi * gi_decay
        spk = v >= threshold
        v = torch.where(spk, v_reset, v)
        refr = torch.where(spk, refrac, refr)
        counted = spk & running[:, None]  # an image that exited keeps its counts
        counts += counted
        if record:
            raster[:, t, :] = counted
        prev = spk
        if exit_margin > 0:
            votes += counted.to(dtype) @ vote_of
            if t + 1 >= exit_min_steps:
                running, steps_run = _exit_check(votes, running, steps_run, t, exit_margin)
                if not bool(running.any()):
                    break
    return counts, raster, inh_total, steps_run


def _potential_rounders(ic, const):
    """Rounding of potentials and thresholds to their fixed-point grids (identity in FP32)."""
    qv, qth = int(ic[IC_QV]), int(ic[IC_QTH])
    if Q_STOCHASTIC in (qv, qth):
        raise ValueError("stochastic rounding of potentials runs only in the compiled engine: use --engine numba")
    return (_rounder(qv, const(FC_V_EPS), const(FC_V_LO), const(FC_V_HI)),
            _rounder(qth, const(FC_TH_EPS), const(FC_TH_LO), const(FC_TH_HI)))


def _inhibitory_step(vi, gei, refri, inh_layer):
    """One step of the inhibitory layer (the layer designs): potentials, conductance decay, spikes."""
    import torch

    iv_rest, iv_reset, iv_th, idt_tau, ie_exc, ige_decay, ige_gain, irefrac = inh_layer
    vn = vi + idt_tau * ((iv_rest - vi) + gei * ige_gain * (ie_exc - vi))
    gei = gei * ige_decay
    active = refri == 0
    spk_i = active & (vn >= iv_th)
    vi = torch.where(spk_i, iv_reset, torch.where(active, vn, vi))
    refri = torch.where(spk_i, irefrac, torch.where(active, refri, refri - 1))
    return vi, gei, refri, spk_i


def _exit_check(votes, running, steps_run, t: int, margin: int):
    """Images whose leading class leads the next by ``margin`` votes stop after step t (models/early_exit.py)."""
    import torch

    top2 = torch.topk(votes, 2, dim=1).values
    stop = running & (top2[:, 0] - top2[:, 1] >= margin)
    return running & ~stop, torch.where(stop, t + 1, steps_run)


def _one_hot_labels(labels, n: int, device):
    """(N, MAX_CLASSES) int64: row j is the vote of neuron j's spike (zero for unassigned neurons)."""
    import torch

    if labels is None:
        raise ValueError("early exit needs the neuron labels")
    lab = torch.as_tensor(np.asarray(labels), dtype=torch.int64, device=device)
    out = torch.zeros((n, MAX_CLASSES), dtype=torch.int64, device=device)
    assigned = lab >= 0
    out[torch.nonzero(assigned).flatten(), lab[assigned]] = 1
    return out


def infer_torch(weights: np.ndarray, theta: np.ndarray, images: np.ndarray, first_index: int,
                seed: int, consts: EngineConstants, counts: np.ndarray, *, device: str | None = None,
                batch: int = 256, labels: np.ndarray | None = None,
                steps: np.ndarray | None = None) -> np.ndarray:
    """Spike counts (n, N) for images, with Diehl & Cook re-presentation, batched.

    With an exit margin in consts.ic, images stop early by the neuron labels;
    steps (n,), if given, receives the steps each image ran.
    """
    import torch

    device = device or default_device()
    dtype = torch.float64 if weights.dtype == np.float64 else torch.float32
    w = torch.as_tensor(weights, dtype=dtype, device=device)
    th = torch.as_tensor(theta, dtype=dtype, device=device)
    n_img, n = len(images), weights.shape[1]
    lateral = int(consts.ic[IC_SCHEME]) == SCHEME_LATERAL
    out = np.zeros((n_img, n), dtype=np.int32)
    for lo in range(0, n_img, batch):
        pending = np.arange(lo, min(lo + batch, n_img))
        counts[C_IMAGES] += len(pending)
        for rep in range(int(consts.ic[IC_MAX_REPRES]) + 1):
            rate = consts.f_max_hz + rep * consts.rate_boost_hz
            dense = np.stack([encode_dense(images[k:k + 1], rate, consts.dt_ms, consts.n_steps,
                                           seed, rep, first_index + k)[0] for k in pending])
            spk_counts, _, inh, ran = present_batch(w, th, torch.as_tensor(dense, device=device), consts,
                                                    labels=labels)
            got = spk_counts.cpu().numpy()
            ran = ran.cpu().numpy()
            out[pending] = got
            if steps is not None:
                steps[pending] += ran
            n_in = int(sum(dense[k, :ran[k]].sum() for k in range(len(pending))))
            exc = int(got.sum())
            counts[C_PRESENTATIONS] += len(pending)
            counts[C_STEPS] += int(ran.sum())
            counts[C_INPUT_SPIKES] += n_in
            counts[C_EXC_SPIKES] += exc
            counts[C_INH_SPIKES] += inh
            counts[C_NEURON_UPDATES] += int(ran.sum()) * n * (1 if lateral else 2)
            counts[C_SYN_EVENTS] += n_in * n + _inhibition_events(got, inh, n, lateral)
            decided = ran < consts.n_steps
            pending = pending[(got.sum(axis=1) < consts.ic[IC_MIN_SPIKES]) & ~decided]
            if len(pending) == 0:
                break
    return out


def _inhibition_events(exc_counts: np.ndarray, inh_spikes: int, n: int, lateral: bool) -> int:
    exc = int(exc_counts.sum())
    return exc * (n - 1) if lateral else exc + inh_spikes * (n - 1)


def _rounder(mode: int, eps, lo, hi):
    """Potentials onto their fixed-point grid, with the compiled engine's exact float ops."""
    import torch

    if mode == Q_NONE:
        return lambda x: x

    def round_(x):
        y = torch.clamp(x, lo, hi) / eps
        r = torch.floor(y)
        if mode == Q_NEAREST:
            r = torch.where(y - r >= 0.5, r + 1, r)
        return r * eps

    return round_
