"""fspinn's ramped lateral inhibition (inhibition.rho_start -> rho over rho_ramp_images, ours)."""

from __future__ import annotations

import numpy as np
import pytest

from dse.models import engine_numba as en
from dse.models.constants import FC_W_INH, FC_W_INH_START, IC_RHO_RAMP_IMAGES, engine_constants
from dse.models.counts import new_counts
from dse.models.encoding import encode_dense
from dse.models.network import Simulator, init_state
from dse.models.recipes import RecipeError, load_recipe
from dse.models.reference import reference_presentation
from tests.sparse_images import assert_resumed_run_matches, sparse_images

# w_lat from 2 x 10.4 = 20.8 at image 0 to 5 x 10.4 = 52.0 at image 4 (7.8 more per image)
RAMP = {"inhibition.rho_start": "2", "inhibition.rho": "5", "inhibition.rho_ramp_images": "4",
        "input.min_spikes": "0", "input.max_representations": "0"}


def _fixed(rho: str) -> dict[str, str]:
    return {**RAMP, "inhibition.rho": rho, "inhibition.rho_ramp_images": "0"}  # rho_start then acts nowhere


def test_the_default_ramps_from_twice_to_four_times_the_excitatory_strength():
    recipe = load_recipe("fspinn")
    assert (recipe.lateral_strength_start, recipe.lateral_strength) == pytest.approx((20.8, 41.6))
    consts = engine_constants(recipe, np.float64)
    assert (consts.fc[FC_W_INH_START], consts.fc[FC_W_INH]) == pytest.approx((20.8, 41.6))
    assert consts.ic[IC_RHO_RAMP_IMAGES] == 1000


@pytest.mark.parametrize("index, w_lat", [(0, 20.8), (1, 28.6), (2, 36.4), (3, 44.2), (4, 52.0), (9, 52.0)])
def test_each_training_image_gets_its_own_strength(index, w_lat):
    consts = engine_constants(load_recipe("fspinn", RAMP), np.float64)
    fc_image = consts.fc.copy()
    en.schedule_image(fc_image, consts.fc, consts.ic, index)
    assert fc_image[FC_W_INH] == pytest.approx(w_lat)


@pytest.mark.parametrize("index", [0, 2, 4])
def test_engine_and_reference_train_with_the_strength_of_the_image(index):
    """Spike for spike and weight for weight at three points of the ramp, and the engine's image at
    index i equals a fixed-strength network at that strength (so the ramp is what acts)."""
    recipe = load_recipe("fspinn", RAMP)
    consts = engine_constants(recipe, np.float64)
    st = init_state(20, recipe, seed=3, dtype=np.float64)
    spikes = encode_dense(sparse_images(1, seed=5), 200.0, 1.0, 350, seed=4)[0]
    w_ref, th_ref = st.weights.copy(), st.theta.copy()
    raster = en.present_given(st.weights, st.theta, spikes, True, consts, image_index=index)
    raster_ref, w_ref, th_ref = reference_presentation(recipe, w_ref, th_ref, spikes, True, image_index=index)
    assert raster.sum() > 0
    np.testing.assert_array_equal(raster.astype(bool), raster_ref)
    np.testing.assert_allclose(st.weights, w_ref, rtol=1e-9, atol=1e-12)
    fixed = load_recipe("fspinn", _fixed(str(2 + 0.75 * index)))
    st2 = init_state(20, fixed, seed=3, dtype=np.float64)
    raster_fixed = en.present_given(st2.weights, st2.theta, spikes, True, engine_constants(fixed, np.float64))
    np.testing.assert_array_equal(raster, raster_fixed)


def test_stronger_inhibition_leaves_fewer_coincident_spikes():
    """The same image at the ramp's start and end: with 2.5x the inhibition fewer neurons fire."""
    recipe = load_recipe("fspinn", RAMP)
    consts = engine_constants(recipe, np.float64)
    spikes = encode_dense(sparse_images(1, seed=5), 200.0, 1.0, 350, seed=4)[0]
    firing = []
    for index in (0, 4):
        st = init_state(40, recipe, seed=3, dtype=np.float64)
        firing.append(int((en.present_given(st.weights, st.theta, spikes, True, consts,
                                            image_index=index).sum(axis=0) > 0).sum()))
    assert firing[1] < firing[0]


def test_training_ramps_and_a_resumed_run_matches():
    recipe = load_recipe("fspinn", RAMP)
    images = sparse_images(7, seed=3)
    whole = assert_resumed_run_matches(recipe, images, split=3)
    # a fixed 2x (the ramp's start) trains a different network
    fixed = init_state(12, recipe, seed=4)
    Simulator(load_recipe("fspinn", _fixed("2"))).train(fixed, images, 0, 5, new_counts())
    assert not np.array_equal(whole.weights, fixed.weights)


