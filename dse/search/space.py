"""The search space of `dse explore`, declared once: dimensions, candidates, grid, Optuna suggestions.

A :class:`Candidate` is one point of the design space: a design, a size, a
bit-width for each quantizable value (32 means "left in FP32"), the
quantization scheme and rounding (only when something is quantized), and the
FSpiNN-only inhibition ratio rho and update window T_w. ``DEFAULT_SPACE`` is
the one declaration; ``--space NAME=VALUES`` restricts it and
``dse explore --show-space`` prints it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from dse.errors import Param, ParameterError
from dse.models.rounding import ROUNDING_MODES
from dse.models.quantize import FP32_BITS  # a bit-width of 32 means: not quantized, kept in FP32
from dse.models.recipes import DESIGNS

__all__ = ["FP32_BITS", "BIT_KEYS", "Dimension", "SearchSpace", "Candidate", "DEFAULT_SPACE", "SpaceError",
           "quant_spec", "nominal_ranges"]

BIT_KEYS = ("weights", "inh", "vmem", "vth")  # the --quant keys, in spec order
SCHEMES = ("ptq", "itq")
CONDITIONS = ("always", "fspinn", "quantized")


MAX_VALUES = 10_000  # values one numeric dimension may take
MAX_EXIT_MARGIN = 1_000  # votes; far past any test image's spike count (an exit that never fires)


class SpaceError(ParameterError):
    """A malformed space restriction or candidate; the message is one line."""


@dataclass(frozen=True)
class Dimension:
    """One axis of the space. ``when`` says when it applies: always, fspinn only, or only if quantized."""

    name: str
    kind: str                          # "categorical" | "int" | "float"
    choices: tuple[Any, ...] = ()      # categorical values (str or int)
    low: float = 0.0                   # int / float range, inclusive, on a grid of `step`
    high: float = 0.0
    step: float = 1.0
    when: str = "always"
    bounds: tuple[float, float] | None = None  # what a restriction may ask for (numeric dimensions)
    allowed: tuple[Any, ...] = ()      # what a restriction may ask for (string choices)
    doc: str = ""
    neutral: Any = None                # the value a candidate takes when none is given (if the space has it)

    def __post_init__(self) -> None:
        if self.kind not in ("categorical", "int", "float"):
            raise SpaceError(f"dimension {self.name}: unknown kind {self.kind!r}")
        if self.when not in CONDITIONS:
            raise SpaceError(f"dimension {self.name}: unknown condition {self.when!r}")
        if self.kind == "categorical" and not self.choices:
            raise SpaceError(f"dimension {self.name}: no choices")
        if self.kind != "categorical" and not (self.step > 0 and self.low <= self.high):
            raise SpaceError(f"dimension {self.name}: needs low <= high and step > 0")

    def values(self) -> tuple[Any, ...]:
        """Every value of the dimension (the grid strategy enumerates these)."""
        if self.kind == "categorical":
            return tuple(self.choices)
        n = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        vals = [self.low + k * self.step for k in range(n)]
        if self.kind == "int":
            return tuple(int(round(v)) for v in vals)
        return tuple(round(v, 10) for v in vals)

    @property
    def fixed(self) -> bool:
        return len(self.values()) == 1

    def contains(self, value: Any) -> bool:
        if self.kind == "categorical":
            return value in self.choices
        try:
            v = float(value)
        except (TypeError, ValueError):
            return False
        k = (v - self.low) / self.step
        return self.low - 1e-9 <= v <= self.high + 1e-9 and abs(k - round(k)) < 1e-6

    def suggest(self, trial: Any) -> Any:
        """Ask an Optuna trial for this dimension's value."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step))
        return trial.suggest_float(self.name, float(self.low), float(self.high), step=float(self.step))

    def describe(self) -> str:
        if self.kind == "categorical":
            return ", ".join(str(c) for c in self.choices)
        fmt = (lambda x: str(int(x))) if self.kind == "int" else (lambda x: f"{x:g}")
        if self.fixed:
            return fmt(self.low)
        return f"{fmt(self.low)}..{fmt(self.high)} step {fmt(self.step)}"

    def restrict(self, text: str) -> Dimension:
        """``a,b,c`` (choices), ``lo..hi`` or ``lo..hi:step`` (ranges), or one value."""
        text = text.strip()
        if not text:
            raise SpaceError(Param("space"), f" {self.name}=: give one or more values")
        if self.kind == "categorical":
            items = tuple(_parse_scalar(self, t.strip()) for t in text.split(",") if t.strip())
            if len(set(items)) != len(items):
                raise SpaceError(Param("space"), f" {self.name}={text}: a value is repeated")
            return replace(self, choices=items)
        lo_text, sep, rest = text.partition("..")
        hi_text, _, step_text = rest.partition(":") if sep else (lo_text, "", "")
        lo, hi = _parse_scalar(self, lo_text), _parse_scalar(self, hi_text)
        step = _parse_scalar(self, step_text) if step_text else (self.step if sep else 1)
        if lo > hi:
            raise SpaceError(Param("space"), f" {self.name}={text}: low is above high")
        if step <= 0:
            raise SpaceError(Param("space"), f" {self.name}={text}: step must be > 0")
        if (hi - lo) / step + 1 > MAX_VALUES:  # every value may be enumerated (grid, --show-space, the neuron cap)
            raise SpaceError(Param("space"), f" {self.name}={text}: more than {MAX_VALUES:,} values; use a larger step")
        return replace(self, low=lo, high=hi, step=step)

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "kind": self.kind, "when": self.when}
        if self.kind == "categorical":
            d["choices"] = list(self.choices)
        else:
            d.update(low=self.low, high=self.high, step=self.step)
        return d


