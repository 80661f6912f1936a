"""Fixed-point formats and quantization of weights and neuron parameters.

Format ``Qi.f`` has ``i`` integer bits and ``f`` fractional bits; signed formats
add one sign bit (two's complement).  The precision is ``eps = 2**-f`` and every
representable value is ``code * eps`` for an integer ``code``.  Values outside the
representable range saturate (FSpiNN, TCAD 2020, Eq. 6; tinySNN 2022).

Text syntax (see :func:`parse_format`), case-insensitive, surrounding blanks ignored:

* ``Qi.f`` or ``uQi.f`` -- unsigned (the default: STDP weights are non-negative),
  range ``[0, 2**i - eps]``;
* ``sQi.f`` -- signed, range ``[-2**i, 2**i - eps]``.

Rounding modes (``y = x / eps``; all are computed *exactly*, see below):

* ``"nearest"``    -- round half up: ``q = floor(y + 1/2) * eps``;
* ``"truncate"``   -- ``q = floor(y) * eps``.  This is floor, i.e. toward minus
  infinity as in the papers' formula, NOT toward zero: ``-0.3`` in Q0.1 becomes
  ``-0.5``, not ``0``;
* ``"stochastic"`` -- ``q = floor(y + u) * eps`` with ``u ~ U[0, 1)`` drawn from a
  seeded :class:`numpy.random.Generator` that the caller passes explicitly.

The formulas are evaluated as ``r = floor(y)``, ``frac = y - r`` and then ``r`` or
``r + 1`` is chosen by comparing ``frac`` (nearest: ``frac >= 1/2``; stochastic:
``u >= 1 - frac``).  Evaluating ``floor(y + u)`` literally in float64 is wrong:
for ``y = 1`` and ``u = 1 - 2**-53`` the sum rounds to ``2.0``, so on-grid values
would move.  The comparison form gives the mathematically exact nearest and floor
results, and stochastic rounding that is exact up to the float64 rounding of
``1 - frac`` (at most ``2**-53``).

Every numpy function here is pure (never mutates its input) and computes in
float64; the ``*_scalar`` kernels are numba-compiled twins for the simulator's
compiled loops and agree with :func:`quantize` bit for bit.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from typing import Final

import numba
import numpy as np

from .rounding import ROUNDING_MODES  # one definition, import-free for the CLI's --help

__all__ = [
    "ROUNDING_MODES",
    "MAX_WORD_BITS",
    "FormatError",
    "QFormat",
    "parse_format",
    "parse_rounding",
    "quantize",
    "to_codes",
    "from_codes",
    "quantization_error_bound",
    "choose_int_bits",
    "format_for_range",
    "quantize_nearest_scalar",
    "quantize_truncate_scalar",
    "quantize_stochastic_scalar",
]

MAX_WORD_BITS: Final = 32

_SYNTAX_HINT: Final = "write Qi.f, e.g. Q0.8 or sQ7.8"
# Storage candidates in order of preference: the first that holds the code range wins.
_STORAGE_DTYPES: Final = tuple(
    np.dtype(name) for name in ("uint8", "int8", "uint16", "int16", "uint32", "int32")
)
_DIGITS: Final = re.compile(r"[0-9]+")
_NEGATIVE_DIGITS: Final = re.compile(r"-[0-9]+")


class FormatError(ValueError):
    """A fixed-point format or rounding mode is malformed; the message is one line
    saying what is wrong and how to fix it."""

    def __str__(self) -> str:
        # Messages quote what the user typed, which may hold line breaks.
        return super().__str__().replace("\r", "\\r").replace("\n", "\\n")


def _format_problem(int_bits: int, frac_bits: int, signed: bool) -> str | None:
    """Why (int_bits, frac_bits, signed) is not a valid format, or None if it is."""
    if int_bits < 0:
        return f"integer bits must be >= 0 ({_SYNTAX_HINT})"
    if frac_bits < 0:
        return f"fractional bits must be >= 0 ({_SYNTAX_HINT})"
    if int_bits + frac_bits < 1:
        return f"need at least one integer or fractional bit ({_SYNTAX_HINT})"
    word = int_bits + frac_bits + (1 if signed else 0)
    if word > MAX_WORD_BITS:
        return (
            f"word length {word} bits exceeds {MAX_WORD_BITS} "
            "(use fewer integer or fractional bits)"
        )
    return None


def _bad_format(label: str, problem: str) -> FormatError:
    return FormatError(f"bad fixed-point format {label!r}: {problem}")


@dataclass(frozen=True)
class QFormat:
    """A fixed-point format: ``int_bits`` integer bits, ``frac_bits`` fractional
    bits and, if ``signed``, one extra two's-complement sign bit.

    Invariants (checked on construction, FormatError otherwise): both bit counts
    are integers >= 0, ``int_bits + frac_bits >= 1`` and ``word_bits <= 32``.
    """

    int_bits: int
    frac_bits: int
    signed: bool = False

    def __post_init__(self) -> None:
        label = f"{'s' if self.signed else ''}Q{self.int_bits}.{self.frac_bits}"
        for name in ("int_bits", "frac_bits"):
            value = getattr(self, name)
            # bool is an Integral but "Q True.8" is surely a mistake.
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise _bad_format(label, f"{name} must be an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if not isinstance(self.signed, (bool, np.bool_)):
            raise _bad_format(label, f"signed must be True or False, got {self.signed!r}")
        object.__setattr__(self, "signed", bool(self.signed))
        problem = _format_problem(self.int_bits, self.frac_bits, self.signed)
        if problem is not None:
            raise _bad_format(label, problem)

    @property
    def word_bits(self) -> int:
        """Total storage bits: integer + fractional + sign bit if signed."""
        return self.int_bits + self.frac_bits + (1 if self.signed else 0)

    @property
    def eps(self) -> float:
        """Precision, the spacing of the grid: ``2**-frac_bits``."""
        return 2.0 ** -self.frac_bits

    @property
    def min_code(self) -> int:
        """Smallest integer code: 0 unsigned, ``-2**(int_bits+frac_bits)`` signed."""
        return -(1 << (self.int_bits + self.frac_bits)) if self.signed else 0

    @property
    def max_code(self) -> int:
        """Largest integer code: ``2**(int_bits+frac_bits) - 1``."""
        return (1 << (self.int_bits + self.frac_bits)) - 1

    @property
    def min_value(self) -> float:
        """Smallest representable value: 0 unsigned, ``-2**int_bits`` signed."""
        return self.min_code * self.eps

    @property
    def max_value(self) -> float:
        """Largest representable value: ``2**int_bits - eps``."""
        return self.max_code * self.eps

    @property
    def storage_dtype(self) -> np.dtype:
        """Smallest of uint8/int8/uint16/int16/uint32/int32 holding every code."""
        for dtype in _STORAGE_DTYPES:
            info = np.iinfo(dtype)
            if info.min <= self.min_code and self.max_code <= info.max:
                return dtype
        raise AssertionError(f"no storage dtype for {self}")  # excluded by word_bits <= 32

    def __str__(self) -> str:
        return f"{'s' if self.signed else ''}Q{self.int_bits}.{self.frac_bits}"


def _parse_bits(label: str, part: str, what: str) -> int:
    """One bit count of a format string: a run of ASCII digits."""
    if _DIGITS.fullmatch(part):
        return int(part)
    if _NEGATIVE_DIGITS.fullmatch(part):
        raise _bad_format(label, f"{what} bits must be >= 0 ({_SYNTAX_HINT})")
    raise _bad_format(label, f"{what} bits {part!r} is not a whole number ({_SYNTAX_HINT})")


def parse_format(text: str) -> QFormat:
    """Parse ``'Qi.f'`` / ``'uQi.f'`` (unsigned) or ``'sQi.f'`` (signed).

    Case-insensitive (``'q0.8'`` and ``'SQ7.8'`` are accepted) and surrounding
    whitespace is ignored.  ``str(parse_format(s))`` is the canonical spelling and
    parses back to the same format.  Raises FormatError (one line naming ``text``)
    for anything else: a missing ``.f`` part, non-integer or negative bit counts,
    ``Q0.0``, or a word longer than 32 bits.
    """
    if not isinstance(text, str):
        raise FormatError(f"bad fixed-point format {text!r}: expected a string ({_SYNTAX_HINT})")
    body = text.strip()
    if not body:
        raise _bad_format(text, f"empty format ({_SYNTAX_HINT})")
    lowered = body.lower()
    if lowered.startswith("sq"):
        signed, rest = True, body[2:]
    elif lowered.startswith("uq"):
        signed, rest = False, body[2:]
    elif lowered.startswith("q"):
        signed, rest = False, body[1:]
    else:
        raise _bad_format(text, f"must start with Q, uQ or sQ ({_SYNTAX_HINT})")
    if "." not in rest:
        raise _bad_format(text, f"missing '.f' fractional part ({_SYNTAX_HINT})")
    int_part, frac_part = rest.split(".", 1)
    int_bits = _parse_bits(text, int_part, "integer")
    frac_bits = _parse_bits(text, frac_part, "fractional")
    problem = _format_problem(int_bits, frac_bits, signed)
    if problem is not None:
        raise _bad_format(text, problem)
    return QFormat(int_bits, frac_bits, signed)


def parse_rounding(text: str) -> str:
    """Canonical rounding-mode name for ``text`` (case-insensitive, blanks ignored).

    Returns one of :data:`ROUNDING_MODES`; FormatError naming the choices otherwise.
    """
    choices = ", ".join(ROUNDING_MODES)
    if not isinstance(text, str):
        raise FormatError(f"unknown rounding mode {text!r}: choose one of {choices}")
    mode = text.strip().lower()
    if mode not in ROUNDING_MODES:
        raise FormatError(f"unknown rounding mode {text!r}: choose one of {choices}")
    return mode


def _as_format(fmt: QFormat | str) -> QFormat:
    if isinstance(fmt, QFormat):
        return fmt
    if isinstance(fmt, str):
        return parse_format(fmt)
    raise TypeError(f"fmt must be a QFormat or a format string like 'Q0.8', got {fmt!r}")


def _float_codes(
    x: object, fmt: QFormat | str, rounding: str, rng: np.random.Generator | None
) -> tuple[np.ndarray, QFormat]:
    """Integer codes (held exactly in float64) of ``x`` quantized to ``fmt``."""
    fmt = _as_format(fmt)
    mode = parse_rounding(rounding)
    values = np.asarray(x, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError("cannot quantize NaN: clean or mask the input first")
    # Saturate first: min/max are grid points and rounding is monotone, so this
    # equals round-then-saturate, and it keeps x/eps finite for huge or inf inputs.
    y = np.clip(values, fmt.min_value, fmt.max_value) / fmt.eps  # exact: eps = 2**-f
    r = np.floor(y)
    frac = y - r  # exact except for y in (-1, 0), where it only rounds up to 1.0
    if mode == "truncate":
        return r, fmt
    if mode == "nearest":
        return np.where(frac >= 0.5, r + 1.0, r), fmt
    if rng is None:
        raise ValueError(
            "stochastic rounding needs rng=np.random.default_rng(seed) (no global RNG is used)"
        )
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    u = rng.random(y.shape)  # one draw per element, C order
    return np.where(u >= 1.0 - frac, r + 1.0, r), fmt


def quantize(
    x: object,
    fmt: QFormat | str,
    rounding: str,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Quantize ``x`` (scalar or array-like) to the grid of ``fmt``.

    Returns a new float64 ndarray of ``x``'s shape (0-d for a scalar) whose values
    are multiples of ``fmt.eps`` in ``[fmt.min_value, fmt.max_value]``; values
    beyond the range (including +-inf) saturate.  ``rounding`` is a name from
    :data:`ROUNDING_MODES`.  ``"stochastic"`` requires ``rng`` (a numpy Generator)
    and draws exactly ``x.size`` uniforms from it in C order; other modes ignore
    ``rng``.  NaN anywhere in ``x`` raises ValueError.  Negative zero comes out
    as ``+0.0``.
    """
    codes, fmt = _float_codes(x, fmt, rounding, rng)
    return np.asarray(codes * fmt.eps + 0.0)  # + 0.0 turns -0.0 into +0.0


