"""The one TOML writer: strings, keys and values, and a hardware profile as a file.

``tomllib`` reads TOML but cannot write it; this is the little that the
project writes (calibrated profiles).  Output is plain, stable and parses back
to what was written.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

from .schema import SCHEMA_VERSION, HardwareProfile

__all__ = ["toml_string", "toml_key", "toml_value", "toml_table", "profile_to_toml"]

_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
_TOML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    return key if _BARE_KEY_RE.fullmatch(key) else toml_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write non-finite number {value!r}")
        return repr(value)  # shortest repr round-trips exactly and is valid TOML
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def toml_table(name: str, items: Mapping[str, Any] | list[tuple[str, Any]]) -> list[str]:
    pairs = items.items() if isinstance(items, Mapping) else items
    return [f"[{name}]"] + [f"{toml_key(k)} = {toml_value(v)}" for k, v in pairs if v is not None] + [""]


def _dataclass_items(obj: Any) -> list[tuple[str, Any]]:
    return [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]


def profile_to_toml(profile: HardwareProfile) -> str:
    """Serialise a profile to TOML that :func:`dse.cost.profiles.loads_profile` reads back to an equal profile.

    Calibration uses this to write a *new* file; bundled files are never rewritten.
    """
    lines = [
        "# Hardware profile written by dse.cost.toml.profile_to_toml; see hw_profiles/README.md.",
        f"schema_version = {SCHEMA_VERSION}",
    ]
    for key in ("name", "display_name", "kind", "vendor", "notes"):
        value = getattr(profile, key)
        if value is not None:
            lines.append(f"{key} = {toml_value(value)}")
    lines.append("")
    lines += toml_table("specs", _dataclass_items(profile.specs))
    lines += toml_table("sources", profile.sources)
    lines += toml_table("coefficients", _dataclass_items(profile.coefficients))
    lines += toml_table("coefficient_sources", profile.coefficient_sources)
    if profile.coefficient_intervals:
        lines += toml_table("coefficient_intervals", profile.coefficient_intervals)
    if profile.calibration is not None:
        lines += toml_table("calibration", _dataclass_items(profile.calibration))
    return "\n".join(lines).rstrip("\n") + "\n"
