"""The compiled engine against the readable reference and the torch engine."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dse.models import engine_numba as en
from dse.models.constants import FC_NORM_TOTAL, FC_THETA_LOG_DECAY, engine_constants
from dse.models.counts import COUNT_NAMES, counts_to_dict, new_counts
from dse.models.encoding import encode_dense
from dse.models.network import NetworkState, Simulator, init_state
from dse.models.recipes import DESIGNS, load_recipe
from dse.models.reference import reference_presentation


def _digit_like(n: int, seed: int) -> np.ndarray:
    """Blobby 28x28 images: bright strokes on black, like MNIST's statistics."""
    rng = np.random.default_rng(seed)
    imgs = np.zeros((n, 28, 28), dtype=np.float64)
    yy, xx = np.mgrid[0:28, 0:28]
    for k in range(n):
        for _ in range(3):
            cy, cx = rng.uniform(8, 20, size=2)
            imgs[k] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / rng.uniform(6, 20))
    return (255 * np.clip(imgs, 0, 1)).astype(np.uint8).reshape(n, 784)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return _digit_like(12, seed=3)


def _state(design: str, n: int, dtype, theta_spread: float = 3.0) -> NetworkState:
    st = init_state(n, load_recipe(design), seed=5, dtype=dtype)
    st.theta[:] = np.linspace(0, theta_spread, n).astype(dtype)
    return st


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("learn", [False, True])
def test_engine_matches_reference(design, learn, images):
    """Spike for spike and weight for weight, over several presentations with learning."""
    recipe = load_recipe(design, {"input.f_max_hz": "200"} if design == "fspinn" else None)
    consts = engine_constants(recipe, np.float64)
    st = _state(design, 12, np.float64)
    w_ref, th_ref = st.weights.copy(), st.theta.copy()
    total_spikes = 0
    for k in range(4):
        spikes = encode_dense(images[k:k + 1], 200.0, 1.0, 350, seed=11, first_index=k)[0]
        raster = en.present_given(st.weights, st.theta, spikes, learn, consts)
        raster_ref, w_ref, th_ref = reference_presentation(recipe, w_ref, th_ref, spikes, learn)
        np.testing.assert_array_equal(raster.astype(bool), raster_ref, err_msg=f"{design} image {k}")
        np.testing.assert_allclose(st.weights, w_ref, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(st.theta, th_ref, rtol=1e-12)
        total_spikes += int(raster.sum())
    assert total_spikes > 10, "test input too weak to exercise the network"


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_torch_engine_gives_same_spikes(design, dtype, images):
    torch = pytest.importorskip("torch")
    from dse.models.engine_torch import present_batch

    recipe = load_recipe(design)
    consts = engine_constants(recipe, dtype)
    st = _state(design, 50, dtype)
    spikes = encode_dense(images[:6], 128.0, 1.0, 350, seed=2)
    expected = np.stack([en.present_given(st.weights.copy(), st.theta.copy(), s, False, consts)
                         for s in spikes]).astype(bool)
    _, raster, _, _ = present_batch(torch.as_tensor(st.weights), torch.as_tensor(st.theta),
                                 torch.as_tensor(spikes), consts, record=True)
    assert expected.sum() > 20
    np.testing.assert_array_equal(raster.numpy(), expected)


@pytest.mark.parametrize("design", ["baseline", "sl-stdp"])
def test_two_step_layer_loop_still_matches_reference_and_torch(design, images):
    """Run folders trained before layer_loop_steps existed keep the two-step loop: all engines still agree."""
    torch = pytest.importorskip("torch")
    from dse.models.engine_torch import present_batch

    recipe = load_recipe(design, {"inhibition.layer_loop_steps": "2"})
    assert recipe.layer_loop_steps == 2 and load_recipe(design).layer_loop_steps == 1
    consts = engine_constants(recipe, np.float64)
    st = _state(design, 12, np.float64)
    w_ref, th_ref = st.weights.copy(), st.theta.copy()
    for k in range(3):
        spikes = encode_dense(images[k:k + 1], 200.0, 1.0, 350, seed=11, first_index=k)[0]
        before_w, before_th = st.weights.copy(), st.theta.copy()
        raster = en.present_given(st.weights, st.theta, spikes, True, consts)
        raster_ref, w_ref, th_ref = reference_presentation(recipe, w_ref, th_ref, spikes, True)
        np.testing.assert_array_equal(raster.astype(bool), raster_ref, err_msg=f"{design} image {k}")
        np.testing.assert_allclose(st.weights, w_ref, rtol=1e-9, atol=1e-12)
        _, raster_t, _, _ = present_batch(torch.as_tensor(before_w), torch.as_tensor(before_th),
                                          torch.as_tensor(spikes[None]), consts, record=True)
        frozen = en.present_given(before_w.copy(), before_th.copy(), spikes, False, consts)
        np.testing.assert_array_equal(raster_t.numpy()[0], frozen.astype(bool))


def test_layer_loop_length_changes_when_inhibition_arrives():
    """Neurons crossing threshold one after another under one bright input: with the one-step loop the
    first spikes inhibit the rest in the next step; with two steps, more neurons fire in that step."""
    recipe1, recipe2 = load_recipe("baseline"), load_recipe("baseline", {"inhibition.layer_loop_steps": "2"})
    st = init_state(20, recipe1, seed=1, dtype=np.float64)
    st.weights[:] = 0.01
    st.theta[:] = np.linspace(0.0, 4.0, 20)  # neuron 0 crosses first, the others close behind
    spikes = encode_dense(np.full((1, 784), 255, dtype=np.uint8), 128.0, 1.0, 350, seed=4)[0]
    r1 = en.present_given(st.weights.copy(), st.theta.copy(), spikes, False, engine_constants(recipe1, np.float64))
    r2 = en.present_given(st.weights.copy(), st.theta.copy(), spikes, False, engine_constants(recipe2, np.float64))
    first = int(np.argmax(r1.any(axis=1)))
    np.testing.assert_array_equal(r1[:first + 1], r2[:first + 1])  # identical up to the first volley
    assert r1[first + 1].sum() == 0 < r2[first + 1].sum()
    assert r1.sum() < r2.sum()


def test_layer_loop_steps_is_checked_and_defaults_to_two_for_older_recipes(tmp_path):
    from dse.models.recipes import RecipeError, recipe_path

    with pytest.raises(RecipeError, match="layer_loop_steps is 3: choose 1"):
        load_recipe("baseline", {"inhibition.layer_loop_steps": "3"})
    lateral = load_recipe("baseline", {"inhibition.scheme": "lateral", "inhibition.w_lat": "20"})
    assert engine_constants(lateral, np.float32).ic.tolist() == \
        engine_constants(load_recipe("baseline", {"inhibition.scheme": "lateral", "inhibition.w_lat": "20",
                                                  "inhibition.layer_loop_steps": "2"}), np.float32).ic.tolist()
    older = tmp_path / "older.toml"  # a recipe written before the key existed, as a run folder keeps it
    text = recipe_path("baseline").read_text()
    older.write_text("\n".join(line for line in text.splitlines() if not line.startswith("layer_loop_steps")))
    assert load_recipe(str(older)).layer_loop_steps == 2
    assert engine_constants(load_recipe(str(older)), np.float32).ic.tolist() != \
        engine_constants(load_recipe("baseline"), np.float32).ic.tolist()


def test_torch_inference_matches_compiled_counts(images):
    pytest.importorskip("torch")
    from dse.models.engine_torch import infer_torch

    recipe = load_recipe("baseline")
    sim = Simulator(recipe)
    st = _state("baseline", 40, np.float32, theta_spread=8.0)
    c_numba, c_torch = new_counts(), new_counts()
    a = sim.infer(st, images, 100, 9, c_numba)
    b = infer_torch(st.weights, st.theta, images, 100, 9, sim.consts, c_torch, device="cpu", batch=5)
    np.testing.assert_array_equal(a, b)
    cn, ct = counts_to_dict(c_numba), counts_to_dict(c_torch)
    for key in ("images", "presentations", "steps", "input_spikes", "exc_spikes", "inh_spikes",
                "neuron_updates", "synaptic_events"):
        assert cn[key] == ct[key], key


def test_poisson_rates_and_determinism():
    img = np.zeros((1, 784), dtype=np.uint8)
    img[0, :392] = 255
    img[0, 392:] = 64
    s = encode_dense(img, 100.0, 1.0, 2000, seed=1)[0]
    full, quarter = s[:, :392].mean(), s[:, 392:].mean()
    assert abs(full - 0.1) < 0.003          # 100 Hz x 1 ms
    assert abs(quarter - 0.1 * 64 / 255) < 0.002
    np.testing.assert_array_equal(s, encode_dense(img, 100.0, 1.0, 2000, seed=1)[0])
    assert (s != encode_dense(img, 100.0, 1.0, 2000, seed=2)[0]).any()
    black = encode_dense(np.zeros((1, 784), np.uint8), 100.0, 1.0, 50, seed=1)
    assert not black.any()


def test_streams_do_not_depend_on_batching(images):
    a = encode_dense(images[:4], 128.0, 1.0, 100, seed=4)
    b = np.concatenate([encode_dense(images[k:k + 1], 128.0, 1.0, 100, seed=4, first_index=k) for k in range(4)])
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("design", DESIGNS)
def test_training_normalises_and_is_reproducible(design, images):
    # a fixed tau_theta of 1e7 ms (Diehl & Cook), so theta's decay over a few images is ~1e-4
    recipe = load_recipe(design, {"excitatory.tau_theta_at_neurons": "0"})
    sim = Simulator(recipe)
    a, b = init_state(30, recipe, 1), init_state(30, recipe, 1)
    w0 = a.weights.copy()
    ca, cb = new_counts(), new_counts()
    sa = sim.train(a, images, 0, 7, ca)
    sim.train(b, images[:5], 0, 7, cb)          # same images in two chunks
    sim.train(b, images[5:], 5, 7, cb)
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(ca, cb)
    assert not np.array_equal(a.weights, w0)
    np.testing.assert_allclose(a.weights.sum(axis=0), recipe.get("weights", "norm_total"), rtol=1e-4)
    assert (a.weights >= 0).all()
    # theta grows by theta_plus per spike; its decay over a few images is ~1e-4
    expected_theta = recipe.get("excitatory", "theta_plus_mv") * counts_to_dict(ca)["exc_spikes"]
    assert sa.sum() > 0
    np.testing.assert_allclose(a.theta.sum(), expected_theta, rtol=1e-3)


def test_fspinn_updates_one_winner_per_active_window(images):
    recipe = load_recipe("fspinn")
    consts = engine_constants(recipe, np.float64)
    st = _state("fspinn", 20, np.float64, theta_spread=0.5)
    w0 = st.weights.copy()
    spikes = encode_dense(images[:1], 200.0, 1.0, 350, seed=3)[0]
    counts = new_counts()
    raster = en.present_given(st.weights, st.theta, spikes, True, consts, counts)
    window = recipe.get("plasticity", "window_steps")
    active_windows = sum(raster[t:t + window].any() for t in range(0, 350, window))
    c = counts_to_dict(counts)
    assert c["window_updates"] == active_windows > 0
    assert c["weight_updates"] == 784 * active_windows
    changed = np.flatnonzero(np.abs(st.weights - w0).max(axis=0) > 0)
    fired = np.flatnonzero(raster.sum(axis=0))
    assert set(changed) <= set(fired)          # only winners (who fired) learn
    assert len(changed) >= 1


def test_fspinn_several_winners_match_reference_and_update_the_top_neurons(images):
    """winners_per_window = 3 (ours): engine and reference agree; each active window updates up to
    three fired neurons, so more columns learn than with the paper's single winner (weak
    inhibition, so that several neurons fire in a window)."""
    changed_columns = {}
    for winners in (1, 3):
        recipe = load_recipe("fspinn", {"input.f_max_hz": "200", "inhibition.rho": "0.2",
                                        "inhibition.rho_ramp_images": "0",
                                        "plasticity.winners_per_window": str(winners)})
        consts = engine_constants(recipe, np.float64)
        st = _state("fspinn", 20, np.float64, theta_spread=0.2)
        w0 = st.weights.copy()
        w_ref, th_ref = st.weights.copy(), st.theta.copy()
        counts = new_counts()
        fired = np.zeros(20, dtype=bool)
        for k in range(3):
            spikes = encode_dense(images[k:k + 1], 200.0, 1.0, 350, seed=11, first_index=k)[0]
            raster = en.present_given(st.weights, st.theta, spikes, True, consts, counts)
            raster_ref, w_ref, th_ref = reference_presentation(recipe, w_ref, th_ref, spikes, True)
            np.testing.assert_array_equal(raster.astype(bool), raster_ref)
            np.testing.assert_allclose(st.weights, w_ref, rtol=1e-9, atol=1e-12)
            fired |= raster.sum(axis=0) > 0
        c = counts_to_dict(counts)
        assert c["window_updates"] > 0
        assert c["window_updates"] * 784 <= c["weight_updates"] <= winners * c["window_updates"] * 784
        changed = np.flatnonzero(np.abs(st.weights - w0).max(axis=0) > 0)
        assert set(changed) <= set(np.flatnonzero(fired))
        changed_columns[winners] = len(changed)
    assert changed_columns[3] > changed_columns[1] >= 1


def test_baseline_depresses_inputs_after_a_post_spike():
    recipe = load_recipe("baseline", {"plasticity.eta_post": "0", "weights.norm_total": "78.4"})
    consts = engine_constants(recipe, np.float64)
    st = init_state(1, recipe, 0, dtype=np.float64)
    st.theta[:] = 0
    spikes = np.zeros((350, 784), dtype=bool)
    spikes[0:40, :200] = True                   # drive the neuron to fire
    spikes[60, 700] = True                      # a lone input after the post spike
    before = st.weights[:, 0].copy()
    raster = en.present_given(st.weights, st.theta, spikes, True, consts)
    fired_at = np.flatnonzero(raster[:, 0])
    assert 0 < len(fired_at) and fired_at[-1] < 60
    # Input 700 (silent until t = 60) is depressed by eta_pre x_post w (mu = 1);
    # input 300 never fires. Normalisation scales both alike, so their ratio shows the rule.
    x_post = np.exp(-(60 - fired_at[-1]) / 20.0)
    ratio_after = st.weights[700, 0] / st.weights[300, 0]
    ratio_before = before[700] / before[300]
    np.testing.assert_allclose(ratio_after / ratio_before, 1 - 1e-4 * x_post, rtol=1e-9)


def test_counts_are_consistent(images):
    recipe = load_recipe("baseline")
    sim = Simulator(recipe)
    st = init_state(25, recipe, 2)
    counts = new_counts()
    spikes = sim.train(st, images[:3], 0, 1, counts)
    c = counts_to_dict(counts)
    assert set(c) == set(COUNT_NAMES)
    assert c["images"] == 3 and c["presentations"] >= 3
    assert c["steps"] == 350 * c["presentations"]
    assert c["neuron_updates"] == 2 * 25 * c["steps"]
    assert c["normalisations"] == 25 * c["presentations"]
    assert c["synaptic_events"] >= c["input_spikes"] * 25
    assert c["exc_spikes"] >= spikes.sum()
    assert c["trace_updates"] == c["steps"] * (784 + 25)


def test_invalid_network_size():
    with pytest.raises(ValueError, match="neurons"):
        init_state(0, load_recipe("fspinn"), 0)


def test_normalise_dirty_only_touches_changed_columns():
    w = np.random.default_rng(0).uniform(0, 1, (784, 4))
    dirty = np.array([1, 0, 1, 0], dtype=np.uint8)
    before = w.copy()
    en.normalise_dirty(w, dirty, 78.4, 0, 1.0, 0, np.zeros(1, np.uint64))
    np.testing.assert_allclose(w[:, [0, 2]].sum(axis=0), 78.4)
    np.testing.assert_array_equal(w[:, [1, 3]], before[:, [1, 3]])
    assert not dirty.any()
    assert engine_constants(load_recipe("fspinn")).fc[FC_NORM_TOTAL] == np.float32(78.4)


def test_theta_decay_scales_with_network_size():
    """tau_theta = tau_theta_ms x N / tau_theta_at_neurons (ours); 0 keeps Diehl & Cook's fixed tau.
    The engine gets -dt / tau (its exp is taken in float64)."""
    scaled = engine_constants(load_recipe("fspinn", {"excitatory.tau_theta_ms": "1e7",
                                                     "excitatory.tau_theta_at_neurons": "1000",
                                                     "excitatory.tau_theta_max_neurons": "0"}), np.float64)
    assert math.isnan(scaled.fc[FC_THETA_LOG_DECAY])           # unresolved until the size is known
    assert scaled.fc_for(100)[FC_THETA_LOG_DECAY] == -1.0 / 1e6
    assert scaled.fc_for(4900)[FC_THETA_LOG_DECAY] == -1.0 / 4.9e7
    fixed = engine_constants(load_recipe("fspinn", {"excitatory.tau_theta_at_neurons": "0"}), np.float64)
    assert fixed.fc_for(100)[FC_THETA_LOG_DECAY] == fixed.fc_for(4900)[FC_THETA_LOG_DECAY] == -1.0 / 1e7


def test_a_recipe_acting_at_a_size_leaves_out_a_cap_that_cannot_act_there():
    """The run identity (search cache, grid cell) of a network the cap leaves alone is the uncapped one."""
    capped, uncapped = load_recipe("baseline"), load_recipe("baseline", {"excitatory.tau_theta_max_neurons": "0"})
    assert capped.acting_at(900) == capped.acting_at(1000) == uncapped.acting_at(900)
    assert "tau_theta_max_neurons" not in uncapped.acting_at(4900)["excitatory"]
    assert capped.acting_at(1600)["excitatory"]["tau_theta_max_neurons"] == 1000
    assert capped.acting_at(1600) != uncapped.acting_at(1600)
    assert capped.to_dict()["excitatory"]["tau_theta_max_neurons"] == 1000  # the recipe itself keeps it


def test_a_recipe_acting_at_leaves_out_a_winner_count_that_changes_nothing():
    """One winner per window is the paper's rule: naming it does not make a new run identity; the layer
    designs never read the key."""
    def winners(design, k):
        return load_recipe(design, {"plasticity.winners_per_window": str(k)})

    assert winners("fspinn", 1).acting_at(400) == load_recipe("fspinn").acting_at(400)
    assert winners("fspinn", 3).acting_at(400)["plasticity"]["winners_per_window"] == 3
    assert winners("fspinn", 3).acting_at(400) != load_recipe("fspinn").acting_at(400)
    assert winners("baseline", 3).acting_at(400) == load_recipe("baseline").acting_at(400)


@pytest.mark.parametrize("design, cap", [("baseline", 1000), ("sl-stdp", 1000), ("fspinn", 1000)])
def test_designs_scale_theta_decay_up_to_their_cap(design, cap):
    """The default: tau_theta = 1e7 ms x N / 1000 up to the cap (Net1000 in every design, docs/model.md),
    then the cap's tau_theta."""
    consts = engine_constants(load_recipe(design), np.float64)
    assert consts.fc_for(400)[FC_THETA_LOG_DECAY] == -1.0 / 4e6
    assert consts.fc_for(900)[FC_THETA_LOG_DECAY] == -1.0 / 9e6
    assert consts.fc_for(1600)[FC_THETA_LOG_DECAY] == -1.0 / (1e7 * min(1600, cap) / 1000)
    tau_at_cap = 1e7 * cap / 1000
    assert consts.fc_for(cap)[FC_THETA_LOG_DECAY] == consts.fc_for(3600)[FC_THETA_LOG_DECAY] == -1.0 / tau_at_cap


@pytest.mark.parametrize("tau_ms, theta_mv", [(1e7, 30.0), (2e7, 20.0), (4.9e7, 20.0)])
def test_float32_theta_decays_at_its_tau(tau_ms, theta_mv):
    """With no input, learning takes theta to theta exp(-steps / tau) in float32 too: over one
    presentation, and over 20 (each starts from the float32 theta, so each rounds once: within
    half a unit of theta's last place, 0.7% of a presentation's drop at 4.9e7 ms and 20 mV).

    Before theta was kept in float64 while learning, the float32 drop over 350 steps was 1.27x the
    exact one at 1e7 ms and 30 mV, 1.9x at 2e7 ms and 20 mV, and zero at 4.9e7 ms (Net4900 with
    tau_theta growing with N): the per-step factor rounds to a multiple of 2^-24 below 1."""
    recipe = load_recipe("fspinn", {"excitatory.tau_theta_ms": str(tau_ms), "excitatory.tau_theta_at_neurons": "0"})
    consts = engine_constants(recipe, np.float32)
    st = _state("fspinn", 4, np.float32)
    st.theta[:] = theta_mv
    en.present_given(st.weights, st.theta, np.zeros((350, 784), dtype=np.uint8), True, consts)
    np.testing.assert_allclose(theta_mv - st.theta.astype(np.float64), theta_mv * -math.expm1(-350.0 / tau_ms),
                               rtol=0.01)

    steps, presentations = consts.n_steps, 20
    st.theta[:] = theta_mv
    scratch = en.make_scratch(4, 784, steps, consts.pre_table, True)
    no_input = np.zeros(steps + 1, dtype=np.int64), np.zeros(0, dtype=np.int32)
    for _ in range(presentations):
        en.present(st.weights, st.theta, *no_input, True, consts.fc_for(4), consts.ic, consts.pre_table,
                   consts.post_table, scratch, new_counts(), np.zeros(4, dtype=np.int64), False,
                   np.zeros((1, 1), dtype=np.uint8), en.NO_LABELS)
    expected = theta_mv * -math.expm1(-presentations * steps / tau_ms)
    np.testing.assert_allclose(theta_mv - st.theta.astype(np.float64), expected, rtol=0.01)


# 12 neurons, tau_theta_ms 2000: fixed 2000 ms; scaled 2000 x 12 / 3 = 8000 ms; scaled up to 6 neurons
# only, 2000 x 6 / 3 = 4000 ms (the layer designs' default caps the scaling; 700 steps of 1 ms below)
@pytest.mark.parametrize("at_neurons, max_neurons, tau", [("0", "0", 2000.0), ("3", "0", 8000.0),
                                                         ("3", "6", 4000.0), ("3", "12", 8000.0)])
def test_theta_decay_matches_reference_fixed_and_scaled(at_neurons, max_neurons, tau, images):
    """Each theta rule, learning on: compiled engine and reference agree, and decay at the stated tau."""
    recipe = load_recipe("baseline", {"excitatory.tau_theta_ms": "2000", "excitatory.tau_theta_at_neurons": at_neurons,
                                      "excitatory.tau_theta_max_neurons": max_neurons})
    consts = engine_constants(recipe, np.float64)
    st = _state("baseline", 12, np.float64)
    theta0 = st.theta.copy()
    w_ref, th_ref = st.weights.copy(), st.theta.copy()
    fired = np.zeros(12, dtype=bool)
    for k in range(2):
        spikes = encode_dense(images[k:k + 1], 200.0, 1.0, 350, seed=11, first_index=k)[0]
        raster = en.present_given(st.weights, st.theta, spikes, True, consts)
        raster_ref, w_ref, th_ref = reference_presentation(recipe, w_ref, th_ref, spikes, True)
        np.testing.assert_array_equal(raster.astype(bool), raster_ref)
        np.testing.assert_allclose(st.theta, th_ref, rtol=1e-12)
        fired |= raster.any(axis=0)
    quiet = np.flatnonzero(~fired & (theta0 > 0))
    assert len(quiet) > 0 and fired.any()
    np.testing.assert_allclose(st.theta[quiet], theta0[quiet] * np.exp(-700 / tau), rtol=1e-9)