def to_codes(
    x: object,
    fmt: QFormat | str,
    rounding: str,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The integer codes of ``quantize(x, fmt, rounding, rng)`` as ``fmt.storage_dtype``.

    ``from_codes(to_codes(x, ...), fmt)`` equals ``quantize(x, ...)`` exactly (given
    an identically seeded ``rng`` for stochastic rounding).
    """
    codes, fmt = _float_codes(x, fmt, rounding, rng)
    return np.asarray(codes.astype(fmt.storage_dtype))


def from_codes(codes: object, fmt: QFormat | str) -> np.ndarray:
    """Float64 values ``codes * fmt.eps`` of integer codes.

    ``codes`` must have an integer dtype and lie in ``[fmt.min_code, fmt.max_code]``;
    ValueError otherwise.
    """
    fmt = _as_format(fmt)
    array = np.asarray(codes)
    if array.dtype.kind not in "iu":
        raise ValueError(f"codes must have an integer dtype, got {array.dtype}")
    if array.size and (array.min() < fmt.min_code or array.max() > fmt.max_code):
        raise ValueError(
            f"codes out of range for {fmt}: must lie in [{fmt.min_code}, {fmt.max_code}]"
        )
    return np.asarray(array.astype(np.float64) * fmt.eps + 0.0)


def quantization_error_bound(fmt: QFormat | str, rounding: str) -> float:
    """Worst-case ``|quantize(x) - x|`` for ``x`` inside ``[min_value, max_value]``.

    ``eps/2`` for nearest (attained at half-way points); ``eps`` for truncate and
    stochastic (a strict bound: the error is always below it).
    """
    fmt = _as_format(fmt)
    return fmt.eps / 2 if parse_rounding(rounding) == "nearest" else fmt.eps


def choose_int_bits(max_abs: float, *, signed: bool = False) -> int:
    """Smallest ``i >= 0`` with ``2**i > max_abs``: 0.9 -> 0, 1.0 -> 1, 3.5 -> 2, 255 -> 8.

    With that many integer bits every magnitude up to ``max_abs`` lies below
    ``2**i``, so it is representable once there are enough fractional bits
    (``max_value = 2**i - eps``; with too few, values above it saturate).  The sign
    bit is counted separately (:attr:`QFormat.word_bits`), so ``signed`` does not
    change the answer; it is accepted so callers can pass their format's
    signedness uniformly.  ``max_abs`` must be finite and >= 0 (ValueError).
    """
    value = float(max_abs)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"max_abs must be a finite number >= 0, got {max_abs!r}")
    if value < 1.0:
        return 0
    # frexp: value = m * 2**e with 0.5 <= m < 1, so 2**(e-1) <= value < 2**e exactly.
    return math.frexp(value)[1]


def format_for_range(max_abs: float, frac_bits: int, *, signed: bool = False) -> QFormat:
    """``QFormat(choose_int_bits(max_abs), frac_bits, signed)``.

    FormatError if the result is invalid (e.g. ``Q0.0`` or longer than 32 bits).
    """
    return QFormat(choose_int_bits(max_abs, signed=signed), frac_bits, signed)


# --- numba scalar kernels ----------------------------------------------------
# Same operations in the same order as _float_codes, so results are bit-identical
# to quantize().  lo/hi are fmt.min_value/fmt.max_value and eps is fmt.eps.  For
# speed they do not check for NaN: NaN in gives NaN out (the caller's job).


@numba.njit(cache=True)
def _saturate(x: float, lo: float, hi: float) -> float:
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


@numba.njit(cache=True)
def quantize_nearest_scalar(x: float, eps: float, lo: float, hi: float) -> float:
    """Round-half-up ``x`` to the grid ``k*eps`` and saturate to ``[lo, hi]``."""
    y = _saturate(x, lo, hi) / eps
    r = np.floor(y)  # np.floor stays float64 (math.floor would give an int)
    if y - r >= 0.5:
        r += 1.0
    return r * eps + 0.0


@numba.njit(cache=True)
def quantize_truncate_scalar(x: float, eps: float, lo: float, hi: float) -> float:
    """Floor ``x`` to the grid ``k*eps`` (toward minus infinity) and saturate."""
    y = _saturate(x, lo, hi) / eps
    return np.floor(y) * eps + 0.0


@numba.njit(cache=True)
def quantize_stochastic_scalar(x: float, eps: float, lo: float, hi: float, u: float) -> float:
    """``floor(x/eps + u) * eps`` saturated; ``u`` in ``[0, 1)`` from the caller's RNG."""
    y = _saturate(x, lo, hi) / eps
    r = np.floor(y)  # np.floor stays float64 (math.floor would give an int)
    if u >= 1.0 - (y - r):
        r += 1.0
    return r * eps + 0.0
