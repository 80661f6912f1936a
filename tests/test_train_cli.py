"""Runs through the library and the CLI: manifests, resume, bad input, accuracy floor."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from dse.cli.main import main
from dse.runs.folder import load_npz
from dse.runs.train import ProgressSink, TrainConfig, train_run

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_full_mnist = pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="full MNIST not available")


def _run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def no_system_data(monkeypatch, tmp_path):
    """Make sure only the bundled subset can be found."""
    from dse.data import locate

    monkeypatch.delenv("DSE_DATA_DIR", raising=False)
    monkeypatch.setattr(locate, "user_cache_dir", lambda: tmp_path / "no-cache")
    monkeypatch.setattr(locate, "SYSTEM_DATA_ROOT", tmp_path / "no-system", raising=False)


def test_train_on_bundled_subset_writes_a_complete_run(tmp_path, capsys, no_system_data):
    out = tmp_path / "run"
    code, stdout, err = _run_cli(capsys, "train", "--design", "fspinn", "--neurons", "20",
                                 "--train-samples", "300", "--assign-samples", "300",
                                 "--test-samples", "200", "--seed", "3", "--quiet", "--out", str(out))
    assert code == 0, err
    m = json.loads((out / "manifest.json").read_text())
    assert m["data"]["is_subset"] is True and "bundled" in m["data"]["source"]
    assert "bundled" in stdout
    assert 0.0 <= m["metrics"]["accuracy"] <= 1.0 and 0.0 <= m["metrics"]["accuracy_proportion"] <= 1.0
    assert m["metrics"]["n_test"] == 200
    assert m["config"]["recipe"]["design"] == "fspinn"
    assert m["timings"]["train_images_per_s"] > 0 and m["timings"]["infer_images_per_s"] > 0
    assert m["counts"]["training"]["images"] == 300
    assert m["counts"]["inference"]["images"] == 500
    assert len(m["data"]["sha256"]) == 64
    arrays = load_npz(out / "weights.npz")
    assert arrays["weights"].shape == (784, 20) and arrays["neuron_labels"].shape == (20,)
    assert (out / "weights.png").stat().st_size > 0
    assert not (out / "checkpoint.npz").exists()
    # evaluate reproduces the stored metrics (same seed, same streams)
    code, stdout, err = _run_cli(capsys, "evaluate", str(out), "--json", "--quiet")
    assert code == 0, err
    again = json.loads(stdout)
    assert again["metrics"]["accuracy"] == m["metrics"]["accuracy"]
    assert again["data"]["matches_training_data"] is True


def test_same_seed_gives_identical_runs(tmp_path, no_system_data):
    cfg = TrainConfig(design="baseline", dataset="mnist", neurons=15, train_samples=150,
                      test_samples=100, assign_samples=150, seed=11)
    a = train_run(cfg, tmp_path / "a")
    b = train_run(cfg, tmp_path / "b")
    wa, wb = load_npz(tmp_path / "a" / "weights.npz"), load_npz(tmp_path / "b" / "weights.npz")
    np.testing.assert_array_equal(wa["weights"], wb["weights"])
    np.testing.assert_array_equal(wa["theta"], wb["theta"])
    assert a["metrics"] == b["metrics"] and a["counts"] == b["counts"]


class _StopAfter(ProgressSink):
    def __init__(self, images: int) -> None:
        self.images = images

    def advance(self, phase, done, running_accuracy=None):
        if phase == "train" and done >= self.images:
            raise KeyboardInterrupt


def test_interrupted_training_resumes_bit_identically(tmp_path, no_system_data):
    cfg = TrainConfig(design="fspinn", dataset="mnist", neurons=12, epochs=2, train_samples=120,
                      test_samples=50, assign_samples=100, seed=4, checkpoint_every=50)
    whole = train_run(cfg, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "cut", progress=_StopAfter(150))
    meta = json.loads((tmp_path / "cut" / "checkpoint.json").read_text())
    assert 0 < meta["position"] < 240
    assert not (tmp_path / "cut" / "manifest.json").exists()
    with pytest.raises(ValueError, match="add resume to continue"):
        train_run(cfg, tmp_path / "cut")
    resumed = train_run(cfg, tmp_path / "cut", resume=True)
    w1, w2 = load_npz(tmp_path / "whole" / "weights.npz"), load_npz(tmp_path / "cut" / "weights.npz")
    np.testing.assert_array_equal(w1["weights"], w2["weights"])
    assert resumed["metrics"] == whole["metrics"]
    assert resumed["counts"]["training"] == whole["counts"]["training"]
    other = TrainConfig(**{**cfg.__dict__, "seed": 5})
    with pytest.raises(ValueError, match="already"):
        train_run(other, tmp_path / "cut")


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--design", "nope", "--out", "x"], "invalid choice"),
    (["train", "--neurons", "0", "--out", "x"], "must be > 0"),
    (["train", "--neurons", "-5", "--out", "x"], "must be > 0"),
    (["train", "--neurons", "ten", "--out", "x"], "whole number"),
    (["train", "--dataset", "cifar", "--out", "x"], "invalid choice"),
    (["train", "--set", "plasticity.nope=1", "--out", "x"], "unknown key"),
    (["train", "--set", "rho", "--out", "x"], "SECTION.KEY=VALUE"),
    (["train", "--set", "inhibition.rho=abc", "--out", "x"], "expected a float"),
    (["train", "--data-dir", "/nonexistent-dse-data", "--out", "x"], "nonexistent-dse-data"),
    (["evaluate", "/nonexistent-dse-run"], "not a directory"),
    (["bench", "--neurons", "0"], "must be > 0"),
])
def test_bad_input_one_line_exit_2(tmp_path, capsys, monkeypatch, argv, fragment):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run_cli(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_corrupt_data_file_is_reported(tmp_path, capsys):
    d = tmp_path / "mnist"
    d.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (d / f"{name}.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03garbage"))
    code, _, err = _run_cli(capsys, "train", "--data-dir", str(d), "--out", str(tmp_path / "r"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "idx" in err.lower()
    assert not (tmp_path / "r").exists()


def test_bench_json_has_throughput_keys(capsys, no_system_data):
    code, out, err = _run_cli(capsys, "bench", "--design", "baseline", "--neurons", "30",
                              "--images", "20", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert r["train_images_per_s"] > 0 and r["infer_images_per_s"] > 0
    assert r["counts"]["training"]["images"] == 20


@needs_full_mnist
def test_reduced_accuracy_floor_fspinn_net100_mnist(tmp_path):
    """CI's accuracy check: fspinn Net100 after 2,000 MNIST images, 1,000 test images (labels on the 2,000).

    BindsNET 0.3.4 reaches 76.2% on this split (one run). Seeds 0-5, all-activity / proportion
    readout, 2026-12-03, with fspinn's inhibition ramped from 2x to 4x over the first 1,000 images
    (docs/results.md 2.9): 77.6, 76.3, 77.6, 77.4, 77.4, 73.0% (mean 76.55%) / 76.8-80.4%; with
    the fixed 2x before: 73.3-76.5% (mean 74.9%) / 78.1-82.5%. Diehl & Cook's fixed threshold
    constants gave 66.7%: the floor catches thresholds that run away again. The draw is
    deterministic (counter-based streams), so seed 0's 77.6% is what every machine computes.
    """
    cfg = TrainConfig(design="fspinn", dataset="mnist", neurons=100, train_samples=2000,
                      test_samples=1000, assign_samples=2000, seed=0)
    m = train_run(cfg, tmp_path / "r", data_dir=str(SHARED / "mnist"))
    assert m["metrics"]["accuracy"] >= 0.76
    assert m["metrics"]["accuracy_proportion"] >= 0.76
    assert m["health"]["status"] == "ok"
