"""Fixed-point mode of the engines: integer storage, bit-identical engines, PTQ and ITQ runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dse.cli.main import main
from dse.models import engine_numba as en
from dse.models.constants import engine_constants
from dse.models.counts import new_counts
from dse.models.encoding import encode_dense
from dse.models.fixedpoint import FormatError
from dse.models.network import Simulator, float_weights, init_state
from dse.models.quantize import parse_quant
from dse.models.recipes import DESIGNS, load_recipe
from dse.runs.folder import load_npz
from tests.test_engine import _digit_like


@pytest.fixture(scope="module")
def images():
    return _digit_like(10, seed=8)


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("rounding", ["nearest", "truncate"])
def test_fixed_point_engines_agree_bit_for_bit(design, rounding, images):
    torch = pytest.importorskip("torch")
    from dse.models.engine_torch import present_batch

    q = parse_quant("weights=Q0.8,vmem=Q7.6,vth=Q6.6,inh=Q6.2", rounding)
    recipe = load_recipe(design)
    consts = engine_constants(recipe, np.float32, q)
    st = init_state(60, recipe, 3, quant=q)
    assert st.weights.dtype == np.uint8
    st.theta[:] = np.linspace(0, 4, 60).astype(np.float32)
    spikes = encode_dense(images[:6], 128.0, 1.0, 350, seed=5)
    expected = np.stack([en.present_given(st.weights.copy(), st.theta.copy(), s, False, consts)
                         for s in spikes]).astype(bool)
    _, raster, _, _ = present_batch(torch.as_tensor(st.weights.astype(np.float32)), torch.as_tensor(st.theta),
                                 torch.as_tensor(spikes), consts, record=True)
    assert expected.sum() > 20
    np.testing.assert_array_equal(raster.numpy(), expected)


def test_quantized_potentials_change_dynamics(images):
    """A coarse V grid must actually be applied (not silently ignored)."""
    recipe = load_recipe("fspinn")
    st = init_state(40, recipe, 3)
    spikes = encode_dense(images[:3], 128.0, 1.0, 350, seed=5)
    fine = engine_constants(recipe, np.float32)
    coarse = engine_constants(recipe, np.float32, parse_quant("vmem=Q7.0", "truncate"))
    a = sum(en.present_given(st.weights.copy(), st.theta.copy(), s, False, fine).sum() for s in spikes)
    b = sum(en.present_given(st.weights.copy(), st.theta.copy(), s, False, coarse).sum() for s in spikes)
    assert a != b


@pytest.mark.parametrize("design", DESIGNS)
def test_itq_keeps_weights_on_the_grid(design, images):
    q = parse_quant("weights=Q0.8", "stochastic", seed=1)
    recipe = load_recipe(design)
    sim = Simulator(recipe, quant=q)
    a, b = init_state(30, recipe, 2, quant=q), init_state(30, recipe, 2, quant=q)
    w0 = a.weights.copy()
    sim.train(a, images, 0, 4, new_counts())
    sim.train(b, images, 0, 4, new_counts())
    assert a.weights.dtype == np.uint8 and not np.array_equal(a.weights, w0)
    np.testing.assert_array_equal(a.weights, b.weights)          # seeded stochastic rounding
    sums = float_weights(a, q).sum(axis=0)
    assert np.all(np.abs(sums - 78.4) < 784 * q.weights.eps)     # normalised, then rounded


def test_stochastic_rounding_moves_small_updates_in_expectation():
    """eta_pre x w is far below eps = 1/256: only stochastic rounding lets depression act."""
    recipe = load_recipe("baseline", {"plasticity.eta_post": "0"})
    spikes = np.zeros((350, 784), dtype=bool)
    spikes[0:40, :200] = True
    spikes[60:300:3, 200:784] = True
    moved = {}
    for rounding in ("nearest", "stochastic"):
        q = parse_quant("weights=Q0.8", rounding)
        consts = engine_constants(recipe, np.float32, q)
        st = init_state(1, recipe, 0, quant=q)
        before = st.weights[200:, 0].astype(np.int64).sum()
        en.present_given(st.weights, st.theta, spikes, True, consts, rng_seed=3)
        moved[rounding] = before - st.weights[200:, 0].astype(np.int64).sum()
    assert moved["stochastic"] > moved["nearest"]


@pytest.mark.parametrize("spec, fragment", [
    ("weights=Q-1.8", "Q-1.8"), ("weights=Q0.0", "Q0.0"), ("weights=Q20.20", "32"),
    ("weights=sQ0.8", "non-negative"), ("vmem=uQ7.8", "signed"), ("bias=Q1.1", "KEY=FORMAT"),
    ("vmem=Q*.8", "observed range"),
])
def test_bad_quant_specs(spec, fragment):
    with pytest.raises(FormatError, match=fragment.replace("*", r"\*").replace(".", r"\.")):
        parse_quant(spec)


@pytest.mark.parametrize("argv", [
    ["train", "--quant", "weights=Q-1.8", "--out", "x"],
    ["train", "--quant", "weights=Q0.0", "--out", "x"],
    ["train", "--quant", "weights=Q16.17", "--out", "x"],
    ["train", "--quant", "weights=Q0.8", "--rounding", "banker", "--out", "x"],
    ["quantize", "nope-run", "--weights", "Q0.8", "--out", "x"],
])
def test_bad_formats_exit_2(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert not (tmp_path / "x").exists()


def test_ptq_cli_writes_integer_weights(tmp_path, capsys):
    from tests.test_train_cli import _run_cli

    run = tmp_path / "fp32"
    code, _, err = _run_cli(capsys, "train", "--neurons", "16", "--train-samples", "200", "--assign-samples",
                            "200", "--test-samples", "100", "--quiet", "--out", str(run))
    assert code == 0, err
    code, out, err = _run_cli(capsys, "quantize", str(run), "--weights", "Q0.6", "--vth", "Q*.4",
                              "--quiet", "--out", str(tmp_path / "q6"))
    assert code == 0, err
    m = json.loads((tmp_path / "q6" / "manifest.json").read_text())
    q = m["quantization"]
    assert q["scheme"] == "ptq" and q["weights"] == "Q0.6" and q["vth"].startswith("sQ")
    assert q["weight_storage"] == "uint8"
    w = load_npz(tmp_path / "q6" / "weights.npz")["weights"]
    assert w.dtype == np.uint8 and w.max() <= 63
    assert abs(q["accuracy_change"] - (m["metrics"]["accuracy"] - q["fp32_accuracy"])) < 1e-12
    # quantizing a quantized run is refused
    code, _, err = _run_cli(capsys, "quantize", str(tmp_path / "q6"), "--weights", "Q0.4", "--out",
                            str(tmp_path / "q4"))
    assert code == 2 and "already quantized" in err
    # evaluate re-reads the fixed-point settings from the manifest
    code, out, err = _run_cli(capsys, "evaluate", str(tmp_path / "q6"), "--json", "--quiet")
    assert code == 0 and json.loads(out)["metrics"]["accuracy"] == m["metrics"]["accuracy"]
