"""The Cortex-M build of an export under QEMU (MPS2 boards, semihosting), and its measured memory.

Needs Debian's gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm
(.ci/run installs them). Without them these tests are skipped with the reason,
unless DSE_REQUIRE_EXPORT_TOOLCHAINS=1 (set by .ci/run once they are installed),
where they fail instead.
"""

from __future__ import annotations

import numpy as np
import pytest

from dse.export import sizes, toolchain
from dse.export.report import model_memory, size_report
from dse.export.writer import export_run
from tests.export_runs import NEURONS, parse_example, quantized_run, require_toolchain
from tests.test_export import _engine

QEMU_IMAGES = 4


def _require_cross(core: str = "cortex-m4") -> None:
    require_toolchain(toolchain.cross_toolchain_missing(core) or toolchain.emulator_missing())


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("export-runs-m")


@pytest.mark.parametrize("design,core,flags", [
    ("fspinn", "cortex-m4", ()), ("baseline", "cortex-m4", ()), ("sl-stdp", "cortex-m4", ()),
    ("fspinn", "cortex-m7", ()), ("fspinn", "cortex-m4", toolchain.RASTER_FLAGS)])
def test_qemu_gives_the_engines_spike_counts_and_predictions(design, core, flags, root, tmp_path):
    _require_cross(core)
    run = quantized_run(root, design)
    export_run(run, tmp_path / "c", images=QEMU_IMAGES)
    build = toolchain.build_cortex_m(tmp_path / "c", core, extra_flags=flags)
    status, output = toolchain.run_qemu(build, timeout_s=300)
    images, summary = parse_example(output)
    counts, pred, _ = _engine(run, QEMU_IMAGES)
    assert status == 0, output[-500:]
    assert summary["agree"] == QEMU_IMAGES and summary["near_ties"] == 0
    np.testing.assert_array_equal(np.stack([im["counts"] for im in images]), counts)
    np.testing.assert_array_equal([im["prediction"] for im in images], pred)
    assert 0 < summary["stack_bytes"] < 4096  # painted at reset, measured at exit


def test_measured_flash_and_ram_add_up_and_match_the_model(root, tmp_path):
    _require_cross()
    run = quantized_run(root, "fspinn")
    export_run(run, tmp_path / "c", images=2)
    r = size_report(tmp_path / "c", "cortex-m4")
    sec = r["sections"]
    assert r["qemu_agrees_with_engine"] is True
    # Parameters: 784 N weight bytes and N threshold bytes (sQ7.0), nothing else.
    assert r["flash_components"]["parameters: snn_weights"] == 784 * NEURONS
    assert r["flash_components"]["parameters: snn_thresholds"] == NEURONS
    assert abs(r["parameters_difference"]) < 0.02
    assert r["parameters_model_minimal"] == model_memory("fspinn", NEURONS, r["quantization"])["minimal"]["parameters"]
    # The map file accounts for every byte that arm-none-eabi-size reports.
    assert sum(r["flash_components"].values()) == r["flash_bytes"] == sum(
        sec.get(s, 0) for s in (".vectors", ".text", ".rodata", ".data"))
    assert sum(r["ram_components"].values()) == r["ram_bytes"] == sec[".data"] + sec[".bss"] + r["stack_bytes"]
    assert r["flash_components"]["example: embedded test images"] >= 2 * 784
    # snn_state is the fields listed in snn.h, up to alignment padding.
    layout = sum(r["state_layout"].values())
    assert 0 <= r["ram_components"]["snn_state (neuron and input state)"] - layout < 8


MAP_SNIPPET = """\
Linker script and memory map

.text           0x00000040      0x120
 *(.text .text.*)
 .text.snn_run_image
                0x00000040      0x100 /tmp/b/snn.o
                0x00000040                snn_run_image
 *fill*         0x00000140        0x4 
 .text          0x00000144       0x1c /usr/lib/thumb/libm.a(lib_a-e_log.o)
                0x00000144                __ieee754_log

.rodata         0x00000160       0x30
 .rodata.snn_weights
                0x00000160       0x30 /tmp/b/snn.o

.comment        0x00000000       0x26
 .comment       0x00000000       0x26 /tmp/b/snn.o
"""


def test_map_reader_follows_wrapped_section_names(tmp_path):
    path = tmp_path / "x.map"
    path.write_text(MAP_SNIPPET)
    found = sizes.map_contributions(path)
    assert [(c.output, c.section, c.size, c.origin) for c in found] == [
        (".text", ".text.snn_run_image", 0x100, "snn.o"), (".text", "*fill*", 4, ""),
        (".text", ".text", 0x1c, "libm.a(lib_a-e_log.o)"), (".rodata", ".rodata.snn_weights", 0x30, "snn.o")]
    assert sizes.breakdown(found, (".text", ".rodata")) == {
        "parameters: snn_weights": 0x30, "inference code (snn.c)": 0x100,
        "C library: libm (log, log1p, floor)": 0x1c, "alignment padding": 4}
