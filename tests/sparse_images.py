"""Random sparse test images shared by the threshold-step tests: 150 bright pixels of 784 each."""

from __future__ import annotations

import numpy as np


def sparse_images(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((n, 784), dtype=np.uint8)
    for k in range(n):
        img[k, rng.choice(784, 150, replace=False)] = rng.integers(120, 256, 150)
    return img
