"""`dse export --target c`: the host-compiled C library against the engine, bit for bit."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from dse.export import toolchain
from dse.export.expected import engine_spike_counts, predictions
from dse.export.model import load_export_model
from dse.export.writer import export_run
from dse.models.counts import C_PRESENTATIONS, new_counts
from dse.runs.inference import TEST_STREAM
from tests.export_runs import (N_TEST, NEURONS, PRESET_8BIT, fp32_run, host_compiler_missing, parse_example,
                               quantized_run, require_toolchain)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("export-runs")


@pytest.fixture(autouse=True)
def host_cc():
    require_toolchain(host_compiler_missing())


def _host_run(run, out, images, opt="-O2"):
    export_run(run, out, images=images)
    exe = toolchain.build_host(out, opt=opt)
    done = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    return done.returncode, *parse_example(done.stdout)


def _engine(run, images, activity=None):
    from dse.data.locate import load_dataset

    model = load_export_model(run)
    data = load_dataset(model.dataset)
    x = np.ascontiguousarray(data.test_images[:images].reshape(images, -1))
    counts = engine_spike_counts(model, x, TEST_STREAM, activity)
    return counts, predictions(model, counts), data.test_labels[:images]


@pytest.mark.parametrize("design", ["fspinn", "baseline", "sl-stdp"])
def test_host_build_matches_the_engine_bit_for_bit(design, root, tmp_path, capsys):
    """8-bit preset, 200 test images: every neuron's spike count and every prediction."""
    run = quantized_run(root, design)
    status, images, summary = _host_run(run, tmp_path / "c", N_TEST)
    activity = new_counts()
    counts, pred, labels = _engine(run, N_TEST, activity)
    assert counts.sum() > 10 * N_TEST  # the comparison is about real activity (fspinn: ~16 spikes an image)
    assert status == 0 and summary == {**summary, "images": N_TEST, "agree": N_TEST}
    # Re-presentations (too few spikes: again at a higher rate, a new stream) happen, and as often.
    presentations = sum(im["presentations"] for im in images)
    assert presentations == activity[C_PRESENTATIONS]
    if design != "baseline":
        assert presentations > N_TEST
    np.testing.assert_array_equal(np.stack([im["counts"] for im in images]), counts)
    np.testing.assert_array_equal([im["prediction"] for im in images], pred)
    # ... and the same accuracy and confusion matrix as `dse evaluate` on those images
    from dse.cli.main import main

    capsys.readouterr()
    assert main(["evaluate", str(run), "--json", "--quiet"]) == 0
    evaluated = json.loads(capsys.readouterr().out)["metrics"]
    assert evaluated["n_test"] == N_TEST
    assert summary["correct"] == round(evaluated["accuracy"] * N_TEST)
    confusion = np.zeros((10, 11), dtype=int)
    for im in images:
        confusion[im["label"], im["prediction"] if im["prediction"] >= 0 else 10] += 1
    np.testing.assert_array_equal(confusion, evaluated["confusion_matrix"])


def test_the_two_step_layer_loop_exports_bit_exact_too(root, tmp_path):
    """A run trained with the inhibitory loop as first stepped (layer_loop_steps = 2) exports with it."""
    from dse.cli.main import main

    source = fp32_run(root, "baseline", "inhibition.layer_loop_steps=2")
    run = tmp_path / "q"
    assert main(["quantize", str(source), *PRESET_8BIT, "--quiet", "--out", str(run)]) == 0
    status, images, summary = _host_run(run, tmp_path / "c", 60)
    assert "#define SNN_LAYER_LOOP_STEPS 2 " in (tmp_path / "c" / "snn_model.h").read_text()
    counts, pred, _ = _engine(run, 60)
    assert status == 0 and summary["agree"] == 60 and counts.sum() > 20 * 60
    np.testing.assert_array_equal(np.stack([im["counts"] for im in images]), counts)
    np.testing.assert_array_equal([im["prediction"] for im in images], pred)


# Other corners of the engine's fixed point: stochastic rounding (draws every
# step), finer potentials, truncation, float potentials and thresholds, and
# 16-bit weights whose per-step sums leave float32's exact range.
VARIANTS = {
    "stochastic": ("baseline", ("--weights", "Q0.8", "--inh", "Q5.3", "--vmem", "Q7.8", "--vth", "Q7.6",
                                "--rounding", "stochastic")),
    "truncate-weights-and-vmem": ("fspinn", ("--weights", "Q0.8", "--vmem", "Q7.4", "--rounding", "truncate")),
    "16bit-weights-only": ("sl-stdp", ("--weights", "Q0.16", "--rounding", "nearest")),
    "fspinn-stochastic": ("fspinn", ("--weights", "Q0.6", "--inh", "Q6.2", "--vmem", "Q7.2", "--vth", "Q7.2",
                                     "--rounding", "stochastic")),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_other_fixed_point_settings_match_too(variant, root, tmp_path):
    design, flags = VARIANTS[variant]
    run = quantized_run(root, design, *flags, name=variant)
    status, images, summary = _host_run(run, tmp_path / "c", 60)
    counts, pred, _ = _engine(run, 60)
    assert status == 0 and summary["agree"] == 60
    np.testing.assert_array_equal(np.stack([im["counts"] for im in images]), counts)
    np.testing.assert_array_equal([im["prediction"] for im in images], pred)


@pytest.mark.parametrize("design,variant", [("fspinn", None), ("baseline", "stochastic"),
                                            ("sl-stdp", "16bit-weights-only")])
def test_the_fast_build_changes_no_result(design, variant, root, tmp_path):
    """-O3 -fno-trapping-math (vectorised neuron loop) and the raster input generator:
    the spikes must not move, also where 16-bit codes are summed in float32 in input order."""
    run = quantized_run(root, design, *VARIANTS[variant][1], name=variant) if variant else quantized_run(root, design)
    flags = (*toolchain.FAST_FLAGS, *toolchain.RASTER_FLAGS)
    status, images, summary = _host_run(run, tmp_path / "c", 60, opt=flags)
    counts, _, _ = _engine(run, 60)
    assert status == 0 and summary["agree"] == 60
    np.testing.assert_array_equal(np.stack([im["counts"] for im in images]), counts)


def test_generated_model_header_holds_the_runs_codes(root, tmp_path):
    run = quantized_run(root, "fspinn")
    export_run(run, tmp_path / "c", images=1)
    header = (tmp_path / "c" / "snn_model.h").read_text()
    model = load_export_model(run)
    assert f"#define SNN_NEURONS {NEURONS} " in header
    assert "static const uint8_t snn_weights[784][64]" in header
    first_row = header.split("{ /* input 0 */", 1)[1].split("},", 1)[0]
    assert [int(v) for v in first_row.replace(",", " ").split()] == model.weights[0].tolist()
    assert "#define SNN_W_INH 0x1.4cp+5f" in header  # w_lat = 41.6 rounded to Q6.2 = 41.5, exactly
    assert "typedef int8_t snn_vmem_t" in header
