"""Which trainings are hopeless: a network near chance, silent, or living at the re-presentation limit.

An STDP network that has collapsed does not recover with more images: its
neurons either stopped firing (thresholds ran away, inhibition won), so every
image is shown again and again at a raised rate until the re-presentation
limit gives up, or it fires without telling the classes apart. Measured at a
fidelity rung below the full one, any of these stops the trial there, with
the reason recorded, instead of training it to the end (the issue that
motivated this saw two collapsed baselines, at 1.4% and 0.5%, each trained to
full fidelity). The signals come from the rung's own evaluation: below the
full rung, the training stream's accuracy and the activity of the training
presentations (dse.search.evaluate); a rung too short for a stream signal is
tested, and then its test's accuracy and counts are read.
"""

from __future__ import annotations

from functools import lru_cache

from .evaluate import Evaluation
from .space import Candidate

__all__ = ["hopeless_reason", "CHANCE_FACTOR", "SILENT_SPIKES", "LIMIT_SHARE"]

CHANCE_FACTOR = 2.0   # at a rung, an accuracy below twice chance (20% for ten classes) is near chance
SILENT_SPIKES = 1.0   # fewer excitatory spikes per presentation than this: a silent network
LIMIT_SHARE = 0.5     # more presentations per image than 1 + this x the re-presentations allowed: at the limit


@lru_cache(maxsize=None)
def _max_representations(design: str) -> int:
    from dse.models.recipes import load_recipe

    return int(load_recipe(design, {}).get("input", "max_representations"))


def hopeless_reason(c: Candidate, ev: Evaluation) -> str | None:
    """Why the network measured by ``ev`` is hopeless, or None if it is not."""
    test = ev.counts_per_image.get("inference") or {}
    seen = "training" if (ev.extra or {}).get("measured") == "training stream" else "test"
    presentations = float(test.get("presentations", 1.0)) or 1.0
    spikes = float(test.get("exc_spikes", 0.0)) / presentations
    if spikes < SILENT_SPIKES:
        return f"silent network: {spikes:.2g} excitatory spikes per presentation in {seen}"
    limit = _max_representations(c.design)
    if limit and presentations > 1.0 + LIMIT_SHARE * limit:
        return (f"at the re-presentation limit: {presentations:.2f} presentations per {seen} image "
                f"(at most {1 + limit})")
    classes = len(ev.confusion) if ev.confusion else 10
    if ev.accuracy < CHANCE_FACTOR / classes:
        return f"near chance: accuracy {100 * ev.accuracy:.1f}% (chance {100 / classes:.0f}%)"
    return None
