"""Issue #11, F1: arrays read from run and checkpoint folders are checked before the compiled engine.

A damaged weights.npz, checkpoint.npz or checkpoint.json is refused in one
line that names the file and the field (exit 2), and nothing is written; an
intact one gives the same result as before. The cases are the ones found by
hand; tests/test_fuzz_run_folders.py mutates the same folders at random.
Cases that crashed the interpreter (a segfault) run in a child process.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from tests.damaged_runs import (TINY, assert_one_line_exit_2, copy_folder, load_arrays, run_cli, run_cli_process,
                                same_run, tiny_folders)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny data, a finished run trained from it, and an interrupted one (checkpoint at image 40 of 80)."""
    return tiny_folders(tmp_path_factory.mktemp("tiny"))


def _damaged_weights(tiny, tmp_path, **changes):
    """A copy of the finished run whose weights.npz has ``changes`` (None removes the key)."""
    folder = copy_folder(tiny["run"], tmp_path / "damaged")
    _rewrite_npz(folder / "weights.npz", changes)
    return folder


def _rewrite_npz(path, changes):
    arrays = load_arrays(path)
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value(arrays[key]) if callable(value) else value
    np.savez(path, **arrays)


def _nan_at_corner(w):
    w = w.copy()
    w[0, 0] = np.nan
    return w


WEIGHT_CASES = {
    # the field, the damage, a word the message must hold
    "theta of 5 entries": ("theta", lambda t: t[:5], "shape"),
    "theta of 0 entries": ("theta", lambda t: t[:0], "shape"),
    "theta of 10 x 10": ("theta", lambda t: np.zeros((10, 10), np.float32), "shape"),
    "theta float64": ("theta", lambda t: t.astype(np.float64), "dtype"),
    "theta negative": ("theta", lambda t: -(t + 1.0), "negative"),
    "weights 784 x 5": ("weights", lambda w: w[:, :5], "shape"),
    "weights 10 x 784": ("weights", lambda w: np.ascontiguousarray(w.T), "shape"),
    "weights NaN": ("weights", _nan_at_corner, "finite"),
    "weights inf": ("weights", lambda w: w + np.inf, "finite"),
    "weights negative": ("weights", lambda w: -w, "negative"),
    "weights huge": ("weights", lambda w: w * 1e6, "above"),
    "weights integer codes in an FP32 run": ("weights", lambda w: (w * 255).astype(np.uint8), "dtype"),
    "weights as text": ("weights", lambda w: np.array(["a", "b"]), "dtype"),
    "no theta": ("theta", None, "no 'theta'"),
    "labels out of range": ("neuron_labels", lambda n: n + 50, "labels"),
}


@pytest.mark.parametrize("case", WEIGHT_CASES, ids=list(WEIGHT_CASES))
def test_evaluate_refuses_damaged_weights(tiny, tmp_path, capsys, case):
    key, damage, word = WEIGHT_CASES[case]
    folder = _damaged_weights(tiny, tmp_path, **{key: damage})
    err = assert_one_line_exit_2(*run_cli(capsys, ["evaluate", folder, "--data-dir", tiny["data"], "--quiet"]),
                                 "weights.npz", f"'{key}'")
    assert word in err
    assert not (folder / "evaluation.json").exists()


def test_quantize_refuses_damaged_weights_and_writes_nothing(tiny, tmp_path, capsys):
    folder = _damaged_weights(tiny, tmp_path, theta=lambda t: t[:5])
    out = tmp_path / "q"
    assert_one_line_exit_2(*run_cli(capsys, ["quantize", folder, "--weights", "Q0.8", "--data-dir", tiny["data"],
                                             "--out", out, "--quiet"]), "weights.npz", "'theta'")
    assert not out.exists()


