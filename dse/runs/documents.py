"""JSON documents this program wrote, read back field by field: each bad field is refused in one line.

The readers of :mod:`dse.runs.validate` are built on these: :func:`read_json`
refuses what is not a JSON object (and NaN or Infinity), :class:`Fields`
checks one field's type and range, and every refusal is a :class:`DamagedFile`
naming the file, the field and what to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from dse.runs.folder import RunError
from dse.runs.numbers import MAX_MAGNITUDE, is_number, number_fields, short_repr

__all__ = ["DamagedFile", "Fields", "Fix", "fail", "read_json"]

Fix = str | tuple[str, ...]  # what to do, as message parts (plain text and Params)


class DamagedFile(RunError):
    """A file written by this program is damaged or disagrees with its manifest; one line, naming file and field."""


def fail(path: Path, what: str, fix: Fix) -> DamagedFile:
    return DamagedFile(f"{path}: {what}; ", *((fix,) if isinstance(fix, str) else fix))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(path: Path, fix: Fix) -> dict[str, Any]:
    """A JSON object from ``path``; NaN and Infinity (which Python's json accepts) are refused."""
    try:
        doc = json.loads(Path(path).read_bytes(), parse_constant=_no_constant)
    except FileNotFoundError:
        raise fail(path, "file not found", fix) from None
    except json.JSONDecodeError as exc:
        raise fail(path, f"corrupt JSON ({exc.msg} at line {exc.lineno})", fix) from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise fail(path, f"unreadable ({exc})", fix) from None
    if not isinstance(doc, dict):
        raise fail(path, "not a JSON object", fix)
    return doc


@dataclass(frozen=True)
class Fields:
    """Typed access to a JSON document's fields, each refused in one line naming the file and the field."""

    path: Path
    doc: Mapping[str, Any]
    fix: Fix

    def get(self, dotted: str) -> Any:
        node: Any = self.doc
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise fail(self.path, f"no {dotted}", self.fix)
            node = node[part]
        return node

    def has(self, dotted: str) -> bool:
        try:
            self.get(dotted)
        except DamagedFile:
            return False
        return True

    def integer(self, dotted: str, low: int, high: int, *, optional: bool = False,
                nullable: bool = False) -> int | None:
        """optional: the key may be missing or null; nullable: it must be there, and may be null."""
        value = self.get(dotted) if not optional or self.has(dotted) else None
        if value is None and (optional or nullable):
            return None
        if type(value) is not int or not low <= value <= high:
            raise fail(self.path, f"{dotted} must be a whole number in {low}..{high}, got {short_repr(value)}",
                        self.fix)
        return value

    def text(self, dotted: str) -> str:
        value = self.get(dotted)
        if not isinstance(value, str) or not value:
            raise fail(self.path, f"{dotted} must be a non-empty string, got {short_repr(value)}", self.fix)
        return value

    def number(self, dotted: str, low: float, high: float) -> float:
        value = self.get(dotted)
        if not is_number(value) or not low <= value <= high:
            raise fail(self.path, f"{dotted} must be a number in [{low:g}, {high:g}], got {short_repr(value)}",
                        self.fix)
        return float(value)

    def mapping(self, dotted: str) -> Mapping[str, Any]:
        value = self.get(dotted)
        if not isinstance(value, Mapping):
            raise fail(self.path, f"{dotted} must be an object, got {short_repr(value)}", self.fix)
        return value

    def counts(self, dotted: str) -> Mapping[str, float]:
        """An object of finite, non-negative numbers (activity counts, ranges)."""
        value = self.mapping(dotted)
        problem = number_fields(value, 0.0, MAX_MAGNITUDE)
        if problem:
            raise fail(self.path, f"{dotted}.{problem}", self.fix)
        return value
