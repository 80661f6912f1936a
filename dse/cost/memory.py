"""Memory footprint of a design: bytes per component, phase, precision and accounting.

mem = sum over components (elements x bit-width) (tinySNN Eq. 3-4; method
notes section 5).  Two accountings:

* ``dense`` -- as the papers' simulator (BindsNET: dense, clock-driven) stores
  the network: the exc->inh and inh->exc connections of the layer designs and
  FSpiNN's lateral inhibition are dense N x N matrices, every neuron variable
  is a 32-bit tensor (spike flags: 8-bit booleans).  This is the accounting
  that reproduces FSpiNN Sec. V-C (docs/cost-model.md has the figures).
* ``minimal`` -- what the network truly needs: a uniform inhibition strength
  is one number, not N^2; counters and flags take the bits their range needs.

Quantization (``--quant``) sets the bits of the input weights (``weights``),
the inhibition matrices or strengths (``inh``), membrane potentials (``vmem``)
and thresholds (``vth``); everything else keeps the width stated here, so
memory is affine in each bit-width.  Training adds what learning needs on top
of inference (traces, counters, FSpiNN's window state).

Bits are exact integers; each component's bytes are its bits rounded up to a
whole byte.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from dse.cost import PHASES
from dse.models.quantize import FP32_BITS, QuantConfig

from .structure import N_INPUTS, DesignStructure, check_neurons, design_structure

__all__ = ["ACCOUNTINGS", "PHASES", "MemoryComponent", "MemoryReport", "memory_report", "MB"]

ACCOUNTINGS = ("dense", "minimal")
EXIT_CLASSES = 10  # MNIST and Fashion-MNIST
MB = 1_000_000  # the papers' MB are decimal: "just over 200 MB" is 207.6e6 bytes, not 198 MiB
BOOL_TENSOR_BITS = 8  # dense simulators store spike flags as 1-byte booleans


@dataclass(frozen=True)
class MemoryComponent:
    name: str
    elements: int
    bits_per_element: int
    value: str | None  # the --quant key that sets bits_per_element, or None
    note: str

    @property
    def bits(self) -> int:
        return self.elements * self.bits_per_element

    @property
    def bytes(self) -> int:
        return -(-self.bits // 8)


@dataclass(frozen=True)
class MemoryReport:
    design: str
    neurons: int
    phase: str
    accounting: str
    precision: str
    components: tuple[MemoryComponent, ...]

    @property
    def total_bits(self) -> int:
        return sum(c.bits for c in self.components)

    @property
    def total_bytes(self) -> int:
        return sum(c.bytes for c in self.components)

    def by_name(self) -> dict[str, int]:
        return {c.name: c.bytes for c in self.components}


def _bits_for(count: int) -> int:
    """Bits of an unsigned counter holding 0..count."""
    return max(1, math.ceil(math.log2(count + 1)))


def memory_report(design: str, neurons: int, phase: str = "inference", precision: QuantConfig | None = None,
                  accounting: str = "dense", early_exit: bool = False) -> MemoryReport:
    """Bytes per component of ``design`` with ``neurons`` excitatory neurons.

    ``early_exit`` (inference): the step loop also keeps each neuron's class
    and a vote counter per class (models/early_exit.py).
    """
    check_neurons(neurons)
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}: choose one of {', '.join(PHASES)}")
    if accounting not in ACCOUNTINGS:
        raise ValueError(f"unknown accounting {accounting!r}: choose one of {', '.join(ACCOUNTINGS)}")
    precision = precision or QuantConfig()
    s = design_structure(design)
    n = neurons
    dense = accounting == "dense"
    b_w, b_inh, b_v, b_th = (precision.bits(k) for k in ("weights", "inh", "vmem", "vth"))
    flag = BOOL_TENSOR_BITS if dense else 1
    c: list[MemoryComponent] = []

    def add(name: str, elements: int, bits: int, value: str | None, note: str) -> None:
        c.append(MemoryComponent(name, elements, bits, value, note))

    add("input_weights", N_INPUTS * n, b_w, "weights", "784 x N input synapses")
    if s.scheme == "lateral":
        if dense:
            add("lateral_weights", n * n, b_inh, "inh", "N x N lateral inhibition matrix (dense)")
        else:
            add("lateral_weights", 1, b_inh, "inh", "one uniform lateral strength w_lat")
    else:
        if dense:
            add("exc_to_inh_weights", n * n, b_inh, "inh", "N x N exc->inh matrix (dense, one-to-one)")
            add("inh_to_exc_weights", n * n, b_inh, "inh", "N x N inh->exc matrix (dense, all but self)")
        else:
            add("exc_to_inh_weights", 1, b_inh, "inh", "one uniform strength w_ei")
            add("inh_to_exc_weights", 1, b_inh, "inh", "one uniform strength w_ie")

    # Excitatory neurons: V, threshold (V_th + theta), g_e and g_i, refractory counter, spike flag.
    add("exc_potentials", n, b_v, "vmem", "membrane potential V")
    add("exc_thresholds", n, b_th, "vth", "adaptive threshold V_th + theta")
    add("exc_conductances", 2 * n, FP32_BITS, None, "g_e and g_i")
    add("exc_refractory", n, FP32_BITS if dense else _bits_for(s.refractory_steps), None,
        "refractory counter")
    add("exc_spike_flags", n, flag, None, "spikes of the last step")
    if s.scheme == "layer":
        add("inh_potentials", n, b_v, "vmem", "inhibitory membrane potential")
        add("inh_conductances", n, FP32_BITS, None, "inhibitory g_e")
        add("inh_refractory", n, FP32_BITS if dense else _bits_for(s.inh_refractory_steps), None,
            "inhibitory refractory counter")
        add("inh_spike_flags", n, flag, None, "inhibitory spikes of the last step")
    if dense:
        add("input_rates", N_INPUTS, FP32_BITS, None, "Poisson rates of the 784 inputs")
    else:
        add("input_pixels", N_INPUTS, 8, None, "the image; rates follow from the pixels")
    add("input_spike_flags", N_INPUTS, flag, None, "input spikes of this step")
    add("neuron_parameters", s.exc_parameters + s.inh_parameters, FP32_BITS, None,
        "shared constants of each layer (tau, V_rest, ...)")
    if early_exit and phase == "inference":
        add("neuron_labels", n, FP32_BITS if dense else _bits_for(EXIT_CLASSES), None,
            "early exit: the class each neuron votes for (or none)")
        add("class_votes", EXIT_CLASSES, FP32_BITS if dense else _bits_for(n * s.steps_per_presentation), None,
            "early exit: spikes per class so far")

    if phase == "training":
        _training_state(add, s, n, dense)
    return MemoryReport(design=design, neurons=n, phase=phase, accounting=accounting,
                        precision=precision.label, components=tuple(c))


def _training_state(add: Callable[[str, int, int, str | None, str], None], s: DesignStructure, n: int,
                    dense: bool) -> None:
    """What learning adds to the network's state: traces, spike counters, the FSpiNN window."""
    add("pre_traces", N_INPUTS, FP32_BITS, None, "presynaptic traces")
    if s.rule == "pairwise":
        add("post_traces", n, FP32_BITS, None, "postsynaptic traces (pair-wise rule)")
    if s.rule == "sl-stdp":
        add("spike_counters", n, FP32_BITS if dense else _bits_for(max(s.post_every - 1, 1)), None,
            "K-th spike counters (SL-STDP)")
    if s.rule == "fspinn":
        add("spike_counters", n, FP32_BITS if dense else _bits_for(s.max_spikes_per_presentation),
            None, "N_acc spike accumulators (FSpiNN)")
        if not dense:
            # The rule uses the pre traces at the winner's latest spike. Keeping
            # the window's input raster and each neuron's latest spike step
            # rebuilds them for whichever neuron wins (our CPU engine instead
            # keeps a 784-trace snapshot per neuron, a simulator convenience).
            add("window_input_raster", N_INPUTS * s.window_steps, 1, None,
                "input spikes of the current window (T_w steps)")
            add("window_last_spike", n, _bits_for(max(s.window_steps - 1, 1)), None,
                "step of each neuron's latest spike in the window")
    if not dense:
        add("changed_columns", n, 1, None, "columns to renormalise after the presentation")
