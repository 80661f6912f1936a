"""What the bad-input cases (tests/test_bad_input.py) need outside the folder they check: broken profiles,
damaged data, a fake run, measurement files; and the one-line, exit-2, nothing-written assertion.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest

from dse.cli.main import main
from dse.data.idx import idx_bytes
from dse.data.locate import FILE_STEMS
from dse.models.recipes import load_recipe

__all__ = ["REPO", "cwd", "paths", "profile_variant", "without", "replaced", "write_data", "fake_run", "expand", "assert_one_line_exit_2"]

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- material outside the checked folder


def profile_variant(name: str, edit) -> str:
    """The bundled cpu profile renamed to ``name`` (the file stem must match) and edited line by line."""
    lines = (REPO / "hw_profiles" / "cpu.toml").read_text().splitlines()
    lines = [f'name = "{name}"' if line.startswith("name = ") else line for line in lines]
    return "\n".join(edit(lines)) + "\n"


def without(key: str):
    return lambda lines: [line for line in lines if not line.startswith(f"{key} = ")]


def replaced(key: str, value: str):
    return lambda lines: [f"{key} = {value}" if line.startswith(f"{key} = ") else line for line in lines]


def write_data(folder: Path, payloads: dict[str, bytes]) -> Path:
    folder.mkdir()
    for stem in FILE_STEMS:
        (folder / f"{stem}.gz").write_bytes(payloads[stem])
    return folder


def fake_run(folder: Path) -> Path:
    """A run folder as `dse train` leaves it, without training: FP32 weights of 4 neurons."""
    folder.mkdir()
    per_image = {"images": 1.0, "steps": 350.0}
    manifest = {
        "schema_version": 1, "kind": "train",
        "config": {"design": "fspinn", "dataset": "mnist", "neurons": 4, "seed": 0, "overrides": {},
                   "train_samples": 10, "test_samples": 10, "assign_samples": 10,
                   "recipe": load_recipe("fspinn").to_dict()},
        "data": {"sha256": "0" * 64},
        "metrics": {"accuracy": 0.5, "accuracy_proportion": 0.5},
        "counts": {"training": per_image, "inference": per_image,
                   "training_per_image": per_image, "inference_per_image": per_image},
        "ranges": {"weights": 0.9, "inh": 20.8, "vmem": 100.0, "vth": 60.0},
        "quantization": {"scheme": "fp32", "spec": "fp32"},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    np.savez(folder / "weights.npz", weights=np.full((784, 4), 0.1, dtype=np.float32),
             theta=np.zeros(4, dtype=np.float32), neuron_labels=np.zeros(4, dtype=np.int64))
    return folder


@pytest.fixture()
def cwd(tmp_path, monkeypatch):
    """The empty working directory every case must leave empty."""
    from dse.data import locate

    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    # Only what a case names may be found: no data from the environment, the user cache or the system.
    for var in ("DSE_DATA_DIR", "DSE_STORAGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(locate, "user_cache_dir", lambda: tmp_path / "outside" / "no-cache")
    monkeypatch.setattr(locate, "SYSTEM_DATA_ROOT", tmp_path / "outside" / "no-system")
    return here


@pytest.fixture()
def paths(tmp_path) -> dict[str, str]:
    out = tmp_path / "outside"
    out.mkdir()
    p: dict[str, Path] = {"OUT": out}
    # hardware profiles
    p["BROKEN_TOML"] = out / "broken.toml"
    p["BROKEN_TOML"].write_text('schema_version = 1\nname = "broken\n[specs\n')
    p["NOT_UTF8"] = out / "latin.toml"
    p["NOT_UTF8"].write_bytes(b'name = "caf\xe9"\n')
    p["MISSING_KEY"] = out / "nopower.toml"
    p["MISSING_KEY"].write_text(profile_variant("nopower", lambda ls: without("board_power_w")(ls)))
    p["NEGATIVE"] = out / "negative.toml"
    p["NEGATIVE"].write_text(profile_variant("negative", replaced("board_power_w", "-8.75")))
    p["WRONG_TYPE"] = out / "wrongtype.toml"
    p["WRONG_TYPE"].write_text(profile_variant("wrongtype", replaced("cores", '"two"')))
    p["ZERO_MEMORY"] = out / "zeromem.toml"
    p["ZERO_MEMORY"].write_text(profile_variant("zeromem", replaced("memory_bytes", "0")))
    p["NAME_MISMATCH"] = out / "other.toml"
    p["NAME_MISMATCH"].write_text(profile_variant("cpu2", lambda ls: ls))
    # data
    p["EMPTY"] = out / "empty"
    p["EMPTY"].mkdir()
    p["NONEXISTENT"] = out / "does-not-exist"
    p["A_FILE"] = out / "a-file.txt"
    p["A_FILE"].write_text("not a folder\n")
    good = {"train-images-idx3-ubyte": idx_bytes(np.zeros((3, 28, 28), np.uint8)),
            "train-labels-idx1-ubyte": idx_bytes(np.zeros(3, np.uint8)),
            "t10k-images-idx3-ubyte": idx_bytes(np.zeros((2, 28, 28), np.uint8)),
            "t10k-labels-idx1-ubyte": idx_bytes(np.zeros(2, np.uint8))}
    p["TRUNCATED_GZ"] = write_data(out / "truncated-gz", {s: gzip.compress(b, mtime=0)[:-12]
                                                           for s, b in good.items()})
    p["GARBAGE"] = write_data(out / "garbage", {s: b"this is not gzip at all " * 8 for s in FILE_STEMS})
    p["SHORT_PAYLOAD"] = write_data(out / "short-payload", {s: gzip.compress(b[:-100], mtime=0)
                                                             for s, b in good.items()})
    bad_labels = dict(good, **{"train-labels-idx1-ubyte": idx_bytes(np.array([1, 2, 99], np.uint8))})
    p["BAD_LABELS"] = write_data(out / "bad-labels", {s: gzip.compress(b, mtime=0) for s, b in bad_labels.items()})
    p["MISMATCH"] = write_data(out / "mismatch", {s: gzip.compress(b, mtime=0) for s, b in dict(
        good, **{"t10k-labels-idx1-ubyte": idx_bytes(np.zeros(5, np.uint8))}).items()})
    # runs and measurement files
    p["RUN"] = fake_run(out / "run")
    for name, text in (("RUN_LIST", "[]"), ("RUN_NO_CONFIG", '{"data": {}}'), ("RUN_NOT_JSON", "{oops")):
        folder = out / name.lower()
        folder.mkdir()
        (folder / "manifest.json").write_text(text)
        p[name] = folder
    p["NO_RUN"] = out / "no-run"
    p["MEAS_EMPTY_RECORD"] = out / "meas-empty-record.json"
    p["MEAS_EMPTY_RECORD"].write_text('{"kind": "measurements", "records": [{}]}')
    p["MEAS_BAD_FIELD"] = out / "meas-bad-field.json"
    p["MEAS_BAD_FIELD"].write_text(json.dumps({"kind": "measurements", "records": [
        {"design": "fspinn", "neurons": "x", "precision": "fp32", "phase": "training", "counts_per_image": {},
         "cpu_s_per_image": 1e-3, "wall_s_per_image": 1e-3, "energy_j_per_image": 1e-3}]}))
    p["MEAS_NOT_JSON"] = out / "meas.json"
    p["MEAS_NOT_JSON"].write_text("not json")
    return {k: str(v) for k, v in p.items()}


def expand(argv: list[str], paths: dict[str, str]) -> list[str]:
    return [re.sub(r"\{([A-Z_0-9]+)\}", lambda m: paths[m.group(1)], a) for a in argv]


def assert_one_line_exit_2(argv: list[str], cwd: Path, capsys, fragment: str | None = None) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, f"exit {code}; stderr: {err!r}"
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "\r" not in err and err.strip() != "error:", err
    assert "Traceback" not in err and "Traceback" not in out
    assert not any(cwd.rglob("*")), f"created {sorted(str(p.relative_to(cwd)) for p in cwd.rglob('*'))}"
    if fragment is not None:
        assert fragment in err, err
    return err
