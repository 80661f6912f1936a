"""Hardware profiles: validated, immutable descriptions of the devices the cost model predicts for.

A profile is one TOML file (``hw_profiles/<name>.toml``, installed as the data
package ``dse.hw_profiles``) holding published specifications, a citation for
every one of them, and the modelled cost coefficients that calibration fits
later.  ``hw_profiles/README.md`` documents the schema and where each figure
came from.

Design notes (the why):

* Profiles are data users edit by hand, so every mistake must surface as one
  readable line naming the file and the key: :class:`ProfileError`.  Nothing
  else may escape the loader, whatever the file holds (a fuzz test checks).
* Units live in key names (``memory_bytes``, ``board_power_w``) because a bare
  number in a TOML file carries no unit, and a GB/GiB or W/mW mix-up silently
  skews every prediction by 1000x.  Keys with the wrong unit get a suggestion.
* Everything is a frozen dataclass so a loaded profile can be shared, cached
  and hashed, and calibration must produce a *new* profile (and a new file)
  rather than mutate a bundled one.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import math
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "KINDS",
    "ProfileError",
    "FrozenMap",
    "Specs",
    "Coefficients",
    "Calibration",
    "HardwareProfile",
    "FieldInfo",
    "spec_fields",
    "coefficient_fields",
    "calibration_fields",
    "load_profile",
    "loads_profile",
    "profile_from_dict",
    "list_profiles",
    "load_all_profiles",
    "profile_to_toml",
    "initial_coefficients",
    "UNIT_SUFFIXES",
]

SCHEMA_VERSION = 1
KINDS = ("gpu", "cpu", "soc")  # soc: integrated GPU sharing DRAM with the CPU (Jetson)

_PACKAGE = "dse.hw_profiles"
# Bundled files are named as they appear in the repository, not by their
# site-packages location, so error messages point at the file a user edits.
_BUNDLED_DIR_LABEL = "hw_profiles"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_VENDOR_RE = re.compile(r"^[a-z][a-z0-9-]*$")
_ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --------------------------------------------------------------------------- errors


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


# --------------------------------------------------------------------------- containers


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


def _field(type_: str, doc: str, *, required: bool = True, bound: str = "positive") -> Any:
    # Optional fields default to None; required ones have no default (kw_only
    # dataclasses allow that in any order).
    meta = {"profile": (type_, required, bound, doc)}
    if required:
        return field(metadata=meta)
    return field(default=None, metadata=meta)


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
    """Modelled cost coefficients; initial values from :func:`initial_coefficients`, refit by calibration.

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
    energy_per_synaptic_event_pj: float = _field("float", "dynamic energy, synaptic event", bound="non-negative")
    energy_per_neuron_update_pj: float = _field("float", "dynamic energy, neuron update", bound="non-negative")
    energy_per_weight_update_pj: float = _field("float", "dynamic energy, weight update", bound="non-negative")
    energy_per_byte_dram_pj: float = _field("float", "dynamic energy, one DRAM byte", bound="non-negative")
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
    path: str = field(default="", compare=False)


def spec_fields() -> tuple[FieldInfo, ...]:
    return _fields_of(Specs)


def coefficient_fields() -> tuple[FieldInfo, ...]:
    return _fields_of(Coefficients)


def calibration_fields() -> tuple[FieldInfo, ...]:
    return _fields_of(Calibration)


_TOP_LEVEL: tuple[FieldInfo, ...] = (
    FieldInfo("schema_version", "int", True, "positive", "always 1"),
    FieldInfo("name", "str", True, "none", "file stem, lower-case"),
    FieldInfo("display_name", "str", True, "none", "human-readable device name"),
    FieldInfo("kind", "str", True, "none", "gpu | cpu | soc"),
    FieldInfo("vendor", "str", True, "none", "lower-case vendor id"),
    FieldInfo("notes", "str", False, "none", "variant choices, context"),
)
_TABLES = ("specs", "sources", "coefficients", "coefficient_sources", "calibration")
_REQUIRED_TABLES = ("specs", "sources", "coefficients", "coefficient_sources")
_GPU_ONLY_SPECS = ("sm_count", "shared_memory_per_sm_bytes")
_NUMERIC_SECTIONS = ("specs", "coefficients")


