"""The calibrated profile: a NEW file with the fitted coefficients, their intervals and where each came from.

The base profile is never edited. Fitted time coefficients carry their 95%
interval in ``[coefficient_intervals]``; a coefficient held instead of fitted
says why in its ``coefficient_sources`` line. Energy coefficients are fitted
(dynamic energy per operation and static power x measured time) only when
every record carries a measured energy (NVML or RAPL); modelled energies
would make that fit circular, so otherwise the dynamic energy per operation
is re-derived from the fitted times by the priors' own rule (busy device at
board power), and DRAM energy and static power stay the base profile's.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dse.errors import Param, ParameterError
from dse.cost.energy import ENERGY_COEFFICIENTS, phase_work
from dse.cost.quant import parse_precision
from dse.cost.schema import Calibration, Coefficients, FrozenMap, HardwareProfile
from dse.cost.structure import design_structure

from .estimate import Estimate
from .fit import relative_nnls

__all__ = ["record_work", "fit_energy", "check_out_path", "calibrated_profile", "round_sig"]

# time coefficient -> the dynamic energy coefficient derived from it (hw_profiles/README.md)
_ENERGY_OF_TIME = {
    "time_per_synaptic_event_ns": "energy_per_synaptic_event_pj",
    "time_per_neuron_update_ns": "energy_per_neuron_update_pj",
    "time_per_weight_update_ns": "energy_per_weight_update_pj",
    "time_per_input_spike_ns": "energy_per_input_spike_pj",
}
_NAME_RE_TEXT = "[a-z0-9][a-z0-9._-]*"


def record_work(rec: Mapping[str, Any], profile: HardwareProfile, execution: str):
    s = design_structure(rec["design"])
    return phase_work(s, int(rec["neurons"]), rec["phase"], rec["counts_per_image"],
                      parse_precision(rec.get("precision", "fp32")), execution, cores=profile.specs.cores,
                      l2_cache_bytes=profile.specs.l2_cache_bytes)


# --------------------------------------------------------------------------- energy fit


def fit_energy(records: Sequence[Mapping[str, Any]], profile: HardwareProfile, execution: str) -> dict[str, float] | None:
    """Dynamic energy per operation and static power from measured energies, or None if none are measured."""
    if not records or any(r.get("energy_source") not in ("nvml", "rapl") for r in records):
        return None
    rows, ys = [], []
    for rec in records:
        w = record_work(rec, profile, execution)
        rows.append([v * 1e-12 for v in w.dynamic_ops()] + [float(rec["wall_s_per_image"])])
        ys.append(float(rec["energy_j_per_image"]))
    x, y = np.array(rows), np.array(ys)
    if (y <= 0).any():
        return None
    names = list(ENERGY_COEFFICIENTS) + ["static_power_w"]
    return {n: float(v) for n, v in zip(names, relative_nnls(x, y))}


def check_out_path(out: Path, base: HardwareProfile, force: bool) -> str:
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


def calibrated_profile(base: HardwareProfile, name: str, est: Estimate, energy: Mapping[str, float] | None,
                       files: Sequence[str], method: str, notes: str, fit_date: str | None = None) -> HardwareProfile:
    coef = {f.name: getattr(base.coefficients, f.name) for f in dataclasses.fields(Coefficients)}
    sources = dict(base.coefficient_sources)
    intervals = {}
    where = ", ".join(files)
    for k, key in enumerate(est.names):
        coef[key] = round_sig(est.values[k])
        if est.fitted(key):
            intervals[key] = (round_sig(est.low[k]), round_sig(est.high[k]))
            sources[key] = (f"fitted: {method} on the measured records of {where}; 95% bootstrap interval "
                            f"[{est.low[k]:.4g}, {est.high[k]:.4g}] ({est.draws} resamples)")
        else:
            sources[key] = f"held, not fitted ({where}): {est.kept[key]}. Prior: {sources[key]}"
    if energy is not None:
        for key, value in energy.items():
            coef[key] = round_sig(value)
            sources[key] = f"fitted: NNLS of measured energy ({where})"
    else:
        # No measured energy: keep the priors' rule (a busy device draws its
        # board power) but apply it to the fitted times, so modelled energy
        # stays modelled power x modelled time.
        dynamic_w = max(base.specs.board_power_w - coef["static_power_w"], 0.0)
        for t_key, e_key in _ENERGY_OF_TIME.items():
            if t_key in est.names:
                coef[e_key] = round_sig(coef[t_key] * dynamic_w * 1000.0)
                sources[e_key] = (f"derived from the calibrated time: coefficients.{t_key} x (specs.board_power_w - "
                                  "static power) x 1000 (ns x W = pJ x 1000); a busy device is assumed to draw "
                                  "its full board power")
    cal = Calibration(
        base_profile=base.name, fit_date=fit_date or _dt.date.today().isoformat(),
        measurement_files=tuple(files), method=method, n_measurements=est.records,
        time_residual_rms_fraction=round_sig(est.rms_fraction),
        time_residual_max_fraction=round_sig(est.max_fraction),
        design_condition_number=round_sig(est.conditioning.condition_number)
        if math.isfinite(est.conditioning.condition_number) else None, notes=notes,
    )
    return dataclasses.replace(base, name=name, display_name=f"{base.display_name} (calibrated)",
                               coefficients=Coefficients(**coef), coefficient_sources=FrozenMap(sources),
                               coefficient_intervals=FrozenMap(intervals) if intervals else None,
                               calibration=cal, path="")


def round_sig(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}") if x != 0 and math.isfinite(x) else float(x)

