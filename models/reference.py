"""Readable reference of one presentation: the specification, step by step, in numpy.

Slow on purpose: dense, clock-driven, traces decayed every step, every
equation written once. Tests demand that the compiled engine (event-driven,
lazy traces, dirty-column normalisation) reproduces it spike for spike and
weight for weight. Reconstructed rules (SL-STDP, FSpiNN Eq. 4-5) are as in
docs/model.md.
"""

from __future__ import annotations

import numpy as np

from .constants import conductance_gain
from .recipes import Recipe


def reference_presentation(recipe: Recipe, weights: np.ndarray, theta: np.ndarray,
                           spikes: np.ndarray, learn: bool, *, labels: np.ndarray | None = None,
                           exit_margin: int = 0, exit_min_steps: int = 0,
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate one presentation of dense input spikes (steps, n_inputs) in float64.

    Returns (raster (steps run, N) bool, new weights, new theta); inputs are
    not modified. Early exit (inference): once at least exit_min_steps steps
    have run, stop after the first step where the class with the most spikes
    of its labelled neurons leads the runner-up by exit_margin.
    """
    g = recipe.get
    w = np.array(weights, dtype=np.float64)
    th = np.array(theta, dtype=np.float64)
    steps, n_in = spikes.shape
    n = w.shape[1]
    dt = g("input", "dt_ms")
    ex = recipe.sections["excitatory"]
    lateral = recipe.scheme == "lateral"
    rule = recipe.rule
    w_max, eta_post, mu = g("plasticity", "w_max"), g("plasticity", "eta_post"), g("plasticity", "mu")
    decay_pre = np.exp(-dt / g("plasticity", "tau_pre_ms"))
    decay_post = np.exp(-dt / g("plasticity", "tau_post_ms", g("plasticity", "tau_pre_ms")))
    refrac = int(round(ex["refractory_ms"] / dt))

    v = np.full(n, ex["v_rest_mv"])
    ge, gi = np.zeros(n), np.zeros(n)
    refr = np.zeros(n, dtype=int)
    x_pre, x_post = np.zeros(n_in), np.zeros(n)
    prev = np.zeros(n, dtype=bool)
    if not lateral:
        inh = recipe.sections["inhibitory"]
        vi, gei = np.full(n, inh["v_rest_mv"]), np.zeros(n)
        refri = np.zeros(n, dtype=int)
        prev_inh = np.zeros(n, dtype=bool)
        irefrac = int(round(inh["refractory_ms"] / dt))
    n_acc = np.zeros(n, dtype=int)
    snap = np.zeros((n, n_in))
    changed = np.zeros(n, dtype=bool)
    window_spikes = 0
    raster = np.zeros((steps, n), dtype=bool)
    exiting = exit_margin > 0 and not learn
    votes = np.zeros(max(int(labels.max()) + 1, 2) if exiting else 0, dtype=int)

    for t in range(steps):
        # 1. inhibition from the previous step (no self-inhibition)
        if lateral:
            gi += recipe.lateral_strength * (prev.sum() - prev)
        else:
            gei += g("inhibition", "w_ei") * prev
            gi += g("inhibition", "w_ie") * (prev_inh.sum() - prev_inh)
        # traces decay every step; a spike sets its trace to 1
        x_pre *= decay_pre
        x_post *= decay_post
        # 2. input spikes
        active = spikes[t].astype(bool)
        ge += spikes[t].astype(np.float64) @ w
        if learn and rule == "pairwise":
            fired_before = x_post > 0
            dep = eta_pre_term = g("plasticity", "eta_pre") * np.outer(active, x_post)
            dep = eta_pre_term * w ** mu
            w = np.where(np.outer(active, fired_before), np.maximum(w - dep, 0.0), w)
            changed |= fired_before & active.any()
        x_pre[active] = 1.0
        # 3a. inhibitory layer
        if not lateral:
            gain_i = conductance_gain(inh["tau_ge_ms"], dt)
            vn = vi + dt / inh["tau_m_ms"] * ((inh["v_rest_mv"] - vi) + gei * gain_i * (inh["e_exc_mv"] - vi))
            gei *= np.exp(-dt / inh["tau_ge_ms"])
            can = refri == 0
            spk_i = can & (vn >= inh["v_th_mv"])
            vi = np.where(spk_i, inh["v_reset_mv"], np.where(can, vn, vi))
            refri = np.where(spk_i, irefrac, np.where(can, refri, refri - 1))
            prev_inh = spk_i
        # 3b. excitatory neurons
        gain_e = conductance_gain(ex["tau_ge_ms"], dt)
        gain_i_e = conductance_gain(ex["tau_gi_ms"], dt)
        vn = v + dt / ex["tau_m_ms"] * ((ex["v_rest_mv"] - v) + ge * gain_e * (ex["e_exc_mv"] - v)
                                        + gi * gain_i_e * (ex["e_inh_mv"] - v))
        vn = np.maximum(vn, ex["e_inh_mv"])
        v = np.where(refr == 0, vn, v)
        refr = np.maximum(refr - 1, 0)
        ge *= np.exp(-dt / ex["tau_ge_ms"])
        gi *= np.exp(-dt / ex["tau_gi_ms"])
        if learn:
            th *= np.exp(-dt / ex["tau_theta_ms"])
        # 4. spikes and post-spike learning
        spk = v >= ex["v_th_mv"] + th
        v = np.where(spk, ex["v_reset_mv"], v)
        refr = np.where(spk, refrac, refr)
        raster[t] = spk
        x_post[spk] = 1.0
        if learn:
            th += ex["theta_plus_mv"] * spk
            for j in np.flatnonzero(spk):
                room = np.maximum(w_max - w[:, j], 0.0) ** mu
                if rule == "pairwise":
                    w[:, j] = np.minimum(w[:, j] + eta_post * x_pre * room, w_max)
                    changed[j] = True
                elif rule == "sl-stdp":
                    n_acc[j] += 1
                    if n_acc[j] >= g("plasticity", "post_every"):
                        n_acc[j] = 0
                        dw = eta_post * (x_pre - g("plasticity", "x_tar")) * room
                        w[:, j] = np.clip(w[:, j] + dw, 0.0, w_max)
                        changed[j] = True
                else:
                    n_acc[j] += 1
                    snap[j] = x_pre
        window_spikes += int(spk.sum())
        # 5. FSpiNN: one update of the winner at the end of an active window
        if learn and rule == "fspinn" and ((t + 1) % g("plasticity", "window_steps") == 0 or t == steps - 1):
            if window_spikes > 0:
                j = int(np.argmax(n_acc))
                k = min(n_acc[j] / g("plasticity", "s_th"), g("plasticity", "k_max"))
                w[:, j] = np.minimum(w[:, j] + k * eta_post * snap[j] * (w_max - w[:, j]), w_max)
                changed[j] = True
            window_spikes = 0
        prev = spk
        # early exit: each spike of a labelled neuron votes for its class
        if exiting:
            for j in np.flatnonzero(spk & (labels >= 0)):
                votes[labels[j]] += 1
            top = np.sort(votes)[::-1]
            if t + 1 >= exit_min_steps and top[0] - top[1] >= exit_margin:
                raster = raster[:t + 1]
                break
    if learn:
        cols = np.flatnonzero(changed)
        w[:, cols] *= g("weights", "norm_total") / w[:, cols].sum(axis=0)
    return raster, w, th