# --------------------------------------------------------------------------- units

# Unit suffixes the schema uses, with the word used in suggestions.
UNIT_SUFFIXES: Mapping[str, str] = FrozenMap(
    {
        "bytes": "bytes",
        "mhz": "MHz",
        "gflops": "GFLOP/s",
        "gbps": "GB/s, decimal",
        "w": "watts",
        "us": "microseconds",
        "ns": "nanoseconds",
        "pj": "picojoules",
        "fraction": "dimensionless ratio",
    }
)
# Unit spellings we recognise but do not accept, so `memory_gb` gets
# "use memory_bytes" rather than a bare "unknown key".
_OTHER_UNIT_TOKENS = (
    "b", "byte", "bit", "bits", "kb", "kib", "mb", "mib", "gb", "gib", "tb", "tib",
    "hz", "khz", "ghz", "flops", "mflops", "tflops", "pflops",
    "bps", "mbps", "tbps", "gbs", "gb_s", "gib_s", "tb_s", "mb_s", "gb_per_s",
    "mw", "kw", "watt", "watts",
    "s", "sec", "secs", "seconds", "ms", "ps", "min",
    "j", "mj", "uj", "nj", "fj",
    "pct", "percent", "ratio",
)
_ALL_UNIT_TOKENS = tuple(sorted(set(UNIT_SUFFIXES) | set(_OTHER_UNIT_TOKENS), key=len, reverse=True))


def _unit_of(key: str) -> str | None:
    for token in _ALL_UNIT_TOKENS:
        if key.endswith("_" + token) and len(key) > len(token) + 1:
            return token
    return None


def _stems(key: str) -> list[str]:
    """Every way of reading ``key`` as <stem>_<unit> (e.g. 'gb_s' or 's' ends 'x_gb_s')."""
    return [key[: -len(t) - 1] for t in _ALL_UNIT_TOKENS if key.endswith("_" + t) and len(key) > len(t) + 1]