@pytest.mark.parametrize("damage", ["truncated", "not a zip", "empty"])
def test_evaluate_refuses_a_broken_weights_file(tiny, tmp_path, capsys, damage):
    folder = copy_folder(tiny["run"], tmp_path / "broken")
    path = folder / "weights.npz"
    raw = path.read_bytes()
    path.write_bytes({"truncated": raw[: len(raw) // 2], "not a zip": b"hello" * 100, "empty": b""}[damage])
    assert_one_line_exit_2(*run_cli(capsys, ["evaluate", folder, "--data-dir", tiny["data"], "--quiet"]),
                           "weights.npz")


@pytest.mark.parametrize("field, value, word", [
    ("neurons", 100, "shape"),          # the arrays hold 10 neurons
    ("neurons", "10", "neurons"),
    ("neurons", True, "neurons"),
    ("seed", -1, "seed"),
    ("test_samples", 0, "test_samples"),
    ("design", ["fspinn"], "design"),
])
def test_evaluate_refuses_a_manifest_that_disagrees_with_its_arrays(tiny, tmp_path, capsys, field, value, word):
    folder = copy_folder(tiny["run"], tmp_path / "edited")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["config"][field] = value
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert_one_line_exit_2(*run_cli(capsys, ["evaluate", folder, "--data-dir", tiny["data"], "--quiet"]), word)


@pytest.mark.parametrize("field", ["train_samples", "test_samples", "assign_samples"])
def test_evaluate_refuses_a_manifest_without_a_sample_limit(tiny, tmp_path, capsys, field):
    # a missing limit would read as "all images" and give other metrics with exit 0 (found by the fuzz test)
    folder = copy_folder(tiny["run"], tmp_path / "no-limit")
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["config"][field]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert_one_line_exit_2(*run_cli(capsys, ["evaluate", folder, "--data-dir", tiny["data"], "--quiet"]),
                           f"config.{field}")


def test_evaluate_refuses_nan_written_into_the_manifest(tiny, tmp_path, capsys):
    folder = copy_folder(tiny["run"], tmp_path / "nan")
    text = (folder / "manifest.json").read_text().replace('"schema_version": 1', '"schema_version": NaN')
    (folder / "manifest.json").write_text(text)
    assert_one_line_exit_2(*run_cli(capsys, ["evaluate", folder, "--data-dir", tiny["data"], "--quiet"]),
                           "manifest.json", "NaN")


def test_an_intact_run_evaluates_to_its_recorded_metrics(tiny, capsys, tmp_path):
    folder = copy_folder(tiny["run"], tmp_path / "intact")
    code, out, err = run_cli(capsys, ["evaluate", folder, "--data-dir", tiny["data"], "--json", "--quiet"])
    assert code == 0, err
    recorded = json.loads((folder / "manifest.json").read_text())["metrics"]
    assert json.loads(out)["metrics"] == recorded


# --------------------------------------------------------------------------- checkpoints and --resume


def _resume(tiny, folder):
    return ["train", *TINY, "--data-dir", tiny["data"], "--out", folder, "--resume"]


def _damaged_checkpoint(tiny, tmp_path, arrays=None, meta=None):
    folder = copy_folder(tiny["checkpoint"], tmp_path / "ckpt")
    if arrays:
        _rewrite_npz(folder / "checkpoint.npz", arrays)
    if meta is not None:
        path = folder / "checkpoint.json"
        doc = json.loads(path.read_text())
        path.write_text(json.dumps(meta(doc)))
    return folder


def _unchanged_checkpoint(folder, before: dict[str, bytes]) -> None:
    """A refused resume leaves the checkpoint as it was (the user may repair it) and finishes nothing."""
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.parametrize("arrays, field", [
    ({"theta": lambda t: t[:5]}, "theta"),                      # once: a "finished" run, then a segfault
    ({"weights": lambda w: np.ascontiguousarray(w[:, :5])}, "weights"),
    ({"weights": lambda w: np.zeros((784, 20), np.float32)}, "weights"),
])
def test_resume_refuses_checkpoint_arrays_of_another_size(tiny, tmp_path, arrays, field):
    folder = _damaged_checkpoint(tiny, tmp_path, arrays=arrays)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    proc = run_cli_process(_resume(tiny, folder))
    assert_one_line_exit_2(proc.returncode, proc.stdout, proc.stderr, "checkpoint.npz", f"'{field}'", "shape")
    _unchanged_checkpoint(folder, before)


def _set(key, value):
    def edit(doc):
        doc[key] = value
        return doc
    return edit


@pytest.mark.parametrize("arrays, meta, fragments", [
    ({"counts": None}, None, ("checkpoint.npz", "'counts'")),
    ({"weights": _nan_at_corner}, None, ("checkpoint.npz", "'weights'", "finite")),
    ({"theta": lambda t: -(t + 1)}, None, ("checkpoint.npz", "'theta'", "negative")),
    ({"counts": lambda c: c[:3]}, None, ("checkpoint.npz", "'counts'")),
    ({"counts": lambda c: c * 0 - 1}, None, ("checkpoint.npz", "'counts'")),
    (None, _set("position", 10**9), ("checkpoint.json", "position")),
    (None, _set("position", -3), ("checkpoint.json", "position")),
    (None, _set("position", 60), ("checkpoint.json", "position")),   # disagrees with the counts (40 images)
    (None, _set("position", "40"), ("checkpoint.json", "position")),
    (None, _set("position", 40.5), ("checkpoint.json", "position")),
    (None, lambda doc: {k: v for k, v in doc.items() if k != "position"}, ("checkpoint.json", "position")),
    (None, lambda doc: [doc], ("checkpoint.json", "not a JSON object")),
    (None, _set("identity", "x"), ("checkpoint.json", "identity")),
])
def test_resume_refuses_a_damaged_checkpoint(tiny, tmp_path, capsys, arrays, meta, fragments):
    folder = _damaged_checkpoint(tiny, tmp_path, arrays=arrays, meta=meta)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert_one_line_exit_2(*run_cli(capsys, _resume(tiny, folder)), *fragments)
    _unchanged_checkpoint(folder, before)


@pytest.mark.parametrize("name, damage", [
    ("checkpoint.npz", lambda raw: raw[: len(raw) // 2]),
    ("checkpoint.npz", lambda raw: b""),
    ("checkpoint.json", lambda raw: raw[: len(raw) // 2]),
    ("checkpoint.json", lambda raw: b"\xff\xfe"),
])
def test_resume_refuses_a_truncated_checkpoint(tiny, tmp_path, capsys, name, damage):
    folder = copy_folder(tiny["checkpoint"], tmp_path / "ckpt")
    (folder / name).write_bytes(damage((folder / name).read_bytes()))
    assert_one_line_exit_2(*run_cli(capsys, _resume(tiny, folder)), name)


def test_resume_refuses_a_checkpoint_npz_holding_a_pickle(tiny, tmp_path, capsys):
    folder = copy_folder(tiny["checkpoint"], tmp_path / "ckpt")
    arrays = load_arrays(folder / "checkpoint.npz")
    np.savez(folder / "checkpoint.npz", **{**arrays, "counts": np.array([{"x": 1}], dtype=object)})
    assert zipfile.is_zipfile(folder / "checkpoint.npz")
    assert_one_line_exit_2(*run_cli(capsys, _resume(tiny, folder)), "checkpoint.npz")


def test_an_intact_checkpoint_resumes_to_the_uninterrupted_result(tiny, tmp_path, capsys):
    folder = copy_folder(tiny["checkpoint"], tmp_path / "ckpt")
    code, _, err = run_cli(capsys, _resume(tiny, folder))
    assert code == 0, err
    assert same_run(folder, tiny["run"])
