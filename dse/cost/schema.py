"""What a hardware profile holds: frozen dataclasses whose fields carry their type, bound and meaning.

A profile is one TOML file (``hw_profiles/<name>.toml``): top-level keys, the
``[specs]`` (published, each cited in ``[sources]``), the ``[coefficients]``
of the cost model (each explained in ``[coefficient_sources]``), and for a
calibrated profile its ``[calibration]`` provenance.  Everything is frozen so a
loaded profile can be shared, cached and hashed; calibration makes a *new*
profile.  :mod:`dse.cost.profiles` validates files against these fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "KINDS",
    "TOP_LEVEL",
    "TABLES",
    "REQUIRED_TABLES",
    "GPU_ONLY_SPECS",
    "ProfileError",
    "FrozenMap",
    "FieldInfo",
    "Specs",
    "Coefficients",
    "Calibration",
    "HardwareProfile",
    "spec_fields",
    "coefficient_fields",
    "calibration_fields",
]

SCHEMA_VERSION = 1
KINDS = ("gpu", "cpu", "soc")  # soc: integrated GPU sharing DRAM with the CPU (Jetson)


class ProfileError(ValueError):
    """A hardware profile could not be found, parsed or validated.

    ``str(err)`` is always a single line ``"<file>: <what is wrong with which key>"``
    so it reads well in a CLI and in logs.
    """

    def __init__(self, origin: str, message: str, key: str | None = None) -> None:
        self.origin = origin
        self.key = key
        self.reason = message
        # Keys and paths can contain anything (fuzzed or hand-typed files);
        # escaping line breaks keeps the one-line promise.
        text = f"{origin}: {message}"
        super().__init__(text.replace("\r", "\\r").replace("\n", "\\n"))


class FrozenMap(Mapping[str, Any]):
    """A read-only, hashable mapping (so profiles holding one stay hashable)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data = dict(data or {})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._data) == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


@dataclass(frozen=True)
class FieldInfo:
    """How one key of a profile table is typed and bounded."""

    key: str
    type: str  # "int" | "float" | "str" | "date" | "str_list"
    required: bool
    bound: str  # "positive" | "non-negative" | "none"
    doc: str


def _field(type_: str, doc: str, *, required: bool = True, bound: str = "positive", default: Any = None) -> Any:
    # Optional fields default to None (or the given default); required ones
    # have no default (kw_only dataclasses allow that in any order).
    meta = {"profile": (type_, required, bound, doc)}
    if required:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


def _fields_of(cls: type) -> tuple[FieldInfo, ...]:
    return tuple(
        FieldInfo(f.name, *f.metadata["profile"]) for f in dataclasses.fields(cls)
    )


@dataclass(frozen=True, kw_only=True)
class Specs:
    """Published specifications. Counts and labels are dimensionless; all else carries its unit."""

    architecture: str = _field("str", "microarchitecture and chip, e.g. 'Pascal (GP106)'", bound="none")
    cores: int = _field("int", "CUDA cores (gpu/soc) or physical cores (cpu)")
    sm_count: int | None = _field("int", "streaming multiprocessors (gpu/soc only)", required=False)
    base_clock_mhz: float | None = _field(
        "float", "guaranteed clock; Jetson: GPU cap in the lowest power mode", required=False
    )
    boost_clock_mhz: float = _field("float", "maximum rated clock used for peak throughput")
    peak_fp32_gflops: float = _field("float", "peak FP32 throughput, GFLOP/s")
    memory_type: str = _field("str", "DRAM technology, e.g. GDDR5, HBM2, LPDDR4", bound="none")
    memory_bytes: int = _field("int", "device memory (soc: DRAM shared with the CPU)")
    memory_bandwidth_gbps: float = _field("float", "peak DRAM bandwidth, GB/s (decimal)")
    l2_cache_bytes: int | None = _field("int", "last-level on-chip cache", required=False)
    shared_memory_per_sm_bytes: int | None = _field(
        "int", "max shared memory per SM (gpu/soc only)", required=False
    )
    board_power_w: float = _field("float", "TDP / board power / highest power mode")
    min_power_mode_w: float | None = _field("float", "lowest configurable power mode", required=False)
    idle_power_w: float | None = _field("float", "idle draw, where known", required=False)
    kernel_launch_overhead_us: float = _field(
        "float", "modelled per-kernel (gpu) or per-call (cpu) dispatch latency"
    )


