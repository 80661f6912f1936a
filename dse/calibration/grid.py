"""The measurement grid: which runs `dse measure` takes so that calibration can tell the cost terms apart.

In the plain grid (every design x every size at the recipe's own input)
synaptic events and neuron updates both grow as N x steps, so a fit cannot
split the time between them. The ``full`` grid adds runs that move one term
while holding the others:

* ``rate0.5`` / ``rate2``: the recipe's f_max halved and doubled. Input spikes
  and synaptic events move; neuron updates per step do not.
* ``steps0.5`` / ``steps2``: half and twice the presentation length. Per-step
  and per-presentation costs move apart.
* ``blank``: all-zero images. No input spikes, so no synaptic events and no
  learning: what is left is neuron updates and the per-step cost (every
  image is re-presented the recipe's maximum number of times).

Inference against training on the same cell isolates the weight updates.
Probes run at a few sizes only (the smallest, middle and largest), which is
enough to separate their terms and keeps a round short.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Variant", "VARIANTS", "PLAIN", "GRIDS", "Cell", "grid_cells", "variant_named"]


@dataclass(frozen=True)
class Variant:
    """How a probe changes a recipe's input; the plain variant (name "") changes nothing."""

    name: str
    rate: float = 1.0    # x the recipe's input.f_max_hz
    steps: float = 1.0   # x the recipe's input.presentation_steps
    blank: bool = False  # all-zero images instead of the data set's

    def overrides(self, recipe_input: Mapping[str, float]) -> dict[str, str]:
        """Recipe overrides (``load_recipe`` form) for a recipe whose [input] table is ``recipe_input``."""
        out = {}
        if self.rate != 1.0:
            out["input.f_max_hz"] = repr(float(recipe_input["f_max_hz"]) * self.rate)
        if self.steps != 1.0:
            out["input.presentation_steps"] = str(max(1, round(int(recipe_input["presentation_steps"]) * self.steps)))
        return out


PLAIN = Variant("")
VARIANTS = (PLAIN, Variant("rate0.5", rate=0.5), Variant("rate2", rate=2.0), Variant("steps0.5", steps=0.5),
            Variant("steps2", steps=2.0), Variant("blank", blank=True))
# Probe -> which of the grid's sizes it runs at ("ends": smallest and largest; "three": and the middle one).
_PROBE_SIZES = {"rate0.5": "three", "rate2": "three", "blank": "three", "steps0.5": "ends", "steps2": "ends"}
GRIDS = ("full", "sizes")


def variant_named(name: str) -> Variant:
    for v in VARIANTS:
        if v.name == name:
            return v
    raise ValueError(f"unknown measurement variant {name!r}: choose one of "
                     f"{', '.join(v.name or 'plain' for v in VARIANTS)}")


@dataclass(frozen=True)
class Cell:
    design: str
    neurons: int
    precision: str
    variant: Variant = PLAIN


def _probe_sizes(sizes: Sequence[int], which: str) -> list[int]:
    s = sorted(set(sizes))
    picked = [s[0], s[-1]] if which == "ends" else [s[0], s[len(s) // 2], s[-1]]
    return sorted(set(picked))


def grid_cells(designs: Sequence[str], sizes: Sequence[int], precisions: Sequence[str],
               grid: str = "sizes") -> list[Cell]:
    """The cells of a grid, in measuring order: the plain grid first, then the probes."""
    if grid not in GRIDS:
        raise ValueError(f"unknown grid {grid!r}: choose one of {', '.join(GRIDS)}")
    cells = [Cell(d, n, p) for d in designs for n in sizes for p in precisions]
    if grid == "full" and sizes:
        for v in VARIANTS[1:]:
            cells += [Cell(d, n, p, v) for d in designs for n in _probe_sizes(sizes, _PROBE_SIZES[v.name])
                      for p in precisions]
    return cells
