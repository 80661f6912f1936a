"""Continuing a finished run to more images of its schedule: bit-identical to training straight through."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from dse.runs import folder
from dse.runs.train import TrainConfig, train_run


@pytest.fixture()
def bundled_only(monkeypatch, tmp_path):
    from dse.data import locate

    monkeypatch.delenv("DSE_DATA_DIR", raising=False)
    monkeypatch.setattr(locate, "user_cache_dir", lambda: tmp_path / "no-cache")


def _arrays(run):
    return folder.load_npz(run / folder.WEIGHTS)


@pytest.mark.parametrize("quant", [None, "weights=Q0.6,vmem=sQ7.8"])
def test_a_continued_run_equals_one_trained_straight_through(tmp_path, bundled_only, quant):
    cfg = TrainConfig(design="fspinn", dataset="mnist", neurons=12, train_samples=90, epochs=2, test_samples=60,
                      assign_samples=60, quant=quant, rounding="stochastic" if quant else "nearest",
                      checkpoint_every=40)
    straight = train_run(cfg, tmp_path / "straight")
    part = train_run(replace(cfg, images=70), tmp_path / "part")  # stops inside the first epoch
    assert part["timings"]["images_trained"] == 70 and part["timings"]["images_trained_now"] == 70
    cont = train_run(cfg, tmp_path / "cont", continue_from=tmp_path / "part")
    assert cont["timings"]["images_trained"] == 180
    assert cont["timings"]["images_trained_now"] == 110  # the difference only
    assert cont["continued_from"] == str(tmp_path / "part")
    a, b = _arrays(tmp_path / "straight"), _arrays(tmp_path / "cont")
    for key in ("weights", "theta", "neuron_labels"):
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key
    assert cont["counts"]["training"] == straight["counts"]["training"]
    assert cont["metrics"]["accuracy"] == straight["metrics"]["accuracy"]


def test_continuation_refuses_another_schedule_or_a_run_already_past_the_target(tmp_path, bundled_only):
    cfg = TrainConfig(design="fspinn", dataset="mnist", neurons=10, train_samples=60, test_samples=30,
                      assign_samples=30)
    train_run(replace(cfg, images=40), tmp_path / "part")
    with pytest.raises(folder.RunError, match="another schedule.*seed") as exc:
        train_run(replace(cfg, seed=3), tmp_path / "x", continue_from=tmp_path / "part")
    assert "\n" not in str(exc.value)
    with pytest.raises(folder.RunError, match="not a number of images below the 30"):
        train_run(replace(cfg, images=30), tmp_path / "y", continue_from=tmp_path / "part")
    with pytest.raises(ValueError, match="images must be at most"):
        train_run(replace(cfg, images=61), tmp_path / "z")
    manifest = json.loads((tmp_path / "part" / folder.MANIFEST).read_text())
    assert manifest["config"]["images"] == 40


def test_a_run_keeps_the_recipe_it_trained_with(tmp_path, bundled_only):
    """A design default changed after a run was trained (here: the baseline's inhibitory loop) changes
    neither how the run evaluates nor what may continue it."""
    from dse.runs.inference import open_run

    cfg = TrainConfig(design="baseline", dataset="mnist", neurons=10, train_samples=60, test_samples=30,
                      assign_samples=30)
    train_run(replace(cfg, images=40), tmp_path / "part")
    path = tmp_path / "part" / folder.MANIFEST
    manifest = json.loads(path.read_text())
    manifest["config"]["recipe"]["inhibition"].pop("layer_loop_steps")  # as written before the key existed
    path.write_text(json.dumps(manifest))
    assert open_run(tmp_path / "part").sim.recipe.layer_loop_steps == 2
    with pytest.raises(folder.RunError, match="another schedule.*recipe"):
        train_run(cfg, tmp_path / "cont", continue_from=tmp_path / "part")
    manifest["config"]["recipe"]["inhibition"]["layer_loop_steps"] = 7
    path.write_text(json.dumps(manifest))
    with pytest.raises(folder.RunError, match=r"manifest.json: config.recipe: inhibition.layer_loop_steps is 7"):
        open_run(tmp_path / "part")