def _parse_scalar(dim: Dimension, text: str) -> Any:
    is_int = dim.kind == "int" or (dim.kind == "categorical" and isinstance(dim.choices[0], int))
    if dim.kind == "categorical" and not is_int:
        if text not in dim.allowed:
            raise SpaceError(Param("space"), f" {dim.name}: unknown value '{text}' (choose from {', '.join(map(str, dim.allowed))})")
        return text
    try:
        value: float = int(text) if is_int else float(text)
    except ValueError:
        raise SpaceError(Param("space"), f" {dim.name}: expected {'a whole number' if is_int else 'a number'}, got '{text}'") from None
    if dim.bounds is not None and not dim.bounds[0] <= value <= dim.bounds[1]:
        lo, hi = dim.bounds
        raise SpaceError(Param("space"), f" {dim.name}: {value} is outside {lo:g}..{hi:g}")
    return value


@dataclass(frozen=True)
class Candidate:
    """One configuration to train and cost. Bit-widths of 32 mean FP32."""

    design: str
    neurons: int
    weights_bits: int = FP32_BITS
    inh_bits: int = FP32_BITS
    vmem_bits: int = FP32_BITS
    vth_bits: int = FP32_BITS
    scheme: str = "fp32"        # "fp32" when nothing is quantized, else "ptq" or "itq"
    rounding: str = "nearest"
    rho: float | None = None    # FSpiNN inhibition ratio (w_lat = rho x excitatory strength)
    window_steps: int | None = None  # FSpiNN update window T_w
    exit_margin: int = 0        # early exit at inference: votes the leading class needs over the next (0: off)

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise SpaceError(f"unknown design {self.design!r}: choose one of {', '.join(DESIGNS)}")
        if isinstance(self.neurons, bool) or not isinstance(self.neurons, int) or self.neurons <= 0:
            raise SpaceError(f"neurons must be a whole number > 0, got {self.neurons!r}")
        for key, bits in self.bits().items():
            if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= FP32_BITS:
                raise SpaceError(f"{key} bits must be in 2..32, got {bits!r}")
        if self.quantized != (self.scheme in SCHEMES) or self.scheme not in (*SCHEMES, "fp32"):
            raise SpaceError(f"scheme {self.scheme!r} does not fit bit-widths {self.bits()}")
        if self.rounding not in ROUNDING_MODES:
            raise SpaceError(f"unknown rounding {self.rounding!r}")
        if isinstance(self.exit_margin, bool) or not isinstance(self.exit_margin, int) or not 0 <= self.exit_margin <= MAX_EXIT_MARGIN:
            raise SpaceError(f"exit margin must be a whole number in 0..{MAX_EXIT_MARGIN} (0: no early exit), "
                             f"got {self.exit_margin!r}")
        if (self.design == "fspinn") != (self.rho is not None) or (self.design == "fspinn") != (self.window_steps is not None):
            raise SpaceError("rho and window_steps are set exactly for the fspinn design")

    def bits(self) -> dict[str, int]:
        return {"weights": self.weights_bits, "inh": self.inh_bits, "vmem": self.vmem_bits, "vth": self.vth_bits}

    @property
    def quantized(self) -> bool:
        return any(b < FP32_BITS for b in self.bits().values())

    def overrides(self) -> dict[str, str]:
        """Recipe overrides (``--set``) this candidate trains with."""
        if self.design != "fspinn":
            return {}
        return {"inhibition.rho": repr(float(self.rho)), "plasticity.window_steps": str(int(self.window_steps))}

    def fp32(self) -> Candidate:
        """The same network with nothing quantized (the FP32 training a PTQ variant comes from)."""
        return replace(self, weights_bits=FP32_BITS, inh_bits=FP32_BITS, vmem_bits=FP32_BITS, vth_bits=FP32_BITS,
                       scheme="fp32", rounding="nearest", exit_margin=0)

    def without_exit(self) -> Candidate:
        """The same network and precision tested full length (what an early-exit variant is measured on)."""
        return replace(self, exit_margin=0)

    def with_exit(self, margin: int) -> Candidate:
        return replace(self, exit_margin=int(margin))

    def label(self) -> str:
        b = self.bits()
        bits = "fp32" if not self.quantized else "/".join(
            f"{k[0] if k != 'vth' else 't'}{'f' if v == FP32_BITS else v}" for k, v in b.items())
        text = f"{self.design} N{self.neurons} {bits}"
        if self.quantized:
            text += f" {self.scheme}-{self.rounding}"
        if self.design == "fspinn":
            text += f" rho{self.rho:g} Tw{self.window_steps}"
        if self.exit_margin:
            text += f" exit{self.exit_margin}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Candidate:
        try:
            return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
        except TypeError as exc:
            raise SpaceError(f"not a candidate: {exc}") from None


