"""The structural facts of a design that the cost model needs, read from its recipe.

Memory, activity and time models all ask the same few questions of a design
(inhibitory layer or lateral inhibition? which learning rule? how many steps
per presentation?); this module answers them once, from the bundled recipe, so
a changed recipe constant (``window_steps``, ``post_every``) reaches the cost
model without a second copy of it here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from dse.errors import Param, ParameterError
from dse.models.network import N_INPUTS  # MNIST / Fashion-MNIST pixels: one Poisson input each
from dse.models.recipes import DESIGNS, load_recipe

__all__ = ["N_INPUTS", "DesignStructure", "design_structure", "check_neurons", "DESIGNS"]



@dataclass(frozen=True)
class DesignStructure:
    design: str
    scheme: str            # "layer" (inhibitory neurons) | "lateral" (direct inhibition)
    rule: str              # "pairwise" | "sl-stdp" | "fspinn"
    steps_per_presentation: int
    refractory_steps: int
    inh_refractory_steps: int  # 0 for lateral designs
    window_steps: int      # FSpiNN T_w; 0 otherwise
    post_every: int        # SL-STDP K; 0 otherwise
    exc_parameters: int    # shared scalar constants of the excitatory layer
    inh_parameters: int    # shared scalar constants of the inhibitory layer (0 if none)

    @property
    def layers(self) -> int:
        """Neuron layers updated each step: exc (+ inh for the layer scheme)."""
        return 2 if self.scheme == "layer" else 1

    @property
    def nxn_matrices(self) -> int:
        """N x N connection matrices a dense simulator stores and multiplies by every step."""
        return 2 if self.scheme == "layer" else 1

    @property
    def max_spikes_per_presentation(self) -> int:
        """An upper bound on one neuron's spikes in a presentation (one per refractory cycle)."""
        return math.ceil(self.steps_per_presentation / (self.refractory_steps + 1))


def check_neurons(neurons: int) -> int:
    if isinstance(neurons, bool) or not isinstance(neurons, int) or neurons <= 0:
        raise ParameterError(Param("neurons"), f" must be a whole number > 0, got {neurons!r}")
    return neurons


@lru_cache(maxsize=None)
def design_structure(design: str) -> DesignStructure:
    """Structure of a bundled design; a ValueError names the choices otherwise."""
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}: choose one of {', '.join(DESIGNS)}")
    r = load_recipe(design)
    dt = float(r.get("input", "dt_ms"))
    scheme = r.scheme
    return DesignStructure(
        design=design,
        scheme=scheme,
        rule=r.rule,
        steps_per_presentation=int(r.get("input", "presentation_steps")),
        refractory_steps=int(round(float(r.get("excitatory", "refractory_ms")) / dt)),
        inh_refractory_steps=int(round(float(r.get("inhibitory", "refractory_ms", 0.0)) / dt)),
        window_steps=int(r.get("plasticity", "window_steps", 0) or 0),
        post_every=int(r.get("plasticity", "post_every", 2 if r.rule == "sl-stdp" else 0) or 0),
        exc_parameters=len(r.sections.get("excitatory", {})),
        inh_parameters=len(r.sections.get("inhibitory", {})) if scheme == "layer" else 0,
    )
