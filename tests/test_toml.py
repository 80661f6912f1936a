"""The TOML writer (dse.cost.toml): profiles written to a new file read back equal."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import tomllib
from pathlib import Path

import pytest

from dse.cost.profiles import load_profile, loads_profile
from dse.cost.schema import Calibration
from dse.cost.toml import profile_to_toml
from tests.toml_writer import dump_toml
from tests.profile_docs import CALIBRATION, EXPECTED_NAMES, bundled_doc


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_round_trip_through_a_new_file(tmp_path: Path, name: str) -> None:
    profile = load_profile(name)
    path = tmp_path / f"{name}.toml"
    path.write_text(profile_to_toml(profile), encoding="utf-8")
    again = load_profile(str(path))
    assert again == profile
    assert again.path == str(path) and again.path != profile.path


def test_round_trip_with_calibration_and_awkward_strings() -> None:
    base = load_profile("jetson-nano")
    calibrated = dataclasses.replace(
        base,
        name="jetson-nano-cal",
        notes='quote " backslash \\ newline \n tab \t bell \x07 del \x7f unicode \u00b5s \U0001f600',
        coefficients=dataclasses.replace(base.coefficients, static_power_w=0.0, time_per_byte_dram_ns=1e-12),
        calibration=Calibration(
            base_profile="jetson-nano",
            fit_date="2025-01-31",
            measurement_files=("runs/a.json", "runs/b c.json"),
            method="nnls",
            n_measurements=12,
            time_residual_rms_fraction=0.05,
            energy_residual_max_fraction=0.2,
        ),
    )
    text = profile_to_toml(calibrated)
    again = loads_profile(text, expected_name="jetson-nano-cal")
    assert again == calibrated
    assert again.calibration is not None and again.calibration.measurement_files == ("runs/a.json", "runs/b c.json")


def test_native_toml_date_is_accepted_and_normalised() -> None:
    doc = bundled_doc("gtx1060")
    doc["calibration"] = {**CALIBRATION, "fit_date": dt.date(2025, 1, 31)}
    profile = loads_profile(dump_toml(doc))
    assert profile.calibration is not None and profile.calibration.fit_date == "2025-01-31"


def test_written_toml_has_units_in_every_numeric_key() -> None:
    text = profile_to_toml(load_profile("gtx1080ti"))
    data = tomllib.loads(text)
    dimensionless = {"cores", "sm_count", "schema_version"}
    for section in ("specs", "coefficients"):
        for key, value in data[section].items():
            if isinstance(value, (int, float)) and key not in dimensionless:
                assert re.search(r"_(bytes|mhz|gflops|gbps|w|us|ns|pj)$", key), key
