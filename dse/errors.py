"""Errors about what a caller passed: the library names its parameters, the CLI shows its flags.

A :class:`ParameterError` is built from parts; a :class:`Param` part is a
parameter's name. ``str(err)`` reads ``budget_mb must be a number > 0``; the
command line renders the same error with its flag names
(``err.render(flag_of)``: ``--budget-mb must be a number > 0``). Text the user
typed goes in as a plain part, so nothing in it is ever taken for a name.
"""

from __future__ import annotations

from typing import Callable

__all__ = ["Param", "ParameterError"]


class Param(str):
    """The name of a parameter inside an error message."""


class ParameterError(ValueError):
    """A bad argument; its message names the parameters concerned (see the module doc)."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts
        super().__init__(self.render())

    def render(self, flag_of: Callable[[str], str] | None = None) -> str:
        """The message, with each parameter named by ``flag_of(name)`` (default: the name itself)."""
        return "".join(flag_of(p) if flag_of is not None and isinstance(p, Param) else p for p in self.parts)
