"""Readable reference of one presentation: the specification, step by step, in numpy.

Slow on purpose: dense, clock-driven, traces decayed every step, every
equation written once. Tests demand that the compiled engine (event-driven,
lazy traces, dirty-column normalisation) reproduces it spike for spike and
weight for weight. Reconstructed rules (SL-STDP, FSpiNN Eq. 4-5) are as in
docs/model.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .constants import conductance_gain, theta_decay, theta_plus_scale
from .neurons import ramp_at
from .recipes import Recipe


@dataclass
class _Params:
    """The recipe's constants as the step functions read them (float64)."""

    recipe: Recipe
    lateral: bool
    rule: str
    dt: float
    ex: dict
    inh: dict
    w_max: float
    eta_post: float
    mu: float
    decay_pre: float
    decay_post: float
    refrac: int
    irefrac: int
    w_lat: float = 0.0  # lateral designs: this presentation's inhibition strength (ramped while learning)


@dataclass
class _State:
    """What one presentation changes besides the weights and thresholds."""

    v: np.ndarray
    ge: np.ndarray
    gi: np.ndarray
    refr: np.ndarray
    x_pre: np.ndarray
    x_post: np.ndarray
    prev: np.ndarray        # excitatory spikes of the previous step
    vi: np.ndarray          # inhibitory layer (layer designs)
    gei: np.ndarray
    refri: np.ndarray
    prev_inh: np.ndarray
    n_acc: np.ndarray       # SL-STDP counters / FSpiNN spike accumulators
    snap: np.ndarray        # FSpiNN: pre traces at each neuron's latest spike
    changed: np.ndarray     # columns to renormalise
    window_spikes: int = 0


def _params(recipe: Recipe) -> _Params:
    g = recipe.get
    dt = g("input", "dt_ms")
    ex = recipe.sections["excitatory"]
    inh = recipe.sections.get("inhibitory", {})
    return _Params(
        recipe=recipe, lateral=recipe.scheme == "lateral", rule=recipe.rule, dt=dt, ex=ex, inh=inh,
        w_max=g("plasticity", "w_max"), eta_post=g("plasticity", "eta_post"), mu=g("plasticity", "mu"),
        decay_pre=np.exp(-dt / g("plasticity", "tau_pre_ms")),
        decay_post=np.exp(-dt / g("plasticity", "tau_post_ms", g("plasticity", "tau_pre_ms"))),
        refrac=int(round(ex["refractory_ms"] / dt)),
        irefrac=int(round(inh["refractory_ms"] / dt)) if inh else 0)


def _rest_state(p: _Params, n: int, n_in: int) -> _State:
    zeros, no_spikes = np.zeros(n), np.zeros(n, dtype=bool)
    return _State(v=np.full(n, p.ex["v_rest_mv"]), ge=zeros.copy(), gi=zeros.copy(), refr=np.zeros(n, dtype=int),
                  x_pre=np.zeros(n_in), x_post=zeros.copy(), prev=no_spikes.copy(),
                  vi=np.full(n, p.inh["v_rest_mv"]) if p.inh else zeros.copy(), gei=zeros.copy(),
                  refri=np.zeros(n, dtype=int), prev_inh=no_spikes.copy(), n_acc=np.zeros(n, dtype=int),
                  snap=np.zeros((n, n_in)), changed=no_spikes.copy())


def _inhibition(p: _Params, s: _State) -> None:
    """Step 1, from the previous step's spikes, none onto oneself.
    lateral: g_i,k += w_lat (spikes of j != k); layer: g_e,inh j += w_ei s_j, g_i,k += w_ie (inh spikes of j != k),
    where with a one-step loop the inhibitory layer updates in between and its spikes of this step count."""
    g = p.recipe.get
    if p.lateral:
        s.gi += p.w_lat * (s.prev.sum() - s.prev)
    else:
        s.gei += g("inhibition", "w_ei") * s.prev
        if p.recipe.layer_loop_steps == 1:
            _inhibitory_layer(p, s)
        s.gi += g("inhibition", "w_ie") * (s.prev_inh.sum() - s.prev_inh)


