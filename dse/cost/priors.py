"""Initial cost coefficients of a profile, derived from its published specs.

Priors, not measurements: calibration replaces them.  The figures the
derivation rests on (FLOP per operation, achievable fractions of peak, DRAM
energy per bit by technology) are data, in ``priors.toml`` beside this module;
``hw_profiles/README.md`` explains each choice.  The bundled profiles hold the
derived values rounded to four significant figures, and a test keeps the two
in step.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

from .schema import FrozenMap, Specs

__all__ = [
    "PRIORS_FILE",
    "FLOP_PER_SYNAPTIC_EVENT",
    "FLOP_PER_NEURON_UPDATE",
    "FLOP_PER_WEIGHT_UPDATE",
    "FLOP_PER_INPUT_SPIKE",
    "COMPUTE_EFFICIENCY",
    "DRAM_EFFICIENCY",
    "KERNELS_PER_STEP",
    "IDLE_FRACTION_FALLBACK",
    "DRAM_PJ_PER_BIT",
    "DRAM_PJ_PER_BIT_SOURCE",
    "initial_coefficients",
]

PRIORS_FILE = "priors.toml"
_KEYS = {
    "flop": {"per_synaptic_event", "per_neuron_update", "per_weight_update", "per_input_spike"},
    "efficiency": {"compute", "dram"},
    "overhead": {"kernels_per_step", "idle_fraction_fallback"},
    "dram_pj_per_bit": {"source", "by_technology"},
}


def _read_priors() -> dict[str, Any]:
    """priors.toml, checked: every table and key present, nothing else (a typo is an error)."""
    text = resources.files("dse.cost").joinpath(PRIORS_FILE).read_text(encoding="utf-8")
    doc = tomllib.loads(text)
    tables = {k: v for k, v in doc.items() if k != "schema_version"}
    if doc.get("schema_version") != 1 or set(tables) != set(_KEYS):
        raise ValueError(f"dse/cost/{PRIORS_FILE}: expected schema_version = 1 and tables {', '.join(_KEYS)}")
    for name, keys in _KEYS.items():
        if set(tables[name]) != keys:
            raise ValueError(f"dse/cost/{PRIORS_FILE}: [{name}] must hold exactly {', '.join(sorted(keys))}")
    return tables


_PRIORS = _read_priors()
FLOP_PER_SYNAPTIC_EVENT = float(_PRIORS["flop"]["per_synaptic_event"])
FLOP_PER_NEURON_UPDATE = float(_PRIORS["flop"]["per_neuron_update"])
FLOP_PER_WEIGHT_UPDATE = float(_PRIORS["flop"]["per_weight_update"])
FLOP_PER_INPUT_SPIKE = float(_PRIORS["flop"]["per_input_spike"])
COMPUTE_EFFICIENCY = FrozenMap({k: float(v) for k, v in _PRIORS["efficiency"]["compute"].items()})
DRAM_EFFICIENCY = float(_PRIORS["efficiency"]["dram"])
KERNELS_PER_STEP = int(_PRIORS["overhead"]["kernels_per_step"])
IDLE_FRACTION_FALLBACK = float(_PRIORS["overhead"]["idle_fraction_fallback"])
DRAM_PJ_PER_BIT = FrozenMap({k: float(v) for k, v in _PRIORS["dram_pj_per_bit"]["by_technology"].items()})
DRAM_PJ_PER_BIT_SOURCE = str(_PRIORS["dram_pj_per_bit"]["source"])


def _round_sig(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def initial_coefficients(kind: str, specs: Specs) -> tuple[dict[str, float], dict[str, str]]:
    """Derive starting coefficients from published specs, with a one-line derivation for each.

    Returns ``(values, sources)`` keyed like :class:`Coefficients`; values are
    rounded to 4 significant figures, as written in the bundled files.
    Raises ``ValueError`` for a ``kind`` or ``memory_type`` it has no prior for.
    """
    if kind not in COMPUTE_EFFICIENCY:
        raise ValueError(f"no compute-efficiency prior for kind {kind!r}")
    if specs.memory_type not in DRAM_PJ_PER_BIT:
        raise ValueError(f"no DRAM energy prior for memory_type {specs.memory_type!r}")
    eff = COMPUTE_EFFICIENCY[kind]
    # 1 GFLOP/s = 1 FLOP/ns, so FLOP / (GFLOP/s) is directly nanoseconds.
    ns_per_flop = 1.0 / (specs.peak_fp32_gflops * eff)
    if specs.idle_power_w is not None:
        idle, idle_src = specs.idle_power_w, "= specs.idle_power_w"
    else:
        idle = specs.board_power_w * IDLE_FRACTION_FALLBACK
        idle_src = f"estimate: {IDLE_FRACTION_FALLBACK:.0%} of specs.board_power_w (idle power unpublished)"
    dynamic_w = specs.board_power_w - idle
    pj_per_bit = DRAM_PJ_PER_BIT[specs.memory_type]

    t_src = "derived: {flop:g} FLOP / (specs.peak_fp32_gflops x {eff:.2f} compute efficiency)"
    e_src = (
        "derived: coefficients.{t} x (specs.board_power_w - static power) x 1000 (ns x W = nJ);"
        " a busy device is assumed to draw its full board power"
    )
    values = {
        "time_per_synaptic_event_ns": FLOP_PER_SYNAPTIC_EVENT * ns_per_flop,
        "time_per_neuron_update_ns": FLOP_PER_NEURON_UPDATE * ns_per_flop,
        "time_per_weight_update_ns": FLOP_PER_WEIGHT_UPDATE * ns_per_flop,
        "time_per_byte_dram_ns": 1.0 / (specs.memory_bandwidth_gbps * DRAM_EFFICIENCY),
        "time_per_step_overhead_us": KERNELS_PER_STEP * specs.kernel_launch_overhead_us,
        "time_per_input_spike_ns": FLOP_PER_INPUT_SPIKE * ns_per_flop,
        # W x ns = nJ; x 1000 -> pJ
        "energy_per_synaptic_event_pj": FLOP_PER_SYNAPTIC_EVENT * ns_per_flop * dynamic_w * 1e3,
        "energy_per_neuron_update_pj": FLOP_PER_NEURON_UPDATE * ns_per_flop * dynamic_w * 1e3,
        "energy_per_weight_update_pj": FLOP_PER_WEIGHT_UPDATE * ns_per_flop * dynamic_w * 1e3,
        "energy_per_byte_dram_pj": pj_per_bit * 8.0,
        "energy_per_input_spike_pj": FLOP_PER_INPUT_SPIKE * ns_per_flop * dynamic_w * 1e3,
        "static_power_w": idle,
    }
    sources = {
        "time_per_synaptic_event_ns": t_src.format(flop=FLOP_PER_SYNAPTIC_EVENT, eff=eff),
        "time_per_neuron_update_ns": t_src.format(flop=FLOP_PER_NEURON_UPDATE, eff=eff),
        "time_per_weight_update_ns": t_src.format(flop=FLOP_PER_WEIGHT_UPDATE, eff=eff),
        "time_per_byte_dram_ns": (
            f"derived: 1 / (specs.memory_bandwidth_gbps x {DRAM_EFFICIENCY:.2f} achievable fraction);"
            " 1 GB/s = 1 byte/ns"
        ),
        "time_per_step_overhead_us": (
            f"derived: {KERNELS_PER_STEP} kernel launches per simulation step x specs.kernel_launch_overhead_us"
        ),
        "time_per_input_spike_ns": t_src.format(flop=FLOP_PER_INPUT_SPIKE, eff=eff),
        "energy_per_synaptic_event_pj": e_src.format(t="time_per_synaptic_event_ns"),
        "energy_per_neuron_update_pj": e_src.format(t="time_per_neuron_update_ns"),
        "energy_per_weight_update_pj": e_src.format(t="time_per_weight_update_ns"),
        "energy_per_input_spike_pj": e_src.format(t="time_per_input_spike_ns"),
        "energy_per_byte_dram_pj": (
            f"estimate: {specs.memory_type} ~{pj_per_bit:g} pJ/bit x 8 bit/byte ({DRAM_PJ_PER_BIT_SOURCE})"
        ),
        "static_power_w": f"derived: {idle_src}",
    }
    return {k: _round_sig(v) for k, v in values.items()}, sources
