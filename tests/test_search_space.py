"""The search space (declaration, restriction, grid, suggestions) and the cost adapter."""

from __future__ import annotations

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.search import costs
from dse.search.objectives import Budgets, ExploreSettings, parse_fidelities
from dse.search.runner import capped_space, neuron_cap
from dse.search.space import DEFAULT_SPACE, Candidate, SpaceError, nominal_ranges, quant_spec

SMALL = DEFAULT_SPACE.restricted({"neurons": "100..300", "weights_bits": "8,32", "inh_bits": "32",
                                  "vmem_bits": "32", "vth_bits": "16,32", "rounding": "nearest",
                                  "rho": "2..3", "window_steps": "50", "exit_margin": "0"})


def test_default_space_is_declared_once_with_all_dimensions():
    assert DEFAULT_SPACE.names() == ("design", "neurons", "weights_bits", "inh_bits", "vmem_bits", "vth_bits",
                                     "scheme", "rounding", "rho", "window_steps", "exit_margin")
    n = DEFAULT_SPACE.dim("neurons")
    assert (n.low, n.high, n.step) == (100, 4900, 100) and len(n.values()) == 49
    rows = DEFAULT_SPACE.describe()
    assert [r[0] for r in rows] == list(DEFAULT_SPACE.names())
    assert DEFAULT_SPACE.grid_size(limit=1000) == 1001  # millions: counting stops early


def test_restrictions_parse_and_fail_with_one_line():
    s = DEFAULT_SPACE.restricted({"design": "fspinn", "neurons": "100..900:200", "rho": "2"})
    assert s.dim("design").values() == ("fspinn",)
    assert s.dim("neurons").values() == (100, 300, 500, 700, 900)
    assert s.dim("rho").fixed
    for bad, match in [({"design": "lenet"}, "unknown value"), ({"neurons": "900..100"}, "low is above"),
                       ({"weights_bits": "1"}, "outside"), ({"colour": "red"}, "unknown dimension"),
                       ({"neurons": "a..b"}, "whole number"), ({"inh_bits": "8,8"}, "repeated")]:
        with pytest.raises(SpaceError, match=match) as exc:
            DEFAULT_SPACE.restricted(bad)
        assert "\n" not in str(exc.value)


def test_grid_respects_conditions_and_is_unique():
    grid = list(SMALL.grid())
    assert len(grid) == len(set(grid)) == SMALL.grid_size()
    for c in grid:
        assert SMALL.contains(c)
        assert (c.rho is not None) == (c.design == "fspinn")
        assert (c.scheme == "fp32") == (not c.quantized)
    # per size: baseline and sl-stdp have 1 fp32 + 3 quantized combos x 2 schemes; fspinn that x 3 rho values
    assert len(grid) == 3 * (2 * 7 + 3 * 7)


def test_suggest_and_params_round_trip_through_optuna():
    study = optuna.create_study(directions=["maximize", "minimize"])
    for c in list(SMALL.grid())[::7]:
        study.enqueue_trial(SMALL.params(c))
        trial = study.ask()
        assert SMALL.suggest(trial) == c
        study.tell(trial, [0.0, 0.0])
    # only free, applicable dimensions become params
    baseline = Candidate("baseline", 100)
    assert set(SMALL.params(baseline)) == {"design", "neurons", "weights_bits", "vth_bits"}


def test_candidate_validation():
    with pytest.raises(SpaceError):
        Candidate("fspinn", 100)                         # fspinn needs rho and window
    with pytest.raises(SpaceError):
        Candidate("baseline", 100, weights_bits=8)       # quantized but scheme fp32
    with pytest.raises(SpaceError):
        Candidate("baseline", 0)
    c = Candidate("fspinn", 400, weights_bits=8, scheme="ptq", rho=3.0, window_steps=50)
    assert c.overrides() == {"inhibition.rho": "3.0", "plasticity.window_steps": "50"}
    assert c.fp32() == Candidate("fspinn", 400, rho=3.0, window_steps=50)
    assert Candidate.from_dict(c.to_dict()) == c


def test_quant_spec_follows_ranges():
    c = Candidate("fspinn", 100, weights_bits=8, inh_bits=8, vmem_bits=16, vth_bits=12, scheme="itq",
                  rounding="stochastic", rho=3.0, window_steps=50)
    spec = quant_spec(c, nominal_ranges(c))  # w_lat = 31.2 needs 5 integer bits; potentials 7 and a sign
    assert spec == "weights=Q1.7,inh=Q5.3,vmem=sQ7.8,vth=sQ7.4"
    assert quant_spec(c, {"weights": 0.5, "inh": 31.2, "vmem": 100.0, "vth": 50.0}).startswith("weights=Q0.8")
    assert quant_spec(c.fp32(), nominal_ranges(c)) == ""
    with pytest.raises(SpaceError):
        quant_spec(Candidate("baseline", 10, vmem_bits=4, scheme="ptq"), {"vmem": 100.0})


