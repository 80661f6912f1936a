"""Inference on a trained network: label assignment and test with learning off, on either engine.

What training ends with (:func:`assign_and_test`) and what `dse evaluate` reruns
(:func:`evaluate_run`, optionally with early exit). The input streams of
assignment and test are offset from training's, so they stay independent.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from dse.errors import Param, ParameterError
from dse.progress import ProgressSink
from dse.runs import folder, validate
from dse.runs.health import network_health
from dse.runs.readout import Readout, assign_labels, evaluate_counts
from dse.models.counts import counts_to_dict, new_counts, per_image
from dse.models.early_exit import OFF, ExitRule, steps_summary
from dse.models.network import NetworkState, Simulator
from dse.models.quantize import QuantConfig, parse_quant

# Stream offsets keep training, assignment and test inputs independent.
ASSIGN_STREAM = 1 << 40
TEST_STREAM = 2 << 40
ENGINES = ("auto", "numba", "torch")
# Images per inference call between progress reports: small enough that a bar moves during a
# 1,000-image label assignment, large enough that every core gets several blocks per call.
INFER_CHUNK = 500


def select(images: np.ndarray, labels: np.ndarray, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    n = len(images) if limit is None else min(limit, len(images))
    return images[:n], labels[:n]


def run_inference(sim: Simulator, state: NetworkState, images: np.ndarray, first_index: int,
                  seed: int, counts: np.ndarray, engine: str,
                  on_chunk: Callable[[int, np.ndarray], None] | None = None, *,
                  exit_rule: ExitRule = OFF, labels: np.ndarray | None = None,
                  steps: np.ndarray | None = None) -> np.ndarray:
    """Spike counts of images with learning off; with an exit rule, each image stops once decided
    (labels: the neurons' classes); steps (n,) int32, if given, receives the steps each image ran."""
    engine = resolve_engine(engine)
    if engine == "numba":
        return sim.infer(state, images, first_index, seed, counts, chunk=INFER_CHUNK, on_chunk=on_chunk,
                         exit_rule=exit_rule, labels=labels, steps=steps)
    try:
        from dse.models.engine_torch import infer_torch
        import torch  # noqa: F401
    except ImportError:
        raise ParameterError(Param("engine"), " torch needs PyTorch: pip install 'snn-dse[torch]'") from None
    consts = sim.consts_with_exit(exit_rule)
    out = np.zeros((len(images), state.n_neurons), dtype=np.int32)
    step = 1024
    for lo in range(0, len(images), step):
        hi = min(lo + step, len(images))
        out[lo:hi] = infer_torch(state.weights, state.theta, images[lo:hi], first_index + lo,
                                 seed, consts, counts, labels=labels,  # codes go in as floats: sums stay exact
                                 steps=None if steps is None else steps[lo:hi])
        if on_chunk is not None:
            on_chunk(hi, out[lo:hi])
    return out


def warm_inference(sim: Simulator, state: NetworkState, engine: str) -> None:
    """One silent image through the inference engine, so the timed inference measures inference only.

    Before this, the first timed chunk paid for loading the compiled variant
    from numba's cache (evaluate, quantize: about a second) or for importing
    torch and starting CUDA (--engine auto on a GPU machine: seconds), which
    showed as label assignment running several times slower than the test.
    """
    blank = np.zeros((1, 784), dtype=np.uint8)
    run_inference(sim, state, blank, 0, 0, new_counts(), engine)  # learning is off: the state is not changed


def resolve_engine(engine: str) -> str:
    """auto: torch where a CUDA device is usable, else numba.

    Importing torch takes seconds, so it is imported only where an NVIDIA
    driver is installed (before, every CPU run paid for it inside its timed
    inference).
    """
    if engine != "auto":
        return engine
    if not (os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi")):
        return "numba"
    try:
        import torch

        return "torch" if torch.cuda.is_available() else "numba"
    except ImportError:
        return "numba"


class FinishedRun(NamedTuple):
    """A finished run, checked and ready to simulate: its manifest, config, simulator, state and data."""

    manifest: dict[str, Any]
    config: dict[str, Any]
    sim: Simulator
    state: NetworkState
    dataset: Any


def open_run(run_dir: Path, data_dir: str | None = None) -> FinishedRun:
    """Read and validate a finished run (manifest, config, quantization, weights) and load its data set."""
    from dse.data.locate import load_dataset

    manifest = folder.read_manifest(run_dir)
    cfg = validate.run_config(run_dir, manifest)
    recipe = validate.run_recipe(run_dir, manifest)
    quant = validate.run_quant_checked(run_dir, manifest)
    state = validate.run_state(run_dir, manifest, recipe, quant)
    return FinishedRun(manifest, cfg, Simulator(recipe, quant=quant), state, load_dataset(cfg["dataset"], data_dir))


def evaluate_run(run_dir: Path, *, data_dir: str | None = None, test_samples: int | None = None,
                 engine: str = "auto", progress: ProgressSink | None = None,
                 exit_rule: ExitRule = OFF) -> dict[str, Any]:
    """Re-assign labels and re-test a finished run; returns metrics and data used.

    With an exit rule, test images stop once their class is decided; the
    result records the rule, the steps run per test image and the test's
    own per-image counts (what inference costs with early exit).
    """
    progress = progress or ProgressSink()
    manifest, cfg, sim, state, dataset = open_run(run_dir, data_dir)
    train = select(dataset.train_images, dataset.train_labels, cfg.get("train_samples"))
    test = select(dataset.test_images, dataset.test_labels, test_samples or cfg.get("test_samples"))
    test_x = test[0]
    test_steps, test_counts = np.zeros(len(test_x), dtype=np.int32), new_counts()
    inference = assign_and_test(
        sim, state, train, test, cfg.get("assign_samples"), cfg["seed"], engine, progress, exit_rule=exit_rule,
        test_steps=test_steps, test_counts=test_counts)
    evaluation, counts, elapsed, n_images = inference[:4]
    result = {"kind": "evaluate", "created": folder.now_iso(), "run": str(run_dir),
              "engine": resolve_engine(engine),
              "data": {"name": dataset.name, "source": dataset.source, "sha256": dataset.sha256,
                       "matches_training_data": dataset.sha256 == manifest["data"]["sha256"],
                       "n_test_used": len(test_x)},
              "metrics": evaluation.to_dict(),
              "early_exit": {"rule": exit_rule.spec(), **exit_rule.to_dict(),
                             "steps_per_test_image": steps_summary(test_steps),
                             "presentation_steps": int(sim.consts.n_steps)},
              "counts": {"inference": counts_to_dict(counts), "test": counts_to_dict(test_counts),
                         "test_per_image": per_image(counts_to_dict(test_counts))},
              "timings": {"infer_s": round(elapsed, 3),
                          "infer_images_per_s": round(n_images / elapsed, 1)}}
    if not exit_rule.enabled:  # an early exit cuts test presentations short: their spike counts say less
        result["health"] = network_health(sim.recipe, state.theta, None, inference.test_spike_counts)
    folder.atomic_write_json(Path(run_dir) / "evaluation.json", result)
    return result


def run_quant(manifest: dict[str, Any]) -> QuantConfig | None:
    """The fixed-point settings a run's weights were stored and evaluated with."""
    q = manifest.get("quantization") or {}
    if q.get("scheme") in (None, "fp32"):
        return None
    spec = ",".join(f"{k}={q[k]}" for k in ("weights", "inh", "vmem", "vth") if q.get(k))
    # Potential formats are recorded with their sign ("sQ7.8"), which parse_quant accepts.
    return parse_quant(spec, q["rounding"], seed=int(q.get("seed", 0)))


class Inference(NamedTuple):
    """What label assignment and test give: metrics, activity counts, time, spikes per test image."""

    evaluation: Readout
    counts: np.ndarray
    seconds: float
    n_images: int              # images simulated (assignment + test)
    test_spike_counts: np.ndarray  # (n_test, N), for the health check


def assign_and_test(sim: Simulator, state: NetworkState, train: tuple[np.ndarray, np.ndarray],
                    test: tuple[np.ndarray, np.ndarray], assign_samples: int | None, seed: int,
                    engine: str, progress: ProgressSink, *, exit_rule: ExitRule = OFF,
                    test_steps: np.ndarray | None = None, test_counts: np.ndarray | None = None) -> Inference:
    """Label assignment on the first training images, then the test; learning off.

    Assignment always runs whole presentations; the test stops early by
    exit_rule (the labels just assigned vote). test_steps (n_test,) int32, if
    given, receives the steps each test image ran; test_counts, if given, the
    activity counts of the test alone.
    """
    assign_x, assign_y = select(train[0], train[1], assign_samples)
    test_x, test_y = test
    engine = resolve_engine(engine)
    warm_inference(sim, state, engine)
    counts = new_counts()
    t = time.perf_counter()
    progress.start("assign", len(assign_x))
    a = run_inference(sim, state, assign_x, ASSIGN_STREAM, seed, counts, engine,
                      lambda d, _s: progress.advance("assign", d))
    progress.finish("assign")
    labels = assign_labels(a, assign_y).labels if exit_rule.enabled else None
    progress.start("test", len(test_x))
    of_test = new_counts()
    s = run_inference(sim, state, test_x, TEST_STREAM, seed, of_test, engine,
                      lambda d, _s: progress.advance("test", d), exit_rule=exit_rule, labels=labels,
                      steps=test_steps)
    counts += of_test
    if test_counts is not None:
        test_counts += of_test
    progress.finish("test")
    elapsed = time.perf_counter() - t
    return Inference(evaluate_counts(a, assign_y, s, test_y), counts, elapsed, len(assign_x) + len(test_x), s)
