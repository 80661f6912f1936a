"""Hardware profiles: find, read and validate the TOML files the cost model predicts for.

A profile is one TOML file (``hw_profiles/<name>.toml``, installed as the data
package ``dse.hw_profiles``) holding published specifications, a citation for
every one of them, and the modelled cost coefficients that calibration fits
later.  ``hw_profiles/README.md`` documents the schema (:mod:`dse.cost.schema`)
and where each figure came from.

Profiles are data users edit by hand, so every mistake must surface as one
readable line naming the file and the key: :class:`~dse.cost.schema.ProfileError`.
Nothing else may escape the loader, whatever the file holds (a fuzz test
checks).  Keys carry their unit (:mod:`dse.cost.units`); keys with the wrong
unit get a suggestion.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import math
import os
import re
import tomllib
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from dse.runs.validate import MAX_MAGNITUDE, bounded

from .schema import (GPU_ONLY_SPECS, KINDS, REQUIRED_TABLES, SCHEMA_VERSION, TABLES, TOP_LEVEL, Calibration,
                     Coefficients, FieldInfo, FrozenMap, HardwareProfile, ProfileError, Specs, calibration_fields,
                     coefficient_fields, spec_fields)
from .units import dotted_key, unknown_key_message

__all__ = ["load_profile", "loads_profile", "profile_from_dict", "list_profiles", "load_all_profiles"]

_PACKAGE = "dse.hw_profiles"
# Bundled files are named as they appear in the repository, not by their
# site-packages location, so error messages point at the file a user edits.
_BUNDLED_DIR_LABEL = "hw_profiles"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_VENDOR_RE = re.compile(r"^[a-z][a-z0-9-]*$")
_ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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

    if not bounded(number):  # no device comes near; the cost model's products would overflow to inf
        raise fail(f"is too large (the limit is {MAX_MAGNITUDE:g}), got {_short(raw)}")
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
            raise ProfileError(origin, unknown_key_message(key, section, allowed), key=dotted_key(section, key))
    out: dict[str, Any] = {}
    for info in fields_:
        dotted = dotted_key(section, info.key)
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
                f"key {dotted!r} cites nothing: {dotted_key(cited_section, key)!r} is not set"
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
                f"{dotted_key(cited_section, key)!r} has no source; add {dotted!r} (a citation, or 'estimate: ...')",
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
        for key in GPU_ONLY_SPECS:
            if key in specs:
                raise fail(key, "does not apply to kind 'cpu'")


def _check_intervals(data: Any, coefficients: dict[str, Any], origin: str) -> FrozenMap:
    """[coefficient_intervals]: coefficient = [low, high], 0 <= low <= high, for coefficients the file sets."""
    section = "coefficient_intervals"
    if not isinstance(data, dict):
        raise ProfileError(origin, f"key {section!r} must be a table, got {type(data).__name__}", key=section)
    out = {}
    for key, value in data.items():
        dotted = f"{section}.{key}"
        if key not in coefficients:
            raise ProfileError(origin, f"key {dotted!r} names no coefficient of [coefficients]", key=dotted)
        ok = (isinstance(value, list) and len(value) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value))
        if not ok or not 0 <= value[0] <= value[1]:
            raise ProfileError(origin, f"key {dotted!r} must be [low, high] with 0 <= low <= high, got "
                                       f"{_short(value)}", key=dotted)
        out[key] = (float(value[0]), float(value[1]))
    return FrozenMap(out)


def _fill_absent_coefficients(coefficients: dict[str, Any], sources: FrozenMap) -> FrozenMap:
    """Optional coefficients a file does not set (it predates them) price nothing, and say so."""
    out = dict(sources)
    for info in coefficient_fields():
        if not info.required and info.key not in coefficients:
            coefficients[info.key] = 0.0
            out[info.key] = "not in this profile (written before the coefficient existed): 0, the term is not priced"
    return FrozenMap({f.key: out[f.key] for f in coefficient_fields() if f.key in out})


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
    allowed = tuple(f.key for f in TOP_LEVEL) + TABLES
    for key in data:
        if key not in allowed:
            message = unknown_key_message(key, "", allowed).replace("unknown key", "unknown top-level key", 1)
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
        for info in TOP_LEVEL
        if info.key in data
    }
    for info in TOP_LEVEL:
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

    for table in REQUIRED_TABLES:
        if table not in data:
            raise ProfileError(origin, f"missing required table {table!r}", key=table)

    specs = _check_table(data["specs"], spec_fields(), "specs", origin)
    _check_spec_relations(specs, kind, origin)
    sources = _check_sources(data["sources"], "sources", specs, "specs", origin)
    coefficients = _check_table(data["coefficients"], coefficient_fields(), "coefficients", origin)
    coefficient_sources = _check_sources(
        data["coefficient_sources"], "coefficient_sources", coefficients, "coefficients", origin
    )
    coefficient_sources = _fill_absent_coefficients(coefficients, coefficient_sources)
    intervals = _check_intervals(data["coefficient_intervals"], coefficients, origin) \
        if "coefficient_intervals" in data else None
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
        coefficient_intervals=intervals,
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
