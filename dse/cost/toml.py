"""TOML the project writes: a hardware profile as a file, and a comment header.

``tomllib`` reads TOML but cannot write it; tomli-w writes it (escaping,
keys, number formats). What stays here is what a profile file must be: no
``None`` (an absent field is left out), finite numbers only (a profile with
NaN or infinity is not a profile), fields in the schema's order, and a
comment saying where the file came from. Output parses back to what was
written.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

import tomli_w

from .schema import SCHEMA_VERSION, HardwareProfile

__all__ = ["dumps_with_header", "profile_to_toml"]


def _finite(value: Any, where: str) -> Any:
    """``value`` unchanged; ValueError naming ``where`` for a non-finite number anywhere inside it."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"cannot write non-finite number {value!r} ({where})")
    if isinstance(value, (list, tuple)):
        for item in value:
            _finite(item, where)
    return value


def _table(pairs: Iterable[tuple[str, Any]], section: str) -> dict[str, Any]:
    return {k: _finite(v, f"{section}.{k}") for k, v in pairs if v is not None}


def _dataclass_items(obj: Any) -> list[tuple[str, Any]]:
    return [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]


def dumps_with_header(doc: Mapping[str, Any], header: Iterable[str]) -> str:
    """TOML text of ``doc`` after ``# ``-comment lines (tomli-w writes no comments)."""
    comments = "".join(f"# {line}\n" for line in header)
    return comments + tomli_w.dumps(doc)


def profile_to_toml(profile: HardwareProfile) -> str:
    """Serialise a profile to TOML that :func:`dse.cost.profiles.loads_profile` reads back to an equal profile.

    Calibration uses this to write a *new* file; bundled files are never rewritten.
    """
    doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    doc.update(_table(((k, getattr(profile, k)) for k in ("name", "display_name", "kind", "vendor", "notes")), "profile"))
    doc["specs"] = _table(_dataclass_items(profile.specs), "specs")
    doc["sources"] = _table(profile.sources.items(), "sources")
    doc["coefficients"] = _table(_dataclass_items(profile.coefficients), "coefficients")
    doc["coefficient_sources"] = _table(profile.coefficient_sources.items(), "coefficient_sources")
    if profile.coefficient_intervals:
        doc["coefficient_intervals"] = _table(profile.coefficient_intervals.items(), "coefficient_intervals")
    if profile.calibration is not None:
        doc["calibration"] = _table(_dataclass_items(profile.calibration), "calibration")
    return dumps_with_header(doc, ["Hardware profile written by dse.cost.toml.profile_to_toml; see hw_profiles/README.md."])
