"""Health of a trained network: silent and saturated networks are named in the manifest and the output."""

from __future__ import annotations

import json

import numpy as np

from dse.cli.main import main
from dse.runs.health import network_health, spike_stats
from dse.models.recipes import load_recipe


def test_spike_stats_counts_images_at_the_representation_limit():
    s = spike_stats(np.array([0, 4, 5, 12]), min_spikes=5)
    assert s == {"images": 4, "mean_spikes_per_image": 5.25, "at_representation_limit": 0.5}


def test_working_network_is_ok():
    recipe = load_recipe("fspinn")
    counts = np.zeros((100, 10), dtype=np.int32)
    counts[:, :5] = 3                                       # 15 spikes per image, 5 neurons silent
    h = network_health(recipe, np.linspace(5, 20, 10), np.full(300, 14), counts)
    assert h["status"] == "ok" and h["warnings"] == []
    assert h["test"]["mean_spikes_per_image"] == 15 and h["test"]["at_representation_limit"] == 0
    assert h["test"]["silent_neurons_fraction"] == 0.5
    assert h["theta_mv"] == {"mean": 12.5, "min": 5.0, "max": 20.0}
    # V_th = -52 mV, E_exc = 0 mV: headroom 52 - theta
    assert h["ceiling_headroom_mv"]["min"] == 32.0 and h["at_ceiling_fraction"] == 0
    assert h["train_tail"]["mean_spikes_per_image"] == 14


def test_silent_network_is_named():
    counts = np.zeros((100, 10), dtype=np.int32)
    counts[:70, 0] = 6                                      # 30% of the images evoke nothing
    h = network_health(load_recipe("baseline"), np.zeros(10), None, counts)
    assert h["status"] == "silent" and "train_tail" not in h
    assert "30.0% of test images evoke fewer than 5 spikes" in h["warnings"][0]


def test_thresholds_at_the_reversal_ceiling_are_saturated():
    # theta = 48 mV: V_th + theta = -4 mV, 4 mV below E_exc = 0 (what the collapsed baseline showed)
    counts = np.zeros((50, 4), dtype=np.int32)
    h = network_health(load_recipe("baseline"), np.full(4, 48.0), None, counts)
    assert h["status"] == "saturated"
    assert h["at_ceiling_fraction"] == 1.0
    assert any("within 5 mV of E_exc" in w for w in h["warnings"])
    assert any(w.startswith("silent") for w in h["warnings"])


def test_runaway_firing_is_saturated():
    # 350 steps, refractory 5 steps: at most 58 spikes per neuron; 40 each is over half of that
    counts = np.full((20, 10), 40, dtype=np.int32)
    h = network_health(load_recipe("fspinn"), np.zeros(10), None, counts)
    assert h["status"] == "saturated" and "refractory-limited maximum" in h["warnings"][0]


def test_train_reports_a_collapsed_network(tmp_path, capsys):
    """A theta step of 30 mV drives every threshold to the ceiling: the run must say so."""
    out = tmp_path / "run"
    code = main(["train", "--design", "fspinn", "--neurons", "10", "--train-samples", "200",
                 "--assign-samples", "200", "--test-samples", "100", "--quiet",
                 "--set", "excitatory.theta_plus_mv=30", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    health = json.loads((out / "manifest.json").read_text())["health"]
    assert health["status"] == "saturated", health
    assert "health      saturated:" in stdout


def test_train_reports_a_healthy_network(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--design", "fspinn", "--neurons", "10", "--train-samples", "300",
                 "--assign-samples", "300", "--test-samples", "100", "--quiet", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    m = json.loads((out / "manifest.json").read_text())
    assert m["health"]["status"] == "ok", m["health"]
    assert m["health"]["train_tail"]["images"] == 300
    assert "health      ok:" in stdout