def _unknown_key_message(key: str, section: str, allowed: tuple[str, ...]) -> str:
    """Explain an unknown key: wrong unit, missing unit, or a typo — in that order of helpfulness."""
    dotted = f"{section}.{key}" if section else key
    by_stem: dict[str, str] = {}
    for name in allowed:
        unit = _unit_of(name)
        if unit is not None:
            by_stem[name[: -len(unit) - 1]] = name
    for stem in _stems(key):
        if stem in by_stem:
            right = by_stem[stem]
            unit = UNIT_SUFFIXES.get(_unit_of(right) or "", "")
            return f"key {dotted!r} has the wrong unit; use {_dot(section, right)!r} ({unit})"
    if key in by_stem:
        right = by_stem[key]
        unit = UNIT_SUFFIXES.get(_unit_of(right) or "", "")
        return f"key {dotted!r} has no unit in its name; use {_dot(section, right)!r} ({unit})"
    allowed_text = ", ".join(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:  # a near-miss of a real key is a typo, whatever its suffix
        return f"unknown key {dotted!r}; did you mean {_dot(section, close[0])!r}? (allowed: {allowed_text})"
    # Only [specs] and [coefficients] hold measured quantities; elsewhere a
    # missing unit is not the likely mistake.
    if section in _NUMERIC_SECTIONS and _unit_of(key) is None:
        units = ", ".join("_" + u for u in UNIT_SUFFIXES)
        return (
            f"key {dotted!r} has no unit in its name (numeric keys end in one of {units})"
            f" (allowed: {allowed_text})"
        )
    return f"unknown key {dotted!r} (allowed: {allowed_text})"


def _dot(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


# --------------------------------------------------------------------------- value checks


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "a non-empty string",
    "date": "an ISO date string 'YYYY-MM-DD'",
    "str_list": "a non-empty list of non-empty strings",
}


def _coerce(value: Any, info: FieldInfo, dotted: str, origin: str) -> Any:
    """Check one value against its FieldInfo and return it in canonical Python form."""

    def fail(why: str) -> ProfileError:
        return ProfileError(origin, f"key {dotted!r} {why}", key=dotted)

    def wrong_type() -> ProfileError:
        return fail(f"must be {_TYPE_WORDS[info.type]}, got {type(value).__name__} {_short(value)}")

    raw = value  # error messages quote what the file says, not the coerced form
    if info.type == "int":
        # bool is an int subclass in Python; `true` is never a count.
        if type(value) is not int:
            raise wrong_type()
        number: float = value
    elif info.type == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong_type()
        try:
            number = float(value)
        except OverflowError:
            raise fail(f"is out of range, got {_short(value)}") from None
        if not math.isfinite(number):
            raise fail(f"must be finite, got {_short(value)}")
        value = number
    elif info.type == "str":
        if not isinstance(value, str) or not value.strip():
            raise wrong_type()
        return value
    elif info.type == "date":
        # Accept a native TOML date too, but store the string form so the
        # profile round-trips through profile_to_toml unchanged.
        if type(value) is _dt.date:
            return value.isoformat()
        if not isinstance(value, str) or not _ISO_DATE_RE.match(value):
            raise wrong_type()
        try:
            _dt.date.fromisoformat(value)
        except ValueError:
            raise fail(f"is not a valid date, got {_short(value)}") from None
        return value
    elif info.type == "str_list":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise wrong_type()
        return tuple(value)
    else:  # pragma: no cover - guarded by the dataclass definitions
        raise AssertionError(info.type)

    if info.bound == "positive" and not number > 0:
        raise fail(f"must be > 0, got {_short(raw)}")
    if info.bound == "non-negative" and not number >= 0:
        raise fail(f"must be >= 0, got {_short(raw)}")
    return value


def _check_table(data: Any, fields_: tuple[FieldInfo, ...], section: str, origin: str) -> dict[str, Any]:
    """Validate a flat table against its fields; unknown keys are reported before missing ones
    because a typo ('coress') is the usual cause of a missing key."""
    if not isinstance(data, dict):
        raise ProfileError(origin, f"key {section!r} must be a table, got {type(data).__name__}", key=section)
    allowed = tuple(f.key for f in fields_)
    for key in data:
        if key not in allowed:
            raise ProfileError(origin, _unknown_key_message(key, section, allowed), key=_dot(section, key))
    out: dict[str, Any] = {}
    for info in fields_:
        dotted = _dot(section, info.key)
        if info.key not in data:
            if info.required:
                raise ProfileError(origin, f"missing required key {dotted!r}", key=dotted)
            continue
        out[info.key] = _coerce(data[info.key], info, dotted, origin)
    return out


def _check_sources(data: Any, section: str, cited: dict[str, Any], cited_section: str, origin: str) -> FrozenMap:
    """Every value in ``cited`` needs exactly one non-empty citation string in ``section``."""
    if not isinstance(data, dict):
        raise ProfileError(origin, f"key {section!r} must be a table, got {type(data).__name__}", key=section)
    for key, text in data.items():
        dotted = f"{section}.{key}"
        if key not in cited:
            raise ProfileError(
                origin,
                f"key {dotted!r} cites nothing: {_dot(cited_section, key)!r} is not set"
                f" (cited keys: {', '.join(cited)})",
                key=dotted,
            )
        if not isinstance(text, str) or not text.strip():
            raise ProfileError(
                origin, f"key {dotted!r} must be a non-empty citation string, got {_short(text)}", key=dotted
            )
    for key in cited:
        if key not in data:
            dotted = f"{section}.{key}"
            raise ProfileError(
                origin,
                f"{_dot(cited_section, key)!r} has no source; add {dotted!r} (a citation, or 'estimate: ...')",
                key=dotted,
            )
    # Canonical order (the order of the cited table) keeps written files diffable.
    return FrozenMap({key: data[key] for key in cited})


def _check_spec_relations(specs: dict[str, Any], kind: str, origin: str) -> None:
    """Cross-field sanity checks: each names the key that is out of line."""

    def fail(key: str, why: str) -> ProfileError:
        return ProfileError(origin, f"key 'specs.{key}' {why}", key=f"specs.{key}")

    base = specs.get("base_clock_mhz")
    if base is not None and base > specs["boost_clock_mhz"]:
        raise fail("base_clock_mhz", f"({base}) must not exceed specs.boost_clock_mhz ({specs['boost_clock_mhz']})")
    for key in ("idle_power_w", "min_power_mode_w"):
        value = specs.get(key)
        if value is not None and value > specs["board_power_w"]:
            raise fail(key, f"({value}) must not exceed specs.board_power_w ({specs['board_power_w']})")
    if kind == "cpu":
        for key in _GPU_ONLY_SPECS:
            if key in specs:
                raise fail(key, "does not apply to kind 'cpu'")


# --------------------------------------------------------------------------- parsing


def profile_from_dict(
    data: Any, *, origin: str = "<dict>", expected_name: str | None = None, path: str = ""
) -> HardwareProfile:
    """Validate a parsed TOML document and build a profile.

    ``expected_name`` is the file stem when loading from a file: the name
    inside must match so that ``load_profile(name)`` and the file agree.
    """
    if not isinstance(data, dict):
        raise ProfileError(origin, f"profile must be a table, got {type(data).__name__}")
    allowed = tuple(f.key for f in _TOP_LEVEL) + _TABLES
    for key in data:
        if key not in allowed:
            message = _unknown_key_message(key, "", allowed).replace("unknown key", "unknown top-level key", 1)
            raise ProfileError(origin, message, key=key)

    # schema_version first: a file from a future schema should say so rather
    # than fail on whatever key changed.
    if "schema_version" not in data:
        raise ProfileError(origin, "missing required key 'schema_version' (must be 1)", key="schema_version")
    version = data["schema_version"]
    if type(version) is not int or version != SCHEMA_VERSION:
        raise ProfileError(
            origin, f"key 'schema_version' must be {SCHEMA_VERSION}, got {_short(version)}", key="schema_version"
        )

    top = {
        info.key: _coerce(data[info.key], info, info.key, origin)
        for info in _TOP_LEVEL
        if info.key in data
    }
    for info in _TOP_LEVEL:
        if info.required and info.key not in top:
            raise ProfileError(origin, f"missing required key {info.key!r}", key=info.key)
    name, kind, vendor = top["name"], top["kind"], top["vendor"]
    if not _NAME_RE.match(name):
        raise ProfileError(origin, f"key 'name' must match [a-z0-9][a-z0-9._-]*, got {_short(name)}", key="name")
    if expected_name is not None and name != expected_name:
        raise ProfileError(
            origin, f"key 'name' is {name!r} but the file is named {expected_name!r}.toml; they must match", key="name"
        )
    if kind not in KINDS:
        raise ProfileError(origin, f"key 'kind' must be one of {', '.join(KINDS)}, got {_short(kind)}", key="kind")
    if not _VENDOR_RE.match(vendor):
        raise ProfileError(origin, f"key 'vendor' must match [a-z][a-z0-9-]*, got {_short(vendor)}", key="vendor")

    for table in _REQUIRED_TABLES:
        if table not in data:
            raise ProfileError(origin, f"missing required table {table!r}", key=table)

    specs = _check_table(data["specs"], spec_fields(), "specs", origin)
    _check_spec_relations(specs, kind, origin)
    sources = _check_sources(data["sources"], "sources", specs, "specs", origin)
    coefficients = _check_table(data["coefficients"], coefficient_fields(), "coefficients", origin)
    coefficient_sources = _check_sources(
        data["coefficient_sources"], "coefficient_sources", coefficients, "coefficients", origin
    )
    calibration = None
    if "calibration" in data:
        calibration = Calibration(**_check_table(data["calibration"], calibration_fields(), "calibration", origin))

    return HardwareProfile(
        name=name,
        display_name=top["display_name"],
        kind=kind,
        vendor=vendor,
        notes=top.get("notes"),
        specs=Specs(**specs),
        sources=sources,
        coefficients=Coefficients(**coefficients),
        coefficient_sources=coefficient_sources,
        calibration=calibration,
        path=path,
    )


def loads_profile(text: str, *, origin: str = "<string>", expected_name: str | None = None) -> HardwareProfile:
    """Parse and validate a profile from TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(origin, f"invalid TOML: {exc}") from None
    return profile_from_dict(data, origin=origin, expected_name=expected_name)


def _load_bytes(raw: bytes, *, origin: str, expected_name: str, path: str) -> HardwareProfile:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(origin, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    profile = loads_profile(text, origin=origin, expected_name=expected_name)
    return dataclasses.replace(profile, path=path)


# --------------------------------------------------------------------------- lookup


def _bundled_dir() -> Any:
    return resources.files(_PACKAGE)


def list_profiles() -> list[str]:
    """Names of the bundled profiles, sorted."""
    return sorted(
        entry.name[: -len(".toml")]
        for entry in _bundled_dir().iterdir()
        if entry.name.endswith(".toml") and entry.is_file()
    )


@lru_cache(maxsize=None)
def _load_bundled(name: str) -> HardwareProfile:
    # Profiles are immutable, so caching the parsed bundled files is safe.
    entry = _bundled_dir().joinpath(f"{name}.toml")
    return _load_bytes(
        entry.read_bytes(), origin=f"{_BUNDLED_DIR_LABEL}/{name}.toml", expected_name=name, path=str(entry)
    )


def _looks_like_path(arg: str) -> bool:
    return arg.endswith(".toml") or "/" in arg or os.sep in arg or (os.altsep is not None and os.altsep in arg)


def load_profile(name_or_path: str | os.PathLike[str]) -> HardwareProfile:
    """Load a bundled profile by name (``"gtx1060"``) or any profile file by path (``"my/dev.toml"``)."""
    if isinstance(name_or_path, os.PathLike) or _looks_like_path(str(name_or_path)):
        path = Path(name_or_path)
        origin = str(name_or_path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ProfileError(origin, "no such profile file") from None
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
            raise ProfileError(origin, f"cannot read profile file ({getattr(exc, 'strerror', None) or exc})") from None
        return _load_bytes(raw, origin=origin, expected_name=path.stem, path=str(path))

    name = str(name_or_path)
    available = list_profiles()
    if name not in available:
        close = difflib.get_close_matches(name, available, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ProfileError(
            _BUNDLED_DIR_LABEL, f"unknown hardware profile {name!r}{hint} (available: {', '.join(available)})"
        )
    return _load_bundled(name)


def load_all_profiles() -> list[HardwareProfile]:
    """Every bundled profile, in name order."""
    return [load_profile(name) for name in list_profiles()]


# --------------------------------------------------------------------------- writing

_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_TOML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if _BARE_KEY_RE.match(key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write non-finite number {value!r}")
        return repr(value)  # shortest repr round-trips exactly and is valid TOML
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_table(name: str, items: Mapping[str, Any] | list[tuple[str, Any]]) -> list[str]:
    pairs = items.items() if isinstance(items, Mapping) else items
    return [f"[{name}]"] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in pairs if v is not None] + [""]


def _dataclass_items(obj: Any) -> list[tuple[str, Any]]:
    return [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]


def profile_to_toml(profile: HardwareProfile) -> str:
    """Serialise a profile to TOML that :func:`loads_profile` reads back to an equal profile.

    Calibration uses this to write a *new* file; bundled files are never rewritten.
    """
    lines = [
        "# Hardware profile written by dse.cost.profiles.profile_to_toml; see hw_profiles/README.md.",
        f"schema_version = {SCHEMA_VERSION}",
    ]
    for key in ("name", "display_name", "kind", "vendor", "notes"):
        value = getattr(profile, key)
        if value is not None:
            lines.append(f"{key} = {_toml_value(value)}")
    lines.append("")
    lines += _toml_table("specs", _dataclass_items(profile.specs))
    lines += _toml_table("sources", profile.sources)
    lines += _toml_table("coefficients", _dataclass_items(profile.coefficients))
    lines += _toml_table("coefficient_sources", profile.coefficient_sources)
    if profile.calibration is not None:
        lines += _toml_table("calibration", _dataclass_items(profile.calibration))
    return "\n".join(lines).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- initial coefficients
#
# Priors, not measurements: calibration replaces them.  hw_profiles/README.md
# explains each choice; the bundled TOML files hold these values rounded to
# four significant figures, and a test keeps the two in step.

FLOP_PER_SYNAPTIC_EVENT = 2.0  # multiply-add of a weight into the input current
FLOP_PER_NEURON_UPDATE = 10.0  # LIF leak, input, threshold, reset, refractory, adaptive theta
FLOP_PER_WEIGHT_UPDATE = 6.0  # trace product, learning-rate scale, add, clamp to [0, w_max]
# Fraction of peak FP32 an SNN simulator reaches: small, irregular, launch-bound
# kernels on GPUs; compiled scalar/AVX loops on CPUs fare relatively better.
COMPUTE_EFFICIENCY = FrozenMap({"gpu": 0.10, "soc": 0.10, "cpu": 0.25})
DRAM_EFFICIENCY = 0.70  # achievable fraction of peak DRAM bandwidth (STREAM-like)
KERNELS_PER_STEP = 10  # encode, matmul, LIF update, threshold/reset, traces, STDP, normalise
IDLE_FRACTION_FALLBACK = 0.10  # idle power as a share of board power when unpublished
# DRAM access energy by technology, pJ/bit (device + I/O). Literature estimates.
DRAM_PJ_PER_BIT = FrozenMap(
    {
        "GDDR5": 14.0,
        "GDDR5X": 11.0,
        "GDDR6": 7.5,
        "HBM2": 3.9,
        "HBM2e": 3.7,
        "HBM3": 3.5,
        "LPDDR4": 5.0,
        "LPDDR4x": 4.0,
        "LPDDR5": 3.5,
        "DDR4": 15.0,
        "DDR5": 12.0,
    }
)
DRAM_PJ_PER_BIT_SOURCE = "GDDR5 and HBM2 per O'Connor et al., MICRO 2017; other technologies interpolated"


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
        # W x ns = nJ; x 1000 -> pJ
        "energy_per_synaptic_event_pj": FLOP_PER_SYNAPTIC_EVENT * ns_per_flop * dynamic_w * 1e3,
        "energy_per_neuron_update_pj": FLOP_PER_NEURON_UPDATE * ns_per_flop * dynamic_w * 1e3,
        "energy_per_weight_update_pj": FLOP_PER_WEIGHT_UPDATE * ns_per_flop * dynamic_w * 1e3,
        "energy_per_byte_dram_pj": pj_per_bit * 8.0,
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
        "energy_per_synaptic_event_pj": e_src.format(t="time_per_synaptic_event_ns"),
        "energy_per_neuron_update_pj": e_src.format(t="time_per_neuron_update_ns"),
        "energy_per_weight_update_pj": e_src.format(t="time_per_weight_update_ns"),
        "energy_per_byte_dram_pj": (
            f"estimate: {specs.memory_type} ~{pj_per_bit:g} pJ/bit x 8 bit/byte ({DRAM_PJ_PER_BIT_SOURCE})"
        ),
        "static_power_w": f"derived: {idle_src}",
    }
    return {k: _round_sig(v) for k, v in values.items()}, sources
