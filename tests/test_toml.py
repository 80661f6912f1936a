"""TOML the project writes (dse.cost.toml, through tomli-w): profiles and the activity table read back equal."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import tomllib
from pathlib import Path

import pytest

from dse.cost.activity import (STAT_NAMES, activity_table_toml, counts_from_stats, load_activity_table,
                               parse_activity_table)
from dse.cost.profiles import load_profile, loads_profile
from dse.cost.structure import design_structure
from dse.cost.schema import Calibration
from dse.cost.toml import profile_to_toml
from tomli_w import dumps as dump_toml
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


def test_non_finite_numbers_are_refused_with_the_field_named() -> None:
    base = load_profile("cpu")
    broken = dataclasses.replace(base, coefficients=dataclasses.replace(base.coefficients, static_power_w=math.nan))
    with pytest.raises(ValueError, match=r"coefficients\.static_power_w"):
        profile_to_toml(broken)


def test_activity_table_written_from_records_reads_back_the_same_statistics() -> None:
    table = load_activity_table()
    records = [{"dataset": ds, "design": design, "phase": phase, "neurons": n, "precision": "fp32",
                "counts_per_image": counts_from_stats(design_structure(design), n, phase, st)}
               for (ds, design, phase), points in table.points.items() for n, st in points]
    records.append({**records[0], "precision": "Q0.8"})  # quantized records are left out of the table
    text = activity_table_toml(records, 'measured "here"\nand there')
    assert text.startswith("# Per-presentation activity statistics")
    again = parse_activity_table(tomllib.loads(text), "written")
    assert again.source == 'measured "here"\nand there'
    assert again.points.keys() == table.points.keys()
    for key, points in table.points.items():
        for (n, st), (n2, st2) in zip(points, again.points[key], strict=True):
            assert n == n2
            for name in STAT_NAMES:
                assert getattr(st2, name) == pytest.approx(getattr(st, name), abs=1e-4), (key, n, name)
