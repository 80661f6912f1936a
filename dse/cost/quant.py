"""Precision of each stored value, as the cost model sees it: ``--quant`` spec -> bit-widths.

The spec is the simulator's (``models/quantize.py``), so a run trained with
``--quant weights=Q0.8`` is costed with the same words:

* ``weights`` -- the 784 x N input weights;
* ``inh``     -- the inhibition strengths (the lateral matrix or strength of
  FSpiNN, the exc->inh and inh->exc connections of the layer designs);
* ``vmem``    -- membrane potentials; ``vth`` -- thresholds (V_th + theta).

Only the word length matters for memory and traffic, so a value's cost is
``word_bits`` of its :class:`~dse.models.fixedpoint.QFormat`; a value left out
stays FP32.  Three presets name the papers' accountings: ``fp32``, and
``16bit`` / ``8bit``, FSpiNN's "FSpiNN k-bit": every quantizable value at k
bits (the integer bits follow the value ranges: weights in [0, 1], w_lat 20.8,
potentials in [-100, -40] mV).
"""

from __future__ import annotations

from dataclasses import dataclass

from dse.models.fixedpoint import FormatError, QFormat
from dse.models.quantize import QUANT_KEYS, parse_quant

__all__ = ["FP32_BITS", "PRESETS", "Precision", "parse_precision", "QUANT_KEYS"]

FP32_BITS = 32

# Presets: the papers' "k-bit" designs. Formats are chosen so each range fits
# in k bits: weights Q0.k, w_lat = 20.8 needs 5 integer bits, potentials need
# 7 integer bits and a sign.
PRESETS: dict[str, str] = {
    "fp32": "",
    "16bit": "weights=Q0.16,inh=Q5.11,vmem=sQ7.8,vth=sQ7.8",
    "8bit": "weights=Q0.8,inh=Q5.3,vmem=sQ7.0,vth=sQ7.0",
}


@dataclass(frozen=True)
class Precision:
    """The format of each quantizable value; ``None`` means FP32."""

    weights: QFormat | None = None
    inh: QFormat | None = None
    vmem: QFormat | None = None
    vth: QFormat | None = None
    label: str = "fp32"  # what the user asked for (a preset name or the canonical spec)

    def bits(self, key: str) -> int:
        """Storage bits of one value: the format's word length, or 32 (FP32)."""
        if key not in QUANT_KEYS:
            raise ValueError(f"unknown quantizable value {key!r}: choose one of {', '.join(QUANT_KEYS)}")
        fmt = getattr(self, key)
        return FP32_BITS if fmt is None else fmt.word_bits

    def formats(self) -> dict[str, QFormat | None]:
        return {key: getattr(self, key) for key in QUANT_KEYS}

    def spec(self) -> str:
        """Canonical spec (``fp32`` when nothing is quantized); parses back to the same formats."""
        parts = [f"{k}={f}" for k, f in self.formats().items() if f is not None]
        return ",".join(parts) or "fp32"

    def bit_widths(self) -> dict[str, int]:
        return {key: self.bits(key) for key in QUANT_KEYS}

    @property
    def is_fp32(self) -> bool:
        return all(f is None for f in self.formats().values())


def parse_precision(spec: str | None) -> Precision:
    """Parse a ``--quant`` spec or preset (``fp32``, ``16bit``, ``8bit``); raises FormatError (a ValueError).

    ``weights=Q0.8,vmem=Q7.8`` -> weights 8 bits, V 16 bits (potentials are
    signed: ``Qi.f`` means ``sQi.f`` for ``vmem`` and ``vth``, as in training).
    """
    text = (spec or "").strip()
    label_in = text.lower()
    if label_in in PRESETS:
        text = PRESETS[label_in]
    elif text and "=" not in text:
        raise FormatError(f"bad --quant {text!r}: give KEY=FORMAT items (e.g. weights=Q0.8,vmem=Q7.8) "
                          f"or a preset ({', '.join(PRESETS)})")
    config = parse_quant(text)
    precision = Precision(weights=config.weights, inh=config.inhibition, vmem=config.vmem, vth=config.vth)
    label = label_in if label_in in PRESETS else precision.spec()
    return Precision(weights=precision.weights, inh=precision.inh, vmem=precision.vmem,
                     vth=precision.vth, label=label)
