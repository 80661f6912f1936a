"""Poisson rate coding of images into input spike trains.

Pixel p in [0, 255] fires at p / 255 x f_max; each step of dt is an
independent Bernoulli(rate x dt) draw. Instead of 784 x 350 draws per image
we sample the gaps between spikes (geometric), which costs one draw per spike.

Randomness is counter-based: the stream of one presentation is a pure function
of (seed, image index, presentation number), so results do not depend on
chunking, threading or the order in which images are simulated.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True, inline="always")
def splitmix64_next(state):
    """One step of SplitMix64: returns (new_state, 64 random bits)."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return state, z ^ (z >> _S31)


@njit(cache=True, inline="always")
def uniform_open0(state):
    """A double in (0, 1]: safe for log()."""
    state, bits = splitmix64_next(state)
    return state, ((bits >> _S11) + np.uint64(1)) * _INV53


@njit(cache=True)
def counter_uniform(key, counter):
    """Draw number `counter` of the stream `key`, in [0, 1): random access, no state to carry.

    The same value as the counter-th (from 0) call of uniform_open0 from key, mapped to 1 - u.
    """
    _, bits = splitmix64_next(key + np.uint64(counter) * _GOLDEN)
    return 1.0 - ((bits >> _S11) + np.uint64(1)) * _INV53


@njit(cache=True)
def stream_seed(seed, image_index, presentation):
    """Independent stream for one presentation of one image."""
    s = np.uint64(seed) * _MIX1 + np.uint64(image_index) * _MIX2 + np.uint64(presentation) * _GOLDEN
    s, out = splitmix64_next(s)
    s, out2 = splitmix64_next(out ^ np.uint64(0xD1B54A32D192ED03))
    return out2


@njit(cache=True)
def poisson_csr(image, rate_scale_per_step, n_steps, seed_state, ptr, idx, times_buf):
    """Encode one image as a step-major CSR spike list.

    image: uint8 (784,); rate_scale_per_step: Bernoulli probability for a
    pixel of 255 (f_max x dt). Writes ptr (n_steps + 1,) and idx (spike input
    indices, ascending within a step); returns the number of spikes.
    times_buf is scratch of at least 784 x n_steps int32 entries (pairs are
    stored as t * n_inputs + i so a single counting sort orders them).
    """
    n_inputs = image.shape[0]
    state = seed_state
    count = 0
    for i in range(n_inputs):
        p = image[i] * (rate_scale_per_step / 255.0)
        if p <= 0.0:
            continue
        if p >= 1.0:
            for t in range(n_steps):
                times_buf[count] = t * n_inputs + i
                count += 1
            continue
        log_q = np.log1p(-p)
        t = -1
        while True:
            state, u = uniform_open0(state)
            # Gap to the next success of a Bernoulli(p) process: 1 + Geometric.
            t += 1 + int(np.floor(np.log(u) / log_q))
            if t >= n_steps:
                break
            times_buf[count] = t * n_inputs + i
            count += 1
    for t in range(n_steps + 1):
        ptr[t] = 0
    for k in range(count):
        ptr[times_buf[k] // n_inputs + 1] += 1
    for t in range(n_steps):
        ptr[t + 1] += ptr[t]
    # Counting sort by step; inputs were visited in ascending order, so the
    # sort being stable keeps each step's inputs ascending.
    fill = ptr[:n_steps].copy()
    for k in range(count):
        code = times_buf[k]
        t = code // n_inputs
        idx[fill[t]] = code - t * n_inputs
        fill[t] += 1
    return count


def encode_dense(images: np.ndarray, f_max_hz: float, dt_ms: float, n_steps: int, seed: int,
                 presentation: int = 0, first_index: int = 0) -> np.ndarray:
    """Dense bool spikes (n_images, n_steps, 784) with the engine's exact streams.

    Used to feed the same input to both engines in tests and by the torch
    engine when the caller wants identical spikes to the compiled engine.
    """
    images = np.ascontiguousarray(images, dtype=np.uint8)
    n, n_inputs = images.shape
    out = np.zeros((n, n_steps, n_inputs), dtype=bool)
    ptr = np.empty(n_steps + 1, dtype=np.int64)
    idx = np.empty(n_inputs * n_steps, dtype=np.int32)
    buf = np.empty(n_inputs * n_steps, dtype=np.int64)
    p = f_max_hz * dt_ms / 1000.0
    for k in range(n):
        s = np.uint64(stream_seed(seed, first_index + k, presentation))
        poisson_csr(images[k], p, n_steps, s, ptr, idx, buf)
        for t in range(n_steps):
            out[k, t, idx[ptr[t]:ptr[t + 1]]] = True
    return out
