"""Continuing a finished run to more images of the same training schedule.

A training schedule is fixed by what decides the order and content of the
images a network sees (design, recipe overrides, data, neurons, training
images per epoch, epochs, seed, in-training quantization). A run may stop
part-way along it (``TrainConfig.images``); a later run of the same schedule
that goes further can start from that run's final state instead of from
scratch. Input spikes are keyed by the image's position in the schedule, so
the continued run is bit-identical to one trained straight through: this is
what makes the fidelity rungs of `dse explore` cost one training in all.

The state carried over is what training changes (weights, thresholds) and
the training activity counts; label assignment and the test are redone at
the new position, since they depend on the network there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dse.errors import Param
from dse.models.counts import COUNT_NAMES
from dse.models.network import NetworkState
from dse.runs import folder

__all__ = ["Continuation", "schedule_identity", "load_continuation", "continue_state"]

# TrainConfig fields that do not change what training does (only what is measured after it, or where it stops).
NOT_SCHEDULE = ("images", "assign_samples", "test_samples", "engine", "checkpoint_every", "evaluate")


def schedule_identity(config_dict: dict[str, Any], data_sha256: str, n_train: int,
                      recipe: Any) -> dict[str, Any]:
    """What two runs must share for one to continue the other (a TrainConfig as a dict, its data, and the
    recipe as resolved: a design default changed since the lower rung was trained makes it another schedule)."""
    d = {k: v for k, v in config_dict.items() if k not in NOT_SCHEDULE and k != "recipe"}
    return {**d, "data_sha256": data_sha256, "n_train": n_train, "recipe": recipe}


@dataclass(frozen=True)
class Continuation:
    """The state a finished run ended in, to train on from ``position``."""

    source: Path
    state: NetworkState
    counts: np.ndarray
    position: int


def load_continuation(source: Path, identity: dict[str, Any], target: int, recipe: Any,
                      quant: Any) -> Continuation:
    """The final state of the finished run ``source``, checked (:mod:`dse.runs.validate`) to be a run of
    the schedule ``identity`` that stopped before image ``target`` (RunError, one line, otherwise)."""
    from dse.runs import validate

    source = Path(source)
    manifest = folder.read_manifest(source)
    cfg = validate.run_config(source, manifest)  # and data.sha256
    theirs = schedule_identity(cfg, manifest["data"]["sha256"], manifest["data"].get("n_train_used"),
                               cfg.get("recipe"))
    if theirs != identity:
        diff = sorted(k for k in set(identity) | set(theirs) if identity.get(k) != theirs.get(k))
        raise folder.RunError(f"{source}: cannot be continued: it was trained on another schedule "
                              f"({', '.join(diff)} differ); give a run of the same settings as ",
                              Param("continue_from"))
    # the position, and the activity counts training goes on adding to, must agree
    position = (manifest.get("timings") or {}).get("images_trained")
    counts = (manifest.get("counts") or {}).get("training")
    if not (isinstance(counts, dict) and all(type(counts.get(name)) is int and counts[name] >= 0
                                             for name in COUNT_NAMES)):
        raise folder.RunError(f"{source / folder.MANIFEST}: counts.training must hold a whole number >= 0 for "
                              f"each of {', '.join(COUNT_NAMES)}; give a finished run to ", Param("continue_from"))
    # an untested run may also be continued by no images at all: that only assigns labels and tests it
    finishing = position == target and not validate.evaluated(source, manifest)
    if not (type(position) is int and position == counts["images"] and (0 < position < target or finishing)):
        raise folder.RunError(f"{source}: trained {position!r} images (counted {counts['images']}), not a number "
                              f"of images below the {target:,} asked; nothing to continue")
    state = validate.run_state(source, manifest, recipe, quant)
    array = np.array([counts[name] for name in COUNT_NAMES], dtype=np.int64)
    return Continuation(source=source, state=state, counts=array, position=position)


def continue_state(out_dir: Path, source: Path, identity: dict[str, Any], target: int, recipe: Any,
                   quant: Any) -> tuple[NetworkState, np.ndarray, int]:
    """(state, training counts, position) to train ``out_dir`` on from, taken from the run ``source``."""
    for name in (folder.MANIFEST, folder.CHECKPOINT_META):
        if (Path(out_dir) / name).exists():
            raise folder.RunError(f"{out_dir}: already holds a run; choose another ", Param("out_dir"))
    cont = load_continuation(source, identity, target, recipe, quant)
    return cont.state, cont.counts, cont.position
