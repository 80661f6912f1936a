"""Random sparse test images shared by the per-image schedule tests (threshold step, inhibition ramp):
150 bright pixels of 784 each, and a check that a run resumed midway equals an unbroken one."""

from __future__ import annotations

import numpy as np


def sparse_images(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((n, 784), dtype=np.uint8)
    for k in range(n):
        img[k, rng.choice(784, 150, replace=False)] = rng.integers(120, 256, 150)
    return img


def assert_resumed_run_matches(recipe, images: np.ndarray, split: int, n_neurons: int = 12):
    """Train n_neurons on images at once and in two parts (resumed at image split): the same network.
    Returns the unbroken run's state."""
    from dse.models.counts import new_counts
    from dse.models.network import Simulator, init_state

    sim = Simulator(recipe)
    whole, parts = init_state(n_neurons, recipe, seed=4), init_state(n_neurons, recipe, seed=4)
    sim.train(whole, images, 0, 5, new_counts())
    sim.train(parts, images[:split], 0, 5, new_counts())
    sim.train(parts, images[split:], split, 5, new_counts())
    np.testing.assert_array_equal(whole.weights, parts.weights)
    np.testing.assert_array_equal(whole.theta, parts.theta)
    return whole
