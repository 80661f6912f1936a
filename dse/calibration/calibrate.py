"""Fit a profile's time coefficients to measured runs, say how far to trust them, and write a new profile.

Model: time per image = features(counts, N, precision, execution) . coefficients
(:func:`dse.cost.energy.time_features`), linear in the time coefficients.
:mod:`dse.calibration.estimate` fits them (relative-error NNLS), bootstraps a
95% interval for each, and holds the ones the measurements cannot identify
or that are physically implausible, saying why.

Trust is reported three ways, each a prediction of records the fit did not
see (:mod:`dse.calibration.heldout`): leave one size out, leave one design
out, and from one data set to another (MNIST to Fashion-MNIST) when the
measurements hold both; and probes compare each term's coefficient estimated
from the records that isolate it with the full fit's.

The base profile is never edited: the result is a new file whose name is its
stem, with a ``[calibration]`` table naming the measurement files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dse.cost.energy import TIME_COEFFICIENTS, default_execution, time_features
from dse.cost.profiles import load_profile
from dse.cost.schema import HardwareProfile, ProfileError

from .estimate import Estimate, estimate
from .fit import nnls
from .heldout import HeldOut, ProbeResult, leave_one_group_out, probe_agreement, transfer
from .newprofile import calibrated_profile, check_out_path, fit_energy, record_work
from .plausible import plausible_bounds

__all__ = ["nnls", "TARGETS", "TIME_NAMES", "design_matrix", "cell_groups", "Analysis", "analyse",
           "calibrate", "CalibrationResult", "load_records"]

TARGETS = ("cpu", "wall")
TIME_NAMES = tuple(n for n, _ in TIME_COEFFICIENTS)
# Record fields the fits read (`dse measure` writes them all).
_NEEDED = ("counts_per_image", "cpu_s_per_image", "wall_s_per_image", "energy_j_per_image")
# Held-out fits repeat the whole procedure once per group; fewer resamples keep that quick.
HELD_OUT_DRAWS = 200
TRANSFER_SOURCE = "mnist"


def design_matrix(records: Sequence[Mapping[str, Any]], profile: HardwareProfile, execution: str,
                  target: str) -> tuple[np.ndarray, np.ndarray]:
    """(features in coefficient units, measured seconds per image), one row per record."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    units = np.array([u for _, u in TIME_COEFFICIENTS])
    rows, ys = [], []
    for rec in records:
        rows.append(np.array(time_features(record_work(rec, profile, execution), target)) * units)
        ys.append(float(rec["cpu_s_per_image" if target == "cpu" else "wall_s_per_image"]))
    x, y = np.array(rows, dtype=np.float64), np.array(ys, dtype=np.float64)
    if (y <= 0).any():
        raise ValueError("measured times must be > 0")
    return x, y


def cell_groups(records: Sequence[Mapping[str, Any]]) -> list[int]:
    """One label per measured cell: its two phases share a network and a moment of load, so they resample together."""
    keys: dict[tuple, int] = {}
    out = []
    for r in records:
        cell = (r.get("dataset", ""), r["design"], int(r["neurons"]), r.get("precision", "fp32"), r.get("variant", ""))
        out.append(keys.setdefault(cell, len(keys)))
    return out


@dataclass(frozen=True)
class Analysis:
    estimate: Estimate
    held_out: Mapping[str, HeldOut]   # "size", "design", "dataset" (where the records allow)
    probes: tuple[ProbeResult, ...]


