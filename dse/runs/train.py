"""Train, assign labels, test: one reproducible run written to a run directory.

Input spikes are drawn from counter-based streams keyed by (seed, global
image position, presentation), so a run resumed from a checkpoint is
bit-identical to one that was never interrupted.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dse.errors import Param, ParameterError
from dse.progress import ProgressSink
from dse.runs import folder, validate
from dse.runs.health import network_health
from dse.runs.readout import assign_labels, predict_all_activity
from dse.models.counts import counts_to_dict, new_counts, per_image
from dse.models.network import MAX_NEURONS, NetworkState, Simulator, float_weights, init_state
from dse.models.quantize import QuantConfig, parse_quant
from dse.models.recipes import Recipe, load_recipe
from dse.runs.inference import ENGINES, assign_and_test, select


@dataclass(frozen=True)
class TrainConfig:
    design: str
    dataset: str
    neurons: int
    epochs: int = 1
    train_samples: int | None = None   # None: the whole training set
    test_samples: int | None = None    # None: the whole test set
    assign_samples: int = 10_000       # labelled training images used to assign neuron labels
    seed: int = 0
    overrides: dict[str, str] = field(default_factory=dict)
    engine: str = "auto"               # inference engine
    checkpoint_every: int = 5_000      # images between checkpoints
    quant: str | None = None           # in-training quantization spec, e.g. "weights=Q0.8"
    rounding: str = "nearest"
    images: int | None = None          # stop after this many images of the schedule (None: all epochs)
    evaluate: bool = True              # False: write the trained network untested (a search's PTQ source)

    def quant_config(self) -> QuantConfig | None:
        if not self.quant:
            return None
        return parse_quant(self.quant, self.rounding, seed=self.seed)

    def validate(self) -> None:
        if not 0 < self.neurons <= MAX_NEURONS:
            raise ParameterError(Param("neurons"), f" must be > 0 and at most {MAX_NEURONS}, got {self.neurons}")
        if self.epochs <= 0:
            raise ParameterError(Param("epochs"), f" must be > 0, got {self.epochs}")
        for name in ("train_samples", "test_samples", "assign_samples", "images"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ParameterError(Param(name), f" must be > 0, got {value}")
        if self.seed < 0:
            raise ParameterError(Param("seed"), f" must be >= 0, got {self.seed}")
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine '{self.engine}': choose one of {', '.join(ENGINES)}")
        self.quant_config()

    def identity(self) -> dict[str, Any]:
        """The fields a checkpoint must match to be resumed."""
        d = asdict(self)
        d.pop("checkpoint_every")
        d.pop("engine")
        d.pop("test_samples")
        d.pop("images")  # where a run stops is not what it is: a checkpoint serves any stop beyond it
        d.pop("evaluate")
        return d


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, 0xE90C])).permutation(n)


class RunningAccuracy:
    """Accuracy of each new chunk, predicted from labels assigned on the previous ones (at most
    ``window`` images): a free signal of how well the network learns, read from the training stream."""

    def __init__(self, window: int = 2_000) -> None:
        self.window = window
        self.counts: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.scored: list[tuple[int, int]] = []  # (images, correct) of each predicted chunk
        self.value: float | None = None

    def update(self, counts: np.ndarray, labels: np.ndarray) -> float | None:
        if self.counts:
            hist = np.concatenate(self.counts)[-self.window:]
            hist_labels = np.concatenate(self.labels)[-self.window:]
            pred = predict_all_activity(counts, assign_labels(hist, hist_labels))
            correct = int(np.sum(pred == labels))
            self.scored.append((len(labels), correct))
            self.value = correct / len(labels)
        self.counts.append(counts)
        self.labels.append(labels)
        return self.value

    def recent(self, images: int = 1_000) -> dict[str, Any]:
        """Accuracy over the last predicted chunks that hold at least ``images`` images (all if fewer)."""
        n = correct = 0
        for size, hits in reversed(self.scored):
            if n >= images:
                break
            n, correct = n + size, correct + hits
        return {"running_accuracy": self.value, "recent_accuracy": correct / n if n else None,
                "recent_images": n, "recent_correct": correct, "window_images": self.window,
                "note": "each chunk of training images predicted with labels from the previous window, "
                        "before the network learns from it"}


def train_run(config: TrainConfig, out_dir: Path, *, data_dir: str | None = None,
              resume: bool = False, progress: ProgressSink | None = None,
              continue_from: Path | None = None) -> dict[str, Any]:
    """Train, evaluate and write a complete run directory; returns the manifest.

    A write that fails (WriteFailed) says what is kept: the last checkpoint, and once training is
    done the trained network, which ``resume=True`` finishes after space is freed.

    ``continue_from``: a finished run of the same schedule that stopped earlier
    (``config.images``); training goes on from its final state, and the result
    is bit-identical to training from scratch.
    """
    from dse.data.locate import load_dataset

    config.validate()
    out_dir = Path(out_dir)
    folder.check_out_dir(out_dir)
    progress = progress or ProgressSink()
    recipe = load_recipe(config.design, config.overrides)
    dataset = load_dataset(config.dataset, data_dir)
    train_x, train_y = select(dataset.train_images, dataset.train_labels, config.train_samples)
    test_x, test_y = select(dataset.test_images, dataset.test_labels, config.test_samples)
    quant = config.quant_config()
    sim = Simulator(recipe, quant=quant)
    identity = {**config.identity(), "data_sha256": dataset.sha256, "n_train": len(train_x)}
    total = _stop_at(config, len(train_x))
    state, train_counts, position = _starting_state(out_dir, config, recipe, quant, identity, dataset.sha256,
                                                    len(train_x), total, resume, continue_from)

    compile_s = _warm_up(sim, state)
    running = RunningAccuracy()
    train_spikes: list[np.ndarray] = []  # per-image totals of this session, for the health check
    t0 = time.perf_counter()
    trained_now = 0
    last_ckpt = position
    progress.start("train", total, position)
    while position < total:
        epoch, offset = divmod(position, len(train_x))
        order = epoch_order(len(train_x), config.seed, epoch)
        stop = min(len(train_x), offset + config.checkpoint_every, offset + (total - position))
        chunk_ids = order[offset:stop]

        def on_chunk(done: int, spikes: np.ndarray, _base=position, _ids=chunk_ids) -> None:
            lo = done - len(spikes)
            train_spikes.append(spikes.sum(axis=1))
            acc = running.update(spikes, train_y[_ids[lo:done]])
            progress.advance("train", _base + done, acc)

        sim.train(state, train_x[chunk_ids], position, config.seed, train_counts, on_chunk=on_chunk)
        trained_now += len(chunk_ids)
        position += len(chunk_ids)
        if position - last_ckpt >= config.checkpoint_every and position < total:
            with folder.writing("out_dir", out_dir, _kept(last_ckpt, total)):
                _save_checkpoint(out_dir, state, train_counts, position, identity)
            last_ckpt = position
    train_s = time.perf_counter() - t0
    progress.finish("train")
    if last_ckpt < total:  # the trained network is kept before the test, whatever happens after
        with folder.writing("out_dir", out_dir, _kept(last_ckpt, total)):
            _save_checkpoint(out_dir, state, train_counts, total, identity)

    times = {"train_s": train_s, "trained_this_session": trained_now, "infer_s": 0.0, "compile_s": compile_s}
    tail = np.concatenate(train_spikes) if train_spikes else None
    if config.evaluate:
        inference = assign_and_test(
            sim, state, (train_x, train_y), (test_x, test_y), config.assign_samples, config.seed,
            config.engine, progress)
        times["infer_s"] = inference.seconds
        manifest = _manifest(config, recipe, dataset, len(train_x), len(test_x),
                             min(config.assign_samples, len(train_x)), inference.evaluation.to_dict(), train_counts,
                             inference.counts, times, total)
        manifest["health"] = network_health(recipe, state.theta, tail, inference.test_spike_counts)
        labels = inference.evaluation.assignment.labels
    else:  # no labels, no test: the search quantizes this network and tests the PTQ variant instead
        manifest = _manifest(config, recipe, dataset, len(train_x), 0, 0, None, train_counts, None, times, total)
        manifest["health"] = network_health(recipe, state.theta, tail, None)
        labels = np.full(config.neurons, -1, dtype=np.int64)
    manifest["continued_from"] = str(continue_from) if continue_from is not None else None
    manifest["stream"] = running.recent()
    manifest["quantization"] = quant_record(quant, "itq" if quant else None)
    manifest["ranges"] = observed_ranges(recipe, state, quant)
    with folder.writing("out_dir", out_dir, _kept(total, total)):
        return write_results(out_dir, state, labels, manifest, quant)


def _starting_state(out_dir: Path, config: TrainConfig, recipe: Recipe, quant: QuantConfig | None,
                    identity: dict[str, Any], data_sha256: str, n_train: int, total: int, resume: bool,
                    continue_from: Path | None):
    """(state, training counts, images done): fresh, resumed from a checkpoint, or continued from a lower rung."""
    if continue_from is None:
        return _start_or_resume(out_dir, config, recipe, identity, resume, quant, total)
    if resume:
        raise ParameterError("give either ", Param("resume"), " or ", Param("continue_from"), ", not both")
    return _continue(out_dir, continue_from, config, data_sha256, n_train, total, recipe, quant)


def _continue(out_dir: Path, source: Path, config: TrainConfig, data_sha256: str, n_train: int, total: int,
              recipe: Recipe, quant: QuantConfig | None) -> tuple[NetworkState, np.ndarray, int]:
    from dse.runs.continuation import continue_state, schedule_identity

    identity = schedule_identity(asdict(config), data_sha256, n_train, recipe.to_dict())
    return continue_state(out_dir, source, identity, total, recipe, quant)


def _stop_at(config: TrainConfig, n_train: int) -> int:
    """Images of the schedule this run trains: all its epochs, or ``config.images`` of them."""
    total = config.epochs * n_train
    if config.images is not None and config.images > total:
        raise ParameterError(Param("images"), f" must be at most the {total:,} images of the schedule "
                             f"({config.epochs} epoch(s) of {n_train:,}), got {config.images:,}")
    return total if config.images is None else config.images


def quant_record(quant: QuantConfig | None, scheme: str | None) -> dict[str, Any]:
    if quant is None:
        return {"scheme": "fp32", "spec": "fp32"}
    return {"scheme": scheme, "spec": quant.spec(), **quant.to_dict(),
            "weight_storage": str(quant.weights.storage_dtype) if quant.weights else "float32"}


def observed_ranges(recipe: Recipe, state: NetworkState, quant: QuantConfig | None) -> dict[str, float]:
    """Largest magnitudes each quantizable value takes, for choosing integer bits (Q*.f)."""
    w = float_weights(state, quant)
    v_th = recipe.get("excitatory", "v_th_mv")
    thr_hi, thr_lo = v_th + float(state.theta.max()), v_th + float(state.theta.min())
    return {"weights": float(w.max()), "inh": recipe.largest_inhibition_strength,
            # V lives in [E_inh, threshold]: it is clamped below and reset above
            "vmem": max(abs(recipe.get("excitatory", "e_inh_mv")), abs(thr_hi), abs(thr_lo)),
            "vth": max(abs(thr_hi), abs(thr_lo)), "theta_max": float(state.theta.max())}


def _start_or_resume(out_dir: Path, config: TrainConfig, recipe: Recipe, identity: dict[str, Any],
                     resume: bool, quant: QuantConfig | None, total: int) -> tuple[NetworkState, np.ndarray, int]:
    ckpt_meta = out_dir / folder.CHECKPOINT_META
    if resume:
        if not ckpt_meta.exists():
            if (out_dir / folder.MANIFEST).exists():
                raise folder.RunError(f"{out_dir}: training already finished; nothing to resume")
            raise folder.RunError(f"{out_dir}: no checkpoint to resume (run without ", Param("resume"), " to start)")
        saved = validate.checkpoint(out_dir, identity, config.neurons, total, recipe, quant)
        return saved.state, saved.counts, saved.position
    if ckpt_meta.exists():
        raise folder.RunError(f"{out_dir}: holds an interrupted run; add ", Param("resume"), " to continue it or choose another ",
                              Param("out_dir"))
    if (out_dir / folder.MANIFEST).exists():
        raise folder.RunError(f"{out_dir}: already holds a finished run; choose another ", Param("out_dir"))
    return init_state(config.neurons, recipe, config.seed, quant=quant), new_counts(), 0


def _save_checkpoint(out_dir: Path, state: NetworkState, counts: np.ndarray, position: int,
                     identity: dict[str, Any]) -> None:
    # The arrays' checksum goes into checkpoint.json: a resume refuses arrays changed since.
    sha256 = folder.atomic_save_npz(out_dir / folder.CHECKPOINT, weights=state.weights, theta=state.theta,
                                    counts=counts)
    folder.atomic_write_json(out_dir / folder.CHECKPOINT_META, {"position": position, "identity": identity,
                                                                "sha256": sha256, "saved": folder.now_iso()})


def _kept(checkpoint_at: int, total: int) -> tuple[str, ...]:
    """What a training that could not write keeps, and how to finish it (a WriteFailed's advice)."""
    if checkpoint_at <= 0:
        return ("nothing was kept: free space (or choose another ", Param("out_dir"), ") and train again")
    if checkpoint_at < total:
        return (f"the checkpoint at image {checkpoint_at} of {total} is kept: free space and rerun with ",
                Param("resume"), " to finish it")
    return ("the trained network is kept as a checkpoint: free space and rerun with ", Param("resume"),
            " (only the test runs again)")


def _warm_up(sim: Simulator, state: NetworkState) -> float:
    """Compile (or load from cache) the kernels outside the timed region."""
    t = time.perf_counter()
    scratch_state = NetworkState(state.weights.copy(), state.theta.copy())
    blank = np.zeros((1, 784), dtype=np.uint8)  # silent input: compiles without learning anything
    sim.train(scratch_state, blank, 0, 0, new_counts())
    sim.infer(scratch_state, blank, 0, 0, new_counts())
    return time.perf_counter() - t


def _manifest(config: TrainConfig, recipe: Recipe, dataset: Any, n_train: int, n_test: int,
              n_assign: int, metrics: dict[str, Any] | None, train_counts: np.ndarray,
              infer_counts: np.ndarray | None, times: dict[str, float], images_trained: int) -> dict[str, Any]:
    """The run's manifest; metrics and inference counts are None when the run was not evaluated."""
    tc = counts_to_dict(train_counts)
    ic = counts_to_dict(infer_counts) if infer_counts is not None else None
    return {
        "schema_version": 1,
        "kind": "train",
        "created": folder.now_iso(),
        "config": {**asdict(config), "recipe": recipe.to_dict()},
        "data": {"name": dataset.name, "source": dataset.source, "is_subset": dataset.is_subset,
                 "location": dataset.location, "sha256": dataset.sha256,
                 "n_train_used": n_train, "n_assign_used": n_assign, "n_test_used": n_test},
        "versions": folder.versions(),
        "evaluated": metrics is not None,
        "metrics": metrics,
        "counts": {"training": tc, "inference": ic,
                   "training_per_image": per_image(tc), "inference_per_image": per_image(ic) if ic else None},
        "timings": {
            "measured_on": folder.cpu_model(),
            "train_s": round(times["train_s"], 3),
            "train_images_per_s": round(times["trained_this_session"] / times["train_s"], 1)
            if times["train_s"] > 0 and times["trained_this_session"] else None,
            "infer_s": round(times["infer_s"], 3),
            "infer_images_per_s": round((n_assign + n_test) / times["infer_s"], 1) if times["infer_s"] > 0 else None,
            "compile_s": round(times["compile_s"], 3),
            "images_trained": images_trained,
            "images_trained_now": times["trained_this_session"],
            "note": "measured wall-clock time on this machine (compile excluded)",
        },
        "files": {"weights": folder.WEIGHTS, "weights_png": folder.WEIGHTS_PNG},
    }


def write_results(out_dir: Path, state: NetworkState, neuron_labels: np.ndarray,
                  manifest: dict[str, Any], quant: QuantConfig | None = None) -> dict[str, Any]:
    """weights.npz, weights.png, then the manifest (with the weights' checksum), which it returns."""
    from dse.runs.image import write_weight_png

    # Weights are stored as they live in the engine: float32, or integer codes. Their checksum goes
    # into the manifest: readers refuse weights changed after the run was written.
    sha256 = folder.atomic_save_npz(out_dir / folder.WEIGHTS, weights=state.weights, theta=state.theta,
                                    neuron_labels=np.asarray(neuron_labels, dtype=np.int64))
    manifest = {**manifest, "files": {**manifest.get("files", {}), "weights_sha256": sha256}}
    write_weight_png(out_dir / folder.WEIGHTS_PNG, float_weights(state, quant), class_labels=neuron_labels)
    # The manifest goes last: its presence marks a complete run.
    folder.atomic_write_json(out_dir / folder.MANIFEST, manifest)
    for name in (folder.CHECKPOINT, folder.CHECKPOINT_META):
        (out_dir / name).unlink(missing_ok=True)
    return manifest


