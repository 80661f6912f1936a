"""Early exit: the three implementations stop at the same step; off, nothing changes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dse.models import engine_numba as en
from dse.models.constants import IC_EXIT_MARGIN, IC_EXIT_MIN_STEPS, engine_constants
from dse.models.counts import C_NEURON_UPDATES, C_STEPS, counts_to_dict, new_counts
from dse.models.early_exit import OFF, ExitError, ExitRule, decided, parse_exit
from dse.models.encoding import encode_dense
from dse.models.network import Simulator, init_state
from dse.models.recipes import DESIGNS, load_recipe
from dse.models.reference import reference_presentation
from tests.test_engine import _digit_like, _state


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return _digit_like(10, seed=8)


def _labels(n: int) -> np.ndarray:
    labels = np.arange(n) % 10
    labels[::7] = -1  # some neurons unassigned: they never vote
    return labels.astype(np.int32)


def _with_exit(consts, margin: int, min_steps: int):
    ic = consts.ic.copy()
    ic[IC_EXIT_MARGIN], ic[IC_EXIT_MIN_STEPS] = margin, min_steps
    return replace(consts, ic=ic)


@pytest.mark.parametrize("design", DESIGNS)
def test_the_three_implementations_stop_at_the_same_step(design, images):
    torch = pytest.importorskip("torch")
    from dse.models.engine_torch import present_batch

    recipe = load_recipe(design)
    consts = _with_exit(engine_constants(recipe, np.float64), margin=2, min_steps=30)
    st = _state(design, 40, np.float64, theta_spread=1.0)
    labels = _labels(40)
    spikes = encode_dense(images, 200.0, 1.0, 350, seed=4)
    stops = []
    for k, s in enumerate(spikes):
        raster = en.present_given(st.weights.copy(), st.theta.copy(), s, False, consts, labels=labels)
        ref, _, _ = reference_presentation(recipe, st.weights, st.theta, s, False, labels=labels, exit_margin=2,
                                           exit_min_steps=30)
        np.testing.assert_array_equal(raster.astype(bool), ref, err_msg=f"{design} image {k}")
        stops.append(len(raster))
    _, batch_raster, _, ran = present_batch(torch.as_tensor(st.weights), torch.as_tensor(st.theta),
                                            torch.as_tensor(spikes), consts, record=True, labels=labels)
    assert ran.tolist() == stops
    for k, t in enumerate(stops):
        np.testing.assert_array_equal(batch_raster[k, :t].numpy(), en.present_given(
            st.weights.copy(), st.theta.copy(), spikes[k], False, consts, labels=labels).astype(bool))
        assert not batch_raster[k, t:].any()
    assert min(stops) >= 30 and min(stops) < 350, f"the rule never fired or fired too early: {stops}"


def test_exit_off_changes_nothing(images):
    recipe = load_recipe("fspinn")
    sim = Simulator(recipe)
    st = _state("fspinn", 30, np.float32)
    c1, c2 = new_counts(), new_counts()
    steps = np.zeros(len(images), dtype=np.int32)
    a = sim.infer(st, images, 5, 3, c1)
    b = sim.infer(st, images, 5, 3, c2, exit_rule=OFF, labels=_labels(30), steps=steps)
    np.testing.assert_array_equal(a, b)
    assert counts_to_dict(c1) == counts_to_dict(c2)
    assert steps.sum() == c1[C_STEPS] and steps.min() >= 350


def test_exit_cuts_steps_and_the_work_counted(images):
    recipe = load_recipe("fspinn")
    sim = Simulator(recipe)
    st = _state("fspinn", 30, np.float32, theta_spread=0.5)
    full, early = new_counts(), new_counts()
    steps = np.zeros(len(images), dtype=np.int32)
    sim.infer(st, images, 0, 1, full)
    out = sim.infer(st, images, 0, 1, early, exit_rule=ExitRule(margin=1, min_steps=10), labels=_labels(30),
                    steps=steps)
    assert early[C_STEPS] == steps.sum() < full[C_STEPS]
    assert early[C_NEURON_UPDATES] == steps.sum() * 30  # lateral design: one layer
    assert out.sum() > 0


def test_torch_inference_exits_like_the_compiled_engine(images):
    pytest.importorskip("torch")
    from dse.models.engine_torch import infer_torch

    recipe = load_recipe("baseline")
    sim = Simulator(recipe)
    st = _state("baseline", 40, np.float32, theta_spread=2.0)
    rule, labels = ExitRule(margin=2, min_steps=20), _labels(40)
    c_numba, c_torch = new_counts(), new_counts()
    s_numba, s_torch = np.zeros(len(images), np.int32), np.zeros(len(images), np.int32)
    a = sim.infer(st, images, 100, 9, c_numba, exit_rule=rule, labels=labels, steps=s_numba)
    b = infer_torch(st.weights, st.theta, images, 100, 9, _with_exit(sim.consts, 2, 20), c_torch, device="cpu",
                    batch=4, labels=labels, steps=s_torch)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(s_numba, s_torch)
    cn, ct = counts_to_dict(c_numba), counts_to_dict(c_torch)
    for key in ("images", "presentations", "steps", "input_spikes", "exc_spikes", "inh_spikes", "neuron_updates",
                "synaptic_events"):
        assert cn[key] == ct[key], key


def test_decision_rule():
    votes = np.zeros(10, dtype=np.int32)
    assert not decided(votes, 1)
    votes[3] = 2
    assert decided(votes, 2) and not decided(votes, 3)
    votes[5] = 2
    assert not decided(votes, 1)  # a tie is undecided


@pytest.mark.parametrize("text, message", [
    ("margin=0", "margin must be >= 1"), ("margin=x", "whole number"), ("steps=3", "write margin=M"),
    ("margin=2,margin=3", "given twice"), ("margin=-1", "margin must be >= 1"),
    ("margin=2,min_steps=-5", ">= 0"),
])
def test_bad_exit_specs(text, message):
    with pytest.raises(ExitError, match=message):
        parse_exit(text)


def test_exit_spec_round_trip():
    assert parse_exit("margin=3,min_steps=50") == ExitRule(3, 50)
    assert parse_exit("off") is OFF and not OFF.enabled
    assert ExitRule(3, 50).spec() == "margin=3,min_steps=50"


def test_exit_needs_labels(images):
    sim = Simulator(load_recipe("fspinn"))
    st = init_state(20, sim.recipe, 0)
    with pytest.raises(ValueError, match="labels"):
        sim.infer(st, images, 0, 0, new_counts(), exit_rule=ExitRule(2, 0))
