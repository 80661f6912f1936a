"""What an export needs from a run folder: the network in the engine's own numbers.

The C inference reproduces the engine bit for bit, so everything here is taken
from the same places the engine takes it: the weight codes and thresholds of
``weights.npz``, the float32 constants of :func:`engine_constants` (the very
array the compiled kernels read), the run's seed and Poisson stream offsets.
Nothing is recomputed in another precision.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dse.runs import folder as rundir
from dse.models.constants import (FC_TH_EPS, FC_TH_HI, FC_TH_LO, FC_V_TH, EngineConstants,
                                  engine_constants)
from dse.models.quantize import QuantConfig
from dse.models.network import N_INPUTS
from dse.models.recipes import Recipe

N_CLASSES = 10
# The C code holds V and thresholds as codes and computes with them in float32:
# a code of more than 24 significant bits would not survive the trip.
MAX_POTENTIAL_BITS = 24
MAX_STEPS = 32_767      # int16 spike times
MAX_REFRACTORY = 255    # uint8 counters

# How the C code gets each neuron's threshold V_th + theta (see snn.c, reaches_threshold()).
VTH_FLOAT, VTH_CODES, VTH_STOCHASTIC = 0, 1, 2

QUANTIZE_HINT = ("quantize it first, e.g. `dse quantize RUN --weights Q0.8 --inh Q6.2 --vmem Q7.0 "
                 "--vth Q7.0 --rounding nearest --out RUN-8bit`")


class ExportError(rundir.RunError):
    """A run cannot be exported; the message is one line naming what and how to fix it."""


@dataclass(frozen=True, eq=False)
class ExportModel:
    """A quantized run, ready to be written as C."""

    run_dir: Path
    design: str
    dataset: str
    seed: int
    recipe: Recipe
    quant: QuantConfig
    consts: EngineConstants
    weights: np.ndarray      # (784, N) integer codes of quant.weights
    theta: np.ndarray        # (N,) float32, frozen at inference
    labels: np.ndarray       # (N,) int64 class of each neuron, -1 unassigned
    data_sha256: str
    manifest: dict[str, Any]

    @property
    def n_neurons(self) -> int:
        return int(self.weights.shape[1])

    @property
    def vth_mode(self) -> int:
        if self.quant.vth is None:
            return VTH_FLOAT
        return VTH_STOCHASTIC if self.quant.rounding == "stochastic" else VTH_CODES

    def thresholds(self) -> np.ndarray:
        """What snn_thresholds holds: codes of V_th + theta, or its float32 value.

        The engine evaluates ``v_th + theta[j]`` in float32 and puts it on the vth
        grid once per presentation at inference (theta is frozen): one code per
        neuron, except under stochastic rounding, where a fresh draw each step
        decides between the two codes around it, so the float32 sum is kept.
        """
        sums = np.float32(self.consts.fc[FC_V_TH]) + self.theta  # float32 + float32, as the engine
        if self.vth_mode != VTH_CODES:
            return sums.astype(np.float32)
        fc = self.consts.fc
        return round_to_codes(sums, fc[FC_TH_EPS], fc[FC_TH_LO], fc[FC_TH_HI], self.quant.rounding)

    def class_sizes(self) -> np.ndarray:
        """Neurons assigned to each class (the divisor of the all-activity vote)."""
        assigned = self.labels[self.labels >= 0]
        return np.bincount(assigned, minlength=N_CLASSES).astype(np.int64)


def round_to_codes(x: np.ndarray, eps: np.float32, lo: np.float32, hi: np.float32,
                   rounding: str) -> np.ndarray:
    """The engine's saturate-and-round of float32 values onto a grid, as integer codes.

    Deterministic modes only. Every step is exact in float32 (eps is a power of
    two), so this equals the engine's result whatever the precision it runs in.
    """
    x = np.asarray(x, dtype=np.float32)
    x = np.where(x > lo, x, lo).astype(np.float32)
    x = np.where(x < hi, x, hi).astype(np.float32)
    y = x / np.float32(eps)
    r = np.floor(y)
    if rounding == "nearest":
        r = np.where(y - r >= 0.5, r + 1, r)
    return r.astype(np.int64)


def load_export_model(run_dir: Path) -> ExportModel:
    """Read and check a quantized run folder; ExportError (one line) if it cannot be exported."""
    from dse.runs import validate

    run_dir = Path(run_dir)
    manifest = rundir.read_manifest(run_dir)
    cfg = validate.run_config(run_dir, manifest)
    quant = validate.run_quant_checked(run_dir, manifest)
    if quant is None:
        raise ExportError(f"{run_dir}: is an FP32 run, and `dse export` writes fixed-point C; {QUANTIZE_HINT}")
    if quant.weights is None:
        raise ExportError(f"{run_dir}: its weights are FP32 ({quant.spec()}); the C export stores integer "
                          f"weight codes: {QUANTIZE_HINT}")
    for key, fmt in (("vmem", quant.vmem), ("vth", quant.vth)):
        if fmt is not None and fmt.word_bits > MAX_POTENTIAL_BITS:
            raise ExportError(f"{run_dir}: {key}={fmt} has {fmt.word_bits} bits; the C export holds potentials "
                              f"exactly in float32, so at most {MAX_POTENTIAL_BITS} bits (quantize with fewer "
                              "fractional bits)")
    recipe = validate.run_recipe(run_dir, manifest)  # what the run trained with
    _check_recipe(run_dir, recipe)
    validate.run_state(run_dir, manifest, recipe, quant)  # shapes, dtypes, ranges, the recorded checksum
    weights, theta, labels = _load_arrays(run_dir, int(cfg["neurons"]), quant)
    consts = engine_constants(recipe, np.float32, quant)
    consts = replace(consts, fc=consts.fc_for(int(cfg["neurons"])))  # the size's inhibition, as the engine
    return ExportModel(run_dir=run_dir, design=str(cfg["design"]), dataset=str(cfg["dataset"]),
                       seed=int(cfg["seed"]), recipe=recipe, quant=quant,
                       consts=consts, weights=weights, theta=theta,
                       labels=labels, data_sha256=str(manifest["data"]["sha256"]), manifest=manifest)


def _check_recipe(run_dir: Path, recipe: Recipe) -> None:
    steps = int(recipe.get("input", "presentation_steps"))
    if steps > MAX_STEPS:
        raise ExportError(f"{run_dir}: presentations of {steps} steps; the C export times spikes in 16 bits "
                          f"(at most {MAX_STEPS} steps)")
    dt = float(recipe.get("input", "dt_ms"))
    for section in ("excitatory", "inhibitory"):
        refractory = round(float(recipe.get(section, "refractory_ms", 0.0)) / dt)
        if refractory > MAX_REFRACTORY:
            raise ExportError(f"{run_dir}: a refractory period of {refractory} steps ({section}); the C export "
                              f"counts it in 8 bits (at most {MAX_REFRACTORY})")


def _load_arrays(run_dir: Path, n: int, quant: QuantConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    path = run_dir / rundir.WEIGHTS
    arrays = rundir.load_npz(path)
    missing = [k for k in ("weights", "theta", "neuron_labels") if k not in arrays]
    if missing:
        raise ExportError(f"{path}: no {', '.join(missing)} array; give the --out folder of a finished run")
    weights, theta, labels = arrays["weights"], arrays["theta"], arrays["neuron_labels"]
    if weights.shape != (N_INPUTS, n) or weights.dtype != quant.weights.storage_dtype:
        raise ExportError(f"{path}: weights are {weights.dtype} {weights.shape}, but the manifest says "
                          f"{quant.weights} codes ({quant.weights.storage_dtype}) for {n} neurons")
    if weights.size and int(weights.max()) > quant.weights.max_code:
        raise ExportError(f"{path}: a weight code {int(weights.max())} exceeds {quant.weights.max_code}, the "
                          f"largest code of {quant.weights}")
    if theta.shape != (n,) or theta.dtype != np.float32:
        raise ExportError(f"{path}: theta is {theta.dtype} {theta.shape}, expected float32 ({n},)")
    if labels.shape != (n,) or labels.dtype.kind not in "iu" or labels.min() < -1 or labels.max() >= N_CLASSES:
        raise ExportError(f"{path}: neuron_labels must be {n} integers in -1..{N_CLASSES - 1}")
    return (np.ascontiguousarray(weights), np.ascontiguousarray(theta),
            np.ascontiguousarray(labels, dtype=np.int64))
