"""Flatten a recipe into the constant arrays the compiled engines read.

The compiled kernels take two small arrays instead of dozens of scalars:
``fc`` (floats, in the engine's dtype so float32 arithmetic stays float32) and
``ic`` (integers). The index names below are the only contract between this
module and the kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .recipes import Recipe, ramp_acts

# Bumped whenever one recipe and seed train to a different network, so that finished work keyed by
# recipe (the search cache, the paper grid's cells) is redone. 2: theta decays in float64.
ENGINE_REVISION = 2

# float constants
(FC_V_REST, FC_V_RESET, FC_V_TH, FC_E_EXC, FC_E_INH, FC_DT_TAU_M, FC_GE_DECAY, FC_GI_DECAY,
 FC_GE_GAIN, FC_GI_GAIN, FC_THETA_PLUS, FC_THETA_LOG_DECAY, FC_W_MAX, FC_ETA_PRE, FC_ETA_POST,
 FC_MU, FC_X_TAR, FC_W_INH, FC_W_EI, FC_NORM_TOTAL, FC_S_TH, FC_K_MAX,
 FI_V_REST, FI_V_RESET, FI_V_TH, FI_DT_TAU_M, FI_E_EXC, FI_GE_DECAY, FI_GE_GAIN,
 FC_W_SCALE, FC_V_EPS, FC_V_LO, FC_V_HI, FC_TH_EPS, FC_TH_LO, FC_TH_HI,
 FC_V_INV, FC_V_HALF, FC_TH_INV, FC_TH_HALF, FC_THETA_PLUS_END, FC_W_INH_START) = range(42)
N_FC = 42

# integer constants
(IC_STEPS, IC_REFRAC, IC_I_REFRAC, IC_RULE, IC_SCHEME, IC_POST_EVERY, IC_WINDOW,
 IC_MIN_SPIKES, IC_MAX_REPRES, IC_QW, IC_W_MAX_CODE, IC_QV, IC_QTH, IC_EXIT_MARGIN, IC_EXIT_MIN_STEPS,
 IC_LAYER_LOOP_STEPS, IC_THETA_ANNEAL_FROM, IC_THETA_ANNEAL_IMAGES, IC_WINNERS, IC_RHO_RAMP_IMAGES) = range(20)
N_IC = 20

# rounding codes of the engine (0: no quantization, plain float storage)
Q_NONE, Q_TRUNCATE, Q_NEAREST, Q_STOCHASTIC = 0, 1, 2, 3
ROUNDING_CODES = {"truncate": Q_TRUNCATE, "nearest": Q_NEAREST, "stochastic": Q_STOCHASTIC}

RULE_PAIRWISE, RULE_SL, RULE_FSPINN = 0, 1, 2
SCHEME_LAYER, SCHEME_LATERAL = 0, 1
_RULE_CODES = {"pairwise": RULE_PAIRWISE, "sl-stdp": RULE_SL, "fspinn": RULE_FSPINN}
_SCHEME_CODES = {"layer": SCHEME_LAYER, "lateral": SCHEME_LATERAL}


@dataclass(frozen=True)
class EngineConstants:
    fc: np.ndarray          # float constants, engine dtype
    ic: np.ndarray          # int64 constants
    pre_table: np.ndarray   # exp(-k dt / tau_pre), k = 0..steps
    post_table: np.ndarray  # exp(-k dt / tau_post)
    f_max_hz: float
    rate_boost_hz: float
    dt_ms: float
    n_steps: int
    tau_theta_ms: float             # theta's decay time constant at tau_theta_at_neurons neurons
    tau_theta_at_neurons: int = 0   # 0: fixed tau_theta; else it scales with N (ours)
    tau_theta_max_neurons: int = 0  # the scaling stops growing at this N (0: it never stops)
    theta_plus_mv: float = 0.0      # the threshold steps as the recipe gives them (float64) ...
    theta_plus_end_mv: float = 0.0
    theta_plus_from_neurons: int = 0  # ... grow above this N (0: never; theta_plus_scale)
    theta_plus_exponent: float = 0.0
    rho_ramp_max_neurons: int = 0   # lateral inhibition ramps only up to this N (0: at every size)

    def fc_for(self, n_neurons: int) -> np.ndarray:
        """The float constants for a network of n_neurons: theta's decay rate and step, and the lateral
        inhibition, resolved for its size.

        Training and inference must use these; a size-scaled decay left unresolved is NaN, so
        forgetting it would show at once (theta turns NaN) instead of silently.
        """
        scale = theta_plus_scale(n_neurons, self.theta_plus_from_neurons, self.theta_plus_exponent)
        no_ramp_here = self.ic[IC_RHO_RAMP_IMAGES] > 0 and not ramp_acts(int(self.ic[IC_RHO_RAMP_IMAGES]),
                                                                          self.rho_ramp_max_neurons, n_neurons)
        if self.tau_theta_at_neurons == 0 and scale == 1.0 and not no_ramp_here:
            return self.fc
        fc = self.fc.copy()
        if no_ramp_here:  # above the ramp's cap the start strength (already rounded) acts throughout
            fc[FC_W_INH] = fc[FC_W_INH_START]
        if self.tau_theta_at_neurons:
            fc[FC_THETA_LOG_DECAY] = theta_log_decay(self.dt_ms, self.tau_theta_ms, self.tau_theta_at_neurons,
                                                     n_neurons, self.tau_theta_max_neurons)
        if scale != 1.0:  # from the recipe's float64 steps, so every engine rounds the same product once
            fc[FC_THETA_PLUS] = self.theta_plus_mv * scale
            fc[FC_THETA_PLUS_END] = self.theta_plus_end_mv * scale
        return fc


def theta_plus_scale(n_neurons: int, from_neurons: int, exponent: float) -> float:
    """Factor on the threshold steps (start and end) of a network of n_neurons: 1 up to from_neurons
    (and always when from_neurons = 0), (n_neurons / from_neurons) ** exponent above it (ours).

    Why: theta's level goes as theta_plus x tau_theta x S / N for S spikes per
    image. tau_theta grows with N only up to its cap (theta_log_decay), so above
    it the level falls with N, and in a design that trains only each window's
    winner (fspinn) the trained neurons' thresholds no longer rise above the
    drive an untrained neuron gets: two in five of Net4900's neurons never
    learn (docs/results.md 2.7-2.8). A step growing as sqrt(N / 1000) puts
    the level back without the longer memory of a larger tau_theta.
    """
    if from_neurons <= 0 or n_neurons <= from_neurons:
        return 1.0
    return (n_neurons / from_neurons) ** exponent


def theta_log_decay(dt_ms: float, tau_theta_ms: float, at_neurons: int, n_neurons: int,
                    max_neurons: int = 0) -> float:
    """Log of the adaptive threshold's per-step decay: -dt / tau.

    at_neurons = 0: tau = tau_theta_ms (Diehl & Cook). Otherwise (ours)
    tau = tau_theta_ms x n / at_neurons with n = n_neurons, or min(n_neurons,
    max_neurons) when max_neurons > 0. The scaling assumes each neuron wins
    about 1/N of the images, so theta forgets over the same number of its own
    spikes at every size; a fixed tau lets Net100's thresholds run up to the
    E_exc ceiling within one epoch, where no input can reach them. It stops at
    max_neurons because the layer designs' volleys grow with N there (more
    spikes per image, so a longer tau keeps thresholds that later pass the
    ceiling; docs/results.md 2.3).

    The engines get the log, not the factor: exp(-dt / tau) in float32 is a
    multiple of 2^-24 below 1, which turns a tau of 1e7 ms into 8.4e6 ms and
    anything from about 3.4e7 ms on into no decay at all. The compiled engine
    takes exp of this in float64 (engine_numba.present).
    """
    if at_neurons == 0:
        return -dt_ms / tau_theta_ms
    n = min(n_neurons, max_neurons) if max_neurons > 0 else n_neurons
    return -dt_ms / (tau_theta_ms * n / at_neurons)


def theta_decay(dt_ms: float, tau_theta_ms: float, at_neurons: int, n_neurons: int,
                max_neurons: int = 0) -> float:
    """Per-step decay factor of the adaptive threshold, exp(-dt / tau) (theta_log_decay)."""
    return math.exp(theta_log_decay(dt_ms, tau_theta_ms, at_neurons, n_neurons, max_neurons))


def conductance_gain(tau_ms: float, dt_ms: float) -> float:
    """Step-averaged conductance factor (method notes 8).

    With g decaying exactly as exp(-t/tau), its mean over one step is
    g x tau/dt x (1 - exp(-dt/tau)); summed over the decay this delivers
    exactly w x tau/dt for a spike of weight w, whatever dt is.
    """
    return tau_ms / dt_ms * (1.0 - math.exp(-dt_ms / tau_ms))


def steps_of(ms: float, dt_ms: float) -> int:
    return int(round(ms / dt_ms))


def engine_constants(recipe: Recipe, dtype: np.dtype = np.float32, quant=None) -> EngineConstants:
    """Constants of a recipe; `quant` (models.quantize.QuantConfig) switches on fixed point."""
    g = recipe.get
    dt = g("input", "dt_ms")
    steps = g("input", "presentation_steps")
    fc = np.zeros(N_FC, dtype=np.float64)
    fc[FC_V_REST] = g("excitatory", "v_rest_mv")
    fc[FC_V_RESET] = g("excitatory", "v_reset_mv")
    fc[FC_V_TH] = g("excitatory", "v_th_mv")
    fc[FC_E_EXC] = g("excitatory", "e_exc_mv")
    fc[FC_E_INH] = g("excitatory", "e_inh_mv")
    fc[FC_DT_TAU_M] = dt / g("excitatory", "tau_m_ms")
    fc[FC_GE_DECAY] = math.exp(-dt / g("excitatory", "tau_ge_ms"))
    fc[FC_GI_DECAY] = math.exp(-dt / g("excitatory", "tau_gi_ms"))
    fc[FC_GE_GAIN] = conductance_gain(g("excitatory", "tau_ge_ms"), dt)
    fc[FC_GI_GAIN] = conductance_gain(g("excitatory", "tau_gi_ms"), dt)
    fc[FC_THETA_PLUS] = g("excitatory", "theta_plus_mv")
    fc[FC_THETA_PLUS_END] = g("excitatory", "theta_plus_end_mv", fc[FC_THETA_PLUS])
    tau_theta, at_neurons = g("excitatory", "tau_theta_ms"), g("excitatory", "tau_theta_at_neurons", 0)
    fc[FC_THETA_LOG_DECAY] = math.nan if at_neurons else theta_log_decay(dt, tau_theta, 0, 0)
    fc[FC_W_MAX] = g("plasticity", "w_max")
    fc[FC_ETA_PRE] = g("plasticity", "eta_pre", 0.0)
    fc[FC_ETA_POST] = g("plasticity", "eta_post")
    fc[FC_MU] = g("plasticity", "mu")
    fc[FC_X_TAR] = g("plasticity", "x_tar", 0.0)
    fc[FC_NORM_TOTAL] = g("weights", "norm_total")
    fc[FC_S_TH] = g("plasticity", "s_th", 1.0)
    fc[FC_K_MAX] = g("plasticity", "k_max", 1.0)
    ic = np.zeros(N_IC, dtype=np.int64)
    ic[IC_STEPS] = steps
    ic[IC_REFRAC] = steps_of(g("excitatory", "refractory_ms"), dt)
    ic[IC_RULE] = _RULE_CODES[recipe.rule]
    ic[IC_SCHEME] = _SCHEME_CODES[recipe.scheme]
    ic[IC_POST_EVERY] = g("plasticity", "post_every", 1)
    ic[IC_WINDOW] = g("plasticity", "window_steps", steps)
    ic[IC_WINNERS] = g("plasticity", "winners_per_window", 1)
    ic[IC_MIN_SPIKES] = g("input", "min_spikes")
    ic[IC_MAX_REPRES] = g("input", "max_representations")
    ic[IC_LAYER_LOOP_STEPS] = recipe.layer_loop_steps if recipe.scheme == "layer" else 1
    ic[IC_THETA_ANNEAL_FROM] = g("excitatory", "theta_plus_anneal_from_images", 0)
    ic[IC_THETA_ANNEAL_IMAGES] = g("excitatory", "theta_plus_anneal_images", 0)
    if recipe.scheme == "layer":
        fc[FC_W_INH] = g("inhibition", "w_ie")
        fc[FC_W_EI] = g("inhibition", "w_ei")
        fc[FI_V_REST] = g("inhibitory", "v_rest_mv")
        fc[FI_V_RESET] = g("inhibitory", "v_reset_mv")
        fc[FI_V_TH] = g("inhibitory", "v_th_mv")
        fc[FI_DT_TAU_M] = dt / g("inhibitory", "tau_m_ms")
        fc[FI_E_EXC] = g("inhibitory", "e_exc_mv")
        fc[FI_GE_DECAY] = math.exp(-dt / g("inhibitory", "tau_ge_ms"))
        fc[FI_GE_GAIN] = conductance_gain(g("inhibitory", "tau_ge_ms"), dt)
        ic[IC_I_REFRAC] = steps_of(g("inhibitory", "refractory_ms"), dt)
    else:
        # FC_W_INH is the strength inference uses (the ramp's end); training ramps to it from
        # FC_W_INH_START over the first IC_RHO_RAMP_IMAGES images (ours; 0: fixed).
        fc[FC_W_INH] = recipe.lateral_strength
        fc[FC_W_INH_START] = recipe.lateral_strength_start
        ic[IC_RHO_RAMP_IMAGES] = recipe.rho_ramp_images
    fc[FC_W_SCALE] = 1.0
    if quant is not None:
        _apply_quant(fc, ic, quant)
    k = np.arange(steps + 1, dtype=np.float64)
    pre = np.exp(-k * dt / g("plasticity", "tau_pre_ms"))
    post = np.exp(-k * dt / g("plasticity", "tau_post_ms", g("plasticity", "tau_pre_ms")))
    return EngineConstants(
        fc=fc.astype(dtype), ic=ic, pre_table=pre.astype(dtype), post_table=post.astype(dtype),
        f_max_hz=g("input", "f_max_hz"), rate_boost_hz=g("input", "rate_boost_hz"), dt_ms=dt,
        n_steps=steps, tau_theta_ms=tau_theta, tau_theta_at_neurons=at_neurons,
        tau_theta_max_neurons=g("excitatory", "tau_theta_max_neurons", 0),
        theta_plus_mv=g("excitatory", "theta_plus_mv"),
        theta_plus_end_mv=g("excitatory", "theta_plus_end_mv", g("excitatory", "theta_plus_mv")),
        theta_plus_from_neurons=g("excitatory", "theta_plus_from_neurons", 0),
        theta_plus_exponent=g("excitatory", "theta_plus_exponent", 0.0),
        rho_ramp_max_neurons=g("inhibition", "rho_ramp_max_neurons", 0) if recipe.scheme == "lateral" else 0,
    )


def _apply_quant(fc: np.ndarray, ic: np.ndarray, quant) -> None:
    """Fixed-point settings: weights as integer codes, potentials on a grid.

    Input weights are stored as codes (value = code x eps); the engine sums
    codes, so the excitatory gain absorbs eps. Inhibition strengths are
    one-off constants, rounded here once.
    """
    mode = ROUNDING_CODES[quant.rounding]
    if quant.weights is not None:
        fc[FC_W_SCALE] = quant.weights.eps
        fc[FC_GE_GAIN] *= quant.weights.eps
        ic[IC_QW] = mode
        ic[IC_W_MAX_CODE] = quant.weights.max_code
    if quant.inhibition is not None:
        for k in (FC_W_INH, FC_W_EI, FC_W_INH_START):
            fc[k] = quant.round_constant(fc[k], quant.inhibition)
    # A grid is (eps, lo, hi, 1/eps, half) in the engine's dtype: eps is a power
    # of two, so x x (1/eps) equals x / eps; a fraction >= half rounds up
    # (nearest 0.5, truncate never: 2).
    half = 0.5 if quant.rounding == "nearest" else 2.0
    if quant.vmem is not None:
        ic[IC_QV] = mode
        fc[FC_V_EPS], fc[FC_V_LO], fc[FC_V_HI] = quant.vmem.eps, quant.vmem.min_value, quant.vmem.max_value
        fc[FC_V_INV], fc[FC_V_HALF] = 1.0 / quant.vmem.eps, half
    if quant.vth is not None:
        ic[IC_QTH] = mode
        fc[FC_TH_EPS], fc[FC_TH_LO], fc[FC_TH_HI] = quant.vth.eps, quant.vth.min_value, quant.vth.max_value
        fc[FC_TH_INV], fc[FC_TH_HALF] = 1.0 / quant.vth.eps, half