def _input_spikes(p: _Params, s: _State, w: np.ndarray, spikes_t: np.ndarray, learn: bool) -> np.ndarray:
    """Step 2: traces decay; g_e += sum of the spiking inputs' weight rows; pair-wise depression
    dw = -eta_pre x_post w^mu on those rows (FSpiNN Eq. 3); spiking inputs' traces set to 1."""
    s.x_pre *= p.decay_pre
    s.x_post *= p.decay_post
    active = spikes_t.astype(bool)
    s.ge += spikes_t.astype(np.float64) @ w
    if learn and p.rule == "pairwise":
        fired_before = s.x_post > 0
        dep = p.recipe.get("plasticity", "eta_pre") * np.outer(active, s.x_post) * w ** p.mu
        w = np.where(np.outer(active, fired_before), np.maximum(w - dep, 0.0), w)
        s.changed |= fired_before & active.any()
    s.x_pre[active] = 1.0
    return w


def _inhibitory_layer(p: _Params, s: _State) -> None:
    """Step 3a (layer designs): V' = V + dt/tau [(V_rest - V) + g c (E_exc - V)]; spike at V' >= V_th."""
    inh, dt = p.inh, p.dt
    gain = conductance_gain(inh["tau_ge_ms"], dt)
    vn = s.vi + dt / inh["tau_m_ms"] * ((inh["v_rest_mv"] - s.vi) + s.gei * gain * (inh["e_exc_mv"] - s.vi))
    s.gei *= np.exp(-dt / inh["tau_ge_ms"])
    can = s.refri == 0
    spk = can & (vn >= inh["v_th_mv"])
    s.vi = np.where(spk, inh["v_reset_mv"], np.where(can, vn, s.vi))
    s.refri = np.where(spk, p.irefrac, np.where(can, s.refri, s.refri - 1))
    s.prev_inh = spk


def _excitatory_layer(p: _Params, s: _State, th: np.ndarray, learn: bool) -> np.ndarray:
    """Step 3b (FSpiNN Eq. 1-2): V' = V + dt/tau_m [(V_rest - V) + g_e c_e (E_exc - V) + g_i c_i (E_inh - V)],
    V' >= E_inh, held while refractory; g decays exactly; theta decays while learning. Returns theta."""
    ex, dt = p.ex, p.dt
    gain_e, gain_i = conductance_gain(ex["tau_ge_ms"], dt), conductance_gain(ex["tau_gi_ms"], dt)
    vn = s.v + dt / ex["tau_m_ms"] * ((ex["v_rest_mv"] - s.v) + s.ge * gain_e * (ex["e_exc_mv"] - s.v)
                                      + s.gi * gain_i * (ex["e_inh_mv"] - s.v))
    vn = np.maximum(vn, ex["e_inh_mv"])
    s.v = np.where(s.refr == 0, vn, s.v)
    s.refr = np.maximum(s.refr - 1, 0)
    s.ge *= np.exp(-dt / ex["tau_ge_ms"])
    s.gi *= np.exp(-dt / ex["tau_gi_ms"])
    decay = theta_decay(dt, ex["tau_theta_ms"], ex.get("tau_theta_at_neurons", 0), th.size,
                        ex.get("tau_theta_max_neurons", 0))
    return th * decay if learn else th


def _post_spike_learning(p: _Params, s: _State, w: np.ndarray, spk: np.ndarray) -> None:
    """Step 4, per spike of j: pair-wise dw = eta x_pre (w_max - w)^mu; SL-STDP the same with
    (x_pre - x_tar) every K-th spike, clipped at 0; FSpiNN accumulates N_acc and records x_pre."""
    g = p.recipe.get
    for j in np.flatnonzero(spk):
        room = np.maximum(p.w_max - w[:, j], 0.0) ** p.mu
        if p.rule == "pairwise":
            w[:, j] = np.minimum(w[:, j] + p.eta_post * s.x_pre * room, p.w_max)
            s.changed[j] = True
        elif p.rule == "sl-stdp":
            s.n_acc[j] += 1
            if s.n_acc[j] >= g("plasticity", "post_every"):
                s.n_acc[j] = 0
                dw = p.eta_post * (s.x_pre - g("plasticity", "x_tar")) * room
                w[:, j] = np.clip(w[:, j] + dw, 0.0, p.w_max)
                s.changed[j] = True
        else:
            s.n_acc[j] += 1
            s.snap[j] = s.x_pre


