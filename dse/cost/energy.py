"""Time and energy per image from activity counts and a hardware profile.

Cost = work x coefficient (Accelergy style).  The work a phase does depends on
how the simulator executes, an explicit ``execution`` choice:

* ``dense`` -- how the papers' simulator (BindsNET: PyTorch, clock-driven,
  batch 1) runs on a GPU: every step it launches a handful of kernels
  (``time_per_step_overhead_us``, which dominates at small N) and multiplies
  the whole 784 x N input matrix and the N x N inhibition matrices by the
  step's spike vectors, spikes or not.  Pair-wise STDP evaluates its two
  outer products over the whole matrix every step, SL-STDP one; FSpiNN
  updates one 784-weight column per window (its counted updates).  The weight
  matrices stream from DRAM every step unless they fit in L2.  Default for
  ``gpu`` and ``soc`` profiles.
* ``event`` -- our compiled CPU engine: only spiking inputs' rows are added
  (the counted synaptic events), and each input spike also costs its own
  generation and dispatch (a random draw and a logarithm in the Poisson
  encoder, its row looked up, its trace time-stamped), whatever N is; under
  pair-wise STDP in training it is dispatched a second time, into the
  depression of its row;
  traces are looked up rather than decayed,
  pair-wise depression touches only neurons that have fired in the
  presentation, and only changed columns are renormalised (the engine
  counts both: ``depressions`` and ``columns_normalised``).  Training runs one image at a time
  on one core; inference runs images in parallel on all cores.  Default for
  ``cpu`` profiles.

Time coefficients are throughput-amortised over the whole device (hw_profiles
README), so a phase on one of C cores takes C times as long per operation;
the per-step overhead is a latency and is not scaled.  Components add
(serial execution; no overlap of compute and memory is assumed, so the time is
an upper bound of a roofline model, and linear in the coefficients, which
calibration needs).  Energy = sum of operations x energy coefficients +
static power x time; the per-step overhead carries only static energy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from dse.models.quantize import QuantConfig

from .schema import Coefficients, HardwareProfile
from .structure import N_INPUTS, DesignStructure, check_neurons

__all__ = ["EXECUTIONS", "TIME_COMPONENTS", "ENERGY_COMPONENTS", "TIME_COEFFICIENTS", "Work", "PhaseCost",
           "default_execution", "phase_work", "time_features", "price_phase"]

EXECUTIONS = ("dense", "event")
TIME_COMPONENTS = ("synaptic", "neuron", "weight_update", "memory_traffic", "step_overhead", "input_spikes")
ENERGY_COMPONENTS = ("synaptic", "neuron", "weight_update", "memory_traffic", "input_spikes", "static")
# Coefficient behind each time component, in the same order, and its unit in seconds.
TIME_COEFFICIENTS = (
    ("time_per_synaptic_event_ns", 1e-9),
    ("time_per_neuron_update_ns", 1e-9),
    ("time_per_weight_update_ns", 1e-9),
    ("time_per_byte_dram_ns", 1e-9),
    ("time_per_step_overhead_us", 1e-6),
    ("time_per_input_spike_ns", 1e-9),
)
# Dynamic energy per operation, in the order of ENERGY_COMPONENTS (static power apart).
ENERGY_COEFFICIENTS = (
    "energy_per_synaptic_event_pj",
    "energy_per_neuron_update_pj",
    "energy_per_weight_update_pj",
    "energy_per_byte_dram_pj",
    "energy_per_input_spike_pj",
)
PJ = 1e-12
CACHE_LINE_BYTES = 64


def default_execution(profile: HardwareProfile) -> str:
    return "event" if profile.kind == "cpu" else "dense"


@dataclass(frozen=True)
class Work:
    """What one image of one phase costs in priced units, and how it is spread over the device."""

    synaptic_ops: float
    neuron_ops: float
    weight_ops: float
    dram_bytes: float
    steps: float
    input_spikes: float = 0.0   # event execution: spikes generated and dispatched (dense: inside the step)
    device_share: float = 1.0   # fraction of the device one image runs on (event training: 1/C)
    images_in_parallel: float = 1.0  # images processed at once (event inference: C)

    def ops(self) -> tuple[float, float, float, float, float]:
        return (self.synaptic_ops, self.neuron_ops, self.weight_ops, self.dram_bytes, self.steps)

    def dynamic_ops(self) -> tuple[float, ...]:
        """The work priced by ENERGY_COEFFICIENTS, in their order."""
        return (self.synaptic_ops, self.neuron_ops, self.weight_ops, self.dram_bytes, self.input_spikes)


@dataclass(frozen=True)
class PhaseCost:
    phase: str
    execution: str
    work: Work
    time_s: Mapping[str, float]    # by TIME_COMPONENTS, per image (wall clock)
    energy_j: Mapping[str, float]  # by ENERGY_COMPONENTS, per image

    @property
    def total_time_s(self) -> float:
        return sum(self.time_s.values())

    @property
    def total_energy_j(self) -> float:
        return sum(self.energy_j.values())


def _check_counts(counts: Mapping[str, float]) -> None:
    for key in ("steps", "input_spikes", "exc_spikes", "neuron_updates", "synaptic_events", "weight_updates",
                "trace_updates", "normalisations", "columns_normalised", "depressions"):
        value = counts.get(key, 0.0)
        if not value >= 0:
            raise ValueError(f"count {key!r} must be >= 0, got {value!r}")


def phase_work(s: DesignStructure, neurons: int, phase: str, counts: Mapping[str, float],
               precision: QuantConfig, execution: str, *, cores: int = 1,
               l2_cache_bytes: int | None = None) -> Work:
    """Priced work of one image from its counts (keys of COUNT_NAMES; missing keys count 0, except the
    engine-actual ones of event training, which are then estimated: see _event_training_ops)."""
    n = check_neurons(neurons)
    if execution not in EXECUTIONS:
        raise ValueError(f"unknown execution {execution!r}: choose one of {', '.join(EXECUTIONS)}")
    if phase not in ("training", "inference"):
        raise ValueError(f"unknown phase {phase!r}: choose inference or training")
    _check_counts(counts)
    g = lambda key: float(counts.get(key, 0.0))  # noqa: E731
    training = phase == "training"
    w_bytes = precision.bits("weights") / 8
    inh_bytes = precision.bits("inh") / 8
    weight_matrix_bytes = N_INPUTS * n * w_bytes
    steps = g("steps")

    if execution == "dense":
        resident = weight_matrix_bytes + s.nxn_matrices * n * n * inh_bytes
        streams = l2_cache_bytes is None or resident > l2_cache_bytes
        syn = steps * (N_INPUTS + s.nxn_matrices * n) * n
        neuron = g("neuron_updates") + g("trace_updates")
        weight = 0.0
        if training:
            per_step_products = {"pairwise": 2, "sl-stdp": 1}.get(s.rule, 0)
            weight = steps * per_step_products * N_INPUTS * n
            if s.rule == "fspinn":
                weight += g("weight_updates")
            weight += g("normalisations") * N_INPUTS  # every column, every presentation
        dram = (steps * resident + 2 * weight * w_bytes) if streams else 0.0
        return Work(syn, neuron, weight, dram, steps)

    # event-driven CPU engine
    cores = max(int(cores), 1)
    streams = l2_cache_bytes is None or weight_matrix_bytes > l2_cache_bytes
    syn = g("synaptic_events")
    neuron = g("neuron_updates")
    row_ops, column_ops = _event_training_ops(s, n, counts) if training else (0.0, 0.0)
    weight = row_ops + column_ops
    # Weights are stored input-major (784 rows of N): a spiking input's row is
    # read contiguously (and stays cached for its depression), but a column
    # update touches one cache line per weight, which misses once the matrix
    # outgrows the cache.
    dram = column_ops * CACHE_LINE_BYTES if streams else 0.0
    # Each input spike is dispatched into a pass over its weight row: its synaptic events, and under
    # pair-wise STDP in training a second pass, its depression (a call whose fixed cost, loading the
    # rule and walking the list of fired neurons, is paid even when no neuron has fired yet).
    spikes = g("input_spikes") * (2 if training and s.rule == "pairwise" else 1)
    if training:
        return Work(syn, neuron, weight, dram, steps, spikes, device_share=1.0 / cores, images_in_parallel=1.0)
    return Work(syn, neuron, weight, dram, steps, spikes, device_share=1.0 / cores, images_in_parallel=float(cores))


def _event_training_ops(s: DesignStructure, n: int, counts: Mapping[str, float]) -> tuple[float, float]:
    """Weight elements the compiled engine writes per image in training: (in contiguous rows, in strided columns).

    From the engine-actual counts (models/counts.py) where the run has them.
    A run recorded before they were counted leaves them out; they are then
    estimated as if spikes fell evenly on the N neurons, which overestimates
    the work when winner-take-all concentrates them on a few.
    """
    g = lambda key: float(counts.get(key, 0.0))  # noqa: E731
    exc = g("exc_spikes")
    fired = n * -math.expm1(-exc / n)  # the even-spread guess: neurons that fire in a presentation
    row_ops, column_ops = 0.0, 0.0
    if s.rule == "pairwise":
        # depression: each input spike touches, in its (cached) weight row, the neurons that have fired so far
        row_ops = g("depressions") if "depressions" in counts else g("input_spikes") * fired / 2
        column_ops = N_INPUTS * exc  # potentiation of each spiking neuron's column
        changed = fired
    else:
        column_ops = g("weight_updates")
        changed = column_ops / N_INPUTS  # at most one changed column per update
    if s.rule == "fspinn":
        row_ops += N_INPUTS * exc  # the 784 pre traces recorded at every spike (a contiguous row)
    if "columns_normalised" in counts:
        changed = g("columns_normalised")
    # the changed columns are renormalised: one pass to sum, one to scale
    column_ops += 2 * N_INPUTS * min(changed, g("normalisations"))
    return row_ops, column_ops


def time_features(work: Work, target: str = "wall") -> tuple[float, ...]:
    """Per-coefficient multipliers: time (s) = sum(features[k] x coefficient[k] x unit[k]).

    ``target="cpu"`` gives processor time (all busy cores summed), which is
    what calibration fits on a shared machine: unlike wall time it does not
    grow when other processes compete for the cores.
    """
    slowdown = 1.0 / work.device_share  # one core of C does 1/C of the device's throughput
    ops = (work.synaptic_ops, work.neuron_ops, work.weight_ops, work.dram_bytes)
    if target == "wall":
        per_image = 1.0 / work.images_in_parallel
        return (tuple(x * slowdown * per_image for x in ops) + (work.steps * per_image,)
                + (work.input_spikes * slowdown * per_image,))
    if target == "cpu":
        # each image keeps device_share x cores busy; equal to slowdown x share = 1 core-time unit
        return tuple(x * slowdown for x in ops) + (work.steps,) + (work.input_spikes * slowdown,)
    raise ValueError(f"unknown time target {target!r}: choose wall or cpu")


def price_phase(work: Work, coefficients: Coefficients, phase: str, execution: str) -> PhaseCost:
    """Time (wall clock) and energy of one image."""
    feats = time_features(work, "wall")
    time_s = {
        comp: feats[k] * getattr(coefficients, name) * unit
        for k, (comp, (name, unit)) in enumerate(zip(TIME_COMPONENTS, TIME_COEFFICIENTS))
    }
    ops = work.dynamic_ops()
    energy_j = {
        comp: ops[k] * getattr(coefficients, ENERGY_COEFFICIENTS[k]) * PJ
        for k, comp in enumerate(ENERGY_COMPONENTS[:-1])
    }
    energy_j["static"] = coefficients.static_power_w * sum(time_s.values())
    return PhaseCost(phase=phase, execution=execution, work=work, time_s=time_s, energy_j=energy_j)
