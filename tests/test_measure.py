"""`dse measure`: energy counters (fake NVML library, fake powercap tree), the grid, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dse.cli.main import main
from dse.cost.profiles import load_profile
from dse.calibration.measure import (MEASUREMENTS, WEIGHTS_OFFSET, Settings, load_measurements, measure_grid,
                                     parse_sizes, weights_at_offset)
from dse.calibration.meters import (NO_NVIDIA, ModelledPowerMeter, NvmlCounter, NvmlMeter, RaplCounter, RaplMeter,
                                    choose_meter)


class FakeNvml:
    """Just enough of pynvml: a GPU whose energy counter (mJ) advances 1500 mJ per reading."""

    def __init__(self, devices: int = 1, energy: bool = True, init_error: Exception | None = None) -> None:
        self.devices, self.energy, self.init_error = devices, energy, init_error
        self.mj = 10_000
        self.shutdown = False

    def nvmlInit(self):
        if self.init_error:
            raise self.init_error

    def nvmlShutdown(self):
        self.shutdown = True

    def nvmlDeviceGetCount(self):
        return self.devices

    def nvmlDeviceGetHandleByIndex(self, i):
        return ("gpu", i)

    def nvmlDeviceGetName(self, handle):
        return b"NVIDIA Fake 100"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if not self.energy:
            raise RuntimeError("Not Supported")
        self.mj += 1500
        return self.mj


def test_nvml_energy_is_the_counter_difference():
    fake = FakeNvml()
    counter = NvmlCounter(fake)
    assert counter.available and counter.name == "NVIDIA Fake 100"
    assert counter.note == "NVML energy counter on NVIDIA Fake 100"
    meter = NvmlMeter(counter)
    token = meter.start()
    sample = meter.stop(token, wall_s=2.0, cpu_s=1.0)
    assert sample.energy_j == pytest.approx(1.5)  # 1500 mJ between the two readings
    assert sample.source == "nvml" and sample.label == "measured (NVML energy counter on NVIDIA Fake 100)"
    counter.close()
    assert fake.shutdown


@pytest.mark.parametrize("fake, reason", [
    (FakeNvml(init_error=RuntimeError("NVML Shared Library Not Found")), "NVML Shared Library Not Found"),
    (FakeNvml(devices=0), "no GPU with index 0"),
])
def test_no_nvidia_device_is_reported_cleanly(fake, reason):
    counter = NvmlCounter(fake)
    assert not counter.available
    assert counter.note.startswith(NO_NVIDIA) and reason in counter.note
    assert "\n" not in counter.note


def test_gpu_without_energy_counter():
    counter = NvmlCounter(FakeNvml(energy=False))
    assert not counter.available and "no energy counter" in counter.note


def test_real_nvml_on_this_machine_says_what_it_found():
    counter = NvmlCounter()  # the real pynvml
    if counter.available:
        assert counter.read_j() >= 0
    else:
        assert counter.note.startswith(NO_NVIDIA) or "no energy counter" in counter.note
    counter.close()


def _powercap(root: Path, uj: int, max_uj: int = 262143328850) -> Path:
    d = root / "intel-rapl:0"
    d.mkdir(parents=True, exist_ok=True)
    (d / "energy_uj").write_text(f"{uj}\n")
    (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return d


def test_rapl_from_a_fake_sysfs_tree_including_wraparound(tmp_path):
    d = _powercap(tmp_path, 5_000_000, max_uj=9_999_999)
    counter = RaplCounter(tmp_path)
    assert counter.available and "RAPL package energy counter" in counter.note
    meter = RaplMeter(counter, "Test CPU")
    token = meter.start()
    (d / "energy_uj").write_text("7500000\n")
    sample = meter.stop(token, 1.0, 1.0)
    assert sample.energy_j == pytest.approx(2.5) and sample.source == "rapl"
    assert "RAPL" in sample.label and "Test CPU" in sample.label
    # the counter wrapped past max_energy_range_uj
    assert counter.delta_j(9_000_000, 500_000) == pytest.approx((9_999_999 - 9_000_000 + 1 + 500_000) / 1e6)


def test_unreadable_rapl(tmp_path):
    counter = RaplCounter(tmp_path / "nothing")
    assert not counter.available and counter.note.startswith("RAPL not readable")


def test_modelled_power_scales_with_busy_cores():
    p = load_profile("cpu")
    meter = ModelledPowerMeter(p, cores=2)
    static, board = p.coefficients.static_power_w, p.specs.board_power_w
    assert meter.power_w(1.0, 0.0) == pytest.approx(static)
    assert meter.power_w(1.0, 2.0) == pytest.approx(board)
    assert meter.power_w(1.0, 1.0) == pytest.approx(static + (board - static) / 2)
    sample = meter.stop(None, 2.0, 2.0)
    assert sample.energy_j == pytest.approx(2.0 * (static + (board - static) / 2))
    assert sample.label.startswith("modelled power x measured time") and sample.source == "modelled"


def test_meter_choice(tmp_path):
    _powercap(tmp_path, 1)
    nv, rapl, p = NvmlCounter(FakeNvml()), RaplCounter(tmp_path), load_profile("cpu")
    assert isinstance(choose_meter(True, nv, rapl, p, "cpu", 2), NvmlMeter)
    assert isinstance(choose_meter(False, nv, rapl, p, "cpu", 2), RaplMeter)
    assert isinstance(choose_meter(False, nv, None, p, "cpu", 2), ModelledPowerMeter)
    assert isinstance(choose_meter(True, NvmlCounter(FakeNvml(devices=0)), None, p, "cpu", 2), ModelledPowerMeter)


# --------------------------------------------------------------------------- the grid


SMALL = Settings(images=3, dataset="mnist", data_dir=None, seed=0, engine="numba", repeats=2)


def test_measure_grid_records_and_resumes(tmp_path):
    _powercap(tmp_path / "powercap", 1000)
    seen: list[tuple[str, bool]] = []
    doc = measure_grid(["fspinn", "baseline"], [8, 16], ["fp32", "weights=Q0.8"], SMALL, tmp_path / "m",
                       nvml=FakeNvml(devices=0), powercap_root=tmp_path / "powercap",
                       on_record=lambda r, skipped: seen.append((r["key"], skipped)))
    assert len(doc["records"]) == 2 * 2 * 2 * 2
    assert not any(s for _, s in seen)
    rec = next(r for r in doc["records"] if r["key"] == "fspinn/8/weights=Q0.8/training")
    assert rec["counts"]["images"] == 3 and rec["counts_per_image"]["steps"] >= 350
    assert rec["wall_s_per_image"] > 0 and rec["cpu_s_per_image"] > 0 and len(rec["wall_s_all"]) == 2
    assert rec["wall_s"] == min(rec["wall_s_all"])
    assert rec["energy_source"] == "rapl"  # the fake counter does not move: 0 J, but measured
    assert doc["machine"]["nvidia"].startswith(NO_NVIDIA)
    on_disk = load_measurements(tmp_path / "m" / MEASUREMENTS)
    assert on_disk["records"] == doc["records"]
    # resume: nothing is measured again
    seen.clear()
    measure_grid(["fspinn", "baseline"], [8, 16], ["fp32", "weights=Q0.8"], SMALL, tmp_path / "m",
                 nvml=FakeNvml(devices=0), powercap_root=tmp_path / "powercap",
                 on_record=lambda r, skipped: seen.append((r["key"], skipped)))
    assert seen and all(s for _, s in seen)
    # more rounds later: one more sample per record, the fastest kept
    more = measure_grid(["fspinn"], [8], ["fp32"], Settings(3, "mnist", None, 0, "numba", 3), tmp_path / "m",
                        nvml=FakeNvml(devices=0), powercap_root=tmp_path / "powercap")
    rec = next(r for r in more["records"] if r["key"] == "fspinn/8/fp32/inference")
    assert len(rec["cpu_s_all"]) == 3 and rec["cpu_s"] == min(rec["cpu_s_all"]) and rec["repeats"] == 3
    # every sample's weights start at the same offset (row alignment changes the synaptic loop's speed)
    assert rec["weights_address_mod_64_all"] == [WEIGHTS_OFFSET] * 3
    assert len(more["records"]) == 16  # the other cells are kept as they were
    # other settings: refused
    with pytest.raises(ValueError, match="other settings"):
        measure_grid(["fspinn"], [8], ["fp32"], Settings(4, "mnist", None, 0, "numba", 2), tmp_path / "m",
                     nvml=FakeNvml(devices=0))


def test_measure_cli(tmp_path, capsys):
    out = tmp_path / "m"
    code = main(["measure", "--designs", "fspinn", "--sizes", "8", "--images", "2", "--repeats", "1",
                 "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "fspinn/8/fp32/training" in captured.out and "records in" in captured.out
    doc = json.loads((out / MEASUREMENTS).read_text())
    assert {r["phase"] for r in doc["records"]} == {"training", "inference"}
    assert all(r["energy_label"] for r in doc["records"])
    assert main(["measure", "--sizes", "0", "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["measure", "--designs", "nope", "--out", str(out)]) == 2


def test_parse_sizes():
    assert parse_sizes(["100", "225,400"]) == [100, 225, 400]
    with pytest.raises(ValueError, match="whole numbers"):
        parse_sizes(["ten"])
    with pytest.raises(ValueError, match="> 0"):
        parse_sizes(["-3"])


def test_load_measurements_errors(tmp_path):
    with pytest.raises(ValueError, match="no such"):
        load_measurements(tmp_path / "x.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not a readable"):
        load_measurements(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"kind": "train"}')
    with pytest.raises(ValueError, match="not a `dse measure`"):
        load_measurements(tmp_path / "other.json")


def test_full_grid_adds_probes_that_move_one_term(tmp_path):
    from dse.calibration.grid import grid_cells, variant_named

    cells = grid_cells(["fspinn"], [8, 16, 24], ["fp32"], "full")
    by_variant = {}
    for c in cells:
        by_variant.setdefault(c.variant.name, []).append(c.neurons)
    assert by_variant == {"": [8, 16, 24], "rate0.5": [8, 16, 24], "rate2": [8, 16, 24], "steps0.5": [8, 24],
                          "steps2": [8, 24], "blank": [8, 16, 24]}
    assert grid_cells(["fspinn"], [8, 16], ["fp32"], "sizes") == grid_cells(["fspinn"], [8, 16], ["fp32"])
    with pytest.raises(ValueError, match="unknown grid"):
        grid_cells(["fspinn"], [8], ["fp32"], "big")
    with pytest.raises(ValueError, match="unknown measurement variant"):
        variant_named("rate3")
    doc = measure_grid(["fspinn"], [8, 16], ["fp32"], Settings(2, "mnist", None, 0, "numba", 1, threads=1),
                       tmp_path / "m", grid="full", nvml=FakeNvml(devices=0))
    recs = {r["key"]: r for r in doc["records"]}
    plain, blank = recs["fspinn/8/fp32/inference"], recs["fspinn/8/fp32/inference/blank"]
    assert blank["variant"] == "blank" and blank["inputs"] == "blank"
    assert blank["counts"]["input_spikes"] == 0 and blank["counts"]["synaptic_events"] == 0
    assert blank["counts"]["neuron_updates"] > plain["counts"]["neuron_updates"]  # every re-presentation runs
    fast, slow = recs["fspinn/8/fp32/training/rate2"], recs["fspinn/8/fp32/training/rate0.5"]
    assert fast["f_max_hz"] == 2 * plain["f_max_hz"] == 4 * slow["f_max_hz"]
    assert fast["counts_per_image"]["input_spikes"] > 2 * slow["counts_per_image"]["input_spikes"]
    long_ = recs["fspinn/16/fp32/inference/steps2"]
    assert long_["presentation_steps"] == 2 * plain["presentation_steps"]
    assert plain["threads"] == 1


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
@pytest.mark.parametrize("offset", [0, 16, 48])
def test_weights_at_offset_copies_to_the_asked_alignment(dtype, offset):
    w = np.arange(784 * 5, dtype=dtype).reshape(784, 5)
    out = weights_at_offset(w, offset)
    assert out.ctypes.data % 64 == offset and out.flags.c_contiguous and out.dtype == dtype
    np.testing.assert_array_equal(out, w)
    out[0, 0] = 7  # a copy: the engine may write it
    assert w[0, 0] == 0
