"""Run folders never execute code: pickled payloads are refused with a one-line error."""

from __future__ import annotations

import json

import numpy as np

from dse.cli.main import main
from tests.test_train_cli import _run_cli


def test_pickled_weights_are_refused(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = _run_cli(capsys, "train", "--neurons", "8", "--train-samples", "60", "--assign-samples", "60",
                            "--test-samples", "40", "--quiet", "--out", str(run))
    assert code == 0, err
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            import pathlib
            return (pathlib.Path.touch, (marker,))

    # An object array can only be stored by pickling its elements.
    np.savez(run / "weights.npz", weights=np.array([Payload()], dtype=object), theta=np.zeros(8))
    code = main(["evaluate", str(run), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "weights.npz" in err[0]
    assert not marker.exists()


def test_corrupt_manifest_is_one_line(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text("{not json")
    assert main(["evaluate", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupt manifest" in err[0]
    json.dumps(err)  # printable as is
