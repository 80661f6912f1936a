"""What a fitted time coefficient may physically be, from the profile's own specs.

A fit can put time on a term at a rate the device cannot reach (faster than
its peak), or make one operation cost more than fetching a cache line from
DRAM for it. Either means the fit traded that term against another, so
calibration keeps the prior instead and says why. The bounds are loose on
purpose: they catch impossible values, not merely surprising ones.

Time coefficients are amortised over the whole device (hw_profiles/README.md),
so the bounds use the device's totals: peak FP32 throughput (an FMA counted as
2 FLOP, so peak_fp32_gflops / 2 simple operations per nanosecond) and peak
DRAM bandwidth (1 GB/s = 1 byte/ns). The per-step overhead is a latency and is
bounded by a clock cycle and by the profile's dispatch latency per step.
"""

from __future__ import annotations

from dataclasses import dataclass

from dse.cost.energy import CACHE_LINE_BYTES
from dse.cost.priors import KERNELS_PER_STEP
from dse.cost.schema import HardwareProfile

__all__ = ["Bounds", "plausible_bounds", "implausibility"]


@dataclass(frozen=True)
class Bounds:
    low: float
    high: float
    why_low: str
    why_high: str


def plausible_bounds(profile: HardwareProfile) -> dict[str, Bounds]:
    """Bounds per time coefficient, in the coefficient's own unit."""
    s = profile.specs
    op_ns = 2.0 / s.peak_fp32_gflops
    line_ns = CACHE_LINE_BYTES / s.memory_bandwidth_gbps
    peak = Bounds(op_ns, line_ns, f"one operation per SIMD lane per cycle on every core ({op_ns:.3g} ns: "
                                  f"2 / specs.peak_fp32_gflops)",
                  f"a {CACHE_LINE_BYTES}-byte cache line from DRAM per element ({line_ns:.3g} ns: "
                  f"{CACHE_LINE_BYTES} / specs.memory_bandwidth_gbps)")
    dispatch_ns = 1000.0 * s.kernel_launch_overhead_us
    return {
        "time_per_synaptic_event_ns": peak,
        "time_per_neuron_update_ns": peak,
        "time_per_weight_update_ns": peak,
        "time_per_byte_dram_ns": Bounds(1.0 / s.memory_bandwidth_gbps, line_ns,
                                        f"the peak DRAM bandwidth ({1.0 / s.memory_bandwidth_gbps:.3g} ns: "
                                        "1 / specs.memory_bandwidth_gbps)",
                                        f"a whole cache line moved for every byte ({line_ns:.3g} ns)"),
        "time_per_step_overhead_us": Bounds(1.0 / s.boost_clock_mhz, KERNELS_PER_STEP * s.kernel_launch_overhead_us,
                                            f"one clock cycle ({1.0 / s.boost_clock_mhz:.3g} us)",
                                            f"{KERNELS_PER_STEP} dispatches per step at "
                                            f"specs.kernel_launch_overhead_us "
                                            f"({KERNELS_PER_STEP * s.kernel_launch_overhead_us:.3g} us)"),
        "time_per_input_spike_ns": Bounds(op_ns, dispatch_ns, peak.why_low,
                                          f"one dispatch per spike ({dispatch_ns:.3g} ns: "
                                          "specs.kernel_launch_overhead_us)"),
    }


def implausibility(value: float, bounds: Bounds) -> str | None:
    """Why a fitted value is physically implausible, or None when it lies within the bounds (0 is checked elsewhere)."""
    if 0 < value < bounds.low:
        return f"faster than {bounds.why_low}"
    if value > bounds.high:
        return f"slower than {bounds.why_high}"
    return None
