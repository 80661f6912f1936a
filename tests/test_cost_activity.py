"""Activity model: the structural count formulas agree with the engine; the bundled table gives sane counts."""

from __future__ import annotations

import numpy as np
import pytest

from dse.cost.activity import (PER_IMAGE_KEYS, ActivityStats, counts_from_stats, estimate_counts,
                               load_activity_table, parse_activity_table, stats_from_counts)
from dse.cost.structure import design_structure
from dse.models.counts import counts_to_dict, new_counts, per_image
from dse.models.network import Simulator, init_state
from dse.models.recipes import load_recipe


def _images(k: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    x = np.zeros((k, 784), dtype=np.uint8)
    x[:, 200:600] = rng.integers(0, 256, size=(k, 400), dtype=np.uint8)  # a dense blob: plenty of spikes
    return x


@pytest.mark.parametrize("design", ["baseline", "sl-stdp", "fspinn"])
@pytest.mark.parametrize("phase", ["training", "inference"])
def test_structural_counts_match_the_engine(design, phase):
    """stats_from_counts then counts_from_stats gives back what the engine counted."""
    n = 12
    recipe = load_recipe(design)
    sim = Simulator(recipe)
    state = init_state(n, recipe, 3)
    counts = new_counts()
    if phase == "training":
        sim.train(state, _images(4), 0, 3, counts)
    else:
        sim.infer(state, _images(4), 0, 3, counts)
    measured = per_image(counts_to_dict(counts))
    s = design_structure(design)
    rebuilt = counts_from_stats(s, n, phase, stats_from_counts(s, n, phase, measured))
    assert measured["synaptic_events"] > 0 and measured["exc_spikes"] > 0
    for key in PER_IMAGE_KEYS:
        assert rebuilt[key] == pytest.approx(measured[key], rel=1e-9, abs=1e-9), key


def test_bundled_table_covers_every_design_and_phase():
    table = load_activity_table()
    assert table.source
    for design in ("baseline", "sl-stdp", "fspinn"):
        for phase in ("training", "inference"):
            c = estimate_counts(design, 400, phase)
            assert set(c) == set(PER_IMAGE_KEYS)
            assert c["presentations"] >= 1 and c["steps"] >= 350
            assert 1000 < c["input_spikes"] / c["presentations"] < 10_000  # MNIST at 128 Hz: ~4,500
            assert c["synaptic_events"] >= c["input_spikes"] * 400
            assert (c["weight_updates"] > 0) == (phase == "training")


def test_estimates_scale_with_network_size():
    small, large = estimate_counts("fspinn", 100, "inference"), estimate_counts("fspinn", 4900, "inference")
    assert large["neuron_updates"] / large["steps"] == pytest.approx(4900)
    assert small["neuron_updates"] / small["steps"] == pytest.approx(100)
    assert large["synaptic_events"] > 40 * small["synaptic_events"]


def test_interpolation_is_log_linear_and_clamped():
    a = ActivityStats(1.0, 4000.0, 20.0)
    b = ActivityStats(2.0, 5000.0, 40.0)
    table = parse_activity_table({"schema_version": 1, "source": {"description": "test"}, "point": [
        {"dataset": "mnist", "design": "fspinn", "phase": "inference", "neurons": 100, **a.__dict__},
        {"dataset": "mnist", "design": "fspinn", "phase": "inference", "neurons": 400, **b.__dict__},
    ]}, "test")
    assert table.stats("mnist", "fspinn", "inference", 10) == a
    assert table.stats("mnist", "fspinn", "inference", 4900) == b
    mid = table.stats("mnist", "fspinn", "inference", 200)  # log-midpoint of 100 and 400
    assert mid.presentations_per_image == pytest.approx(1.5)
    assert mid.exc_spikes_per_presentation == pytest.approx(30.0)
    with pytest.raises(ValueError, match="fashion-mnist"):
        table.stats("fashion-mnist", "fspinn", "inference", 100)


def test_malformed_table_and_stats():
    with pytest.raises(ValueError, match="malformed"):
        parse_activity_table({"schema_version": 2}, "x.toml")
    with pytest.raises(ValueError, match=">= 0"):
        ActivityStats(-1.0, 1.0, 1.0)


def test_unknown_engine_counts_stay_unknown():
    """A table or record from before the engine counted its actual work gives no such counts (not zeros)."""
    s = design_structure("baseline")
    old = ActivityStats(1.0, 4000.0, 20.0, rule_updates_per_exc_spike=1.0)
    counts = counts_from_stats(s, 100, "training", old)
    assert "columns_normalised" not in counts and "depressions" not in counts
    assert counts_from_stats(s, 100, "inference", old)["columns_normalised"] == 0.0
    new = ActivityStats(1.0, 4000.0, 20.0, rule_updates_per_exc_spike=1.0, columns_normalised_per_presentation=6.0,
                        depressions_per_input_spike=2.5)
    counts = counts_from_stats(s, 100, "training", new)
    assert counts["columns_normalised"] == 6.0 and counts["depressions"] == 10_000.0
    table = parse_activity_table({"schema_version": 1, "source": {"description": "test"}, "point": [
        {"dataset": "mnist", "design": "baseline", "phase": "training", "neurons": 100,
         **{k: v for k, v in old.__dict__.items() if v is not None}},
        {"dataset": "mnist", "design": "baseline", "phase": "training", "neurons": 400, **new.__dict__},
    ]}, "test")
    assert table.stats("mnist", "baseline", "training", 200).columns_normalised_per_presentation is None
    assert table.stats("mnist", "baseline", "training", 400).depressions_per_input_spike == 2.5
    legacy = {k: v for k, v in counts.items() if k not in ("columns_normalised", "depressions")}
    assert stats_from_counts(s, 100, "training", legacy).columns_normalised_per_presentation is None
