"""Precision of each stored value, as the cost model sees it: a spec or preset -> a QuantConfig.

The spec is the simulator's (``models/quantize.py``), so a run trained with
``--quant weights=Q0.8`` is costed with the same words:

* ``weights`` -- the 784 x N input weights;
* ``inh``     -- the inhibition strengths (the lateral matrix or strength of
  FSpiNN, the exc->inh and inh->exc connections of the layer designs);
* ``vmem``    -- membrane potentials; ``vth`` -- thresholds (V_th + theta).

Only the word length matters for memory and traffic, so a value's cost is
``QuantConfig.bits(key)``: the ``word_bits`` of its
:class:`~dse.models.fixedpoint.QFormat`, or 32 for a value left in FP32.  Three presets name the papers' accountings: ``fp32``, and
``16bit`` / ``8bit``, FSpiNN's "FSpiNN k-bit": every quantizable value at k
bits (the integer bits follow the value ranges: weights in [0, 1], w_lat 20.8,
potentials in [-100, -40] mV).
"""

from __future__ import annotations

from dataclasses import replace

from dse.models.fixedpoint import FormatError
from dse.models.quantize import QuantConfig, parse_quant

__all__ = ["PRESETS", "parse_precision"]

# Presets: the papers' "k-bit" designs. Formats are chosen so each range fits
# in k bits: weights Q0.k, inhibition strengths up to fspinn's w_lat = 41.6 (4 x 10.4)
# need 6 integer bits, potentials need 7 integer bits and a sign.
PRESETS: dict[str, str] = {
    "fp32": "",
    "16bit": "weights=Q0.16,inh=Q6.10,vmem=sQ7.8,vth=sQ7.8",
    "8bit": "weights=Q0.8,inh=Q6.2,vmem=sQ7.0,vth=sQ7.0",
}


def parse_precision(spec: str | None) -> QuantConfig:
    """Parse a quantization spec or preset (``fp32``, ``16bit``, ``8bit``); raises FormatError (a ValueError).

    ``weights=Q0.8,vmem=Q7.8`` -> weights 8 bits, V 16 bits (potentials are
    signed: ``Qi.f`` means ``sQi.f`` for ``vmem`` and ``vth``, as in training).
    The label is the preset's name, or the canonical spec.
    """
    text = (spec or "").strip()
    label_in = text.lower()
    if label_in in PRESETS:
        text = PRESETS[label_in]
    elif text and "=" not in text:
        raise FormatError(f"bad --quant {text!r}: give KEY=FORMAT items (e.g. weights=Q0.8,vmem=Q7.8) "
                          f"or a preset ({', '.join(PRESETS)})")
    config = parse_quant(text)
    return replace(config, label=label_in) if label_in in PRESETS else config