@dataclass(frozen=True)
class SearchSpace:
    dimensions: tuple[Dimension, ...]

    def dim(self, name: str) -> Dimension:
        for d in self.dimensions:
            if d.name == name:
                return d
        raise SpaceError(Param("space"), f": unknown dimension '{name}' (choose from {', '.join(self.names())})")

    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions)

    def restricted(self, items: Mapping[str, str]) -> SearchSpace:
        """The space with some dimensions narrowed (``{"neurons": "100..900", "design": "fspinn"}``)."""
        dims = {d.name: d for d in self.dimensions}
        for name, text in items.items():
            dims[name] = self.dim(name).restrict(text)
        return SearchSpace(tuple(dims[d.name] for d in self.dimensions))

    def replaced(self, dim: Dimension) -> SearchSpace:
        """The space with the dimension of the same name replaced by ``dim``."""
        self.dim(dim.name)
        return SearchSpace(tuple(dim if d.name == dim.name else d for d in self.dimensions))

    def applies(self, dim: Dimension, values: Mapping[str, Any]) -> bool:
        if dim.when == "fspinn":
            return values.get("design") == "fspinn"
        if dim.when == "quantized":
            return any(values.get(f"{k}_bits", FP32_BITS) < FP32_BITS for k in BIT_KEYS)
        return True

    def candidate(self, values: Mapping[str, Any]) -> Candidate:
        """A candidate from dimension values; fixed dimensions fill in, inapplicable ones drop out."""
        full: dict[str, Any] = {}
        for d in self.dimensions:
            if not self.applies(d, full):
                continue
            if d.name in values:
                full[d.name] = values[d.name]
            elif d.fixed:
                full[d.name] = d.values()[0]
            elif d.neutral is not None and d.contains(d.neutral):
                full[d.name] = d.neutral
            else:
                raise SpaceError(f"no value for dimension '{d.name}'")
        if not any(full.get(f"{k}_bits", FP32_BITS) < FP32_BITS for k in BIT_KEYS):
            full["scheme"], full["rounding"] = "fp32", "nearest"
        if "neurons" in full:
            full["neurons"] = int(full["neurons"])
        if full.get("rho") is not None:
            full["rho"] = float(full["rho"])
        if full.get("window_steps") is not None:
            full["window_steps"] = int(full["window_steps"])
        return Candidate.from_dict(full)

    def suggest(self, trial: Any) -> Candidate:
        """Sample a candidate through an Optuna trial (only free, applicable dimensions become params)."""
        values: dict[str, Any] = {}
        for d in self.dimensions:
            if not self.applies(d, values):
                continue
            values[d.name] = d.values()[0] if d.fixed else d.suggest(trial)
        return self.candidate(values)

    def params(self, c: Candidate) -> dict[str, Any]:
        """The Optuna params of a candidate (what :meth:`suggest` would record), for enqueueing."""
        values = c.to_dict()
        out: dict[str, Any] = {}
        seen: dict[str, Any] = {}
        for d in self.dimensions:
            if not self.applies(d, seen):
                continue
            seen[d.name] = values[d.name]
            if not d.fixed:
                out[d.name] = values[d.name]
        return out

    def contains(self, c: Candidate) -> bool:
        values = c.to_dict()
        seen: dict[str, Any] = {}
        for d in self.dimensions:
            if not self.applies(d, seen):
                continue
            seen[d.name] = values[d.name]
            if not d.contains(values[d.name]):
                return False
        return True

    def grid(self) -> Iterator[Candidate]:
        """Every candidate of the space, each once, in a fixed order."""
        def walk(k: int, values: dict[str, Any]) -> Iterator[dict[str, Any]]:
            if k == len(self.dimensions):
                yield dict(values)
                return
            d = self.dimensions[k]
            if not self.applies(d, values):
                yield from walk(k + 1, values)
                return
            for v in d.values():
                values[d.name] = v
                yield from walk(k + 1, values)
                del values[d.name]

        seen: set[Candidate] = set()
        for values in walk(0, {}):
            c = self.candidate(values)
            if c not in seen:
                seen.add(c)
                yield c

    def grid_size(self, limit: int | None = None) -> int:
        """Number of grid candidates; counting stops past ``limit`` (the full space has millions)."""
        n = 0
        for _ in self.grid():
            n += 1
            if limit is not None and n > limit:
                break
        return n

    def describe(self) -> list[tuple[str, str, str, str]]:
        """Rows (name, values, applies when, meaning) for --show-space."""
        when = {"always": "always", "fspinn": "design fspinn", "quantized": "some bits < 32"}
        return [(d.name, d.describe(), when[d.when], d.doc) for d in self.dimensions]

    def to_dict(self) -> dict[str, Any]:
        return {"dimensions": [d.to_dict() for d in self.dimensions]}


