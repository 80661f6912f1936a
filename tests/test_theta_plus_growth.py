"""The threshold step that grows with N (excitatory.theta_plus_from_neurons / theta_plus_exponent, ours)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dse.models.constants import FC_THETA_PLUS, FC_THETA_PLUS_END, engine_constants, theta_plus_scale
from dse.models.counts import new_counts
from dse.models.encoding import encode_dense
from dse.models.network import Simulator, init_state
from dse.models.recipes import DESIGNS, RecipeError, load_recipe
from dse.models.reference import reference_presentation
from tests.sparse_images import sparse_images

# A fixed 0.3 mV step and a decay that rounds to exactly 1 in float32, so theta is the plain sum of
# the steps; the step grows from 4 neurons on: x sqrt(16 / 4) = 2 at 16 neurons.
GROW = {"excitatory.theta_plus_mv": "0.3", "excitatory.theta_plus_anneal_images": "0",
        "excitatory.tau_theta_at_neurons": "0", "excitatory.tau_theta_ms": "1e9",
        "excitatory.theta_plus_from_neurons": "4", "excitatory.theta_plus_exponent": "0.5",
        "input.min_spikes": "0", "input.max_representations": "0"}


def test_scale_is_one_up_to_its_size_then_a_power_of_n():
    assert theta_plus_scale(400, 1000, 0.5) == 1.0
    assert theta_plus_scale(1000, 1000, 0.5) == 1.0
    assert theta_plus_scale(4000, 1000, 0.5) == pytest.approx(2.0)
    assert theta_plus_scale(4900, 1000, 0.5) == pytest.approx(math.sqrt(4.9))
    assert theta_plus_scale(3000, 1000, 1.0) == pytest.approx(3.0)
    assert theta_plus_scale(4900, 0, 0.5) == 1.0  # 0: never grows


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("n_neurons, factor", [(4, 1.0), (16, 2.0)])
def test_every_spike_adds_the_grown_step(design, n_neurons, factor):
    recipe = load_recipe(design, GROW)
    state = init_state(n_neurons, recipe, seed=2)
    spikes = Simulator(recipe).train(state, sparse_images(5, seed=1), 0, 5, new_counts())
    assert spikes.sum() > 0
    np.testing.assert_allclose(state.theta, 0.3 * factor * spikes.sum(axis=0), rtol=1e-5)


def test_the_annealed_end_step_grows_too():
    recipe = load_recipe("fspinn", {**GROW, "excitatory.theta_plus_end_mv": "0.1",
                                    "excitatory.theta_plus_anneal_from_images": "0",
                                    "excitatory.theta_plus_anneal_images": "2"})
    state = init_state(16, recipe, seed=2)
    spikes = Simulator(recipe).train(state, sparse_images(4, seed=1), 0, 5, new_counts())
    assert spikes[2:].sum() > 0
    steps = 2.0 * np.array([0.3, 0.2, 0.1, 0.1])
    np.testing.assert_allclose(state.theta, steps @ spikes, rtol=1e-5)


def test_reference_grows_the_step_by_its_own_size():
    recipe = load_recipe("baseline", GROW)
    for n_neurons, factor in ((4, 1.0), (16, 2.0)):
        state = init_state(n_neurons, recipe, seed=6, dtype=np.float64)
        spikes = encode_dense(sparse_images(1, seed=7), 200.0, 1.0, 350, seed=3)[0]
        raster, _, theta = reference_presentation(recipe, state.weights, state.theta, spikes, True)
        assert raster.sum() > 0
        np.testing.assert_allclose(theta, 0.3 * factor * raster.sum(axis=0), rtol=1e-5)


def test_fspinn_default_grows_above_net1000_only():
    recipe = load_recipe("fspinn")
    consts = engine_constants(recipe)
    for n in (100, 400, 1000):
        assert consts.fc_for(n)[FC_THETA_PLUS] == np.float32(0.1)
        assert "theta_plus_from_neurons" not in recipe.acting_at(n)["excitatory"]  # the grid's cells keep their keys
    fc = consts.fc_for(4900)
    assert fc[FC_THETA_PLUS] == np.float32(0.1 * math.sqrt(4.9))
    assert fc[FC_THETA_PLUS_END] == np.float32(0.03 * math.sqrt(4.9))
    acting = recipe.acting_at(1600)["excitatory"]
    assert (acting["theta_plus_from_neurons"], acting["theta_plus_exponent"]) == (1000, 0.5)


def test_recipe_checks():
    with pytest.raises(RecipeError, match="theta_plus_exponent"):
        load_recipe("baseline", {"excitatory.theta_plus_from_neurons": "1000"})
    with pytest.raises(RecipeError, match="at most 2"):
        load_recipe("baseline", {"excitatory.theta_plus_from_neurons": "1000", "excitatory.theta_plus_exponent": "3"})
    with pytest.raises(RecipeError, match="theta_plus_exponent"):
        load_recipe("baseline", {"excitatory.theta_plus_from_neurons": "1000", "excitatory.theta_plus_exponent": "0"})
    # switched off, the exponent changes nothing: not part of what the network computes
    off = load_recipe("fspinn", {"excitatory.theta_plus_from_neurons": "0"})
    grown = load_recipe("fspinn").acting_at(4900)
    assert grown["excitatory"].pop("theta_plus_from_neurons") == 1000
    assert grown["excitatory"].pop("theta_plus_exponent") == 0.5
    assert off.acting_at(4900) == grown
