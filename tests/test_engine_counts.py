"""The engine-actual counts (models/counts.py): what the compiled engine renormalises and depresses."""

from __future__ import annotations

import numpy as np
import pytest

from dse.models import engine_numba as en
from dse.models.constants import engine_constants
from dse.models.counts import COUNT_NAMES, ENGINE_ACTUAL, counts_to_dict, new_counts
from dse.models.encoding import encode_dense
from dse.models.network import Simulator, init_state
from dse.models.recipes import DESIGNS, load_recipe


def _one_winner_state(design: str, n: int):
    """Neuron 0 can fire; the others sit behind a threshold no input reaches."""
    st = init_state(n, load_recipe(design), 0, dtype=np.float64)
    st.theta[:] = 1e6
    st.theta[0] = 0
    return st


def _hand_made_spikes() -> np.ndarray:
    spikes = np.zeros((350, 784), dtype=bool)
    spikes[0:40, :200] = True      # drive neuron 0 to fire
    spikes[60, 700] = True         # lone inputs after its spikes: each depresses one weight
    spikes[61, [300, 301]] = True
    return spikes


def test_baseline_counts_one_column_and_its_depressions():
    recipe = load_recipe("baseline")
    consts = engine_constants(recipe, np.float64)
    st = _one_winner_state("baseline", 3)
    spikes = _hand_made_spikes()
    counts = new_counts()
    raster = en.present_given(st.weights, st.theta, spikes, True, consts, counts)
    fired_at = np.flatnonzero(raster[:, 0])
    assert len(fired_at) > 0 and fired_at[-1] < 60 and not raster[:, 1:].any()
    first = fired_at[0]
    c = counts_to_dict(counts)
    # one column changed (neuron 0's), out of the 3 the rule as specified normalises
    assert c["columns_normalised"] == 1 and c["normalisations"] == 3
    # every input spike after neuron 0's first spike depresses its one weight; none before
    assert c["depressions"] == int(spikes[first + 1:].sum()) == int(spikes[first + 1:40].sum()) + 3
    # the rule as specified depresses all 3 neurons' weights on every input spike
    assert c["weight_updates"] == 3 * int(spikes.sum()) + 784 * len(fired_at)


@pytest.mark.parametrize("design", DESIGNS)
def test_columns_normalised_are_the_columns_that_changed(design):
    recipe = load_recipe(design, {"input.f_max_hz": "200"} if design == "fspinn" else None)
    consts = engine_constants(recipe, np.float64)
    st = init_state(16, recipe, 5, dtype=np.float64)
    st.theta[:] = np.linspace(0, 3, 16)
    w0 = st.weights.copy()
    images = np.zeros((1, 784), dtype=np.uint8)
    images[0, 250:550] = 255
    spikes = encode_dense(images, 200.0, 1.0, 350, seed=4)[0]
    counts = new_counts()
    raster = en.present_given(st.weights, st.theta, spikes, True, consts, counts)
    c = counts_to_dict(counts)
    changed = int((st.weights != w0).any(axis=0).sum())
    assert c["columns_normalised"] == changed > 0
    assert c["normalisations"] == 16
    if design == "baseline":
        # input spikes at step t depress the neurons whose first spike came before t
        first_spike = np.where(raster.any(axis=0), raster.argmax(axis=0), len(raster))
        fired_before = (first_spike[None, :] < np.arange(len(raster))[:, None]).sum(axis=1)
        assert c["depressions"] == int((spikes[:len(raster)].sum(axis=1) * fired_before).sum()) > 0
        assert changed == int(raster.any(axis=0).sum())  # pair-wise: exactly the neurons that fired
    else:
        assert c["depressions"] == 0


@pytest.mark.parametrize("design", DESIGNS)
def test_engine_actual_counts_over_training_and_inference(design):
    recipe = load_recipe(design)
    sim = Simulator(recipe)
    st = init_state(20, recipe, 2)
    images = np.zeros((4, 784), dtype=np.uint8)
    images[:, 200:600] = np.random.default_rng(1).integers(0, 256, (4, 400), dtype=np.uint8)
    train, infer = new_counts(), new_counts()
    sim.train(st, images, 0, 1, train)
    sim.infer(st, images, 0, 1, infer)
    t, i = counts_to_dict(train), counts_to_dict(infer)
    assert set(ENGINE_ACTUAL) <= set(COUNT_NAMES)
    assert 0 < t["columns_normalised"] <= t["normalisations"] == 20 * t["presentations"]
    if design == "baseline":
        assert 0 < t["depressions"] < 20 * t["input_spikes"]
    else:
        assert t["depressions"] == 0
    assert i["columns_normalised"] == i["depressions"] == 0
