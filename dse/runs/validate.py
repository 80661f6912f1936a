"""What is read back from disk is checked here, before it reaches the compiled engine or a result.

Run folders, checkpoints and cached runs are written by this program, but
they are files: a user edits them, a full disk truncates them, another
version wrote them, a shared cache hands them to other machines. The
compiled engine indexes its arrays without bounds checks, so a ``theta``
shorter than the network reads (inference) or writes (training) outside
its memory: metrics that change from run to run, or a segfault. Every
loader therefore goes through one of the functions below, which check
shapes, dtypes, finiteness and ranges against the manifest and the recipe,
and refuse in one line that names the file, the field and what to do
(:class:`dse.runs.documents.DamagedFile`, a ValueError: the CLI prints it and exits 2).

* :func:`run_config`: the ``config`` of a run manifest (what a reader needs);
* :func:`run_recipe`: the recipe the run trained with, as its manifest stored it;
* :func:`evaluated`: whether a run was tested (a search's PTQ source may not be);
* :func:`run_state`: ``weights.npz`` of a run, against its config and recipe;
* :func:`checkpoint`: ``checkpoint.json`` and ``checkpoint.npz`` of an interrupted training;
* :func:`cached_run`: the manifest fields the search and the sweep read from cached runs;
* :func:`number_fields`, :func:`bounded`: the numeric checks shared with the
  profile and measurement loaders; :func:`finite_json`: JSON output that cannot hold NaN.

Messages name parameters (``Param``); the CLI shows them as its flags.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from dse.errors import Param
from dse.runs.documents import Fields, Fix, fail, read_json
from dse.runs.folder import CHECKPOINT, CHECKPOINT_META, MANIFEST, WEIGHTS, RunError
from dse.runs.numbers import MAX_MAGNITUDE, is_number, short_repr, bounded, finite_json, number_fields

__all__ = ["load_arrays", "run_config", "run_state", "run_labels", "checkpoint",
           "Checkpoint", "cached_run", "quantize_source", "per_image_counts", "run_quant_checked",
           "run_recipe", "evaluated", "stream_score", "number_fields",
           "bounded", "finite_json", "MAX_SEED", "MAX_MAGNITUDE"]

MAX_SEED = 2**63 - 1
N_CLASSES = 10
# Thresholds only grow by theta_plus per spike and decay; recipes keep their constants within 1e9 too.
MAX_THETA = 1e9
# Float weights are clipped to w_max by learning and scaled to column sums of norm_total; this is
# the float32 slack of that scaling.
_WEIGHT_SLACK = 1e-4
RUN_FIX = "retrain the run with `dse train` (or restore the file from a copy)"
CHECKPOINT_FIX = ("delete checkpoint.npz and checkpoint.json and train again without ", Param("resume"))


# --------------------------------------------------------------------------- arrays


def load_arrays(path: Path, fix: Fix) -> dict[str, np.ndarray]:
    """Every array of an .npz file, read without pickle; a damaged file is one line."""
    return _read_npz(path, fix)[0]


def _read_npz(path: Path, fix: Fix) -> tuple[dict[str, np.ndarray], str]:
    """(arrays, SHA-256 of the file's bytes)."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise fail(path, "file not found", fix) from None
    except OSError as exc:
        raise fail(path, f"unreadable ({exc.strerror or exc})", fix) from None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError, AttributeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise fail(path, f"not a readable .npz array file ({reason})", fix) from None
    if not isinstance(arrays, dict):
        raise fail(path, "not an .npz archive of named arrays", fix)
    return arrays, hashlib.sha256(raw).hexdigest()


def _check_checksum(path: Path, actual: str, recorded: Any, record: Path, field: str, fix: Fix) -> None:
    """Arrays that pass every check but were changed after writing (another run's file, an edit)."""
    if recorded is None:
        return  # written before checksums were recorded
    if not (isinstance(recorded, str) and len(recorded) == 64):
        raise fail(record, f"{field} must be the SHA-256 of {path.name}, got {short_repr(recorded)}", fix)
    if actual != recorded:
        raise fail(path, f"does not match its checksum in {record.name} ({field}): it was changed after it was "
                          "written", fix)


@dataclass(frozen=True)
class _ArraySpec:
    shape: tuple[int, ...]
    dtype: np.dtype
    low: float
    high: float
    why: str  # where the expected shape comes from, for the message


def _check_array(arrays: Mapping[str, np.ndarray], key: str, spec: _ArraySpec, path: Path,
                 fix: Fix) -> np.ndarray:
    if key not in arrays:
        raise fail(path, f"no {key!r} array", fix)
    a = arrays[key]
    if a.dtype != spec.dtype:
        raise fail(path, f"{key!r} has dtype {a.dtype}, expected {spec.dtype}", fix)
    if a.shape != spec.shape:
        raise fail(path, f"{key!r} has shape {a.shape}, expected {spec.shape} ({spec.why})", fix)
    if a.size and a.dtype.kind == "f" and not np.isfinite(a).all():
        raise fail(path, f"{key!r} holds {int(np.count_nonzero(~np.isfinite(a)))} values that are not finite",
                    fix)
    if a.size and a.min() < spec.low:
        word = "negative values" if spec.low == 0 else "values below its range"
        raise fail(path, f"{key!r} holds {word} (minimum {a.min():g}, allowed {spec.low:g})", fix)
    if a.size and a.max() > spec.high:
        raise fail(path, f"{key!r} holds values above its range (maximum {a.max():g}, allowed {spec.high:g})",
                    fix)
    return np.ascontiguousarray(a)


def _weight_spec(neurons: int, recipe: Any, quant: Any) -> _ArraySpec:
    why = f"784 inputs x the {neurons} neurons of the manifest"
    if quant is not None and quant.weights is not None:
        fmt = quant.weights
        return _ArraySpec((784, neurons), np.dtype(fmt.storage_dtype), 0, fmt.max_code, why)
    w_max, norm_total = recipe.get("plasticity", "w_max"), recipe.get("weights", "norm_total")
    return _ArraySpec((784, neurons), np.dtype(np.float32), 0.0, max(w_max, norm_total) * (1 + _WEIGHT_SLACK), why)


def _state_arrays(arrays: Mapping[str, np.ndarray], path: Path, neurons: int, recipe: Any, quant: Any,
                  fix: Fix):
    from dse.models.network import NetworkState

    weights = _check_array(arrays, "weights", _weight_spec(neurons, recipe, quant), path, fix)
    theta = _check_array(arrays, "theta", _ArraySpec((neurons,), np.dtype(np.float32), 0.0, MAX_THETA,
                                                     f"one per neuron, {neurons} in the manifest"), path, fix)
    return NetworkState(weights=weights, theta=theta)


# --------------------------------------------------------------------------- run folders


def run_config(run_dir: Path, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's config, each field a reader uses checked: design, dataset, neurons, seed, samples."""
    from dse.models.network import MAX_NEURONS

    f = Fields(Path(run_dir) / MANIFEST, manifest, RUN_FIX)
    f.text("config.design")
    f.text("config.dataset")
    cfg = dict(f.mapping("config"))
    f.integer("config.neurons", 1, MAX_NEURONS)
    f.integer("config.seed", 0, MAX_SEED)
    for name in ("train_samples", "test_samples", "assign_samples"):
        # always written (null: all images); a missing one would silently mean "all" and change the metrics
        f.integer(f"config.{name}", 1, 2**62, nullable=True)
    overrides = cfg.get("overrides") or {}
    if not isinstance(overrides, Mapping) or not all(isinstance(v, str) for v in overrides.values()):
        raise fail(f.path, f"config.overrides must map SECTION.KEY to text, got {short_repr(overrides)}", RUN_FIX)
    f.text("data.sha256")
    if f.has("quantization") and manifest["quantization"] is not None:
        f.mapping("quantization")
    return cfg


def run_recipe(run_dir: Path, manifest: Mapping[str, Any]) -> Any:
    """The recipe the run trained with, as its manifest stored it (config.recipe), checked; a later change
    to a design's defaults does not change how an older run evaluates or continues."""
    from dse.models.recipes import RecipeError, recipe_from_dict

    path = Path(run_dir) / MANIFEST
    cfg = manifest["config"]
    try:
        recipe = recipe_from_dict(cfg.get("recipe"), f"{path}: config.recipe")
    except RecipeError as exc:
        raise fail(path, str(exc).removeprefix(f"{path}: "), RUN_FIX) from None
    if recipe.design != cfg["design"]:
        raise fail(path, f"config.recipe is of design '{recipe.design}', config.design is '{cfg['design']}'",
                    RUN_FIX)
    return recipe


def run_state(run_dir: Path, manifest: Mapping[str, Any], recipe: Any, quant: Any) -> Any:
    """``weights.npz`` of a run (whose config :func:`run_config` checked) as a NetworkState: weights
    (784, N) of the stored dtype within the recipe's range, theta (N,) float32 finite and >= 0,
    neuron labels (N,) in -1..9, and the file's checksum as the manifest recorded it."""
    path = Path(run_dir) / WEIGHTS
    neurons = manifest["config"]["neurons"]
    arrays, sha256 = _read_npz(path, RUN_FIX)
    state = _state_arrays(arrays, path, neurons, recipe, quant, RUN_FIX)
    _labels(arrays, path, neurons)
    files = manifest.get("files")
    recorded = files.get("weights_sha256") if isinstance(files, Mapping) else None
    _check_checksum(path, sha256, recorded, Path(run_dir) / MANIFEST, "files.weights_sha256",
                    "restore the file, or delete files.weights_sha256 from the manifest to use it as it is")
    return state


def run_labels(run_dir: Path, manifest: Mapping[str, Any]) -> np.ndarray | None:
    """The neurons' classes stored in ``weights.npz`` (what the run's label assignment gave), checked;
    None for a run written before they were stored. Call after :func:`run_state` (the checksum)."""
    path = Path(run_dir) / WEIGHTS
    return _labels(_read_npz(path, RUN_FIX)[0], path, manifest["config"]["neurons"])


def _labels(arrays: Mapping[str, np.ndarray], path: Path, neurons: int) -> np.ndarray | None:
    labels = arrays.get("neuron_labels")
    if labels is not None and (labels.dtype.kind not in "iu" or labels.shape != (neurons,)
                               or (labels.size and (labels.min() < -1 or labels.max() >= N_CLASSES))):
        raise fail(path, f"'neuron_labels' must be {neurons} whole numbers in -1..{N_CLASSES - 1}, "
                          f"got {labels.dtype} of shape {labels.shape}", RUN_FIX)
    return None if labels is None else labels.astype(np.int64)


def run_quant_checked(run_dir: Path, manifest: Mapping[str, Any]) -> Any:
    """The fixed-point settings a run was stored with; a record that does not parse names the manifest."""
    from dse.runs.inference import run_quant

    try:
        return run_quant(dict(manifest))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise fail(Path(run_dir) / MANIFEST, f"quantization record is not valid ({exc})", RUN_FIX) from None


# --------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class Checkpoint:
    state: Any          # NetworkState
    counts: np.ndarray  # activity counts of the images trained so far
    position: int       # images trained so far (over all epochs)


def checkpoint(out_dir: Path, identity: Mapping[str, Any], neurons: int, total: int, recipe: Any,
               quant: Any) -> Checkpoint:
    """The state of an interrupted training, refused unless it is exactly what this training would hold.

    ``position`` must be a whole number in 1..total and equal the images counted in its arrays, so a
    hand-edited position can neither skip images nor train past the end.
    """
    from dse.models.counts import C_IMAGES, N_COUNTS

    out_dir = Path(out_dir)
    meta_path, npz_path = out_dir / CHECKPOINT_META, out_dir / CHECKPOINT
    meta = read_json(meta_path, CHECKPOINT_FIX)
    f = Fields(meta_path, meta, CHECKPOINT_FIX)
    saved = f.mapping("identity")
    if saved != identity:
        diff = sorted(k for k in identity if saved.get(k) != identity[k])
        raise RunError(f"{out_dir}: checkpoint was made with different settings ({', '.join(diff)}); "
                       "rerun with the original settings or choose another ", Param("out_dir"))
    position = f.integer("position", 1, total)
    arrays, sha256 = _read_npz(npz_path, CHECKPOINT_FIX)
    state = _state_arrays(arrays, npz_path, neurons, recipe, quant, CHECKPOINT_FIX)
    counts = _check_array(arrays, "counts", _ArraySpec((N_COUNTS,), np.dtype(np.int64), 0, np.iinfo(np.int64).max,
                                                       "one per activity count"), npz_path, CHECKPOINT_FIX)
    if int(counts[C_IMAGES]) != position:
        raise fail(meta_path, f"position is {position} but checkpoint.npz counted {int(counts[C_IMAGES])} "
                               "trained images", CHECKPOINT_FIX)
    _check_checksum(npz_path, sha256, meta.get("sha256"), meta_path, "sha256", CHECKPOINT_FIX)
    return Checkpoint(state=state, counts=counts.copy(), position=position)


# --------------------------------------------------------------------------- cached runs


def quantize_source(run_dir: Path, manifest: Mapping[str, Any]) -> None:
    """The manifest fields `dse quantize` copies from the FP32 run: accuracies, training counts, ranges."""
    f = Fields(Path(run_dir) / MANIFEST, manifest, RUN_FIX)
    if evaluated(run_dir, manifest):
        f.number("metrics.accuracy", 0.0, 1.0)
        f.number("metrics.accuracy_proportion", 0.0, 1.0)
    f.counts("counts.training")
    f.counts("counts.training_per_image")
    if manifest.get("ranges") is not None:
        f.counts("ranges")


def evaluated(run_dir: Path, manifest: Mapping[str, Any]) -> bool:
    """Whether the run assigned labels and was tested (``evaluated``: absent in older manifests, which were);
    an untested run must say so and hold no metrics."""
    flag = manifest.get("evaluated", True)
    if type(flag) is not bool:
        raise fail(Path(run_dir) / MANIFEST, f"evaluated must be true or false, got {short_repr(flag)}", RUN_FIX)
    if not flag and manifest.get("metrics") is not None:
        raise fail(Path(run_dir) / MANIFEST, "evaluated is false but metrics are given", RUN_FIX)
    return flag


def stream_score(run_dir: Path, manifest: Mapping[str, Any]) -> tuple[int, int]:
    """(images, correct) of the training stream's recent predictions (``stream``), checked."""
    f = Fields(Path(run_dir) / MANIFEST, manifest, RUN_FIX)
    n = f.integer("stream.recent_images", 0, 2**62)
    correct = f.integer("stream.recent_correct", 0, n)
    return n, correct


def per_image_counts(run_dir: Path, manifest: Mapping[str, Any]) -> dict[str, Mapping[str, float]]:
    """Per-image activity counts of both phases (what `dse cost --from-run` prices), each finite and >= 0."""
    f = Fields(Path(run_dir) / MANIFEST, manifest, RUN_FIX)
    return {"training": f.counts("counts.training_per_image"), "inference": f.counts("counts.inference_per_image")}


def cached_run(run_dir: Path, manifest: Mapping[str, Any], *, ranges: bool = False) -> None:
    """The manifest fields the search and the sweep read from a reused run folder."""
    fix = f"delete the folder {run_dir} (it is made again when next needed)"
    f = Fields(Path(run_dir) / MANIFEST, manifest, fix)
    if not evaluated(run_dir, manifest):  # a PTQ source trained untested: what quantizing it reads
        f.counts("counts.training_per_image")
        if ranges:
            f.counts("ranges")
            f.number("ranges.weights", 0.0, MAX_MAGNITUDE)
        return
    f.number("metrics.accuracy", 0.0, 1.0)
    f.number("metrics.accuracy_proportion", 0.0, 1.0)
    ci = f.get("metrics.accuracy_ci95")
    if not (isinstance(ci, list) and len(ci) == 2 and all(is_number(x) and 0 <= x <= 1 for x in ci)):
        raise fail(f.path, f"metrics.accuracy_ci95 must be two fractions, got {short_repr(ci)}", fix)
    confusion = f.get("metrics.confusion_matrix")
    if not (isinstance(confusion, list) and len(confusion) == N_CLASSES
            and all(isinstance(row, list) and len(row) == N_CLASSES + 1
                    and all(type(x) is int and x >= 0 for x in row) for row in confusion)):
        raise fail(f.path, f"metrics.confusion_matrix must be {N_CLASSES} rows of {N_CLASSES + 1} counts", fix)
    f.counts("counts.training_per_image")
    f.counts("counts.inference_per_image")
    if ranges:
        f.counts("ranges")
        f.number("ranges.weights", 0.0, MAX_MAGNITUDE)
