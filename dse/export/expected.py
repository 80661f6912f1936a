"""The engine's answers for the images an export embeds, for the example to check itself against."""

from __future__ import annotations

import numpy as np

from dse.runs.readout import Assignment, predict_all_activity
from dse.models.counts import new_counts
from dse.models.network import NetworkState, Simulator

from .model import N_CLASSES, ExportModel

FNV_OFFSET, FNV_PRIME = 2166136261, 16777619


def engine_spike_counts(model: ExportModel, images: np.ndarray, first_index: int,
                        activity: np.ndarray | None = None) -> np.ndarray:
    """(n, N) spike counts of the compiled engine, learning off, as `dse evaluate` runs it.

    activity (models.counts layout), if given, receives the engine's activity counts.
    """
    sim = Simulator(model.recipe, quant=model.quant)
    state = NetworkState(model.weights.copy(), model.theta.copy())
    return sim.infer(state, images, first_index, model.seed, new_counts() if activity is None else activity)


def predictions(model: ExportModel, counts: np.ndarray) -> np.ndarray:
    """The all-activity vote of `dse evaluate` with the run's neuron labels."""
    n = model.n_neurons
    zeros = np.zeros((n, N_CLASSES))
    return predict_all_activity(counts, Assignment(labels=model.labels, rates=zeros, proportions=zeros))


def count_hash(counts: np.ndarray) -> int:
    """FNV-1a over one image's spike counts, word by word (main.c computes the same)."""
    h = FNV_OFFSET
    for c in np.asarray(counts, dtype=np.int64).tolist():
        h = ((h ^ (c & 0xFFFF)) * FNV_PRIME) & 0xFFFFFFFF
    return h
