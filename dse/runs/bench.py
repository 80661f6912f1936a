"""Throughput measurement of one design on this machine (compile excluded)."""

from __future__ import annotations

import time
from typing import Any

import numba
import numpy as np

from dse.errors import Param, ParameterError
from dse.runs import folder
from dse.models.counts import counts_to_dict, new_counts
from dse.models.network import MAX_NEURONS, Simulator, init_state
from dse.models.recipes import load_recipe


def run_bench(design: str, neurons: int, images: int, *, dataset: str = "mnist",
              data_dir: str | None = None, engine: str = "numba", seed: int = 0,
              overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """Train on `images` images, then infer on as many; report images/s for both.

    The network starts untrained, so early images evoke the most
    re-presentations: the figures are conservative for training.
    """
    from dse.data.locate import load_dataset
    from dse.runs.inference import TEST_STREAM, run_inference

    if images <= 0 or not 0 < neurons <= MAX_NEURONS:
        raise ParameterError(Param("images"), " must be > 0, and ", Param("neurons"), f" > 0 and at most {MAX_NEURONS}")
    ds = load_dataset(dataset, data_dir)
    pool = ds.train_images
    idx = np.arange(images) % len(pool)
    x = np.ascontiguousarray(pool[idx])
    recipe = load_recipe(design, overrides)
    sim = Simulator(recipe)
    state = init_state(neurons, recipe, seed)
    warm = init_state(neurons, recipe, seed)
    sim.train(warm, x[:2], 0, seed, new_counts())
    run_inference(sim, warm, x[:2], 0, seed, new_counts(), engine)

    train_counts = new_counts()
    t = time.perf_counter()
    sim.train(state, x, 0, seed, train_counts)
    train_s = time.perf_counter() - t
    infer_counts = new_counts()
    t = time.perf_counter()
    run_inference(sim, state, x, TEST_STREAM, seed, infer_counts, engine)
    infer_s = time.perf_counter() - t
    tc, ic = counts_to_dict(train_counts), counts_to_dict(infer_counts)
    return {
        "design": design, "neurons": neurons, "images": images, "dataset": dataset,
        "data_source": ds.source, "infer_engine": engine,
        "train_images_per_s": images / train_s, "infer_images_per_s": images / infer_s,
        "train_s": train_s, "infer_s": infer_s,
        "train_presentations_per_image": tc["presentations"] / images,
        "infer_presentations_per_image": ic["presentations"] / images,
        "counts": {"training": tc, "inference": ic},
        "machine": folder.cpu_model(), "threads": numba.get_num_threads(),
        "versions": folder.versions(), "measured": "wall-clock on this machine",
    }
