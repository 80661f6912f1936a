"""Hardware profiles: the bundled data, name lookup, validation errors."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dse.cost.priors import initial_coefficients
from dse.cost.profiles import list_profiles, load_all_profiles, load_profile, profile_from_dict
from dse.cost.schema import KINDS, HardwareProfile, ProfileError, coefficient_fields, spec_fields
from tomli_w import dumps as dump_toml
from tests.profile_docs import CALIBRATION, EXPECTED_NAMES, REPO_PROFILES, bundled_doc


GIB = 1024**3


# --------------------------------------------------------------------------- bundled profiles


def test_exactly_the_ten_bundled_names() -> None:
    assert list_profiles() == EXPECTED_NAMES


def test_bundled_files_in_repo_match_package_data() -> None:
    assert sorted(p.stem for p in REPO_PROFILES.glob("*.toml")) == EXPECTED_NAMES


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_every_bundled_profile_loads_with_sources(name: str) -> None:
    profile = load_profile(name)
    assert isinstance(profile, HardwareProfile)
    assert profile.name == name
    assert profile.kind in KINDS
    assert profile.display_name and profile.vendor
    assert Path(profile.path).name == f"{name}.toml"
    for info in spec_fields():
        value = getattr(profile.specs, info.key)
        if info.required:
            assert value is not None, info.key
        if value is not None:
            assert profile.sources[info.key].strip(), info.key
        else:
            assert info.key not in profile.sources
    for info in coefficient_fields():
        assert getattr(profile.coefficients, info.key) >= 0
        assert profile.coefficient_sources[info.key].strip()


def test_load_all_profiles_in_name_order() -> None:
    assert [p.name for p in load_all_profiles()] == EXPECTED_NAMES


def test_load_by_path_equals_load_by_name() -> None:
    by_path = load_profile(str(REPO_PROFILES / "gtx1060.toml"))
    assert by_path == load_profile("gtx1060")
    assert load_profile(REPO_PROFILES / "gtx1060.toml") == by_path  # PathLike too


SPOT_CHECKS = [
    ("gtx1060", "cores", 1280),
    ("gtx1060", "memory_bytes", 6 * GIB),
    ("gtx1060", "memory_bandwidth_gbps", 192.0),
    ("gtx1060", "board_power_w", 120.0),
    ("gtx1060", "boost_clock_mhz", 1708.0),
    ("gtx1080ti", "cores", 3584),
    ("gtx1080ti", "memory_bytes", 11 * GIB),
    ("gtx1080ti", "memory_bandwidth_gbps", 484.0),
    ("gtx1080ti", "board_power_w", 250.0),
    ("rtx2080ti", "cores", 4352),
    ("rtx2080ti", "memory_bytes", 11 * GIB),
    ("rtx2080ti", "memory_bandwidth_gbps", 616.0),
    ("rtx2080ti", "board_power_w", 250.0),
    ("jetson-nano", "cores", 128),
    ("jetson-nano", "memory_bytes", 4 * GIB),
    ("jetson-nano", "memory_bandwidth_gbps", 25.6),
    ("jetson-nano", "board_power_w", 10.0),
    ("jetson-nano", "min_power_mode_w", 5.0),
    ("jetson-tx2", "cores", 256),
    ("jetson-tx2", "memory_bytes", 8 * GIB),
    ("jetson-tx2", "memory_bandwidth_gbps", 59.7),
    ("jetson-tx2", "board_power_w", 15.0),
    ("jetson-tx2", "min_power_mode_w", 7.5),
    ("xavier-nx", "cores", 384),
    ("xavier-nx", "memory_bandwidth_gbps", 51.2),
    ("xavier-nx", "board_power_w", 20.0),
    ("xavier-nx", "min_power_mode_w", 10.0),
    ("orin-nano", "cores", 1024),
    ("orin-nano", "memory_bytes", 8 * GIB),
    ("orin-nano", "memory_bandwidth_gbps", 68.0),
    ("orin-nano", "board_power_w", 15.0),
    ("orin-nano", "min_power_mode_w", 7.0),
    ("a100", "cores", 6912),
    ("a100", "memory_bytes", 40 * GIB),
    ("a100", "memory_bandwidth_gbps", 1555.0),
    ("a100", "board_power_w", 400.0),
    ("h100", "cores", 16896),
    ("h100", "memory_bytes", 80 * GIB),
    ("h100", "memory_bandwidth_gbps", 3350.0),
    ("h100", "board_power_w", 700.0),
    ("cpu", "cores", 2),
]


@pytest.mark.parametrize(("name", "key", "expected"), SPOT_CHECKS)
def test_key_figures(name: str, key: str, expected: float) -> None:
    assert getattr(load_profile(name).specs, key) == expected


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_peak_fp32_matches_cores_times_clock(name: str) -> None:
    specs = load_profile(name).specs
    # GPUs: one FMA (2 FLOP) per core per cycle; AVX2 CPU: 2 FMA units x 8 lanes x 2.
    flop_per_cycle = 32 if load_profile(name).kind == "cpu" else 2
    expected = specs.cores * specs.boost_clock_mhz * flop_per_cycle / 1000
    assert specs.peak_fp32_gflops == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_estimates_are_labelled(name: str) -> None:
    profile = load_profile(name)
    labelled = ("estimate", "modelled", "derived")
    for key in ("idle_power_w", "kernel_launch_overhead_us"):
        assert profile.sources[key].startswith(labelled[:2]), key
    if profile.kind == "cpu":  # a modelled machine: nothing in it is a vendor figure
        for key, text in profile.sources.items():
            assert text.startswith(labelled), key


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_bundled_coefficients_are_the_documented_derivation(name: str) -> None:
    profile = load_profile(name)
    values, sources = initial_coefficients(profile.kind, profile.specs)
    assert dataclasses.asdict(profile.coefficients) == values
    assert dict(profile.coefficient_sources) == sources


def test_profiles_are_hashable_and_frozen() -> None:
    profile = load_profile("a100")
    assert hash(profile) == hash(load_profile("a100"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        profile.sources["cores"] = "x"  # type: ignore[index]


# --------------------------------------------------------------------------- name lookup


def test_unknown_name_lists_available_names() -> None:
    with pytest.raises(ProfileError) as err:
        load_profile("gtx1070")
    message = str(err.value)
    assert "'gtx1070'" in message and "\n" not in message
    for name in EXPECTED_NAMES:
        assert name in message


def test_missing_file_is_a_profile_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ProfileError, match=re.escape(str(path))):
        load_profile(str(path))


def test_invalid_toml_names_the_file_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("schema_version = 1\nname = [\n", encoding="utf-8")
    with pytest.raises(ProfileError) as err:
        load_profile(str(path))
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_non_utf8_is_a_profile_error(tmp_path: Path) -> None:
    path = tmp_path / "latin.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ProfileError, match="UTF-8"):
        load_profile(str(path))


# --------------------------------------------------------------------------- validation errors

Mutation = Callable[[dict[str, Any]], None]


def _set(section: str | None, key: str, value: Any) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        (doc if section is None else doc[section])[key] = value

    return apply


def _delete(section: str | None, key: str) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        del (doc if section is None else doc[section])[key]

    return apply


def _rename(section: str, old: str, new: str) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        doc[section][new] = doc[section].pop(old)

    return apply


def _chain(*steps: Mutation) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        for step in steps:
            step(doc)

    return apply


# (id, base profile, mutation, key the message must name, further text it must contain)
ERROR_CASES: list[tuple[str, str, Mutation, str, str]] = [
    ("schema-version-2", "gtx1060", _set(None, "schema_version", 2), "schema_version", "must be 1"),
    ("schema-version-missing", "gtx1060", _delete(None, "schema_version"), "schema_version", "missing"),
    ("unknown-top-level", "gtx1060", _set(None, "colour", "red"), "colour", "unknown top-level key"),
    ("typo-top-level", "gtx1060", _set(None, "vendr", "x"), "vendr", "did you mean 'vendor'"),
    ("unknown-spec", "gtx1060", _rename("specs", "cores", "coress"), "specs.coress", "unknown key"),
    ("unknown-coefficient", "gtx1060", _set("coefficients", "fudge_factor_w", 1.0), "coefficients.fudge_factor_w", "unknown key"),
    ("unknown-calibration-key", "gtx1060", _set(None, "calibration", {**CALIBRATION, "author": "me"}), "calibration.author", "unknown key"),
    ("missing-spec", "gtx1060", _chain(_delete("specs", "cores"), _delete("sources", "cores")), "specs.cores", "missing required key"),
    ("missing-display-name", "gtx1060", _delete(None, "display_name"), "display_name", "missing required key"),
    ("missing-table", "gtx1060", _delete(None, "coefficients"), "coefficients", "missing required table"),
    ("missing-coefficient", "gtx1060", _chain(_delete("coefficients", "static_power_w"), _delete("coefficient_sources", "static_power_w")), "coefficients.static_power_w", "missing required key"),
    ("string-for-int", "gtx1060", _set("specs", "cores", "1280"), "specs.cores", "must be an integer"),
    ("string-for-number", "gtx1060", _set("specs", "board_power_w", "120 W"), "specs.board_power_w", "must be a number"),
    ("float-for-int", "gtx1060", _set("specs", "memory_bytes", 6.0e9), "specs.memory_bytes", "must be an integer"),
    ("bool-for-int", "gtx1060", _set("specs", "cores", True), "specs.cores", "must be an integer"),
    ("number-for-string", "gtx1060", _set(None, "display_name", 1060), "display_name", "must be a non-empty string"),
    ("empty-string", "gtx1060", _set(None, "display_name", "  "), "display_name", "must be a non-empty string"),
    ("list-for-number", "gtx1060", _set("specs", "boost_clock_mhz", [1708]), "specs.boost_clock_mhz", "must be a number"),
    ("zero-cores", "gtx1060", _set("specs", "cores", 0), "specs.cores", "must be > 0"),
    ("negative-bandwidth", "gtx1060", _set("specs", "memory_bandwidth_gbps", -192.0), "specs.memory_bandwidth_gbps", "must be > 0"),
    ("negative-power", "gtx1060", _set("specs", "board_power_w", -1), "specs.board_power_w", "got -1"),
    ("negative-coefficient", "gtx1060", _set("coefficients", "static_power_w", -0.5), "coefficients.static_power_w", "must be >= 0"),
    ("nan", "gtx1060", _set("specs", "board_power_w", float("nan")), "specs.board_power_w", "finite"),
    ("inf", "gtx1060", _set("coefficients", "energy_per_byte_dram_pj", float("inf")), "coefficients.energy_per_byte_dram_pj", "finite"),
    ("spec-without-source", "gtx1060", _delete("sources", "cores"), "sources.cores", "has no source"),
    ("source-without-spec", "gtx1060", _delete("specs", "l2_cache_bytes"), "sources.l2_cache_bytes", "cites nothing"),
    ("empty-source", "gtx1060", _set("sources", "cores", ""), "sources.cores", "citation"),
    ("coefficient-without-source", "gtx1060", _delete("coefficient_sources", "static_power_w"), "coefficient_sources.static_power_w", "has no source"),
    ("unitless-key", "gtx1060", _rename("specs", "memory_bytes", "memory"), "specs.memory", "use 'specs.memory_bytes'"),
    ("unitless-new-key", "gtx1060", _set("specs", "transistors", 4400000000), "specs.transistors", "no unit"),
    ("wrong-unit-gb", "gtx1060", _chain(_rename("specs", "memory_bytes", "memory_gb"), _set("specs", "memory_gb", 6)), "specs.memory_gb", "use 'specs.memory_bytes'"),
    ("wrong-unit-tbps", "gtx1060", _rename("specs", "memory_bandwidth_gbps", "memory_bandwidth_tbps"), "specs.memory_bandwidth_tbps", "use 'specs.memory_bandwidth_gbps'"),
    ("wrong-unit-mw", "gtx1060", _rename("specs", "board_power_w", "board_power_mw"), "specs.board_power_mw", "use 'specs.board_power_w'"),
    ("wrong-unit-tflops", "gtx1060", _rename("specs", "peak_fp32_gflops", "peak_fp32_tflops"), "specs.peak_fp32_tflops", "use 'specs.peak_fp32_gflops'"),
    ("wrong-unit-coefficient", "gtx1060", _rename("coefficients", "time_per_step_overhead_us", "time_per_step_overhead_ms"), "coefficients.time_per_step_overhead_ms", "use 'coefficients.time_per_step_overhead_us'"),
    ("bad-kind", "gtx1060", _set(None, "kind", "fpga"), "kind", "gpu, cpu, soc"),
    ("bad-vendor", "gtx1060", _set(None, "vendor", "NVIDIA Corp"), "vendor", "must match"),
    ("name-mismatch", "gtx1060", _set(None, "name", "gtx1070"), "name", "must match"),
    ("base-above-boost", "gtx1060", _set("specs", "base_clock_mhz", 2000.0), "specs.base_clock_mhz", "must not exceed"),
    ("idle-above-board", "gtx1060", _set("specs", "idle_power_w", 500.0), "specs.idle_power_w", "must not exceed"),
    ("min-mode-above-board", "jetson-nano", _set("specs", "min_power_mode_w", 50.0), "specs.min_power_mode_w", "must not exceed"),
    ("sm-on-cpu", "cpu", _chain(_set("specs", "sm_count", 2), _set("sources", "sm_count", "x")), "specs.sm_count", "does not apply"),
    ("specs-not-table", "gtx1060", _set(None, "specs", 5), "specs", "must be a table"),
    ("bad-fit-date", "gtx1060", _set(None, "calibration", {**CALIBRATION, "fit_date": "31/01/2025"}), "calibration.fit_date", "ISO date"),
    ("impossible-fit-date", "gtx1060", _set(None, "calibration", {**CALIBRATION, "fit_date": "2025-02-30"}), "calibration.fit_date", "not a valid date"),
    ("no-measurement-files", "gtx1060", _set(None, "calibration", {**CALIBRATION, "measurement_files": []}), "calibration.measurement_files", "non-empty list"),
    ("negative-residual", "gtx1060", _set(None, "calibration", {**CALIBRATION, "time_residual_rms_fraction": -0.1}), "calibration.time_residual_rms_fraction", ">= 0"),
]


@pytest.mark.parametrize(
    ("base", "mutate", "key", "text"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_validation_error_names_file_and_key(
    tmp_path: Path, base: str, mutate: Mutation, key: str, text: str
) -> None:
    doc = bundled_doc(base)
    mutate(doc)
    path = tmp_path / f"{base}.toml"
    path.write_text(dump_toml(doc), encoding="utf-8")
    with pytest.raises(ProfileError) as err:
        load_profile(str(path))
    message = str(err.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"{path}: ")
    assert f"'{key}'" in message
    assert text in message
    assert err.value.key == key


def test_bundled_errors_use_repo_relative_path() -> None:
    doc = bundled_doc("gtx1060")
    doc["specs"]["coress"] = doc["specs"].pop("cores")
    with pytest.raises(ProfileError) as err:
        profile_from_dict(doc, origin="hw_profiles/gtx1060.toml")
    assert str(err.value).startswith("hw_profiles/gtx1060.toml: unknown key 'specs.coress'")
    assert "(allowed: " in str(err.value)


def test_line_breaks_in_keys_stay_on_one_line() -> None:
    doc = bundled_doc("gtx1060")
    doc["specs"]["bad\nkey"] = 1
    with pytest.raises(ProfileError) as err:
        profile_from_dict(doc, origin="a\nb.toml")
    assert "\n" not in str(err.value)
