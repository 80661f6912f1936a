"""Early exit in the cost model and on the command line: priced by the steps run, recorded in evaluation.json."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.cli.main import main
from dse.cost.activity import estimate_counts, scale_to_steps
from dse.cost.memory import memory_report
from dse.cost.model import estimate_cost
from dse.cost.profiles import load_profile


@settings(max_examples=40, deadline=None)
@given(design=st.sampled_from(["baseline", "sl-stdp", "fspinn"]), neurons=st.integers(10, 3000),
       profile=st.sampled_from(["cpu", "jetson-nano", "gtx1080ti"]),
       fractions=st.tuples(st.floats(0.05, 1.0), st.floats(0.05, 1.0)))
def test_inference_energy_falls_with_the_steps_run(design, neurons, profile, fractions):
    full = estimate_counts(design, neurons, "inference", "mnist")["steps"]
    few, many = sorted(fractions)
    prof = load_profile(profile)
    reports = [estimate_cost(design, neurons, prof, early_exit_steps=f * full) for f in (few, many)]
    e = [r.energy_j()["inference_per_image"] for r in reports]
    t = [r.time_s()["inference_per_image"] for r in reports]
    assert e[0] <= e[1] and t[0] <= t[1]
    base = estimate_cost(design, neurons, prof)
    assert e[1] <= base.energy_j()["inference_per_image"] * (1 + 1e-12)
    # training is not affected by an inference setting
    assert reports[0].energy_j()["training_per_image"] == pytest.approx(base.energy_j()["training_per_image"])


def test_scaled_counts_keep_presentations_and_scale_the_rest():
    c = estimate_counts("fspinn", 400, "inference", "mnist")
    half = scale_to_steps(c, c["steps"] / 2)
    assert half["presentations"] == c["presentations"]
    for k in ("steps", "neuron_updates", "input_spikes", "exc_spikes", "synaptic_events"):
        assert half[k] == pytest.approx(c[k] / 2)


@pytest.mark.parametrize("accounting", ["dense", "minimal"])
def test_exit_memory_adds_labels_and_votes(accounting):
    plain = memory_report("fspinn", 400, "inference", accounting=accounting)
    exiting = memory_report("fspinn", 400, "inference", accounting=accounting, early_exit=True)
    added = {c.name: c for c in exiting.components} .keys() - {c.name for c in plain.components}
    assert added == {"neuron_labels", "class_votes"}
    extra = exiting.total_bytes - plain.total_bytes
    assert (extra == (400 + 10) * 4) if accounting == "dense" else (0 < extra < 400)
    assert memory_report("fspinn", 400, "training", early_exit=True).total_bytes == \
        memory_report("fspinn", 400, "training").total_bytes


def test_evaluate_with_exit_records_steps(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--neurons", "30", "--train-samples", "300", "--assign-samples", "300",
                 "--test-samples", "200", "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--exit", "margin=1,min_steps=20", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "early exit margin=1,min_steps=20" in out
    ev = json.loads((run / "evaluation.json").read_text())
    ee = ev["early_exit"]
    assert ee["margin"] == 1 and ee["min_steps"] == 20
    steps = ee["steps_per_test_image"]
    assert steps["images"] == 200 and 20 <= steps["min"] and steps["mean"] < 350
    assert sum(steps["histogram"]["counts"]) == 200
    per_image = ev["counts"]["test_per_image"]
    assert per_image["steps"] == pytest.approx(steps["mean"])


@pytest.mark.parametrize("spec", ["margin=0", "margin=two", "depth=3"])
def test_bad_exit_flag_is_one_line(tmp_path, capsys, spec):
    assert main(["evaluate", str(tmp_path), "--exit", spec]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "early exit" in err[0]
