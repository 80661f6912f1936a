"""Shared material for the tests of issue #11: tiny data, tiny runs and checkpoints, the CLI runners.

Everything is small on purpose (10 neurons, tens of images): these tests are
about what is loaded and written, not about learning. The only imports that
name the package layout are here, so a move of the CLI or the data module
changes one file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from dse.cli.main import main  # noqa: F401 - re-exported for the test modules
from dse.data.idx import write_idx
from dse.data.locate import FILE_STEMS, load_bundled_subset
from dse.runs.train import ProgressSink, TrainConfig, train_run

CLI_MAIN = "import sys; from dse.cli.main import main; sys.exit(main())"
NEURONS = 10
TRAIN, ASSIGN, TEST, EPOCHS = 40, 40, 40, 2
SEED = 0
# The flags of the tiny run; a resumed run must repeat them (they are its identity).
TINY = ["--neurons", str(NEURONS), "--train-samples", str(TRAIN), "--assign-samples", str(ASSIGN),
        "--test-samples", str(TEST), "--epochs", str(EPOCHS), "--seed", str(SEED), "--quiet"]


def write_tiny_data(folder: Path, n_train: int = 60, n_test: int = 50) -> Path:
    """The first images of the bundled MNIST subset as four IDX files (fast to load, fixed checksum)."""
    ds = load_bundled_subset("mnist")
    folder.mkdir(parents=True)
    arrays = (ds.train_images[:n_train].reshape(-1, 28, 28), ds.train_labels[:n_train],
              ds.test_images[:n_test].reshape(-1, 28, 28), ds.test_labels[:n_test])
    for stem, array in zip(FILE_STEMS, arrays):
        write_idx(folder / f"{stem}.gz", np.ascontiguousarray(array, dtype=np.uint8))
    return folder


def tiny_config(**changes) -> TrainConfig:
    base = dict(design="fspinn", dataset="mnist", neurons=NEURONS, epochs=EPOCHS, train_samples=TRAIN,
                assign_samples=ASSIGN, test_samples=TEST, seed=SEED)
    return TrainConfig(**{**base, **changes})


class StopAfter(ProgressSink):
    """Interrupts training (like Ctrl-C) once ``images`` have been trained."""

    def __init__(self, images: int) -> None:
        self.images = images

    def advance(self, phase, done, running_accuracy=None):
        if phase == "train" and done >= self.images:
            raise KeyboardInterrupt


def make_checkpoint(out: Path, data: Path, stop_after: int = 50) -> Path:
    """A run folder holding an interrupted training: checkpoint.npz and checkpoint.json at image 40 of 80."""
    try:
        train_run(tiny_config(checkpoint_every=20), out, data_dir=str(data), progress=StopAfter(stop_after))
    except KeyboardInterrupt:
        pass
    assert json.loads((out / "checkpoint.json").read_text())["position"] == 40
    return out


def tiny_folders(root: Path) -> dict[str, Path]:
    """Tiny data under ``root``, a finished run trained from it (through the CLI, in a process) and an
    interrupted one (its checkpoint)."""
    data = write_tiny_data(root / "data")
    run = root / "run"
    proc = run_cli_process(["train", *TINY, "--data-dir", data, "--out", run])
    assert proc.returncode == 0, proc.stderr
    return {"data": data, "run": run, "checkpoint": make_checkpoint(root / "interrupted", data), "root": root}


def copy_folder(src: Path, dst: Path) -> Path:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    return dst


def run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    """`dse ARGV` in this process (fast); for inputs that cannot crash the interpreter."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_cli_process(argv: list[str], cwd: Path | None = None, timeout: float = 300,
                    env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`dse ARGV` in a child process: for inputs that once crashed the interpreter (a segfault is exit -11)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("DSE_STORAGE", None)
    return subprocess.run([sys.executable, "-c", CLI_MAIN, *map(str, argv)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=full_env)


def assert_one_line_exit_2(code: int, out: str, err: str, *fragments: str) -> str:
    """Bad input: exit 2, one line on stderr starting with 'error: ', no traceback, naming what is given."""
    assert code == 2, f"exit {code}; stdout {out[-500:]!r}; stderr {err[-2000:]!r}"
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in out + err, err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    return err


def assert_fails_in_one_line(code: int, out: str, err: str, *fragments: str) -> str:
    """A failure after work began (a full disk): exit 2 and one error line, last on stderr; lines before
    it may be the library's notices while it worked (a compile taking a while), never a traceback."""
    lines = err.splitlines()
    assert code == 2, f"exit {code}; stdout {out[-500:]!r}; stderr {err[-2000:]!r}"
    assert lines and lines[-1].startswith("error: ") and err.endswith("\n"), err
    assert not any(line.startswith("error: ") for line in lines[:-1]), err
    assert "Traceback" not in out + err, err
    for fragment in fragments:
        assert fragment in lines[-1], f"{fragment!r} not in {lines[-1]!r}"
    return lines[-1]


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def same_run(a: Path, b: Path) -> bool:
    """Two finished runs hold identical weights, thresholds, labels and metrics."""
    wa, wb = load_arrays(a / "weights.npz"), load_arrays(b / "weights.npz")
    same_arrays = wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (a, b))
    return same_arrays and ma["metrics"] == mb["metrics"] and ma["counts"]["training"] == mb["counts"]["training"]
