"""Issue #11: saved run and checkpoint folders mutated at random, then read through the CLI.

Property: `dse evaluate` of a mutated run folder and `dse train --resume` of a
mutated checkpoint either refuse in one line (exit 2), or give exactly the
result of the intact folder. Never a traceback, never a crash, never other
metrics. Mutations damage: array shapes, dtypes, NaN/inf, negative or huge
values, missing keys, truncated or flipped bytes, JSON fields of the wrong
type or out of their range, a whole document of the wrong type. Edits that
make another valid run (a different seed) are not damage and are not drawn.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.damaged_runs import (TINY, assert_one_line_exit_2, copy_folder, load_arrays, run_cli, same_run,
                                tiny_folders)

FUZZ = settings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    out = tiny_folders(tmp_path_factory.mktemp("fuzz"))
    return {**out, "metrics": json.loads((out["run"] / "manifest.json").read_text())["metrics"]}


# --------------------------------------------------------------------------- mutations of arrays


def _array_damage(a: np.ndarray, kind: str, draw) -> np.ndarray:
    if kind == "dtype":
        return a.astype(draw(st.sampled_from(["float64", "float16", "int32", "int64", "uint8", "bool",
                                              "complex64", "U3"])))
    if kind == "shape":
        how = draw(st.sampled_from(["shorter", "longer", "transposed", "extra axis", "scalar", "empty"]))
        if how == "shorter":
            return a[: max(0, a.shape[0] - draw(st.integers(1, max(1, a.shape[0]))))]
        if how == "longer":
            return np.concatenate([a, a[:1]]) if a.ndim else np.array([a, a])
        if how == "transposed":
            return np.ascontiguousarray(a.T) if a.ndim == 2 else a.reshape(-1, 1)
        if how == "extra axis":
            return a[None]
        return a.ravel()[:1].reshape(()) if how == "scalar" else a.ravel()[:0]
    flat = a.astype(np.float64 if a.dtype.kind == "f" else a.dtype).ravel().copy()
    if not flat.size:
        return a
    at = draw(st.integers(0, flat.size - 1))
    if kind == "non-finite" and a.dtype.kind == "f":
        flat[at] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    elif kind == "negative":
        flat[at] = -abs(flat[at]) - draw(st.sampled_from([1, 7, 1000]))
    elif kind == "huge":
        flat[at] = np.iinfo(a.dtype).max if a.dtype.kind in "iu" else draw(st.sampled_from([1e6, 3e38]))
    return flat.astype(a.dtype).reshape(a.shape)


@st.composite
def npz_mutation(draw, keys: tuple[str, ...]):
    """(key, kind, how to change the arrays) for one .npz file."""
    key = draw(st.sampled_from(keys))
    kind = draw(st.sampled_from(["missing", "dtype", "shape", "non-finite", "negative", "huge"]))
    seed = draw(st.integers(0, 2**32 - 1))
    return key, kind, seed


def _apply_npz(path: Path, mutation, draw) -> None:
    key, kind, _ = mutation
    arrays = load_arrays(path)
    if kind == "missing":
        arrays.pop(key)
    else:
        arrays[key] = _array_damage(arrays[key], kind, draw)
    np.savez(path, **arrays)


def _damage_bytes(path: Path, draw) -> None:
    """Truncated or emptied; .npz files also get a flipped bit (zip checksums catch it; in JSON text a
    flipped digit would be an edit, not damage)."""
    raw = path.read_bytes()
    how = draw(st.sampled_from(["truncate", "flip", "empty"] if path.suffix == ".npz" else ["truncate", "empty"]))
    if how == "truncate":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif how == "flip":
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([raw[at] ^ (1 << draw(st.integers(0, 7)))]) + raw[at + 1:]
    else:
        raw = b""
    path.write_bytes(raw)


# --------------------------------------------------------------------------- mutations of JSON fields

# Values no reader may take for the field: a wrong type, a sign, a size beyond its range. (A valid but
# different value, another seed say, makes another run: that is an edit, not damage.)
_NOT_A_COUNT = [None, -1, 0, "40", 40.5, True, [], {}, 2**63, float("nan"), float("inf")]
RUN_FIELDS = {
    "config.neurons": [*_NOT_A_COUNT, 11, 9, 10**6],
    "config.seed": [None, -1, "0", 0.5, True, [], 2**63, float("nan")],
    "config.train_samples": [-1, 0, "40", 40.5, True, [], {}],
    "config.test_samples": [-1, 0, "40", 40.5, True, []],
    "config.assign_samples": [-1, 0, "40", 40.5, True, []],
    "config.design": [None, 5, "nope", [], {}],
    "config.dataset": [None, 5, "nope", []],
    "config.overrides": ["x", [1], {"plasticity.w_max": 1}, {"nope.key": "1"}],
    "data.sha256": [None, 5, [], ""],
    "quantization": ["x", 5, {"scheme": "itq"}, {"scheme": "itq", "weights": "Q0.8", "rounding": "nearest"},
                     {"scheme": "ptq", "weights": "Q0.99", "rounding": "nearest"}],
    "config": [None, 5, "x", []],
}
CHECKPOINT_FIELDS = {
    "position": [*_NOT_A_COUNT, 20, 60, 80, 81, -40, 10**9],
    "identity": [None, "x", [], {}, 5],
    "sha256": [None, 5, "0" * 64, "x"],
}


def _json_text(value) -> str:
    return json.dumps(value)  # NaN and Infinity come out as the bare words Python's json writes


@st.composite
def json_mutation(draw, fields: dict):
    field = draw(st.sampled_from(sorted(fields)))
    how = draw(st.sampled_from(["value", "value", "delete", "document"]))
    value = draw(st.sampled_from(fields[field])) if how == "value" else draw(st.sampled_from([[], 5, "x", None]))
    return field, how, value


def _apply_json(path: Path, mutation) -> None:
    field, how, value = mutation
    doc = json.loads(path.read_text())
    if how == "document":
        doc = value
    else:
        *parents, last = field.split(".")
        node = doc
        for p in parents:
            node = node[p]
        if how == "delete":
            node.pop(last, None)
        else:
            node[last] = value
    path.write_text(_json_text(doc))


def _mutate(folder: Path, target: str, data, npz: tuple[str, tuple[str, ...]], doc: tuple[str, Any]) -> None:
    """Mutate the folder's arrays file, its JSON document, or the bytes of either (``target``)."""
    (npz_name, keys), (json_name, fields) = npz, doc
    if target == npz_name:
        _apply_npz(folder / npz_name, data.draw(npz_mutation(keys)), data.draw)
    elif target == json_name:
        _apply_json(folder / json_name, data.draw(json_mutation(fields)))
    else:
        _damage_bytes(folder / data.draw(st.sampled_from([npz_name, json_name])), data.draw)