def _bits_dim(key: str, choices: tuple[int, ...], lowest: int, doc: str) -> Dimension:
    return Dimension(f"{key}_bits", "categorical", choices=choices, bounds=(lowest, FP32_BITS), doc=doc)


DEFAULT_SPACE = SearchSpace((
    Dimension("design", "categorical", choices=DESIGNS, allowed=DESIGNS,
              doc="learning rule and inhibition (docs/model.md)"),
    Dimension("neurons", "int", low=100, high=4900, step=100, bounds=(1, 100_000),
              doc="excitatory neurons N"),
    _bits_dim("weights", (4, 6, 8, 12, 16, 32), 2, "input weight word length (32 = FP32)"),
    _bits_dim("inh", (8, 16, 32), 7, "inhibition strength word length (32 = FP32)"),
    _bits_dim("vmem", (8, 12, 16, 32), 8, "membrane potential word length, signed (32 = FP32)"),
    _bits_dim("vth", (8, 12, 16, 32), 8, "threshold V_th + theta word length, signed (32 = FP32)"),
    Dimension("scheme", "categorical", choices=SCHEMES, allowed=SCHEMES, when="quantized",
              doc="ptq: quantize a trained FP32 run; itq: train quantized"),
    Dimension("rounding", "categorical", choices=("nearest", "truncate", "stochastic"), allowed=ROUNDING_MODES,
              when="quantized", doc="rounding of quantized values"),
    Dimension("rho", "float", low=1.5, high=4.0, step=0.5, when="fspinn", bounds=(0.0, 16.0),
              doc="inhibition ratio at inference: w_lat = rho x excitatory strength (FSpiNN Fig. 11); "
                  "training ramps to it from the recipe's rho_start over its first rho_ramp_images images; "
                  "above rho_ramp_max_neurons (fspinn: 1000) the network keeps rho_start and rho changes nothing"),
    Dimension("window_steps", "int", low=25, high=175, step=25, when="fspinn", bounds=(1, 350),
              doc="FSpiNN update window T_w in steps"),
    Dimension("exit_margin", "categorical", choices=(0, 2, 4), bounds=(0, MAX_EXIT_MARGIN), neutral=0,
              doc="early exit at inference: stop a test image once its leading class has this many votes more "
                  "than the next (0: full length); evaluated on each trained network, no retraining"),
))


# Formats of a candidate's word lengths (kept apart; importers read them from here too).
from .formats import nominal_ranges, quant_spec  # noqa: E402 - after Candidate, which they use