def test_memory_adapter_uses_the_phase_precision():
    ptq = Candidate("fspinn", 400, weights_bits=8, inh_bits=8, scheme="ptq", rho=2.0, window_steps=50)
    itq = Candidate("fspinn", 400, weights_bits=8, inh_bits=8, scheme="itq", rho=2.0, window_steps=50)
    assert costs.memory_mb(ptq, "inference") == costs.memory_mb(itq, "inference") < costs.fp32_memory_mb(ptq, "inference")
    # a PTQ model trains in FP32; an ITQ model trains quantized
    assert costs.memory_mb(ptq, "training") == costs.fp32_memory_mb(ptq, "training") > costs.memory_mb(itq, "training")
    assert costs.memory_mb(ptq, "inference", "minimal") < costs.memory_mb(ptq, "inference", "dense")


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["baseline", "sl-stdp", "fspinn"]), st.integers(1, 60), st.sampled_from(["inference", "training"]),
       st.floats(1.0, 5.0), st.floats(0.0, 30_000.0), st.floats(0.0, 200.0))
def test_energy_floor_is_below_any_activity(design, n10, phase, pres, inp, exc):
    from dse.cost.activity import ActivityStats, counts_from_stats
    from dse.cost.structure import design_structure

    fsp = design == "fspinn"
    c = Candidate(design, 10 * n10, rho=2.0 if fsp else None, window_steps=50 if fsp else None)
    st_ = ActivityStats(presentations_per_image=pres, input_spikes_per_presentation=inp,
                        exc_spikes_per_presentation=exc, inh_spikes_per_exc_spike=0.0 if fsp else 1.0,
                        rule_updates_per_exc_spike=1.0, window_updates_per_presentation=7.0 if fsp else 0.0)
    counts = {ph: counts_from_stats(design_structure(design), c.neurons, ph, st_) for ph in ("training", "inference")}
    for profile in ("jetson-nano", "cpu"):
        assert costs.energy_floor_mj(c, phase, profile) <= costs.energy_mj(c, phase, profile, counts) * (1 + 1e-9)


def test_neuron_cap_cuts_sizes_that_can_never_fit():
    settings_ = ExploreSettings(Budgets(memory_mb=1.0))
    cap = neuron_cap(DEFAULT_SPACE, settings_)
    assert 100 <= cap < 4900
    narrow = {"weights_bits": 4, "inh_bits": 8, "vmem_bits": 8, "vth_bits": 8, "scheme": "itq", "rounding": "nearest",
              "rho": 1.5, "window_steps": 25}
    assert costs.memory_mb(DEFAULT_SPACE.candidate({"design": "fspinn", "neurons": cap, **narrow}), "inference") <= 1.0
    for design in ("baseline", "sl-stdp", "fspinn"):
        c = DEFAULT_SPACE.candidate({"design": design, "neurons": cap + 100, **narrow})
        assert costs.memory_mb(c, "inference") > 1.0
    space, note = capped_space(DEFAULT_SPACE, settings_)
    assert space.dim("neurons").high == cap and "capped" in note
    tiny = ExploreSettings(Budgets(memory_mb=1e-6))
    assert neuron_cap(DEFAULT_SPACE, tiny) is None and capped_space(DEFAULT_SPACE, tiny)[1] is None


def test_fidelities_and_rungs():
    assert parse_fidelities("0.2,0.5,1") == (0.2, 0.5, 1.0)
    assert parse_fidelities("1000,5000") == (1000.0, 5000.0)
    for bad in ("0.5,0.2,1", "0.2,0.5", "0.5,1000", "x", "0,1"):
        with pytest.raises(ValueError):
            parse_fidelities(bad)
    s = ExploreSettings(Budgets(1.0))
    assert s.rungs(5000) == (1000, 5000)
    assert ExploreSettings(Budgets(1.0), fidelities=(0.2, 0.5, 1.0)).rungs(5000) == (1000, 2500, 5000)
    assert ExploreSettings(Budgets(1.0), fidelities=(1000.0, 9000.0)).rungs(5000) == (1000, 5000)
    assert ExploreSettings(Budgets(1.0), strategy="grid").rungs(5000) == (5000,)
    with pytest.raises(ValueError):
        Budgets(memory_mb=0)
    with pytest.raises(ValueError):
        Budgets(memory_mb=1, energy_mj=-1)
