"""The one place where the search calls the cost model (dse.cost): memory, energy, hardware comparison.

Every number the search optimises or constrains besides accuracy comes from
here, so a change of the cost model's API is a change of this file only.
What is used:

* ``dse.cost.quant.parse_precision(spec) -> Precision`` (word lengths of a ``--quant`` spec);
* ``dse.cost.memory.memory_report(design, neurons, phase, precision, accounting).total_bytes``;
* ``dse.cost.model.estimate_cost(design, neurons, profile, precision=, accounting=, counts=)``
  with ``counts`` = phase -> per-image activity counts (a run manifest's
  ``counts.*_per_image``), and its ``.phases[phase].total_energy_j`` /
  ``.total_time_s``;
* ``dse.cost.activity.counts_from_stats`` (counts of a silent network, for
  the energy floor) and ``dse.cost.structure.design_structure``;
* ``dse.cost.profiles.load_profile`` / ``list_profiles``.

Memory and energy are modelled, never measured, and labelled so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .space import Candidate, nominal_ranges, quant_spec

__all__ = ["ACCOUNTINGS", "PHASES", "memory_mb", "fp32_memory_mb", "energy_mj", "energy_floor_mj",
           "hardware_comparison", "check_profile", "profile_names", "cost_labels", "HardwareRow"]

PHASES = ("inference", "training")
ACCOUNTINGS = ("dense", "minimal")
MB = 1_000_000   # decimal megabytes, as the papers and dse.cost.memory.MB
MJ_PER_J = 1_000.0


def _precision(c: Candidate, phase: str):
    """Word lengths the phase stores: a PTQ model trains in FP32 and is quantized afterwards."""
    from dse.cost.quant import parse_precision

    if not c.quantized or (phase == "training" and c.scheme == "ptq"):
        return parse_precision("fp32")
    return parse_precision(quant_spec(c, nominal_ranges(c)))


@lru_cache(maxsize=4096)
def memory_mb(c: Candidate, phase: str, accounting: str = "dense") -> float:
    """Modelled memory of the candidate in the phase, in MB (10^6 bytes)."""
    from dse.cost.memory import memory_report

    return memory_report(c.design, c.neurons, phase, _precision(c, phase), accounting).total_bytes / MB


def fp32_memory_mb(c: Candidate, phase: str, accounting: str = "dense") -> float:
    """Memory of the same design and size in FP32 (tinySNN's M = mem_quantized / mem_FP32)."""
    return memory_mb(c.fp32(), phase, accounting)


@lru_cache(maxsize=None)
def _profile(name: str):
    from dse.cost.profiles import load_profile

    return load_profile(name)


def check_profile(name: str) -> str:
    """The profile's name if it loads; ProfileError (a ValueError, one line) otherwise."""
    return _profile(name).name


def profile_names() -> list[str]:
    from dse.cost.profiles import list_profiles

    return list(list_profiles())


def _cost(c: Candidate, profile: str, counts: Mapping[str, Mapping[str, float]], accounting: str,
          phase_precision: str):
    from dse.cost.model import estimate_cost

    return estimate_cost(c.design, c.neurons, _profile(profile), precision=_precision(c, phase_precision),
                         accounting=accounting, counts={ph: dict(v) for ph, v in counts.items()},
                         counts_label="measured activity of the trial's run")


def energy_mj(c: Candidate, phase: str, profile: str, counts: Mapping[str, Mapping[str, float]],
              accounting: str = "dense") -> float:
    """Modelled energy per image (mJ) of the phase on the profile, from measured per-image counts."""
    return _cost(c, profile, counts, accounting, phase).phases[phase].total_energy_j * MJ_PER_J


@lru_cache(maxsize=4096)
def energy_floor_mj(c: Candidate, phase: str, profile: str, accounting: str = "dense") -> float:
    """A lower bound of the energy per image, known before training.

    The energy model is monotone in every activity count, so the counts of a
    network that sees one presentation per image and never spikes (all
    spike-driven counts zero; steps, neuron and trace updates and
    normalisations as the structure fixes them) give a floor that no trained
    network can undercut. A candidate whose floor breaks the energy budget is
    rejected without training.
    """
    from dse.cost.activity import ActivityStats, counts_from_stats
    from dse.cost.structure import design_structure

    s = design_structure(c.design)
    silent = ActivityStats(presentations_per_image=1.0, input_spikes_per_presentation=0.0,
                           exc_spikes_per_presentation=0.0)
    counts = {ph: counts_from_stats(s, c.neurons, ph, silent) for ph in PHASES}
    return energy_mj(c, phase, profile, counts, accounting)


@dataclass(frozen=True)
class HardwareRow:
    profile: str
    display_name: str
    kind: str
    time_per_image_s: float
    energy_per_image_mj: float
    memory_mb: float
    device_memory_mb: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def hardware_comparison(c: Candidate, phase: str, counts: Mapping[str, Mapping[str, float]],
                        accounting: str = "dense", profiles: list[str] | None = None) -> list[HardwareRow]:
    """The candidate's modelled time and energy per image on every bundled profile (same counts)."""
    rows = []
    for name in profiles or profile_names():
        r = _cost(c, name, counts, accounting, phase)
        p = _profile(name)
        rows.append(HardwareRow(profile=name, display_name=p.display_name, kind=p.kind,
                                time_per_image_s=r.phases[phase].total_time_s,
                                energy_per_image_mj=r.phases[phase].total_energy_j * MJ_PER_J,
                                memory_mb=r.memory_bytes(phase) / MB,
                                device_memory_mb=p.specs.memory_bytes / MB))
    return rows


def cost_labels(profile: str, accounting: str) -> dict[str, str]:
    """How memory and energy were obtained, for the outputs (both are modelled)."""
    from dse.cost.model import profile_label

    return {"memory": f"modelled: {accounting} accounting (dse.cost.memory)",
            "energy": f"{profile_label(_profile(profile))}; per-image activity counts measured on the trial's run"}