def _fspinn_window(p: _Params, s: _State, w: np.ndarray, t: int, steps: int) -> None:
    """Step 5 (FSpiNN Eq. 4-5): at a window's end, if any neuron fired, the winner j* = argmax N_acc (or
    each of the top winners_per_window) gets
    w += min(N_acc / S_th, k_max) eta x_pre,recorded (w_max - w), clipped at w_max."""
    g = p.recipe.get
    if (t + 1) % g("plasticity", "window_steps") != 0 and t != steps - 1:
        return
    if s.window_spikes > 0:
        # the top winners_per_window neurons (ours; the paper: one) by N_acc, lowest index on ties, fired only
        order = np.argsort(-s.n_acc, kind="stable")[:g("plasticity", "winners_per_window", 1)]
        for j in order[s.n_acc[order] > 0]:
            k = min(s.n_acc[j] / g("plasticity", "s_th"), g("plasticity", "k_max"))
            w[:, j] = np.minimum(w[:, j] + k * p.eta_post * s.snap[j] * (p.w_max - w[:, j]), p.w_max)
            s.changed[j] = True
    s.window_spikes = 0


def reference_presentation(recipe: Recipe, weights: np.ndarray, theta: np.ndarray,
                           spikes: np.ndarray, learn: bool, *, labels: np.ndarray | None = None,
                           exit_margin: int = 0, exit_min_steps: int = 0, image_index: int = 0,
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate one presentation of dense input spikes (steps, n_inputs) in float64.

    Returns (raster (steps run, N) bool, new weights, new theta); inputs are
    not modified. Early exit (inference): once at least exit_min_steps steps
    have run, stop after the first step where the class with the most spikes
    of its labelled neurons leads the runner-up by exit_margin. image_index
    (the training image's place in the run) sets an annealed threshold step and a ramped lateral
    inhibition.
    """
    p = _params(recipe)
    w = np.array(weights, dtype=np.float64)
    if p.lateral:  # training image image_index ramps from the start strength; inference uses the end
        end = recipe.lateral_strength_at(w.shape[1])  # above the ramp's size cap, the start throughout
        p.w_lat = ramp_at(recipe.lateral_strength_start, end, 0, recipe.rho_ramp_images, image_index) if learn else end
    scale = theta_plus_scale(w.shape[1], p.ex.get("theta_plus_from_neurons", 0), p.ex.get("theta_plus_exponent", 0.0))
    theta_plus = ramp_at(p.ex["theta_plus_mv"] * scale,
                               p.ex.get("theta_plus_end_mv", p.ex["theta_plus_mv"]) * scale,
                               p.ex.get("theta_plus_anneal_from_images", 0), p.ex.get("theta_plus_anneal_images", 0),
                               image_index)
    th = np.array(theta, dtype=np.float64)
    steps, n_in = spikes.shape
    n = w.shape[1]
    s = _rest_state(p, n, n_in)
    raster = np.zeros((steps, n), dtype=bool)
    exiting = exit_margin > 0 and not learn
    votes = np.zeros(max(int(labels.max()) + 1, 2) if exiting else 0, dtype=int)
    for t in range(steps):
        _inhibition(p, s)
        w = _input_spikes(p, s, w, spikes[t], learn)
        if not p.lateral and p.recipe.layer_loop_steps == 2:
            _inhibitory_layer(p, s)
        th = _excitatory_layer(p, s, th, learn)
        # 4. spikes: reset, refractory, traces, adaptive threshold, post-spike learning
        spk = s.v >= p.ex["v_th_mv"] + th
        s.v = np.where(spk, p.ex["v_reset_mv"], s.v)
        s.refr = np.where(spk, p.refrac, s.refr)
        raster[t] = spk
        s.x_post[spk] = 1.0
        if learn:
            th = th + theta_plus * spk
            _post_spike_learning(p, s, w, spk)
        s.window_spikes += int(spk.sum())
        if learn and p.rule == "fspinn":
            _fspinn_window(p, s, w, t, steps)
        s.prev = spk
        # early exit: each spike of a labelled neuron votes for its class
        if exiting:
            np.add.at(votes, labels[spk & (labels >= 0)], 1)
            top = np.sort(votes)[::-1]
            if t + 1 >= exit_min_steps and top[0] - top[1] >= exit_margin:
                raster = raster[:t + 1]
                break
    if learn:
        cols = np.flatnonzero(s.changed)
        w[:, cols] *= recipe.get("weights", "norm_total") / w[:, cols].sum(axis=0)
    return raster, w, th
