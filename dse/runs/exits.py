"""Early exit on a finished run at several margins: the run's own labels, one test per exit rule.

What `dse explore` evaluates for the exit-margin dimension (and what
`dse evaluate --exit` does for one rule): the neurons vote with the classes
the run's own label assignment gave them, stored in its ``weights.npz``
(validated), so only the test differs between rules and each margin costs
one test pass that itself stops early. A run written before the labels were
stored is assigned again, exactly as it was (same images, same noise
stream), once for all rules.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dse.models.counts import counts_to_dict, new_counts, per_image
from dse.models.early_exit import ExitRule, steps_summary
from dse.progress import ProgressSink
from dse.runs import validate
from dse.runs.accuracy import accuracy_with_ci, confusion_matrix, per_class_accuracy
from dse.runs.readout import assign_labels, predict_all_activity, stored_assignment
from dse.runs.inference import (ASSIGN_STREAM, TEST_STREAM, open_run, resolve_engine, run_inference, select,
                                warm_inference)

__all__ = ["exit_sweep"]


def exit_sweep(run_dir: Path, rules: Sequence[ExitRule], *, data_dir: str | None = None,
               test_samples: int | None = None, engine: str = "auto",
               progress: ProgressSink | None = None) -> list[dict[str, Any]]:
    """One result per rule (in order) for the trained or quantized run in ``run_dir``.

    Each result: ``rule`` (its spec and parameters), ``metrics`` (accuracy,
    interval, confusion, as a run's manifest), ``steps_per_test_image``
    (mean, median, distribution), ``presentation_steps``, ``test_per_image``
    (the test's own activity counts per image: what inference costs with
    this exit) and ``infer_s`` (wall clock of this rule's test, measured).
    Nothing is written into ``run_dir``.
    """
    rules = list(rules)
    if not rules or not all(r.enabled for r in rules):
        raise ValueError("exit_sweep needs one or more enabled exit rules (margin >= 1)")
    progress = progress or ProgressSink()
    manifest, cfg, sim, state, dataset = open_run(run_dir, data_dir)
    engine = resolve_engine(engine)
    seed = int(cfg["seed"])
    test_x, test_y = select(dataset.test_images, dataset.test_labels, test_samples or cfg.get("test_samples"))
    warm_inference(sim, state, engine)
    labels = validate.run_labels(run_dir, manifest)
    assigned = "stored in the run"
    if labels is None:  # a run written before the labels were stored: assign them again, as it did
        train = select(dataset.train_images, dataset.train_labels, cfg.get("train_samples"))
        assign_x, assign_y = select(train[0], train[1], cfg.get("assign_samples"))
        progress.start("assign", len(assign_x))
        counts = run_inference(sim, state, assign_x, ASSIGN_STREAM, seed, new_counts(), engine,
                               lambda d, _s: progress.advance("assign", d))
        progress.finish("assign")
        labels, assigned = assign_labels(counts, assign_y).labels, f"assigned again on {len(assign_x):,} images"

    out = []
    for rule in rules:
        steps, of_test = np.zeros(len(test_x), dtype=np.int32), new_counts()
        progress.start("test", len(test_x))
        t = time.perf_counter()
        tested = run_inference(sim, state, test_x, TEST_STREAM, seed, of_test, engine,
                               lambda d, _s: progress.advance("test", d), exit_rule=rule, labels=labels, steps=steps)
        seconds = time.perf_counter() - t
        progress.finish("test")
        out.append({"rule": {"spec": rule.spec(), **rule.to_dict()}, "labels": assigned,
                    "metrics": _metrics(predict_all_activity(tested, stored_assignment(labels)), test_y),
                    "steps_per_test_image": steps_summary(steps),
                    "presentation_steps": int(sim.consts.n_steps),
                    "test_per_image": per_image(counts_to_dict(of_test)),
                    "infer_s": round(seconds, 3), "engine": engine})
    return out


def _metrics(predictions: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Diehl & Cook's all-activity accuracy with its interval, per class and the confusion matrix
    (proportion voting needs the assignment's rates, which a run does not store)."""
    acc = accuracy_with_ci(predictions, labels)
    return {"accuracy": float(acc.accuracy), "accuracy_ci95": [float(acc.low), float(acc.high)],
            "n_test": int(acc.n),
            "per_class_accuracy": [None if np.isnan(x) else float(x) for x in per_class_accuracy(predictions, labels)],
            "confusion_matrix": confusion_matrix(predictions, labels).tolist()}
