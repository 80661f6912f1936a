"""Units live in key names (``memory_bytes``, ``board_power_w``): a bare number in a TOML file
carries no unit, and a GB/GiB or W/mW mix-up silently skews every prediction by 1000x.

This module knows the unit suffixes the schema uses and the spellings it
refuses, so an unknown key gets the most helpful message: the wrong unit,
a missing unit, or a typo, in that order.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from .schema import FrozenMap

__all__ = ["UNIT_SUFFIXES", "NUMERIC_SECTIONS", "unit_of", "unknown_key_message", "dotted_key"]

# Only [specs] and [coefficients] hold measured quantities.
NUMERIC_SECTIONS = ("specs", "coefficients")

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


def unit_of(key: str) -> str | None:
    for token in _ALL_UNIT_TOKENS:
        if key.endswith("_" + token) and len(key) > len(token) + 1:
            return token
    return None


def _stems(key: str) -> list[str]:
    """Every way of reading ``key`` as <stem>_<unit> (e.g. 'gb_s' or 's' ends 'x_gb_s')."""
    return [key[: -len(t) - 1] for t in _ALL_UNIT_TOKENS if key.endswith("_" + t) and len(key) > len(t) + 1]


def unknown_key_message(key: str, section: str, allowed: tuple[str, ...]) -> str:
    """Explain an unknown key: wrong unit, missing unit, or a typo — in that order of helpfulness."""
    dotted = f"{section}.{key}" if section else key
    by_stem: dict[str, str] = {}
    for name in allowed:
        unit = unit_of(name)
        if unit is not None:
            by_stem[name[: -len(unit) - 1]] = name
    for stem in _stems(key):
        if stem in by_stem:
            right = by_stem[stem]
            unit = UNIT_SUFFIXES.get(unit_of(right) or "", "")
            return f"key {dotted!r} has the wrong unit; use {dotted_key(section, right)!r} ({unit})"
    if key in by_stem:
        right = by_stem[key]
        unit = UNIT_SUFFIXES.get(unit_of(right) or "", "")
        return f"key {dotted!r} has no unit in its name; use {dotted_key(section, right)!r} ({unit})"
    allowed_text = ", ".join(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:  # a near-miss of a real key is a typo, whatever its suffix
        return f"unknown key {dotted!r}; did you mean {dotted_key(section, close[0])!r}? (allowed: {allowed_text})"
    # Only [specs] and [coefficients] hold measured quantities; elsewhere a
    # missing unit is not the likely mistake.
    if section in NUMERIC_SECTIONS and unit_of(key) is None:
        units = ", ".join("_" + u for u in UNIT_SUFFIXES)
        return (
            f"key {dotted!r} has no unit in its name (numeric keys end in one of {units})"
            f" (allowed: {allowed_text})"
        )
    return f"unknown key {dotted!r} (allowed: {allowed_text})"


def dotted_key(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key