# --------------------------------------------------------------------------- the properties


@FUZZ
@given(target=st.sampled_from(["weights.npz", "weights.npz", "manifest.json", "bytes"]), data=st.data())
def test_fuzz_evaluate_of_a_mutated_run_folder(folders, capsys, target, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = copy_folder(folders["run"], Path(tmp) / "run")
        _mutate(folder, target, data, ("weights.npz", ("weights", "theta", "neuron_labels")),
                ("manifest.json", RUN_FIELDS))
        code, out, err = run_cli(capsys, ["evaluate", folder, "--data-dir", folders["data"], "--json", "--quiet"])
        if code == 0:
            assert json.loads(out)["metrics"] == folders["metrics"], "exit 0 with other metrics"
        else:
            assert_one_line_exit_2(code, out, err)
            assert not (folder / "evaluation.json").exists()


@FUZZ
@given(target=st.sampled_from(["checkpoint.npz", "checkpoint.npz", "checkpoint.json", "bytes"]), data=st.data())
def test_fuzz_resume_of_a_mutated_checkpoint(folders, capsys, target, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = copy_folder(folders["checkpoint"], Path(tmp) / "ckpt")
        _mutate(folder, target, data, ("checkpoint.npz", ("weights", "theta", "counts")),
                ("checkpoint.json", CHECKPOINT_FIELDS))
        code, out, err = run_cli(capsys, ["train", *TINY, "--data-dir", folders["data"], "--out", folder,
                                          "--resume"])
        if code == 0:
            assert same_run(folder, folders["run"]), "resumed to another result"
        else:
            assert_one_line_exit_2(code, out, err)
            assert not (folder / "manifest.json").exists()
