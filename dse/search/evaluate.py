"""Training a candidate and measuring it: run folders cached by configuration hash.

The search asks an :class:`Evaluator` for the accuracy and activity counts of
a candidate trained on a given number of images (the fidelity). The real one,
:class:`SnnEvaluator`, trains with :func:`dse.runs.train.train_run` and quantizes
with :func:`dse.runs.quantize.quantize_run`; the synthetic one
(:mod:`dse.search.synthetic`) is its test double.

Cache layout (``reports/cache/`` by default), one run folder per key:

* ``train-<sha256>-i<images>``: an FP32 or ITQ training (the spec is in the key) stopped after
  ``images`` images of its schedule. The fidelity rungs of one candidate share the key and differ in
  ``images``: a higher rung continues the highest finished lower one
  (:func:`dse.runs.train.train_run` ``continue_from``), so a candidate that climbs every rung is
  trained once, and the result is bit-identical to training straight to that rung;
* ``train-<sha256>-i<images>-untested``: the same training written without label assignment and
  test: the source of PTQ variants when the FP32 network is no candidate itself (it breaks the
  budgets), and every rung below the full one (the rung reads the training stream instead). Asked
  for tested later, it is tested without training (``continue_from`` with no images left);
* ``ptq-<sha256>``: a PTQ variant of an FP32 training, keyed by that training's folder (tested or
  not), the spec and the rounding. Every PTQ variant of a network reuses one FP32 training;
* ``exit-<sha256>``: the early-exit tests of a tested network or PTQ variant, every margin at once.

A key is the SHA-256 of the canonical JSON of everything that decides the
result (design, neurons, dataset and its checksum, the training schedule's images,
the assignment cap and test images, seed, recipe overrides, quantization). A folder is written
under a temporary name and renamed into place when complete, so a reader never
sees half a run; workers sharing the cache folder lock a key while they make
it, so a network is trained once however many workers ask for it. Run folders
load without pickle (JSON manifests, ``np.load(..., allow_pickle=False)``), so
a shared cache cannot execute code; nothing is kept in memory between trials.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from dse.models.constants import ENGINE_REVISION
from dse.models.recipes import load_recipe
from .cachefolders import cached_folder, key_lock
from .space import Candidate, nominal_ranges, quant_spec

__all__ = ["Evaluation", "Evaluator", "SnnEvaluator", "cache_key", "CACHE_SCHEMA"]

EXIT_MIN_STEPS = 0  # early exit may decide from the first step (the margin alone guards it)
STREAM_MIN_IMAGES = 500  # two training chunks: the second is predicted from the first's labels
UNTESTED = "untested"  # name suffix of a training folder written without label assignment and test
CACHE_SCHEMA = 2  # bump when what the cache stores changes meaning (2: rungs continue one schedule); the engine
# training differently is models.constants.ENGINE_REVISION, also in every key (the paper grid keys by it too)


@dataclass(frozen=True)
class Evaluation:
    """What one training (or cache hit) of a candidate at one fidelity measured."""

    accuracy: float
    accuracy_ci95: tuple[float, float]
    counts_per_image: Mapping[str, Mapping[str, float]]  # "training"/"inference" -> per-image counts
    train_images: int          # images this fidelity trains on
    trainings: int = 0         # trainings started now from scratch (0: from the cache, or a rung continued)
    trained_images: int = 0    # images trained now (a continued rung: only those beyond the lower rung)
    quantizations: int = 0     # PTQ evaluations run now
    continued_from: int | None = None  # images of the lower rung this training continued (None: from scratch)
    run_dir: str | None = None
    fp32_run_dir: str | None = None
    confusion: tuple[tuple[int, ...], ...] | None = None
    seconds: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)


class Evaluator(Protocol):
    def identity(self) -> dict[str, Any]:
        """What the results depend on besides the candidate (goes into the study's identity)."""

    def full_images(self) -> int:
        """Training images at full fidelity."""

    def evaluate(self, candidate: Candidate, train_images: int) -> Evaluation:
        """Train (or reuse) and test the candidate on ``train_images`` training images."""

    def evaluation_images(self, train_images: int) -> int:
        """Images one evaluation simulates without learning (label assignment and test)."""

    def prepare(self, space: Any) -> Any:
        """Get ready to evaluate candidates of ``space`` (called once, before the first trial); returns a
        thread doing it in the background, or None."""

    def siblings_lock(self, parent: Candidate) -> AbstractContextManager[None]:
        """Held while the PTQ siblings of ``parent``'s training are evaluated (one worker at a time)."""


def cache_key(payload: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no whitespace) of ``payload``."""
    text = json.dumps({"cache_schema": CACHE_SCHEMA, "engine_revision": ENGINE_REVISION, **payload}, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


ASSIGN_SHARE, ASSIGN_MAX = 6, 10_000


def default_assign_samples(train_images: int) -> int:
    """Images that assign the neuron labels by default: a sixth of the training set, at most 10,000 (as
    `dse train` and the accuracy grid use on full MNIST: 10,000 of 60,000). On full MNIST labels from
    10,000 images rather than 2,000 gave fspinn N800 4-bit PTQ 92.93% instead of 92.56%; on the bundled
    subset 833 images keep the evaluations short (docs/search.md)."""
    return max(1, min(ASSIGN_MAX, train_images // ASSIGN_SHARE))


class SnnEvaluator:
    """Trains candidates with the simulator; every run folder is cached under ``cache_dir``."""

    def __init__(self, *, dataset: str, cache_dir: Path, data_dir: str | None = None, seed: int = 0,
                 train_samples: int | None = None, assign_samples: int | None = None,
                 test_samples: int | None = None, engine: str = "auto", progress: Any = None) -> None:
        from dse.data.locate import load_dataset

        self.dataset_name = dataset
        self.data_dir = data_dir
        self.cache_dir = Path(cache_dir)
        self.seed = seed
        self.engine = engine
        self.progress = progress
        ds = load_dataset(dataset, data_dir)  # fails early, with one line, on missing or corrupt data
        self.data_sha256 = ds.sha256
        self.data_source = ds.source
        self.n_train = len(ds.train_images) if train_samples is None else min(train_samples, len(ds.train_images))
        self.n_test = len(ds.test_images) if test_samples is None else min(test_samples, len(ds.test_images))
        self.assign_cap = assign_samples or default_assign_samples(self.n_train)
        self.exit_margins: tuple[int, ...] = ()  # the space's early-exit margins, tested together (prepare)
        # Whether a PTQ candidate's FP32 network is a candidate too (fits the budgets): only then is it tested
        # at the full rung; otherwise it is trained untested and only its PTQ variants assign labels and
        # test. The search sets it (TrialRunner); a folder trained untested is tested later if asked.
        self.parent_tested: Any = lambda parent: True

    def identity(self) -> dict[str, Any]:
        return {"evaluator": "snn", "dataset": self.dataset_name, "data_sha256": self.data_sha256,
                "train_images": self.n_train, "assign_samples": self.assign_cap, "test_images": self.n_test,
                "seed": self.seed}

    def full_images(self) -> int:
        return self.n_train

    def evaluation_images(self, train_images: int) -> int:
        return min(train_images, self.assign_cap) + self.n_test

    def prepare(self, space: Any) -> Any:
        """Compile, in a background thread (returned), the engine variants the space's trainings and tests
        use. A training in this process goes on while the next variant compiles (engine calls release the
        GIL); other processes wait on the engine's machine-wide compile lock even to load a variant, so
        `dse explore --jobs` waits for this thread before it starts its helper processes."""
        from dse.models.warmup import precompile

        if "exit_margin" in space.names():
            self.exit_margins = tuple(m for m in space.dim("exit_margin").values() if m)
        return precompile(engine_variants(space))

    def siblings_lock(self, parent: Candidate) -> AbstractContextManager[None]:
        """A lock on the FP32 training's key in the cache (shared by the workers that share the cache)."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        return key_lock(self.cache_dir / f".siblings-{self._schedule_key(parent, None)}.lock")

    def _schedule_key(self, c: Candidate, quant: str | None) -> str:
        """The key shared by every rung of one training schedule (the images it stops at are not in it)."""
        # a changed design default: another schedule (unless it cannot act at this size)
        recipe = load_recipe(c.design, c.overrides()).acting_at(c.neurons)
        return cache_key({"kind": "train", "design": c.design, "neurons": c.neurons, "dataset": self.dataset_name,
                          "data_sha256": self.data_sha256, "train_samples": self.n_train,
                          "assign_cap": self.assign_cap, "test_samples": self.n_test, "seed": self.seed,
                          "overrides": c.overrides(), "recipe": recipe, "quant": quant,
                          "rounding": c.rounding if quant else None})

    def _lower_rung(self, key: str, images: int, finishing: bool) -> tuple[Path, int] | None:
        """The finished run of the schedule that went furthest below ``images`` (tested or not), to continue
        from; with ``finishing``, an untested run at ``images`` itself comes first (it only needs its test)."""
        best = None
        for d in self.cache_dir.glob(f"train-{key}-i*"):
            done, _, kind = d.name.rsplit("-i", 1)[1].partition("-")
            if not done.isdigit() or kind not in ("", UNTESTED) or not (d / "manifest.json").is_file():
                continue
            n = int(done)
            rank = (n, 1) if n < images else (n, 2) if finishing and n == images and kind == UNTESTED else None
            if rank is not None and (best is None or rank > best[2]):
                best = (d, n, rank)
        return best[:2] if best else None

    def _train(self, c: Candidate, images: int, test: bool = True) -> tuple[Path, dict[str, Any], bool, int | None]:
        """The run folder of the candidate's training (FP32, or ITQ) stopped at ``images``; made if missing.
        ``test=False``: an untested folder will do (``train-...-i<images>-untested``); a tested one is
        used when it exists, and an untested one is tested (no images trained) when a test is asked for."""
        from dse.runs.train import TrainConfig, train_run

        itq_spec = quant_spec(c, nominal_ranges(c)) if c.scheme == "itq" else None
        key = self._schedule_key(c, itq_spec)
        config = TrainConfig(design=c.design, dataset=self.dataset_name, neurons=c.neurons,
                             train_samples=self.n_train, images=images, test_samples=self.n_test,
                             assign_samples=min(images, self.assign_cap), seed=self.seed,
                             overrides=c.overrides(), engine=self.engine, quant=itq_spec,
                             rounding=c.rounding if itq_spec else "nearest", evaluate=test)
        lower: list[int | None] = [None]

        def make(d: Path) -> dict[str, Any]:
            # looked up under the key's lock: a rung another worker just finished is continued, not redone
            below = self._lower_rung(key, images, finishing=test)
            lower[0] = below[1] if below else None
            return train_run(config, d, data_dir=self.data_dir, progress=self.progress,
                             continue_from=below[0] if below else None)

        train_dir = self.cache_dir / f"train-{key}-i{images}"
        if not test and not (train_dir / "manifest.json").exists():
            train_dir = train_dir.with_name(f"{train_dir.name}-{UNTESTED}")
        manifest, made = cached_folder(train_dir, make)
        return train_dir, manifest, made, lower[0]

    def evaluate(self, c: Candidate, train_images: int) -> Evaluation:
        from dse.errors import Param
        from dse.runs.folder import WriteFailed

        try:
            return self._evaluate(c, train_images)
        except WriteFailed as exc:  # said of the cache, whatever run folder inside it could not be written
            raise WriteFailed(Param("cache_dir"), f" {self.cache_dir}: {exc.reason}; finished trials are kept: free "
                              "space and rerun the same command", reason=exc.reason) from None

    def _evaluate(self, c: Candidate, train_images: int) -> Evaluation:
        if STREAM_MIN_IMAGES <= train_images < self.n_train:
            return self._from_stream(c, train_images)
        if c.exit_margin:
            return self._with_exit(c, train_images)
        return self._tested(c, train_images)

    def _tested(self, c: Candidate, train_images: int) -> Evaluation:
        """The candidate's network trained (or from the cache), quantized if PTQ, labels assigned, tested."""
        from dse.runs import validate

        t0 = time.perf_counter()
        quantizations = 0
        test = c.scheme != "ptq" or train_images < self.n_train or self.parent_tested(c.fp32())
        train_dir, manifest, made, lower = self._train(c, train_images, test)
        validate.cached_run(train_dir, manifest, ranges=c.scheme == "ptq")
        if made and lower == train_images:  # it only tested a network trained untested before
            made, lower = False, None
        trained = int(manifest["timings"].get("images_trained_now", train_images)) if made else 0
        run_dir, fp32_dir = train_dir, (train_dir if c.scheme != "itq" else None)
        if c.scheme == "ptq":
            from dse.runs.quantize import quantize_run

            # PTQ formats take their integer bits from the trained run's observed ranges
            # (largest weight, threshold), so the fraction gets every bit the range leaves.
            spec = quant_spec(c, manifest["ranges"])
            # keyed by the training, tested or not (the same weights): a variant is made once either way
            source = train_dir.name.removesuffix(f"-{UNTESTED}")
            ptq_key = cache_key({"kind": "ptq", "source": source, "spec": spec, "rounding": c.rounding,
                                 "test_samples": self.n_test})
            run_dir = self.cache_dir / f"ptq-{ptq_key}"
            manifest, made_ptq = cached_folder(run_dir, lambda d: quantize_run(
                train_dir, d, spec, c.rounding, data_dir=self.data_dir, test_samples=self.n_test,
                engine=self.engine, progress=self.progress))
            validate.cached_run(run_dir, manifest)
            quantizations = int(made_ptq)
        metrics = manifest["metrics"]
        counts = {"training": dict(manifest["counts"]["training_per_image"]),
                  "inference": dict(manifest["counts"]["inference_per_image"])}
        return Evaluation(
            accuracy=float(metrics["accuracy"]), accuracy_ci95=tuple(metrics["accuracy_ci95"]),
            counts_per_image=counts, train_images=train_images, trainings=int(made and lower is None),
            trained_images=trained,
            quantizations=quantizations, continued_from=lower if made else None, run_dir=str(run_dir),
            fp32_run_dir=str(fp32_dir) if fp32_dir else None,
            confusion=tuple(tuple(int(x) for x in row) for row in metrics["confusion_matrix"]),
            seconds=time.perf_counter() - t0,
            extra={"quant_spec": (manifest.get("quantization") or {}).get("spec", "fp32")})

    def _from_stream(self, c: Candidate, images: int) -> Evaluation:
        """Below the full rung: the network the candidate trains (the FP32 one of a PTQ candidate; ITQ as
        it is; early exit aside) is trained untested, and the rung reads the training stream: accuracy
        over the last ~1,000 training images, each chunk predicted with labels from the images before it,
        before it was learnt from; inference activity, that of the training presentations without the
        learning. The rung only decides whether the training goes on, so no label assignment or test is
        paid for. A rung that predicted nothing (it continued a lower one by less than two chunks) is
        tested instead."""
        from dse.models.counts import LEARNING_COUNTS
        from dse.runs import validate
        from dse.runs.accuracy import wilson_interval

        t0 = time.perf_counter()
        net = c.without_exit() if c.scheme == "itq" else c.fp32()
        train_dir, manifest, made, lower = self._train(net, images, test=False)
        validate.cached_run(train_dir, manifest)
        n, correct = validate.stream_score(train_dir, manifest)
        trainings = int(made and lower is None)
        trained = int(manifest["timings"]["images_trained_now"]) if made else 0
        continued = lower if made else None
        if n == 0:
            return replace(self._tested(net, images), trainings=trainings, trained_images=trained,
                           continued_from=continued)
        training = dict(manifest["counts"]["training_per_image"])
        inference = {k: (0.0 if k in LEARNING_COUNTS else v) for k, v in training.items()}
        return Evaluation(
            accuracy=correct / n, accuracy_ci95=wilson_interval(correct, n),
            counts_per_image={"training": training, "inference": inference}, train_images=images,
            trainings=trainings, trained_images=trained, continued_from=continued, run_dir=str(train_dir),
            fp32_run_dir=str(train_dir) if net.scheme != "itq" else None, seconds=time.perf_counter() - t0,
            extra={"measured": "training stream", "stream_images": n})

    def _with_exit(self, c: Candidate, train_images: int) -> Evaluation:
        """The candidate's network and precision (trained or quantized as without exit, from the cache)
        tested with early exit: every margin the space offers is tested at once (the run's stored
        labels vote), into ``exit-<sha256>/manifest.json`` (the other margins are then cache hits)."""
        from dse.models.early_exit import ExitRule
        from dse.runs.exits import exit_sweep

        t0 = time.perf_counter()
        base = self._evaluate(c.without_exit(), train_images)
        margins = tuple(sorted({*self.exit_margins, c.exit_margin}))
        source = Path(base.run_dir)
        final = self.cache_dir / f"exit-{self._exit_key(source, margins)}"

        def make(d: Path) -> dict[str, Any]:
            results = exit_sweep(source, [ExitRule(m, EXIT_MIN_STEPS) for m in margins], data_dir=self.data_dir,
                                 test_samples=self.n_test, engine=self.engine, progress=self.progress)
            from dse.runs import folder

            doc = {"kind": "exit-sweep", "created": folder.now_iso(), "code_version": folder.code_version(),
                   "source": source.name, "test_samples": self.n_test,
                   "results": {str(r["rule"]["margin"]): r for r in results}}

            d.mkdir(parents=True, exist_ok=True)
            folder.atomic_write_json(d / folder.MANIFEST, doc)
            return doc

        doc, made = cached_folder(final, make)
        r = _exit_result(final, doc, c.exit_margin)
        metrics = r["metrics"]
        counts = {"training": dict(base.counts_per_image["training"]), "inference": dict(r["test_per_image"])}
        steps = r["steps_per_test_image"]
        return replace(base, accuracy=float(metrics["accuracy"]), accuracy_ci95=tuple(metrics["accuracy_ci95"]),
                       counts_per_image=counts, run_dir=str(final),
                       confusion=tuple(tuple(int(x) for x in row) for row in metrics["confusion_matrix"]),
                       seconds=time.perf_counter() - t0,
                       extra={**dict(base.extra), "exit": r["rule"]["spec"], "source_run_dir": base.run_dir,
                              "mean_steps": steps["mean"], "exit_sweeps": int(made)})

    def _exit_key(self, source: Path, margins: tuple[int, ...]) -> str:
        return cache_key({"kind": "exit", "source": source.name, "margins": list(margins),
                          "min_steps": EXIT_MIN_STEPS, "test_samples": self.n_test})


def _exit_result(folder_path: Path, doc: Any, margin: int) -> dict[str, Any]:
    """One margin's result from an exit folder's manifest, checked before it is used (the cache may be
    shared, or damaged)."""
    from dse.runs.documents import DamagedFile

    try:
        r = doc["results"][str(margin)]
        metrics, steps, counts = r["metrics"], r["steps_per_test_image"], r["test_per_image"]
        ok = (0.0 <= float(metrics["accuracy"]) <= 1.0 and len(metrics["accuracy_ci95"]) == 2
              and float(steps["mean"]) >= 0 and all(float(v) >= 0 for v in counts.values())
              and int(r["rule"]["margin"]) == margin)
    except (KeyError, TypeError, ValueError, AttributeError):
        ok = False
    if not ok:
        raise DamagedFile(f"{folder_path / 'manifest.json'}: no valid early-exit result for margin {margin}; ",
                          "delete the folder and rerun")
    return r


def engine_variants(space: Any) -> list[tuple[str, str]]:
    """The compiled engine variants (weight storage, state dtype) a space's trainings and tests use:
    float weights for FP32 (and every PTQ source), and the integer codes of each weight width."""
    import numpy as np

    from dse.models.quantize import FP32_BITS, parse_quant
    from dse.models.warmup import variant_key

    keys = [variant_key(np.float32, np.float32)]
    for bits in sorted(space.dim("weights_bits").values()):
        if bits < FP32_BITS:
            keys.append(variant_key(parse_quant(f"weights=Q0.{bits}", "nearest").weights.storage_dtype, np.float32))
    return list(dict.fromkeys(keys))
