"""Fit a profile's cost coefficients to measured runs and write a new, calibrated profile.

Model: time per image = features(counts, N, precision, execution) . coefficients
(:func:`dse.cost.energy.time_features`), linear in the five time coefficients,
so the fit is a non-negative least-squares problem.  Rows are divided by the
measured time, so the fit minimises *relative* error: a 100-neuron run counts
as much as a 900-neuron one, which is what a held-out MAPE asks for.

The trust figure is leave-one-size-out: for every network size, fit on the
other sizes and predict the held-out one; the mean absolute percentage error
over all held-out records is reported and written into the new profile.

Energy coefficients are fitted the same way (dynamic energy per operation and
static power x measured time) only when every record carries a measured
energy (NVML or RAPL); modelled energies would make that fit circular, so
otherwise the dynamic energy per operation is re-derived from the fitted
times by the priors' own rule (busy device at board power), and DRAM energy
and static power stay the base profile's; the profile says which.

The base profile is never edited: the result is a new file whose name is its
stem, with a ``[calibration]`` table naming the measurement files.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dse.errors import Param, ParameterError
from dse.cost.energy import ENERGY_COEFFICIENTS, TIME_COEFFICIENTS, default_execution, phase_work, time_features
from dse.cost.profiles import load_profile
from dse.cost.schema import Calibration, Coefficients, FrozenMap, HardwareProfile, ProfileError
from dse.cost.quant import parse_precision
from dse.cost.structure import design_structure

__all__ = ["nnls", "TimeFit", "HeldOut", "design_matrix", "fit_time", "leave_one_size_out",
           "calibrated_profile", "calibrate", "CalibrationResult", "TARGETS"]

TARGETS = ("cpu", "wall")
# time coefficient -> the dynamic energy coefficient derived from it (hw_profiles/README.md)
_ENERGY_OF_TIME = {
    "time_per_synaptic_event_ns": "energy_per_synaptic_event_pj",
    "time_per_neuron_update_ns": "energy_per_neuron_update_pj",
    "time_per_weight_update_ns": "energy_per_weight_update_pj",
}
_NAME_RE_TEXT = "[a-z0-9][a-z0-9._-]*"
# Record fields the fits read (`dse measure` writes them all).
_NEEDED = ("counts_per_image", "cpu_s_per_image", "wall_s_per_image", "energy_j_per_image")


# --------------------------------------------------------------------------- NNLS


def nnls(a: np.ndarray, b: np.ndarray, *, max_iter: int | None = None, tol: float | None = None) -> np.ndarray:
    """min ||a x - b||_2 subject to x >= 0 (Lawson & Hanson 1974, active-set method).

    Small dense problems only (a handful of columns): each inner step solves
    an unconstrained least-squares problem on the passive set with lstsq.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 1 or a.shape[0] != b.shape[0]:
        raise ValueError(f"nnls needs a (m, n) matrix and an (m,) vector, got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("nnls: the system holds NaN or infinite values")
    m, n = a.shape
    max_iter = max_iter or 30 * max(n, 1)
    tol = tol if tol is not None else 10 * np.finfo(float).eps * max(m, n) * max(np.abs(a).max(initial=0.0), 1.0)
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    w = a.T @ (b - a @ x)
    it = 0
    while (~passive).any() and (w[~passive] > tol).any():
        j = int(np.argmax(np.where(passive, -np.inf, w)))
        passive[j] = True
        while True:
            it += 1
            if it > max_iter:
                return x  # best feasible point so far; happens only for degenerate systems
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if (z[passive] > 0).all():
                x = z
                break
            # step back towards x until the first passive variable hits zero
            neg = passive & (z <= 0)
            alpha = np.min(x[neg] / (x[neg] - z[neg]))
            x = x + alpha * (z - x)
            passive &= x > tol
            x[~passive] = 0.0
        w = a.T @ (b - a @ x)
    return x


# --------------------------------------------------------------------------- time fit


def _record_work(rec: Mapping[str, Any], profile: HardwareProfile, execution: str):
    s = design_structure(rec["design"])
    return phase_work(s, int(rec["neurons"]), rec["phase"], rec["counts_per_image"],
                      parse_precision(rec.get("precision", "fp32")), execution, cores=profile.specs.cores,
                      l2_cache_bytes=profile.specs.l2_cache_bytes)


def design_matrix(records: Sequence[Mapping[str, Any]], profile: HardwareProfile, execution: str,
                  target: str) -> tuple[np.ndarray, np.ndarray]:
    """(features in coefficient units, measured seconds per image), one row per record."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    units = np.array([u for _, u in TIME_COEFFICIENTS])
    rows, ys = [], []
    for rec in records:
        rows.append(np.array(time_features(_record_work(rec, profile, execution), target)) * units)
        ys.append(float(rec["cpu_s_per_image" if target == "cpu" else "wall_s_per_image"]))
    x, y = np.array(rows, dtype=np.float64), np.array(ys, dtype=np.float64)
    if (y <= 0).any():
        raise ValueError("measured times must be > 0")
    return x, y


@dataclass(frozen=True)
class TimeFit:
    coefficients: Mapping[str, float]  # fitted value per time coefficient name
    identifiable: Mapping[str, bool]   # False: the measurements never exercise it; the prior is kept
    rms_fraction: float
    max_fraction: float


def _relative_nnls(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NNLS of x c ~ y on relative error; returns (c, used) with c = 0 where a column is all zero."""
    used = np.abs(x).sum(axis=0) > 0
    xr = x / y[:, None]
    scale = np.where(used, np.abs(xr).max(axis=0), 1.0)  # column scaling for conditioning
    scale[scale == 0] = 1.0
    sol = np.zeros(x.shape[1])
    if used.any():
        sol[used] = nnls(xr[:, used] / scale[used], np.ones(len(y))) / scale[used]
    return sol, used


def fit_time(x: np.ndarray, y: np.ndarray, prior: Coefficients) -> TimeFit:
    """Relative-error NNLS of the time coefficients; unexercised ones keep their prior."""
    names = [n for n, _ in TIME_COEFFICIENTS]
    sol, used = _relative_nnls(x, y)
    coef = {n: (float(sol[k]) if used[k] else float(getattr(prior, n))) for k, n in enumerate(names)}
    pred = x @ np.array([coef[n] for n in names])
    rel = np.abs(pred - y) / y
    return TimeFit(coefficients=coef, identifiable={n: bool(used[k]) for k, n in enumerate(names)},
                   rms_fraction=float(np.sqrt(np.mean(rel ** 2))), max_fraction=float(rel.max()))


@dataclass(frozen=True)
class HeldOut:
    """Leave-one-size-out predictions: one entry per record, in the order given."""

    sizes: tuple[int, ...]
    predicted_s: tuple[float, ...]
    measured_s: tuple[float, ...]
    phases: tuple[str, ...]
    neurons: tuple[int, ...]

    def ape(self) -> np.ndarray:
        m = np.array(self.measured_s)
        return np.abs(np.array(self.predicted_s) - m) / m

    def mape(self, phase: str | None = None) -> float:
        ape = self.ape()
        if phase is not None:
            ape = ape[np.array(self.phases) == phase]
        return float(ape.mean()) if ape.size else float("nan")

    def mape_by_size(self) -> dict[int, float]:
        ape, ns = self.ape(), np.array(self.neurons)
        return {n: float(ape[ns == n].mean()) for n in self.sizes}


def leave_one_size_out(records: Sequence[Mapping[str, Any]], x: np.ndarray, y: np.ndarray,
                       prior: Coefficients) -> HeldOut:
    names = [n for n, _ in TIME_COEFFICIENTS]
    ns = np.array([int(r["neurons"]) for r in records])
    sizes = tuple(sorted(set(ns.tolist())))
    if len(sizes) < 2:
        raise ValueError("leave-one-size-out needs measurements at two or more network sizes")
    pred = np.zeros(len(y))
    for n in sizes:
        held = ns == n
        fit = fit_time(x[~held], y[~held], prior)
        pred[held] = x[held] @ np.array([fit.coefficients[k] for k in names])
    return HeldOut(sizes=sizes, predicted_s=tuple(pred.tolist()), measured_s=tuple(y.tolist()),
                   phases=tuple(r["phase"] for r in records), neurons=tuple(ns.tolist()))


# --------------------------------------------------------------------------- energy fit


def fit_energy(records: Sequence[Mapping[str, Any]], profile: HardwareProfile, execution: str) -> dict[str, float] | None:
    """Dynamic energy per operation and static power from measured energies, or None if none are measured."""
    if not records or any(r.get("energy_source") not in ("nvml", "rapl") for r in records):
        return None
    rows, ys = [], []
    for rec in records:
        w = _record_work(rec, profile, execution)
        rows.append([w.synaptic_ops * 1e-12, w.neuron_ops * 1e-12, w.weight_ops * 1e-12, w.dram_bytes * 1e-12,
                     float(rec["wall_s_per_image"])])
        ys.append(float(rec["energy_j_per_image"]))
    x, y = np.array(rows), np.array(ys)
    if (y <= 0).any():
        return None
    names = list(ENERGY_COEFFICIENTS) + ["static_power_w"]
    sol, _ = _relative_nnls(x, y)
    return {n: float(v) for n, v in zip(names, sol)}


# --------------------------------------------------------------------------- the new profile


def _check_out_path(out: Path, base: HardwareProfile, force: bool) -> str:
    import re

    from dse.cost.profiles import list_profiles

    if out.suffix != ".toml":
        raise ParameterError(Param("out"), f" {out}: give a .toml file; its stem becomes the profile name")
    name = out.stem
    if not re.fullmatch(_NAME_RE_TEXT, name):
        raise ParameterError(Param("out"), f" {out}: the profile name {name!r} (the file stem) must match {_NAME_RE_TEXT}")
    if name == base.name or name in list_profiles():
        raise ParameterError(Param("out"), f" {out}: {name!r} is a bundled profile name; calibration writes a new profile "
                         f"(e.g. {base.name}-calibrated.toml)")
    from importlib import resources

    from dse.runs.folder import check_out_dir

    bundled = Path(str(resources.files("dse.hw_profiles"))).resolve()
    if out.resolve().parent == bundled:
        raise ParameterError(Param("out"), f" {out}: never write into the bundled hw_profiles folder")
    if out.is_dir():
        raise ParameterError(Param("out"), f" {out}: is a folder; give a .toml file, e.g. {out / (base.name + '-calibrated.toml')}")
    if out.exists() and not force:
        raise ParameterError(Param("out"), f" {out}: file exists (add ", Param("force"), " to replace it)")
    check_out_dir(out.parent, "out", named=out)
    return name


def calibrated_profile(base: HardwareProfile, name: str, time_fit: TimeFit, energy: Mapping[str, float] | None,
                       files: Sequence[str], n_records: int, method: str, notes: str,
                       fit_date: str | None = None) -> HardwareProfile:
    coef = {f.name: getattr(base.coefficients, f.name) for f in dataclasses.fields(Coefficients)}
    sources = dict(base.coefficient_sources)
    where = ", ".join(files)
    for key, value in time_fit.coefficients.items():
        if time_fit.identifiable[key]:
            coef[key] = _round_sig(value)
            sources[key] = f"fitted: {method} on {n_records} measured records ({where})"
        else:
            sources[key] = f"prior kept (not exercised by {where}): " + sources[key]
    if energy is not None:
        for key, value in energy.items():
            coef[key] = _round_sig(value)
            sources[key] = f"fitted: NNLS of measured energy on {n_records} records ({where})"
    else:
        # No measured energy: keep the priors' rule (a busy device draws its
        # board power) but apply it to the fitted times, so modelled energy
        # stays modelled power x modelled time.
        dynamic_w = max(base.specs.board_power_w - coef["static_power_w"], 0.0)
        for t_key, e_key in _ENERGY_OF_TIME.items():
            if time_fit.identifiable[t_key]:
                coef[e_key] = _round_sig(coef[t_key] * dynamic_w * 1000.0)
                sources[e_key] = (f"derived from the fitted time: coefficients.{t_key} x (specs.board_power_w - "
                                  "static power) x 1000 (ns x W = pJ x 1000); a busy device is assumed to draw "
                                  "its full board power")
    cal = Calibration(
        base_profile=base.name, fit_date=fit_date or _dt.date.today().isoformat(),
        measurement_files=tuple(files), method=method, n_measurements=n_records,
        time_residual_rms_fraction=_round_sig(time_fit.rms_fraction),
        time_residual_max_fraction=_round_sig(time_fit.max_fraction), notes=notes,
    )
    return dataclasses.replace(base, name=name, display_name=f"{base.display_name} (calibrated)",
                               coefficients=Coefficients(**coef), coefficient_sources=FrozenMap(sources),
                               calibration=cal, path="")


def _round_sig(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}") if x != 0 and math.isfinite(x) else float(x)


@dataclass(frozen=True)
class CalibrationResult:
    profile: HardwareProfile
    out_path: Path
    target: str
    execution: str
    time_fit: TimeFit
    held_out: HeldOut
    energy_fitted: bool
    n_records: int


def calibrate(measurement_paths: Sequence[str | Path], base_name: str, out: str | Path, *, target: str = "cpu",
              execution: str | None = None, force: bool = False) -> CalibrationResult:
    """Fit, evaluate (leave one size out), write the new profile, read it back."""
    from dse.runs import folder
    from dse.cost.toml import profile_to_toml
    from dse.calibration.measure import load_measurements

    if not measurement_paths:
        raise ValueError("give at least one measurements.json")
    base = load_profile(base_name)
    out = Path(out)
    name = _check_out_path(out, base, force)
    execution = execution or default_execution(base)
    records: list[dict[str, Any]] = []
    digests = []
    for p in measurement_paths:
        doc = load_measurements(Path(p), _NEEDED)
        records += doc["records"]
        digests.append(hashlib.sha256(Path(p).read_bytes()).hexdigest()[:12])
    if not records:
        raise ValueError("the measurement files hold no records")
    # Loaded records are finite and bounded; should a fit still overflow or divide by zero, it says so
    # in one line instead of printing numpy's warnings and writing a profile of infinities.
    try:
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            x, y = design_matrix(records, base, execution, target)
            held = leave_one_size_out(records, x, y, base.coefficients)
            tfit = fit_time(x, y, base.coefficients)
            energy = fit_energy(records, base, execution)
    except FloatingPointError as exc:
        raise ValueError(f"calibration of {', '.join(map(str, measurement_paths))}: the fit is numerically "
                         f"impossible ({exc}); check the measured times and counts") from None
    files = [str(p) for p in measurement_paths]
    method = f"nnls (Lawson-Hanson) on relative error; execution {execution}; target {target} time per image"
    phases = sorted(set(r["phase"] for r in records))
    per_phase = ", ".join(f"{ph} {100 * held.mape(ph):.1f}%" for ph in phases)
    notes = (f"leave-one-size-out MAPE {100 * held.mape():.1f}% ({per_phase}) over sizes "
             f"{', '.join(map(str, held.sizes))}; measurement sha256 {', '.join(digests)}; "
             + ("energy coefficients fitted to measured energy" if energy is not None
                else "no energy counter in the measurements: dynamic energy per operation re-derived from the "
                     "fitted times x (board - static power), DRAM and static power kept from the base profile"))
    profile = calibrated_profile(base, name, tfit, energy, files, len(records), method, notes)
    folder.atomic_write_bytes(out, profile_to_toml(profile).encode("utf-8"))
    try:
        written = load_profile(out)
    except ProfileError as exc:  # pragma: no cover - profile_to_toml round-trips by construction
        raise ValueError(f"{out}: the calibrated profile does not load back ({exc})") from None
    return CalibrationResult(profile=written, out_path=out, target=target, execution=execution, time_fit=tfit,
                             held_out=held, energy_fitted=energy is not None, n_records=len(records))