def analyse(records: Sequence[Mapping[str, Any]], x: np.ndarray, y: np.ndarray, base: HardwareProfile, *,
            draws: int = 1000, seed: int = 0) -> Analysis:
    """The fit with its intervals, the held-out predictions and the probes (pure: no files)."""
    prior = [float(getattr(base.coefficients, n)) for n in TIME_NAMES]
    bounds = plausible_bounds(base)
    est = estimate(x, y, TIME_NAMES, prior, bounds, draws=draws, seed=seed, groups=cell_groups(records))

    def refit(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        return estimate(xs, ys, TIME_NAMES, prior, bounds, draws=min(draws, HELD_OUT_DRAWS), seed=seed).vector()

    held: dict[str, HeldOut] = {}
    for kind, label in (("size", lambda r: r["neurons"]), ("design", lambda r: r["design"])):
        if len({str(label(r)) for r in records}) > 1:
            held[kind] = leave_one_group_out(records, x, y, kind, label, refit)
    datasets = {r.get("dataset", "") for r in records}
    if TRANSFER_SOURCE in datasets and len(datasets) > 1:
        held["dataset"] = transfer(records, x, y, "dataset", lambda r: r.get("dataset", ""), TRANSFER_SOURCE, refit)
    fitted = [n for n in TIME_NAMES if est.fitted(n)]
    probes = probe_agreement(records, x, y, TIME_NAMES, est.vector(), fitted, refit)
    return Analysis(est, held, tuple(probes))


def load_records(paths: Sequence[str | Path]) -> tuple[list[dict[str, Any]], list[str]]:
    """Every record of the measurement files, and each file's sha256 (12 hex digits)."""
    from dse.calibration.measure import load_measurements

    if not paths:
        raise ValueError("give at least one measurements.json")
    records: list[dict[str, Any]] = []
    digests = []
    for p in paths:
        doc = load_measurements(Path(p), _NEEDED)
        # the file's settings name the data set of all its records (`dse measure` refuses to mix them)
        dataset = doc.get("settings", {}).get("dataset")
        records += [{**r, "dataset": dataset or r.get("dataset", "")} for r in doc["records"]]
        digests.append(hashlib.sha256(Path(p).read_bytes()).hexdigest()[:12])
    if not records:
        raise ValueError("the measurement files hold no records")
    return records, digests


@dataclass(frozen=True)
class CalibrationResult:
    profile: HardwareProfile
    out_path: Path
    target: str
    execution: str
    analysis: Analysis
    energy_fitted: bool
    n_records: int


def _notes(analysis: Analysis, digests: Sequence[str], energy_fitted: bool) -> str:
    parts = [f"held-out MAPE, leave one {kind} out: {100 * h.mape():.1f}%" if kind != "dataset" else
             f"held-out MAPE, {TRANSFER_SOURCE} to other data sets: {100 * h.mape():.1f}%"
             for kind, h in analysis.held_out.items()]
    parts += [f"probe {p.probe}: " + ", ".join(f"{t} {p.ratio(t):.2f}x the fit" for t in p.estimates)
              for p in analysis.probes]
    parts.append(f"measurement sha256 {', '.join(digests)}")
    parts.append("energy coefficients fitted to measured energy" if energy_fitted else
                 "no energy counter in the measurements: dynamic energy per operation re-derived from the "
                 "calibrated times x (board - static power), DRAM and static power kept from the base profile")
    return "; ".join(parts)


def calibrate(measurement_paths: Sequence[str | Path], base_name: str, out: str | Path, *, target: str = "cpu",
              execution: str | None = None, force: bool = False, draws: int = 1000,
              seed: int = 0) -> CalibrationResult:
    """Fit, evaluate, write the new profile, read it back."""
    from dse.cost.toml import profile_to_toml
    from dse.runs import folder

    base = load_profile(base_name)
    out = Path(out)
    name = check_out_path(out, base, force)
    execution = execution or default_execution(base)
    records, digests = load_records(measurement_paths)
    # Loaded records are finite and bounded; should a fit still overflow or divide by zero, it says so
    # in one line instead of printing numpy's warnings and writing a profile of infinities.
    try:
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            x, y = design_matrix(records, base, execution, target)
            analysis = analyse(records, x, y, base, draws=draws, seed=seed)
            energy = fit_energy(records, base, execution)
    except FloatingPointError as exc:
        raise ValueError(f"calibration of {', '.join(map(str, measurement_paths))}: the fit is numerically "
                         f"impossible ({exc}); check the measured times and counts") from None
    files = [str(p) for p in measurement_paths]
    method = (f"nnls (Lawson-Hanson) on relative error, bootstrap over measured cells; execution {execution}; "
              f"target {target} time per image")
    profile = calibrated_profile(base, name, analysis.estimate, energy, files, method,
                                 _notes(analysis, digests, energy is not None))
    folder.atomic_write_bytes(out, profile_to_toml(profile).encode("utf-8"))
    try:
        written = load_profile(out)
    except ProfileError as exc:  # pragma: no cover - profile_to_toml round-trips by construction
        raise ValueError(f"{out}: the calibrated profile does not load back ({exc})") from None
    return CalibrationResult(profile=written, out_path=out, target=target, execution=execution, analysis=analysis,
                             energy_fitted=energy is not None, n_records=len(records))
