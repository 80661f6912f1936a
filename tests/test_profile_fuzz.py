"""Fuzzing the profile loader: whatever a file holds, only a one-line ProfileError escapes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dse.cost.profiles import load_profile, loads_profile
from dse.cost.schema import HardwareProfile, ProfileError, coefficient_fields, spec_fields
from dse.cost.toml import profile_to_toml
from tomli_w import dumps as dump_toml
from tests.profile_docs import EXPECTED_NAMES, bundled_doc


# --------------------------------------------------------------------------- fuzzing

_KNOWN_KEYS = (
    ["schema_version", "name", "display_name", "kind", "vendor", "notes", "specs", "sources"]
    + ["coefficients", "coefficient_sources", "calibration", "base_profile", "fit_date", "measurement_files"]
    + [f.key for f in spec_fields()]
    + [f.key for f in coefficient_fields()]
    + ["memory_gb", "board_power_mw", "memory", "coress"]
)
_keys = st.one_of(st.sampled_from(_KNOWN_KEYS), st.text(max_size=12))
_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["gpu", "cpu", "soc", "nvidia", "gtx1060", "2025-01-31"]),
    st.dates(),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_documents = st.dictionaries(_keys, _values, max_size=8)
_FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load_or_profile_error(text: str) -> HardwareProfile | None:
    try:
        return loads_profile(text, origin="fuzz.toml")
    except ProfileError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("fuzz.toml: ")
        return None


@_FUZZ
@given(_documents)
def test_fuzz_random_documents_only_raise_profile_error(doc: dict[str, Any]) -> None:
    _load_or_profile_error(dump_toml(doc))


@_FUZZ
@given(st.text(max_size=200))
def test_fuzz_random_text_only_raises_profile_error(text: str) -> None:
    _load_or_profile_error(text)


@settings(max_examples=30, deadline=None)
@given(raw=st.binary(max_size=200))
def test_fuzz_random_bytes_on_disk_only_raise_profile_error(tmp_path_factory: pytest.TempPathFactory, raw: bytes) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzzbytes.toml"
    path.write_bytes(raw)
    with pytest.raises(ProfileError):
        load_profile(str(path))


_SECTIONS = [None, "specs", "sources", "coefficients", "coefficient_sources", "calibration"]


@_FUZZ
@given(
    name=st.sampled_from(EXPECTED_NAMES),
    edits=st.lists(st.tuples(st.sampled_from(_SECTIONS), _keys, _values), min_size=1, max_size=4),
)
def test_fuzz_random_edits_of_a_good_profile_only_raise_profile_error(
    name: str, edits: list[tuple[str | None, str, Any]]
) -> None:
    doc = copy.deepcopy(_GOOD_DOCS[name])
    for section, key, value in edits:
        target = doc if section is None else doc.setdefault(section, {})
        if isinstance(target, dict):
            target[key] = value
    _load_or_profile_error(dump_toml(doc))


_GOOD_DOCS = {name: bundled_doc(name) for name in EXPECTED_NAMES}
_positive = st.floats(min_value=1e-6, max_value=1e12, allow_nan=False, allow_infinity=False)
_non_negative = st.floats(min_value=0.0, max_value=1e12, allow_nan=False, allow_infinity=False)
_positive_int = st.integers(min_value=1, max_value=2**62)
_citation = st.text(min_size=1, max_size=40).filter(str.strip)
# Specs whose value is free (no cross-field relation to keep) and optional specs that can be dropped.
_FREE_FLOAT_SPECS = ["peak_fp32_gflops", "memory_bandwidth_gbps", "kernel_launch_overhead_us"]
_FREE_INT_SPECS = ["cores", "memory_bytes", "l2_cache_bytes", "sm_count", "shared_memory_per_sm_bytes"]
_OPTIONAL_SPECS = [f.key for f in spec_fields() if not f.required]


@st.composite
def _valid_mutation(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(EXPECTED_NAMES))
    doc = copy.deepcopy(_GOOD_DOCS[name])
    specs, sources = doc["specs"], doc["sources"]
    for key in draw(st.lists(st.sampled_from(_FREE_FLOAT_SPECS), unique=True)):
        specs[key] = draw(_positive)
    for key in draw(st.lists(st.sampled_from(_FREE_INT_SPECS), unique=True)):
        if key in specs:
            specs[key] = draw(_positive_int)
    # Raising boost clock / board power keeps base <= boost and idle, min <= board.
    specs["boost_clock_mhz"] *= draw(st.floats(min_value=1.0, max_value=10.0))
    specs["board_power_w"] *= draw(st.floats(min_value=1.0, max_value=10.0))
    for key in draw(st.lists(st.sampled_from(_OPTIONAL_SPECS), unique=True)):
        specs.pop(key, None)
        sources.pop(key, None)
    for key in draw(st.lists(st.sampled_from(sorted(sources)), unique=True)):
        sources[key] = draw(_citation)
    for key in draw(st.lists(st.sampled_from([f.key for f in coefficient_fields()]), unique=True)):
        doc["coefficients"][key] = draw(_non_negative)
    doc["display_name"] = draw(_citation)
    if draw(st.booleans()):
        doc["notes"] = draw(_citation)
    return name, doc


@_FUZZ
@given(_valid_mutation())
def test_fuzz_valid_mutations_still_load_and_round_trip(case: tuple[str, dict[str, Any]]) -> None:
    name, doc = case
    profile = loads_profile(dump_toml(doc), expected_name=name)
    for key, value in doc["specs"].items():
        assert getattr(profile.specs, key) == value
    for key, value in doc["coefficients"].items():
        assert getattr(profile.coefficients, key) == value
    assert dict(profile.sources) == doc["sources"]
    assert loads_profile(profile_to_toml(profile), expected_name=name) == profile
