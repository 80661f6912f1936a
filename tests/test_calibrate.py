"""Calibration: NNLS, recovery of known coefficients, leave-one-size-out, the new profile file."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.calibration.calibrate import calibrate, design_matrix, fit_time, leave_one_size_out, nnls
from dse.cli.main import main
from dse.cost.activity import estimate_counts
from dse.cost.energy import TIME_COEFFICIENTS
from dse.cost.profiles import load_profile
from dse.cost.schema import Coefficients
from dse.cost.toml import profile_to_toml

TIME_NAMES = [n for n, _ in TIME_COEFFICIENTS]
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


# --------------------------------------------------------------------------- synthetic measurements


KNOWN = {"time_per_synaptic_event_ns": 0.02, "time_per_neuron_update_ns": 0.6, "time_per_weight_update_ns": 2.0,
         "time_per_byte_dram_ns": 0.03, "time_per_step_overhead_us": 0.2}


def _synthetic_records(noise: float = 0.0, seed: int = 0) -> list[dict]:
    """Records whose times are exactly (or noisily) what KNOWN coefficients predict."""
    base = load_profile("cpu")
    truth = dataclasses.replace(base.coefficients, **KNOWN)
    rng = np.random.default_rng(seed)
    records = []
    for design in ("baseline", "sl-stdp", "fspinn"):
        for n in (50, 100, 225, 400, 625, 900):
            for phase in ("training", "inference"):
                records.append({"design": design, "neurons": n, "phase": phase, "precision": "fp32",
                                "counts_per_image": estimate_counts(design, n, phase),
                                "cpu_s_per_image": 1.0, "wall_s_per_image": 1.0})
    x, _ = design_matrix(records, base, "event", "cpu")
    y = x @ np.array([getattr(truth, k) for k in TIME_NAMES])
    for rec, t in zip(records, y):
        rec["cpu_s_per_image"] = rec["wall_s_per_image"] = float(t * (1 + noise * rng.normal()))
        rec["energy_j_per_image"], rec["energy_source"] = 1e-3, "modelled"
    return records


def test_fit_recovers_known_coefficients():
    base = load_profile("cpu")
    records = _synthetic_records()
    x, y = design_matrix(records, base, "event", "cpu")
    fit = fit_time(x, y, base.coefficients)
    for k in TIME_NAMES:
        assert fit.identifiable[k]
        assert fit.coefficients[k] == pytest.approx(KNOWN[k], rel=1e-6), k
    assert fit.rms_fraction < 1e-9


def test_leave_one_size_out_is_exact_on_noiseless_data_and_honest_on_noisy_data():
    base = load_profile("cpu")
    records = _synthetic_records()
    x, y = design_matrix(records, base, "event", "cpu")
    held = leave_one_size_out(records, x, y, base.coefficients)
    assert held.sizes == (50, 100, 225, 400, 625, 900)
    assert held.mape() < 1e-6
    noisy = _synthetic_records(noise=0.05, seed=1)
    x, y = design_matrix(noisy, base, "event", "cpu")
    held = leave_one_size_out(noisy, x, y, base.coefficients)
    assert 0.01 < held.mape() < 0.15
    assert set(held.mape_by_size()) == set(held.sizes)
    with pytest.raises(ValueError, match="two or more"):
        leave_one_size_out(noisy[:2], x[:2], y[:2], base.coefficients)


def test_unexercised_coefficients_keep_their_prior():
    x = np.array([[1.0, 0.0], [2.0, 0.0]])
    prior = load_profile("cpu").coefficients
    pad = np.zeros((2, len(TIME_NAMES)))
    pad[:, :2] = x
    fit = fit_time(pad, np.array([1.0, 2.0]) * 1e-9, prior)
    assert fit.identifiable[TIME_NAMES[0]] and not fit.identifiable[TIME_NAMES[1]]
    assert fit.coefficients[TIME_NAMES[1]] == getattr(prior, TIME_NAMES[1])


# --------------------------------------------------------------------------- the calibrated profile


def _write_measurements(path: Path, records: list[dict]) -> Path:
    for r in records:
        r["key"] = f"{r['design']}/{r['neurons']}/{r['precision']}/{r['phase']}"
    path.write_text(json.dumps({"schema_version": 1, "kind": "measurements", "settings": {}, "records": records}))
    return path


def _bundled_digest() -> str:
    return hashlib.sha256((REPO_PROFILES / "cpu.toml").read_bytes()).hexdigest()


def test_calibrate_writes_a_new_profile_that_round_trips(tmp_path):
    before = _bundled_digest()
    m = _write_measurements(tmp_path / "measurements.json", _synthetic_records())
    out = tmp_path / "cpu-calibrated.toml"
    res = calibrate([m], "cpu", out)
    assert _bundled_digest() == before  # the base profile is never edited
    p = load_profile(out)
    assert p == res.profile and p.name == "cpu-calibrated"
    assert p.calibration.base_profile == "cpu"
    assert p.calibration.measurement_files == (str(m),)
    assert p.calibration.n_measurements == len(_synthetic_records())
    assert "leave-one-size-out MAPE" in p.calibration.notes
    assert "no energy counter" in p.calibration.notes
    for k in TIME_NAMES:
        assert getattr(p.coefficients, k) == pytest.approx(KNOWN[k], rel=1e-5)
        assert p.coefficient_sources[k].startswith("fitted: ")
    # without measured energy: energy per operation follows the fitted time (busy device at board power)
    base = load_profile("cpu")
    dynamic_w = base.specs.board_power_w - base.coefficients.static_power_w
    assert p.coefficients.energy_per_neuron_update_pj == pytest.approx(KNOWN["time_per_neuron_update_ns"] * dynamic_w * 1e3,
                                                                       rel=1e-5)
    assert p.coefficient_sources["energy_per_neuron_update_pj"].startswith("derived from the fitted time")
    assert p.coefficients.energy_per_byte_dram_pj == base.coefficients.energy_per_byte_dram_pj
    assert p.coefficients.static_power_w == base.coefficients.static_power_w
    # and it writes what it reads
    assert load_profile(out) == load_profile(str(out))
    assert profile_to_toml(p) == out.read_text()


def test_calibrate_fits_energy_when_it_was_measured(tmp_path):
    records = _synthetic_records()
    for r in records:
        r["energy_source"] = "rapl"
        r["energy_j_per_image"] = 3.0 * r["wall_s_per_image"] + 1e-3  # 3 W static + constant-ish dynamic
    m = _write_measurements(tmp_path / "m.json", records)
    res = calibrate([m], "cpu", tmp_path / "cpu-e.toml")
    assert res.energy_fitted
    assert res.profile.coefficient_sources["static_power_w"].startswith("fitted")
    assert res.profile.coefficients.static_power_w > 0


def test_calibrate_refuses_to_overwrite_or_reuse_bundled_names(tmp_path):
    m = _write_measurements(tmp_path / "m.json", _synthetic_records())
    with pytest.raises(ValueError, match="bundled profile name"):
        calibrate([m], "cpu", tmp_path / "cpu.toml")
    with pytest.raises(ValueError, match="bundled"):
        calibrate([m], "cpu", REPO_PROFILES / "cpu-new.toml")
    out = tmp_path / "mine.toml"
    calibrate([m], "cpu", out)
    with pytest.raises(ValueError, match="exists"):
        calibrate([m], "cpu", out)
    calibrate([m], "cpu", out, force=True)
    with pytest.raises(ValueError, match="must match"):
        calibrate([m], "cpu", tmp_path / "Bad Name.toml")
    with pytest.raises(ValueError, match="no such measurements"):
        calibrate([tmp_path / "missing.json"], "cpu", tmp_path / "x.toml")


def test_calibrate_cli(tmp_path, capsys):
    m = _write_measurements(tmp_path / "m.json", _synthetic_records(noise=0.03))
    out = tmp_path / "cpu-cal.toml"
    assert main(["calibrate", str(m), "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["profile"] == "cpu-cal" and doc["records"] == 36
    assert 0 < doc["leave_one_size_out"]["mape"] < 0.15
    assert set(doc["leave_one_size_out"]["by_phase"]) == {"training", "inference"}
    # the new profile drives `dse cost`
    assert main(["cost", "--design", "fspinn", "--neurons", "100", "--profile", str(out), "--json"]) == 0
    cost = json.loads(capsys.readouterr().out)
    assert cost["profile"] == "cpu-cal" and cost["calibrated"] is True
    assert "calibration: nnls" in cost["labels"]["time"]
    # text output and a one-line error
    assert main(["calibrate", str(m), "--out", str(tmp_path / "c2.toml")]) == 0
    assert "held-out (leave one size out) MAPE" in capsys.readouterr().out
    assert main(["calibrate", str(tmp_path / "nope.json"), "--out", str(tmp_path / "c3.toml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_coefficients_dataclass_has_the_fitted_names():
    names = {f.name for f in dataclasses.fields(Coefficients)}
    assert set(TIME_NAMES) <= names
