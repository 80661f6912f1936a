"""The annealed threshold step (excitatory.theta_plus_end_mv / theta_plus_anneal_images, ours)."""

from __future__ import annotations

import numpy as np
import pytest

from dse.models.counts import new_counts
from dse.models.encoding import encode_dense
from dse.models.network import Simulator, init_state
from dse.models.neurons import ramp_at
from dse.models.recipes import DESIGNS, RecipeError, load_recipe
from dse.models.reference import reference_presentation
from tests.sparse_images import assert_resumed_run_matches, sparse_images

# theta_plus from 0.4 mV at image 0 to 0.1 mV at image 4; one presentation per image and a
# decay that rounds to exactly 1 in float32, so theta is the plain sum of the steps.
ANNEAL = {"excitatory.theta_plus_mv": "0.4", "excitatory.theta_plus_end_mv": "0.1",
          "excitatory.theta_plus_anneal_from_images": "0", "excitatory.theta_plus_anneal_images": "4",
          "excitatory.tau_theta_at_neurons": "0",
          "excitatory.tau_theta_ms": "1e9", "input.min_spikes": "0", "input.max_representations": "0"}


def test_schedule_is_linear_then_flat():
    assert ramp_at(0.4, 0.1, 0, 4, 0) == pytest.approx(0.4)
    assert ramp_at(0.4, 0.1, 0, 4, 1) == pytest.approx(0.325)
    assert ramp_at(0.4, 0.1, 0, 4, 2) == pytest.approx(0.25)
    assert ramp_at(0.4, 0.1, 0, 4, 4) == pytest.approx(0.1)
    assert ramp_at(0.4, 0.1, 0, 4, 60_000) == pytest.approx(0.1)
    assert ramp_at(0.4, 0.1, 0, 0, 60_000) == pytest.approx(0.4)  # off: Diehl & Cook's fixed step
    # held at the start until image 10,000, then linear to image 60,000
    assert ramp_at(0.1, 0.05, 10_000, 60_000, 9_999) == pytest.approx(0.1)
    assert ramp_at(0.1, 0.05, 10_000, 60_000, 10_000) == pytest.approx(0.1)
    assert ramp_at(0.1, 0.05, 10_000, 60_000, 35_000) == pytest.approx(0.075)
    assert ramp_at(0.1, 0.05, 10_000, 60_000, 60_000) == pytest.approx(0.05)


@pytest.mark.parametrize("design", DESIGNS)
def test_each_image_adds_its_own_step_per_spike(design):
    recipe = load_recipe(design, ANNEAL)
    sim = Simulator(recipe)
    state = init_state(12, recipe, seed=2)
    images = sparse_images(7, seed=1)
    spikes = sim.train(state, images, 0, 5, new_counts())
    assert spikes[:4].sum() > 0 and spikes[4:].sum() > 0
    steps = np.array([0.4, 0.325, 0.25, 0.175, 0.1, 0.1, 0.1])
    np.testing.assert_allclose(state.theta, steps @ spikes, rtol=1e-5)
    # the fixed 0.4 mV step would have given more
    assert state.theta.sum() < 0.4 * spikes.sum() - 0.05


def test_annealing_waits_for_its_first_image():
    recipe = load_recipe("fspinn", {**ANNEAL, "excitatory.theta_plus_anneal_from_images": "2",
                                    "excitatory.theta_plus_anneal_images": "6"})
    state = init_state(12, recipe, seed=2)
    spikes = Simulator(recipe).train(state, sparse_images(7, seed=1), 0, 5, new_counts())
    steps = np.array([0.4, 0.4, 0.4, 0.325, 0.25, 0.175, 0.1])
    np.testing.assert_allclose(state.theta, steps @ spikes, rtol=1e-5)


def test_a_resumed_run_gets_the_same_steps():
    assert_resumed_run_matches(load_recipe("fspinn", ANNEAL), sparse_images(7, seed=3), split=3)


def test_reference_uses_the_step_of_its_image():
    recipe = load_recipe("baseline", ANNEAL)
    state = init_state(10, recipe, seed=6, dtype=np.float64)
    spikes = encode_dense(sparse_images(1, seed=7), 200.0, 1.0, 350, seed=3)[0]
    for index, step in ((0, 0.4), (2, 0.25), (9, 0.1)):
        raster, _, theta = reference_presentation(recipe, state.weights, state.theta, spikes, True,
                                                  image_index=index)
        assert raster.sum() > 0
        np.testing.assert_allclose(theta, step * raster.sum(axis=0), rtol=1e-5)  # decay: 1 - 1e-9 a step


def test_recipe_checks_and_identity():
    with pytest.raises(RecipeError, match="theta_plus_end_mv"):
        load_recipe("baseline", {"excitatory.theta_plus_anneal_images": "1000"})
    with pytest.raises(RecipeError, match="theta_plus_anneal_images"):
        load_recipe("baseline", {"excitatory.theta_plus_anneal_images": "-1", "excitatory.theta_plus_end_mv": "0.05"})
    with pytest.raises(RecipeError, match="must be below"):
        load_recipe("baseline", {"excitatory.theta_plus_anneal_images": "100", "excitatory.theta_plus_end_mv": "0.05",
                                 "excitatory.theta_plus_anneal_from_images": "100"})
    # switched off, the end step changes nothing: not part of what the network computes
    off = load_recipe("baseline", {"excitatory.theta_plus_end_mv": "0.05",
                                   "excitatory.theta_plus_anneal_images": "0"})
    assert off.acting_at(400) == load_recipe("baseline").acting_at(400)
    on = load_recipe("fspinn").acting_at(400)["excitatory"]  # fspinn's default anneals
    assert (on["theta_plus_anneal_from_images"], on["theta_plus_anneal_images"]) == (10_000, 60_000)
    assert on["theta_plus_mv"] > on["theta_plus_end_mv"]
