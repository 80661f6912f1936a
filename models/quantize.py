"""Which values of the network are quantized, and to what (FSpiNN Eq. 6, tinySNN Sec. 2.3).

Spec syntax, e.g. ``weights=Q0.8,vmem=Q7.8,vth=Q7.8,inh=Q6.2``:
- ``weights``: input weights, non-negative, unsigned (``Qi.f``);
- ``inh``: inhibition strengths (lateral w_lat, or w_ie and w_ei), unsigned;
- ``vmem``: the membrane potential V; ``vth``: the threshold V_th + theta.
  Potentials are negative millivolts, so for these two ``Qi.f`` means signed
  (``sQi.f``); an explicit ``uQ`` is refused.
``Q*.f`` takes the integer bits from an observed range (a run's ``ranges``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np

from .fixedpoint import (FormatError, QFormat, choose_int_bits, parse_format, parse_rounding,
                         to_codes)

QUANT_KEYS = ("weights", "inh", "vmem", "vth")
_SIGNED_KEYS = ("vmem", "vth")
_FIELD_OF_KEY = {"weights": "weights", "inh": "inhibition", "vmem": "vmem", "vth": "vth"}
FP32_BITS = 32  # the word length of a value left in floating point


@dataclass(frozen=True)
class QuantConfig:
    """The format of each quantizable value (None: FP32), its rounding, and the name the user gave it.

    One type for the simulator (which rounds into the formats) and the cost
    model (which needs only their word lengths); ``label`` is a preset name
    (``8bit``) or the canonical spec.
    """

    weights: QFormat | None = None
    inhibition: QFormat | None = None
    vmem: QFormat | None = None
    vth: QFormat | None = None
    rounding: str = "nearest"
    seed: int = 0
    label: str = "fp32"

    @property
    def is_float(self) -> bool:
        return all(f is None for f in (self.weights, self.inhibition, self.vmem, self.vth))

    def format(self, key: str) -> QFormat | None:
        """The format of one value by its spec key (``weights``, ``inh``, ``vmem``, ``vth``)."""
        if key not in _FIELD_OF_KEY:
            raise ValueError(f"unknown quantizable value {key!r}: choose one of {', '.join(QUANT_KEYS)}")
        return getattr(self, _FIELD_OF_KEY[key])

    def formats(self) -> dict[str, QFormat | None]:
        return {key: self.format(key) for key in QUANT_KEYS}

    def bits(self, key: str) -> int:
        """Storage bits of one value: the format's word length, or 32 (FP32)."""
        fmt = self.format(key)
        return FP32_BITS if fmt is None else fmt.word_bits

    def bit_widths(self) -> dict[str, int]:
        return {key: self.bits(key) for key in QUANT_KEYS}

    def to_dict(self) -> dict[str, str | int | None]:
        return {"weights": _s(self.weights), "inh": _s(self.inhibition), "vmem": _s(self.vmem),
                "vth": _s(self.vth), "rounding": self.rounding, "seed": self.seed}

    def spec(self) -> str:
        parts = [f"{k}={v}" for k, v in self.to_dict().items() if k in QUANT_KEYS and v]
        return ",".join(parts) or "fp32"

    def round_constant(self, value: float, fmt: QFormat) -> float:
        """Round a one-off constant (an inhibition strength) into fmt with this rounding.

        A constant beyond the format's range is refused (FormatError), not saturated: a clipped
        inhibition strength would silently be another network, unlike a weight, which learning
        keeps in range.
        """
        if abs(value) >= 2.0 ** fmt.int_bits:
            need = choose_int_bits(abs(value))  # the same word length, if it can hold them
            raise FormatError(f"inhibition strength {value:g} does not fit {fmt} (largest {fmt.max_value:g}): "
                              f"give it at least {need} integer bits, "
                              f"e.g. inh=Q{need}.{max(fmt.int_bits + fmt.frac_bits - need, 0)}")
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0xC0])) if self.rounding == "stochastic" else None
        return float(to_codes(np.array([value]), fmt, self.rounding, rng)[0]) * fmt.eps

    def weight_codes(self, weights: np.ndarray) -> np.ndarray:
        """FP weights -> integer codes in the weight format (PTQ), seeded for stochastic rounding."""
        if self.weights is None:
            raise ValueError("no weight format given")
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x3E])) if self.rounding == "stochastic" else None
        return np.ascontiguousarray(to_codes(weights, self.weights, self.rounding, rng))


def _s(fmt: QFormat | None) -> str | None:
    return None if fmt is None else str(fmt)


def parse_quant(spec: str | None, rounding: str = "nearest", *, seed: int = 0,
                ranges: Mapping[str, float] | None = None) -> QuantConfig:
    """Parse ``weights=Q0.8,vmem=Q7.8`` (empty or None: floating point everywhere)."""
    rounding = parse_rounding(rounding)
    formats: dict[str, QFormat] = {}
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, text = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in QUANT_KEYS:
            raise FormatError(f"bad --quant item '{item}': write KEY=FORMAT with KEY one of "
                              f"{', '.join(QUANT_KEYS)}, e.g. weights=Q0.8")
        if key in formats:
            raise FormatError(f"bad --quant: '{key}' given twice")
        formats[key] = _parse_one(key, text.strip(), ranges)
    if "weights" in formats and formats["weights"].signed:
        raise FormatError(f"bad --quant weights={formats['weights']}: weights are non-negative, use an unsigned Qi.f")
    config = QuantConfig(weights=formats.get("weights"), inhibition=formats.get("inh"),
                         vmem=formats.get("vmem"), vth=formats.get("vth"), rounding=rounding, seed=seed)
    return replace(config, label=config.spec())


def _parse_one(key: str, text: str, ranges: Mapping[str, float] | None) -> QFormat:
    low = text.lower()
    auto = low.startswith(("q*.", "sq*.", "uq*."))
    if auto:
        if not ranges or key not in ranges:
            raise FormatError(f"bad --quant {key}={text}: 'Q*' needs an observed range, which only "
                              "`dse quantize RUN_DIR` has; give the integer bits, e.g. Q7.8")
        frac = text.split(".", 1)[1]
        try:
            int_bits = choose_int_bits(float(ranges[key]))
        except (TypeError, ValueError):  # a hand-edited or damaged run manifest
            raise FormatError(f"bad --quant {key}={text}: the run's observed range of {key} is "
                              f"{ranges[key]!r}, not a number >= 0; give the integer bits, e.g. Q7.8") from None
        text = f"{text[: low.index('*')]}{int_bits}.{frac}"
        low = text.lower()
    if key in _SIGNED_KEYS:
        if low.startswith("uq"):
            raise FormatError(f"bad --quant {key}={text}: potentials are negative, use a signed format (Qi.f or sQi.f)")
        if not low.startswith("sq"):
            text = "s" + text
    elif low.startswith("sq"):
        raise FormatError(f"bad --quant {key}={text}: {key} is non-negative, use an unsigned Qi.f")
    return parse_format(text)
