"""Is a trained network working, silent or saturated? Numbers and a verdict for every run.

A Diehl & Cook network can fail quietly: its adaptive thresholds climb until
images no longer drive the neurons (with the conductance-based neuron, V can
never pass E_exc, so a threshold near E_exc is unreachable), most images then
end at the re-presentation limit, and accuracy collapses while training still
"succeeds". Every run records these figures in its manifest (``health``) and
the CLI prints the verdict, so such a network is never reported silently.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dse.models.recipes import Recipe

# More than this share of test images still below min_spikes after the last
# re-presentation: the network no longer answers (each is a likely "no decision").
SILENT_IMAGE_FRACTION = 0.10
# A threshold within this many mV of E_exc can hardly be reached by a
# conductance-based neuron (V approaches E_exc only under infinite drive).
CEILING_MARGIN_MV = 5.0
# More than this share of neurons with their threshold at the ceiling: saturated.
SATURATED_NEURON_FRACTION = 0.5
# Firing above this share of the refractory-limited maximum rate is runaway excitation.
RUNAWAY_RATE_FRACTION = 0.5
# Training health looks at the end of training: the state the network was left in.
TRAIN_TAIL_IMAGES = 10_000


def spike_stats(per_image_spikes: np.ndarray, min_spikes: int) -> dict[str, Any]:
    """Mean excitatory spikes per image (last presentation) and the share at the re-presentation limit.

    An image whose last presentation still evoked fewer than min_spikes spikes
    went through every allowed re-presentation: it is "at the limit".
    """
    totals = np.asarray(per_image_spikes, dtype=np.int64)
    if totals.size == 0:
        return {"images": 0, "mean_spikes_per_image": None, "at_representation_limit": None}
    return {"images": int(totals.size),
            "mean_spikes_per_image": round(float(totals.mean()), 3),
            "at_representation_limit": round(float(np.mean(totals < min_spikes)), 5)}


def threshold_stats(recipe: Recipe, theta: np.ndarray) -> dict[str, Any]:
    """theta (mV) and the distance of the thresholds V_th + theta to the E_exc ceiling."""
    theta = np.asarray(theta, dtype=np.float64)
    out: dict[str, Any] = {"theta_mv": {"mean": round(float(theta.mean()), 3),
                                        "min": round(float(theta.min()), 3),
                                        "max": round(float(theta.max()), 3)}}
    headroom = recipe.get("excitatory", "e_exc_mv") - (recipe.get("excitatory", "v_th_mv") + theta)
    out["ceiling_headroom_mv"] = {"min": round(float(headroom.min()), 3),
                                  "median": round(float(np.median(headroom)), 3)}
    out["at_ceiling_fraction"] = round(float(np.mean(headroom < CEILING_MARGIN_MV)), 5)
    return out


def network_health(recipe: Recipe, theta: np.ndarray, train_spikes: np.ndarray | None,
                   test_spike_counts: np.ndarray | None) -> dict[str, Any]:
    """The manifest's ``health`` entry: figures, a status and one warning per problem found.

    train_spikes: per-image excitatory spikes of training (last presentation), or None;
    test_spike_counts: (n_test, N) spike counts of the test images, or None for a run not tested
    (then the thresholds and the training tail are judged).
    """
    min_spikes = int(recipe.get("input", "min_spikes"))
    test = None
    if test_spike_counts is not None:
        counts = np.asarray(test_spike_counts)
        test = spike_stats(counts.sum(axis=1), min_spikes)
        test["silent_neurons_fraction"] = round(float(np.mean(counts.sum(axis=0) == 0)), 5)
    health: dict[str, Any] = {"test": test, **threshold_stats(recipe, theta)}
    if train_spikes is not None:
        health["train_tail"] = spike_stats(np.asarray(train_spikes)[-TRAIN_TAIL_IMAGES:], min_spikes)
    warnings = _warnings(recipe, health, len(theta))
    health["status"] = _status(warnings)
    health["warnings"] = [text for _, text in warnings]
    return health


def _warnings(recipe: Recipe, health: dict[str, Any], n_neurons: int) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    test = health["test"] or health.get("train_tail") or {"at_representation_limit": None,
                                                          "mean_spikes_per_image": None}
    seen = "test" if health["test"] else "last training"
    min_spikes = recipe.get("input", "min_spikes")
    if test["at_representation_limit"] is not None and test["at_representation_limit"] > SILENT_IMAGE_FRACTION:
        found.append(("silent", f"silent: {100 * test['at_representation_limit']:.1f}% of {seen} images evoke fewer "
                                f"than {min_spikes} spikes even at the last re-presentation"))
    if health["at_ceiling_fraction"] > SATURATED_NEURON_FRACTION:
        found.append(("saturated", f"saturated: {100 * health['at_ceiling_fraction']:.0f}% of thresholds are within "
                                   f"{CEILING_MARGIN_MV:g} mV of E_exc, which the conductance-based neuron cannot pass"))
    steps = recipe.get("input", "presentation_steps")
    refractory_steps = recipe.get("excitatory", "refractory_ms") / recipe.get("input", "dt_ms")
    max_per_neuron = steps / (refractory_steps + 1)
    mean = test["mean_spikes_per_image"]
    if mean is not None and mean > RUNAWAY_RATE_FRACTION * max_per_neuron * n_neurons:
        found.append(("saturated", f"saturated: {mean:.0f} spikes per {seen} image, over "
                                   f"{100 * RUNAWAY_RATE_FRACTION:.0f}% of the refractory-limited maximum"))
    return found


def _status(warnings: list[tuple[str, str]]) -> str:
    kinds = {kind for kind, _ in warnings}
    if "saturated" in kinds:
        return "saturated"
    return "silent" if "silent" in kinds else "ok"


def health_line(health: dict[str, Any]) -> str:
    """One console line: the verdict and the figures behind it."""
    test = health["test"]
    th = health["theta_mv"]
    activity = ("not tested" if test is None else
                f"{test['mean_spikes_per_image']:.1f} spikes per test image, "
                f"{100 * test['at_representation_limit']:.1f}% at the re-presentation limit")
    text = f"{health['status']}: {activity}, theta {th['mean']:.1f} mV (range {th['min']:.1f}-{th['max']:.1f})"
    # each warning starts with its kind ("silent: ..."), which the status already says
    reasons = [w.split(": ", 1)[-1] for w in health["warnings"]]
    return text if not reasons else text + "; " + "; ".join(reasons)