def test_inference_uses_the_end_strength():
    recipe = load_recipe("fspinn", RAMP)
    state = init_state(30, recipe, seed=1)
    images = sparse_images(4, seed=8)
    counts = Simulator(recipe).infer(state, images, 0, 3, new_counts())
    at_end = Simulator(load_recipe("fspinn", _fixed("5"))).infer(state, images, 0, 3, new_counts())
    at_start = Simulator(load_recipe("fspinn", _fixed("2"))).infer(state, images, 0, 3, new_counts())
    np.testing.assert_array_equal(counts, at_end)
    assert counts.sum() < at_start.sum()


def test_recipe_checks_and_identity():
    with pytest.raises(RecipeError, match="rho_ramp_images needs"):
        load_recipe("fspinn", {"inhibition.w_lat": "20"})
    with pytest.raises(RecipeError, match="scheme 'lateral' only"):
        load_recipe("baseline", {"inhibition.rho_ramp_images": "100"})
    with pytest.raises(RecipeError, match="rho_ramp_images"):
        load_recipe("fspinn", {"inhibition.rho_ramp_images": "-1"})
    # switched off, rho_start changes nothing: not part of what the network computes
    off = load_recipe("fspinn", {"inhibition.rho_ramp_images": "0"})
    assert "rho_start" not in off.acting_at(400)["inhibition"]
    assert off.lateral_strength == off.lateral_strength_start == pytest.approx(41.6)
    assert load_recipe("fspinn", {"inhibition.rho_ramp_images": "0", "inhibition.rho_start": "9"}).acting_at(400) \
        == off.acting_at(400)
    assert load_recipe("fspinn").acting_at(400)["inhibition"]["rho_start"] == 2.0


def test_above_its_size_cap_the_ramp_is_the_fixed_start_strength():
    """inhibition.rho_ramp_max_neurons (ours; fspinn: 1000): a larger network trains and infers at rho_start,
    exactly as a recipe with that fixed strength (and is the same grid cell / cache key); at or below the cap
    the ramp acts."""
    capped = load_recipe("fspinn", {**RAMP, "inhibition.rho_ramp_max_neurons": "10"})
    fixed = load_recipe("fspinn", _fixed("2"))
    images = sparse_images(6, seed=3)
    for n, same in ((12, True), (10, False)):
        a, b = init_state(n, capped, seed=4), init_state(n, fixed, seed=4)
        Simulator(capped).train(a, images, 0, 5, new_counts())
        Simulator(fixed).train(b, images, 0, 5, new_counts())
        assert np.array_equal(a.weights, b.weights) == same
        assert (capped.acting_at(n) == fixed.acting_at(n)) == same
        untrained = init_state(n, fixed, seed=1)  # many neurons answer, so the inhibition shows
        counts_capped = Simulator(capped).infer(untrained, sparse_images(4, seed=8), 0, 3, new_counts())
        counts_fixed = Simulator(fixed).infer(untrained, sparse_images(4, seed=8), 0, 3, new_counts())
        assert np.array_equal(counts_capped, counts_fixed) == same
    assert capped.lateral_strength_at(12) == pytest.approx(20.8) and capped.lateral_strength_at(10) == pytest.approx(52.0)
    assert "rho_ramp_max_neurons" not in capped.acting_at(10)["inhibition"]  # a cap above N changes nothing
    # the reference follows: above the cap, learning at image 4 uses the start strength
    spikes = encode_dense(sparse_images(1, seed=5), 200.0, 1.0, 350, seed=4)[0]
    st = init_state(12, capped, seed=3, dtype=np.float64)
    _, w_capped, _ = reference_presentation(capped, st.weights, st.theta, spikes, True, image_index=4)
    _, w_fixed, _ = reference_presentation(fixed, st.weights, st.theta, spikes, True, image_index=4)
    np.testing.assert_array_equal(w_capped, w_fixed)


def test_fspinn_ramps_up_to_net1000_and_keeps_2x_above():
    recipe = load_recipe("fspinn")
    assert recipe.ramps_at(1000) and not recipe.ramps_at(1001)
    assert recipe.lateral_strength_at(400) == pytest.approx(41.6)
    assert recipe.lateral_strength_at(4900) == pytest.approx(20.8)
    consts = engine_constants(recipe, np.float32)
    assert consts.fc_for(400)[FC_W_INH] == np.float32(41.6) and consts.fc_for(4900)[FC_W_INH] == np.float32(20.8)
