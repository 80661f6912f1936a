"""The network: learned state (weights, adaptive thresholds) and the calls that run it.

This is the library API the CLI and the search build on. Heavy lifting is in
the compiled engine; this module chunks work so callers can show progress and
checkpoint between chunks.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable

import numba
import numpy as np

from . import engine_numba as eng
from .constants import IC_EXIT_MARGIN, IC_EXIT_MIN_STEPS, EngineConstants, engine_constants
from .early_exit import NO_LABELS, OFF, ExitRule, check_labels
from .counts import N_COUNTS
from .quantize import QuantConfig
from .recipes import Recipe
from .warmup import ensure_compiled

N_INPUTS = 784


@dataclass
class NetworkState:
    """What training changes: input weights (784, N) and thresholds theta (N,)."""

    weights: np.ndarray
    theta: np.ndarray

    @property
    def n_neurons(self) -> int:
        return int(self.weights.shape[1])


# 784 x N weights (float64 while initialising) and a spike count per image and
# neuron outgrow a workstation's memory beyond this; explore's space stops here too.
MAX_NEURONS = 100_000


def init_state(n_neurons: int, recipe: Recipe, seed: int, dtype=np.float32,
               quant: QuantConfig | None = None) -> NetworkState:
    """Uniform [0, init_max) weights, each column normalised, theta = 0.

    With a weight format, the weights are stored as integer codes from the start.
    """
    if not 0 < n_neurons <= MAX_NEURONS:
        raise ValueError(f"number of neurons must be > 0 and at most {MAX_NEURONS}, got {n_neurons}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    w = rng.uniform(0.0, recipe.get("weights", "init_max"), size=(N_INPUTS, n_neurons))
    w *= recipe.get("weights", "norm_total") / w.sum(axis=0, keepdims=True)
    if quant is not None and quant.weights is not None:
        return NetworkState(weights=quant.weight_codes(w), theta=np.zeros(n_neurons, dtype=dtype))
    return NetworkState(weights=np.ascontiguousarray(w, dtype=dtype),
                        theta=np.zeros(n_neurons, dtype=dtype))


def float_weights(state: NetworkState, quant: QuantConfig | None) -> np.ndarray:
    """The weight values, whatever the storage (float, or integer codes x eps)."""
    if quant is not None and quant.weights is not None:
        return state.weights.astype(np.float64) * quant.weights.eps
    return state.weights


@dataclass
class Simulator:
    """Runs a recipe on a network state with the compiled engine."""

    recipe: Recipe
    dtype: type = np.float32
    quant: QuantConfig | None = None
    consts: EngineConstants = field(init=False)

    def __post_init__(self) -> None:
        self.consts = engine_constants(self.recipe, self.dtype, self.quant)

    def check_state(self, state: NetworkState) -> None:
        """The state must be what the compiled engine indexes without checks.

        Weights (784, N) C-contiguous, codes exactly when a weight format is
        set (else floats of the simulator's dtype); theta (N,) of that dtype.
        A wrong shape would read past the arrays in compiled code.
        """
        w, theta = state.weights, state.theta
        if not isinstance(w, np.ndarray) or w.ndim != 2 or w.shape[0] != N_INPUTS or w.shape[1] < 1:
            raise ValueError(f"weights must have shape ({N_INPUTS}, N), got {getattr(w, 'shape', None)}")
        if not w.flags.c_contiguous:
            raise ValueError("weights must be C-contiguous")
        if not isinstance(theta, np.ndarray) or theta.shape != (w.shape[1],) or theta.dtype != self.dtype:
            raise ValueError(f"theta must be {np.dtype(self.dtype).name} of shape ({w.shape[1]},), got "
                             f"{getattr(theta, 'dtype', None)} {getattr(theta, 'shape', None)}")
        coded = self.quant is not None and self.quant.weights is not None
        if coded and w.dtype != self.quant.weights.storage_dtype:
            raise ValueError(f"weights are {w.dtype}, expected {self.quant.weights} codes")
        if not coded and w.dtype != self.dtype:
            raise ValueError(f"weights are {w.dtype}, expected {np.dtype(self.dtype).name} (integer codes need a "
                             "weight format)")

    @property
    def rate_scale(self) -> float:
        return self.consts.f_max_hz * self.consts.dt_ms / 1000.0

    @property
    def boost_scale(self) -> float:
        return self.consts.rate_boost_hz * self.consts.dt_ms / 1000.0

    def train(self, state: NetworkState, images: np.ndarray, first_index: int, seed: int,
              counts: np.ndarray, chunk: int = 250,
              on_chunk: Callable[[int, np.ndarray], None] | None = None,
              steps: np.ndarray | None = None) -> np.ndarray:
        """Learn from images in order; returns per-image excitatory spike counts.

        first_index is the global index of images[0] in the run, so that a
        resumed run draws the same input spikes as an uninterrupted one.
        steps, if given (n,), receives the steps each image ran.
        """
        images = _as_images(images)
        self.check_state(state)
        ensure_compiled(state.weights.dtype, self.dtype)
        c = self.consts
        fc = c.fc_for(state.n_neurons)
        out = np.zeros((len(images), state.n_neurons), dtype=np.int32)
        steps = _steps_out(steps, len(images))
        for lo in range(0, len(images), chunk):
            hi = min(lo + chunk, len(images))
            eng.run_images(state.weights, state.theta, images[lo:hi], first_index + lo, seed, True,
                           fc, c.ic, c.pre_table, c.post_table, self.rate_scale,
                           self.boost_scale, counts, out[lo:hi], NO_LABELS, steps[lo:hi])
            if on_chunk is not None:
                on_chunk(hi, out[lo:hi])
        return out

    def infer(self, state: NetworkState, images: np.ndarray, first_index: int, seed: int,
              counts: np.ndarray, chunk: int = 2000,
              on_chunk: Callable[[int, np.ndarray], None] | None = None,
              exit_rule: ExitRule = OFF, labels: np.ndarray | None = None,
              steps: np.ndarray | None = None) -> np.ndarray:
        """Spike counts (n, N) with learning off and thresholds frozen; blocks of images on threads.

        Every image has its own random stream, so the result does not depend
        on the number of threads or on how the images are split. With an
        exit rule, each image stops once the class its spikes vote for
        (by the neuron labels) is decided; steps (n,), if given, receives the
        steps each image ran.
        """
        images = _as_images(images)
        self.check_state(state)
        ensure_compiled(state.weights.dtype, self.dtype)
        ic, labels = self._exit_constants(exit_rule, labels, state.n_neurons)
        out = np.zeros((len(images), state.n_neurons), dtype=np.int32)
        steps = _steps_out(steps, len(images))
        threads = numba.get_num_threads()
        fc = self.consts.fc_for(state.n_neurons)  # the size's inhibition (a ramp acts up to a cap)
        for lo in range(0, len(images), chunk):
            hi = min(lo + chunk, len(images))
            bounds = np.linspace(lo, hi, min(threads * 4, hi - lo) + 1).astype(int)
            blocks = list(zip(bounds[:-1], bounds[1:]))
            block_counts = np.zeros((len(blocks), N_COUNTS), dtype=np.int64)

            def run_block(b: int) -> None:
                a, z = blocks[b]
                c = self.consts
                eng.run_images(state.weights, state.theta, images[a:z], first_index + a, seed, False, fc, ic,
                               c.pre_table, c.post_table, self.rate_scale, self.boost_scale, block_counts[b],
                               out[a:z], labels, steps[a:z])

            if threads == 1 or len(blocks) == 1:
                for b in range(len(blocks)):
                    run_block(b)
            else:
                with ThreadPoolExecutor(max_workers=threads) as pool:
                    list(pool.map(run_block, range(len(blocks))))
            counts += block_counts.sum(axis=0)
            if on_chunk is not None:
                on_chunk(hi, out[lo:hi])
        return out

    def consts_with_exit(self, rule: ExitRule) -> EngineConstants:
        """The engine constants with an early-exit rule set (the same object when it is off)."""
        if not rule.enabled:
            return self.consts
        ic = self.consts.ic.copy()
        ic[IC_EXIT_MARGIN], ic[IC_EXIT_MIN_STEPS] = rule.margin, rule.min_steps
        return replace(self.consts, ic=ic)

    def _exit_constants(self, rule: ExitRule, labels: np.ndarray | None, n_neurons: int):
        """The integer constants with the exit rule set, and the labels the votes go to."""
        if not rule.enabled:
            return self.consts.ic, NO_LABELS
        if labels is None:
            raise ValueError("early exit needs the neuron labels (assign labels first)")
        return self.consts_with_exit(rule).ic, check_labels(labels, n_neurons)


def _steps_out(steps: np.ndarray | None, n: int) -> np.ndarray:
    if steps is None:
        return np.zeros(n, dtype=np.int32)
    if steps.shape != (n,) or steps.dtype != np.int32 or not steps.flags.c_contiguous:
        raise ValueError(f"steps must be a contiguous int32 array of shape ({n},)")
    return steps


def _as_images(images: np.ndarray) -> np.ndarray:
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if images.ndim != 2 or images.shape[1] != N_INPUTS:
        raise ValueError(f"images must have shape (n, {N_INPUTS}), got {images.shape}")
    return images
