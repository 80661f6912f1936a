"""`dse export`: write a self-contained C99 inference library for a quantized run.

The folder is built in a temporary sibling and renamed into place, so an
interrupted or failed export leaves nothing half-written behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from dse.errors import Param
from dse.runs import folder as rundir

from . import codegen, toolchain
from .expected import count_hash, engine_spike_counts, predictions
from .model import ExportError, ExportModel, load_export_model

TARGETS = ("c",)
DEFAULT_IMAGES = 10
# Fixed sources shipped with the package (dse/export/c/), copied as they are.
STATIC_SOURCES = ("snn.h", "snn.c", "snn_port.h", "port_host.c", "main.c", "bench.c",
                  "cortex_m/startup.c", "cortex_m/port_semihost.c", "cortex_m/mps2.ld")
EXPORT_INFO = "export.json"


def export_run(run_dir: Path, out_dir: Path, *, target: str = "c", images: int = DEFAULT_IMAGES,
               data_dir: str | None = None) -> dict[str, Any]:
    """Write the C library of `run_dir` to `out_dir` (which must not exist or be empty); returns export.json."""
    if target not in TARGETS:
        raise ExportError("unknown ", Param("target"), f" {target!r}: choose one of {', '.join(TARGETS)}")
    if images < 1:
        raise ExportError(Param("images"), f" must be > 0, got {images}")
    out_dir = Path(out_dir)
    _check_out(out_dir)
    model = load_export_model(Path(run_dir))
    test_x, test_y = _test_images(model, images, data_dir)
    from dse.runs.inference import TEST_STREAM

    counts = engine_spike_counts(model, test_x, TEST_STREAM)
    engine_pred = predictions(model, counts)
    source = f"run {Path(run_dir).name}"
    files = {
        "snn_model.h": codegen.model_header(model, source),
        "snn_images.h": codegen.images_header(test_x, test_y, engine_pred.tolist(),
                                              [count_hash(c) for c in counts], source),
        "Makefile": toolchain.makefile(),
    }
    info = _export_info(model, run_dir, len(test_x), engine_pred)
    files[EXPORT_INFO] = json.dumps(info, indent=2) + "\n"
    _write_atomically(out_dir, files)
    return info


def _check_out(out_dir: Path) -> None:
    if out_dir.exists() and not (out_dir.is_dir() and not any(out_dir.iterdir())):
        raise ExportError(Param("out_dir"), f" {out_dir}: already exists and is not an empty folder; choose another ",
                          Param("out_dir"))
    rundir.check_out_dir(out_dir, "out_dir")


def _test_images(model: ExportModel, k: int, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The first k test images of the run's data, refused if the data is not the run's."""
    from dse.data.locate import load_dataset

    dataset = load_dataset(model.dataset, data_dir)
    if dataset.sha256 != model.data_sha256:
        raise ExportError(f"{model.run_dir}: was trained on data {model.data_sha256[:12]}..., but "
                          f"{dataset.source} is {dataset.sha256[:12]}...; give the same ", Param("data_dir"))
    if k > len(dataset.test_images):
        raise ExportError(Param("images"), f" {k}: the {model.dataset} test set has only "
                          f"{len(dataset.test_images)} images")
    return (np.ascontiguousarray(dataset.test_images[:k].reshape(k, -1), dtype=np.uint8),
            np.asarray(dataset.test_labels[:k], dtype=np.int64))


def _export_info(model: ExportModel, run_dir: Path, n_images: int, engine_pred: np.ndarray) -> dict[str, Any]:
    q = model.quant
    return {
        "kind": "export", "target": "c", "created": rundir.now_iso(), "source_run": str(run_dir),
        "design": model.design, "neurons": model.n_neurons, "dataset": model.dataset, "seed": model.seed,
        "quantization": {**q.to_dict(), "spec": q.spec()},
        "images": n_images, "engine_predictions": engine_pred.tolist(),
        "versions": rundir.versions(),
        "files": sorted([*STATIC_SOURCES, "snn_model.h", "snn_images.h", "Makefile", EXPORT_INFO]),
    }


def _write_atomically(out_dir: Path, generated: dict[str, str]) -> None:
    parent = out_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    try:
        sources = resources.files("dse.export") / "c"
        for name in STATIC_SOURCES:
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((sources / name).read_bytes())
        for name, text in generated.items():
            (tmp / name).write_text(text)
        os.chmod(tmp, 0o755)
        if out_dir.is_dir():
            out_dir.rmdir()  # empty (checked): replaced by the finished folder
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