@dataclass(frozen=True, kw_only=True)
class Coefficients:
    """Modelled cost coefficients; initial values from :func:`dse.cost.priors.initial_coefficients`, refit by calibration.

    Time coefficients are throughput-amortised compute time per operation;
    DRAM traffic is charged separately through the ``*_byte_dram_*`` pair so
    the cost model can combine compute and memory time as it sees fit.
    Zero is allowed because a non-negative least-squares fit can pin a term at 0.
    """

    time_per_synaptic_event_ns: float = _field("float", "one spike delivered along one synapse", bound="non-negative")
    time_per_neuron_update_ns: float = _field("float", "one LIF neuron, one time step", bound="non-negative")
    time_per_weight_update_ns: float = _field("float", "one STDP weight update", bound="non-negative")
    time_per_byte_dram_ns: float = _field("float", "one byte moved to/from DRAM", bound="non-negative")
    time_per_step_overhead_us: float = _field("float", "fixed cost per simulation step", bound="non-negative")
    # Optional so that profiles written before it existed still load (as 0: not priced).
    time_per_input_spike_ns: float = _field(
        "float", "one input spike generated and dispatched (event execution)", bound="non-negative",
        required=False, default=0.0)
    energy_per_synaptic_event_pj: float = _field("float", "dynamic energy, synaptic event", bound="non-negative")
    energy_per_neuron_update_pj: float = _field("float", "dynamic energy, neuron update", bound="non-negative")
    energy_per_weight_update_pj: float = _field("float", "dynamic energy, weight update", bound="non-negative")
    energy_per_byte_dram_pj: float = _field("float", "dynamic energy, one DRAM byte", bound="non-negative")
    energy_per_input_spike_pj: float = _field("float", "dynamic energy, one input spike generated and dispatched",
                                              bound="non-negative", required=False, default=0.0)
    static_power_w: float = _field("float", "power drawn for the whole run regardless of work", bound="non-negative")


@dataclass(frozen=True, kw_only=True)
class Calibration:
    """Provenance of a calibrated profile (written by calibration, never hand-edited)."""

    base_profile: str = _field("str", "name of the profile the fit started from", bound="none")
    fit_date: str = _field("date", "ISO date of the fit, YYYY-MM-DD", bound="none")
    measurement_files: tuple[str, ...] = _field("str_list", "measurement files the fit used", bound="none")
    method: str | None = _field("str", "fitting method", required=False, bound="none")
    n_measurements: int | None = _field("int", "number of measured runs", required=False)
    time_residual_rms_fraction: float | None = _field(
        "float", "RMS relative error of predicted time", required=False, bound="non-negative"
    )
    time_residual_max_fraction: float | None = _field(
        "float", "max relative error of predicted time", required=False, bound="non-negative"
    )
    energy_residual_rms_fraction: float | None = _field(
        "float", "RMS relative error of predicted energy", required=False, bound="non-negative"
    )
    energy_residual_max_fraction: float | None = _field(
        "float", "max relative error of predicted energy", required=False, bound="non-negative"
    )
    memory_residual_rms_fraction: float | None = _field(
        "float", "RMS relative error of predicted memory", required=False, bound="non-negative"
    )
    design_condition_number: float | None = _field(
        "float", "condition number of the measurement grid's relative design matrix", required=False
    )
    notes: str | None = _field("str", "free text", required=False, bound="none")


@dataclass(frozen=True, kw_only=True)
class HardwareProfile:
    """One device. ``path`` is where it was read from and takes no part in equality."""

    name: str
    display_name: str
    kind: str
    vendor: str
    specs: Specs
    sources: FrozenMap
    coefficients: Coefficients
    coefficient_sources: FrozenMap
    notes: str | None = None
    calibration: Calibration | None = None
    # Calibrated profiles: coefficient -> (low, high), its 95% interval; fitted coefficients only.
    coefficient_intervals: FrozenMap | None = None
    path: str = field(default="", compare=False)


def spec_fields() -> tuple[FieldInfo, ...]:
    return _fields_of(Specs)


def coefficient_fields() -> tuple[FieldInfo, ...]:
    return _fields_of(Coefficients)


def calibration_fields() -> tuple[FieldInfo, ...]:
    return _fields_of(Calibration)


TOP_LEVEL: tuple[FieldInfo, ...] = (
    FieldInfo("schema_version", "int", True, "positive", "always 1"),
    FieldInfo("name", "str", True, "none", "file stem, lower-case"),
    FieldInfo("display_name", "str", True, "none", "human-readable device name"),
    FieldInfo("kind", "str", True, "none", "gpu | cpu | soc"),
    FieldInfo("vendor", "str", True, "none", "lower-case vendor id"),
    FieldInfo("notes", "str", False, "none", "variant choices, context"),
)
TABLES = ("specs", "sources", "coefficients", "coefficient_sources", "coefficient_intervals", "calibration")
REQUIRED_TABLES = ("specs", "sources", "coefficients", "coefficient_sources")
GPU_ONLY_SPECS = ("sm_count", "shared_memory_per_sm_bytes")
