"""Calibration: NNLS, the new profile file with its intervals, old profiles, the command."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.calibration.calibrate import TIME_NAMES, calibrate, nnls
from dse.cli.main import main
from dse.cost.profiles import load_profile, loads_profile
from dse.cost.schema import Coefficients, ProfileError
from dse.cost.toml import profile_to_toml
from tests.calibration_synthetic import KNOWN, synthetic_records, write_measurements
REPO_PROFILES = Path(__file__).resolve().parents[1] / "hw_profiles"


# --------------------------------------------------------------------------- NNLS


def test_nnls_recovers_a_nonnegative_solution_exactly():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, size=(40, 5))
    x_true = np.array([0.0, 2.0, 0.5, 0.0, 3.0])
    x = nnls(a, a @ x_true)
    np.testing.assert_allclose(x, x_true, atol=1e-9)


def test_nnls_clips_where_least_squares_goes_negative():
    a = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    b = np.array([2.0, -1.0, 1.0])
    x = nnls(a, b)
    assert (x >= 0).all()
    np.testing.assert_allclose(x, [1.5, 0.0], atol=1e-12)  # min over x1 of (x1-2)^2 + 1 + (x1-1)^2


@settings(max_examples=60, deadline=None)
@given(m=st.integers(3, 30), n=st.integers(1, 6), seed=st.integers(0, 2**31))
def test_nnls_satisfies_the_kkt_conditions(m, n, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(m, n))
    b = rng.normal(size=m)
    x = nnls(a, b)
    grad = a.T @ (b - a @ x)  # minus the gradient of 1/2 ||ax - b||^2
    assert (x >= 0).all()
    tol = 1e-7 * (1 + np.abs(a).sum() * (1 + np.abs(b).sum()))
    assert (grad <= tol).all()                    # no descent direction into the feasible set
    assert (np.abs(grad[x > 0]) <= tol).all()     # stationary on the free variables
    # never worse than the best of its coordinate restrictions
    assert np.linalg.norm(a @ x - b) <= np.linalg.norm(b) + 1e-9


def test_nnls_rejects_bad_shapes_and_nan():
    with pytest.raises(ValueError, match="matrix"):
        nnls(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        nnls(np.array([[np.nan]]), np.array([1.0]))


# --------------------------------------------------------------------------- the calibrated profile


def _bundled_digest() -> str:
    return hashlib.sha256((REPO_PROFILES / "cpu.toml").read_bytes()).hexdigest()


def test_calibrate_writes_a_new_profile_with_intervals_that_round_trips(tmp_path):
    before = _bundled_digest()
    records = synthetic_records(noise=0.02, seed=1)
    m = write_measurements(tmp_path / "measurements.json", records)
    out = tmp_path / "cpu-calibrated.toml"
    res = calibrate([m], "cpu", out, draws=100)
    assert _bundled_digest() == before  # the base profile is never edited
    p = load_profile(out)
    assert p == res.profile and p.name == "cpu-calibrated"
    assert p.calibration.base_profile == "cpu"
    assert p.calibration.measurement_files == (str(m),)
    assert p.calibration.n_measurements == len(records)
    assert p.calibration.design_condition_number == pytest.approx(res.analysis.estimate.conditioning.condition_number,
                                                                 rel=1e-5)
    assert "leave one size out" in p.calibration.notes and "leave one design out" in p.calibration.notes
    assert "probe blank images" in p.calibration.notes and "no energy counter" in p.calibration.notes
    for k in TIME_NAMES:
        lo, hi = p.coefficient_intervals[k]
        assert 0 < lo <= getattr(p.coefficients, k) <= hi
        assert getattr(p.coefficients, k) == pytest.approx(KNOWN[k], rel=0.1)
        assert p.coefficient_sources[k].startswith("fitted: ") and "95% bootstrap interval" in p.coefficient_sources[k]
    # without measured energy: energy per operation follows the calibrated time (busy device at board power)
    base = load_profile("cpu")
    dynamic_w = base.specs.board_power_w - base.coefficients.static_power_w
    assert p.coefficients.energy_per_neuron_update_pj == pytest.approx(
        p.coefficients.time_per_neuron_update_ns * dynamic_w * 1e3, rel=1e-5)
    assert p.coefficient_sources["energy_per_input_spike_pj"].startswith("derived from the calibrated time")
    assert p.coefficients.energy_per_byte_dram_pj == base.coefficients.energy_per_byte_dram_pj
    assert p.coefficients.static_power_w == base.coefficients.static_power_w
    # and it writes what it reads
    assert load_profile(out) == load_profile(str(out))
    assert profile_to_toml(p) == out.read_text()


def test_held_coefficients_say_why_and_get_no_interval(tmp_path):
    records = [r for r in synthetic_records(noise=0.02, seed=2) if r["phase"] == "inference"]
    m = write_measurements(tmp_path / "m.json", records)
    p = calibrate([m], "cpu", tmp_path / "cpu-inf.toml", draws=50).profile
    for k in ("time_per_weight_update_ns", "time_per_byte_dram_ns"):
        assert k not in p.coefficient_intervals
        assert p.coefficient_sources[k].startswith("held, not fitted") and "not exercised" in p.coefficient_sources[k]
        assert getattr(p.coefficients, k) == getattr(load_profile("cpu").coefficients, k)


def test_mnist_and_fashion_files_give_a_transfer_figure(tmp_path):
    a = write_measurements(tmp_path / "a.json", synthetic_records(noise=0.02, seed=3))
    b = write_measurements(tmp_path / "b.json", synthetic_records(noise=0.02, seed=4, grid="sizes"), "fashion-mnist")
    res = calibrate([a, b], "cpu", tmp_path / "both.toml", draws=50)
    held = res.analysis.held_out["dataset"]
    assert set(held.groups) == {"fashion-mnist"} and held.mape() < 0.1
    assert "mnist to other data sets" in res.profile.calibration.notes


def test_profiles_written_before_the_input_spike_coefficients_still_load(tmp_path):
    text = (REPO_PROFILES / "cpu.toml").read_text()
    old = "\n".join(line for line in text.splitlines() if "input_spike" not in line).replace('name = "cpu"', 'name = "old"')
    (tmp_path / "old.toml").write_text(old)
    p = load_profile(tmp_path / "old.toml")
    assert p.coefficients.time_per_input_spike_ns == 0.0 and p.coefficients.energy_per_input_spike_pj == 0.0
    assert "not priced" in p.coefficient_sources["time_per_input_spike_ns"]
    assert loads_profile(profile_to_toml(p), expected_name="old") == p


def test_bad_intervals_are_one_line_errors():
    text = (REPO_PROFILES / "cpu.toml").read_text().replace('name = "cpu"', 'name = "x"')
    for table, match in (("time_per_neuron_update_ns = [0.3, 0.1]", "0 <= low <= high"),
                         ("time_per_neuron_update_ns = 0.2", "low, high"),
                         ("no_such_ns = [0.1, 0.2]", "names no coefficient")):
        with pytest.raises(ProfileError, match=match) as err:
            loads_profile(text + "\n[coefficient_intervals]\n" + table + "\n", expected_name="x")
        assert "\n" not in str(err.value)


def test_calibrate_fits_energy_when_it_was_measured(tmp_path):
    records = synthetic_records()
    for r in records:
        r["energy_source"] = "rapl"
        r["energy_j_per_image"] = 3.0 * r["wall_s_per_image"] + 1e-3  # 3 W static + constant-ish dynamic
    m = write_measurements(tmp_path / "m.json", records)
    res = calibrate([m], "cpu", tmp_path / "cpu-e.toml", draws=20)
    assert res.energy_fitted
    assert res.profile.coefficient_sources["static_power_w"].startswith("fitted")
    assert res.profile.coefficients.static_power_w > 0


def test_calibrate_refuses_to_overwrite_or_reuse_bundled_names(tmp_path):
    m = write_measurements(tmp_path / "m.json", synthetic_records(grid="sizes", designs=("fspinn", "baseline")))
    with pytest.raises(ValueError, match="bundled profile name"):
        calibrate([m], "cpu", tmp_path / "cpu.toml")
    with pytest.raises(ValueError, match="bundled"):
        calibrate([m], "cpu", REPO_PROFILES / "cpu-new.toml")
    out = tmp_path / "mine.toml"
    calibrate([m], "cpu", out, draws=20)
    with pytest.raises(ValueError, match="exists"):
        calibrate([m], "cpu", out)
    calibrate([m], "cpu", out, force=True, draws=20)
    with pytest.raises(ValueError, match="must match"):
        calibrate([m], "cpu", tmp_path / "Bad Name.toml")
    with pytest.raises(ValueError, match="no such measurements"):
        calibrate([tmp_path / "missing.json"], "cpu", tmp_path / "x.toml")


def test_calibrate_cli(tmp_path, capsys):
    m = write_measurements(tmp_path / "m.json", synthetic_records(noise=0.03))
    out = tmp_path / "cpu-cal.toml"
    assert main(["calibrate", str(m), "--out", str(out), "--bootstrap", "50", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["profile"] == "cpu-cal" and doc["records"] == 108
    assert doc["grid"]["condition_number"] > 1
    for k in TIME_NAMES:
        c = doc["coefficients"][k]
        assert c["fitted"] and c["interval_95"][0] <= c["value"] <= c["interval_95"][1] and c["held_because"] is None
    assert set(doc["held_out"]) == {"size", "design"}
    assert 0 < doc["held_out"]["size"]["mape"] < 0.15
    assert set(doc["held_out"]["design"]["by_phase"]) == {"training", "inference"}
    assert len(doc["probes"]) == 3 and all(p["agrees_within_25pct"] for p in doc["probes"])
    # the new profile drives `dse cost`
    assert main(["cost", "--design", "fspinn", "--neurons", "100", "--profile", str(out), "--json"]) == 0
    cost = json.loads(capsys.readouterr().out)
    assert cost["profile"] == "cpu-cal" and cost["calibrated"] is True
    assert "calibration: nnls" in cost["labels"]["time"]
    # text output: a held coefficient is one line that says why
    inference = write_measurements(tmp_path / "inf.json", [r for r in synthetic_records() if r["phase"] == "inference"])
    assert main(["calibrate", str(inference), "--out", str(tmp_path / "c2.toml"), "--bootstrap", "20"]) == 0
    text = capsys.readouterr().out
    assert "held-out (leave one size out) MAPE" in text and "condition number" in text
    held = [line for line in text.splitlines() if "time_per_weight_update_ns" in line]
    assert len(held) == 1 and "HELD: not exercised" in held[0]
    # bad input: one line, exit 2
    assert main(["calibrate", str(tmp_path / "nope.json"), "--out", str(tmp_path / "c3.toml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_coefficients_dataclass_has_the_fitted_names():
    names = {f.name for f in dataclasses.fields(Coefficients)}
    assert set(TIME_NAMES) <= names
