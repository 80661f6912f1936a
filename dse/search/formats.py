"""The fixed-point formats of a candidate's word lengths: integer bits that cover each value's range,
fraction bits for the rest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from dse.models.fixedpoint import choose_int_bits
from dse.models.quantize import FP32_BITS

if TYPE_CHECKING:
    from .space import Candidate

__all__ = ["nominal_ranges", "quant_spec"]


def nominal_ranges(c: Candidate) -> dict[str, float]:
    """Largest magnitude each value can take, known before training (for the integer bits of a format).

    Weights live in [0, w_max]; the inhibition strength is a recipe constant;
    potentials lie between E_inh (-100 mV) and the threshold, which theta raises
    by some tens of mV at most (method notes 8), so both fit 7 integer bits.
    """
    from dse.models.recipes import load_recipe

    r = load_recipe(c.design, c.overrides())
    return {"weights": float(r.get("plasticity", "w_max")), "inh": r.largest_inhibition_strength,
            "vmem": abs(float(r.get("excitatory", "e_inh_mv"))), "vth": abs(float(r.get("excitatory", "e_inh_mv")))}


def quant_spec(c: Candidate, ranges: Mapping[str, float]) -> str:
    """The ``--quant`` spec of a candidate: each value's word length split into integer bits
    that cover its range and fractional bits for the rest (empty for FP32)."""
    parts = []
    for key, bits in c.bits().items():
        if bits >= FP32_BITS:
            continue
        signed = key in ("vmem", "vth")
        int_bits = choose_int_bits(float(ranges[key]))
        frac = bits - int_bits - (1 if signed else 0)
        if frac < 0:
            raise _space_error(f"{c.label()}: {bits} bits cannot hold {key} up to {ranges[key]:.3g} "
                             f"(needs {int_bits + (1 if signed else 0)} bits before the fraction)")
        parts.append(f"{key}={'s' if signed else ''}Q{int_bits}.{frac}")
    return ",".join(parts)


def _space_error(message: str) -> Exception:
    from .space import SpaceError

    return SpaceError(message)
