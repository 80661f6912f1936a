"""A tiny TOML writer for tests that feed the loaders arbitrary documents.

Its values are its own on purpose: it must express anything TOML can hold
(NaN and infinities, dates, nested inline tables), valid for our schemas or
not, which dse.cost.toml (the project's writer, for valid profiles) refuses.
Strings and keys go through dse.cost.toml's escaper: there is one.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from dse.cost.toml import toml_key as _toml_key
from dse.cost.toml import toml_string as _toml_str

__all__ = ["dump_toml"]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def dump_toml(doc: dict[str, Any]) -> str:
    """Top-level scalars first, then one [table] per dict value (nested dicts become inline tables)."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for key, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"[{_toml_key(key)}]")
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"
