"""Activity counts: what the network did, in the units the cost model prices.

Most counts are the operations of the *rule as specified* on a clock-driven
simulator, not the shortcuts of our event-driven engine (e.g. a column whose
weights did not change still counts as normalised: ``normalisations`` is N
per training presentation). That keeps them a property of the design,
comparable across engines and devices, and it is what the dense
(clock-driven) pricing of dse/cost/energy.py multiplies.

The last two count what the compiled engine (engine_numba.py) actually does
where it takes a shortcut, so that the event-driven pricing need not guess
how spikes spread over the neurons (winner-take-all concentrates them on a
few, and more so on some data sets than others):

* ``columns_normalised``: the columns renormalised after each training
  presentation, i.e. those the rule changed (the engine's dirty flags);
  at most ``normalisations``.
* ``depressions``: the weight elements pair-wise depression touched: for
  each input spike, the neurons that had fired earlier in the
  presentation (the only ones with a post trace); at most N per input
  spike, the rule-as-specified share of ``weight_updates``.

Both are 0 in inference, and in runs recorded before they were counted
(readers treat a missing count as unknown, not as zero work).
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
    "columns_normalised",  # engine-actual: columns renormalised after training presentations (the changed ones)
    "depressions",        # engine-actual: weights pair-wise depression touched (neurons fired so far, per input spike)
)
(C_IMAGES, C_PRESENTATIONS, C_STEPS, C_INPUT_SPIKES, C_EXC_SPIKES, C_INH_SPIKES,
 C_NEURON_UPDATES, C_SYN_EVENTS, C_WEIGHT_UPDATES, C_TRACE_UPDATES, C_NORMALISATIONS,
 C_WINDOW_UPDATES, C_COLUMNS_NORMALISED, C_DEPRESSIONS) = range(len(COUNT_NAMES))
# The counts of what the engine actually did (see above), absent from runs recorded before them.
ENGINE_ACTUAL = ("columns_normalised", "depressions")
# What only learning does (0 in inference): the rest of a training presentation is an inference one.
LEARNING_COUNTS = ("weight_updates", "trace_updates", "normalisations", "window_updates", *ENGINE_ACTUAL)
N_COUNTS = len(COUNT_NAMES)


def new_counts() -> np.ndarray:
    return np.zeros(N_COUNTS, dtype=np.int64)


def counts_to_dict(counts: np.ndarray) -> dict[str, int]:
    return {name: int(counts[k]) for k, name in enumerate(COUNT_NAMES)}


def per_image(counts: dict[str, int]) -> dict[str, float]:
    n = counts.get("images", 0)
    return {k: (v / n if n else 0.0) for k, v in counts.items() if k != "images"}
