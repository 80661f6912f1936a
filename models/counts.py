"""Activity counts: what the network did, in the units the cost model prices.

Counts are the operations of the *rule as specified* on a clock-driven
simulator, not the shortcuts of our event-driven engine (e.g. a column whose
weights did not change still counts as normalised). That keeps them a
property of the design, comparable across engines and devices.
"""

from __future__ import annotations

import numpy as np

COUNT_NAMES = (
    "images",             # images presented (first presentation)
    "presentations",      # presentations including Diehl & Cook re-presentations
    "steps",              # simulated time steps
    "input_spikes",       # Poisson input spikes
    "exc_spikes",         # excitatory spikes
    "inh_spikes",         # inhibitory-layer spikes (0 for lateral designs)
    "neuron_updates",     # neuron state updates (neurons x steps, both layers)
    "synaptic_events",    # spike deliveries: input fan-out + inhibition fan-out
    "weight_updates",     # weight elements written by the learning rule
    "trace_updates",      # STDP trace decays/resets (traces x steps)
    "normalisations",     # column normalisations (one per neuron per training presentation)
    "window_updates",     # FSpiNN winner updates (one per window with activity)
)
(C_IMAGES, C_PRESENTATIONS, C_STEPS, C_INPUT_SPIKES, C_EXC_SPIKES, C_INH_SPIKES,
 C_NEURON_UPDATES, C_SYN_EVENTS, C_WEIGHT_UPDATES, C_TRACE_UPDATES, C_NORMALISATIONS,
 C_WINDOW_UPDATES) = range(len(COUNT_NAMES))
N_COUNTS = len(COUNT_NAMES)


def new_counts() -> np.ndarray:
    return np.zeros(N_COUNTS, dtype=np.int64)


def counts_to_dict(counts: np.ndarray) -> dict[str, int]:
    return {name: int(counts[k]) for k, name in enumerate(COUNT_NAMES)}


def per_image(counts: dict[str, int]) -> dict[str, float]:
    n = counts.get("images", 0)
    return {k: (v / n if n else 0.0) for k, v in counts.items() if k != "images"}
