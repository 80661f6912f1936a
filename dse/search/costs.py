"""The one place where the search calls the cost model (dse.cost): memory, energy, hardware comparison.

Every number the search optimises or constrains besides accuracy comes from
here, so a change of the cost model's API is a change of this file only.
What is used:

* ``dse.cost.quant.parse_precision(spec) -> QuantConfig`` (word lengths of a quantization spec);
* ``dse.cost.memory.memory_report(design, neurons, phase, precision, accounting).total_bytes``;
* ``dse.cost.model.estimate_cost(design, neurons, profile, precision=, accounting=, counts=)``
  with ``counts`` = phase -> per-image activity counts (a run manifest's
  ``counts.*_per_image``), and its ``.phases[phase].total_energy_j`` /
  ``.total_time_s``;
* ``dse.cost.activity.counts_from_stats`` and ``dse.cost.structure.design_structure``
  (counts of a network with a given activity: a silent one for the energy
  floor, typical ones for the synthetic evaluator);
* ``dse.cost.profiles.load_profile`` / ``list_profiles``;
* ``dse.cost.compare.row_from_report`` (the hardware comparison's rows).

Memory and energy are modelled, never measured, and labelled so.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from dse.cost import PHASES

from .space import Candidate, nominal_ranges, quant_spec

__all__ = ["ACCOUNTINGS", "PHASES", "memory_mb", "fp32_memory_mb", "energy_mj", "energy_floor_mj",
           "hardware_comparison", "check_profile", "profile_names", "cost_labels", "activity_counts"]

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

    return memory_report(c.design, c.neurons, phase, _precision(c, phase), accounting,
                         early_exit=bool(c.exit_margin)).total_bytes / MB


def fp32_memory_mb(c: Candidate, phase: str, accounting: str = "dense") -> float:
    """Memory of the same design and size in FP32 (tinySNN's M = mem_quantized / mem_FP32), with the same
    early exit (its votes are not what quantization saves)."""
    return memory_mb(c.fp32().with_exit(c.exit_margin), phase, accounting)


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
                         counts_label="measured activity of the trial's run", early_exit=bool(c.exit_margin))


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
    network can undercut; with early exit, of one step per image. A candidate whose floor breaks the energy budget is
    rejected without training.
    """
    silent = {"presentations_per_image": 1.0, "input_spikes_per_presentation": 0.0,
              "exc_spikes_per_presentation": 0.0}
    counts = activity_counts(c.design, c.neurons, silent)
    if c.exit_margin and phase == "inference":
        # An early exit may stop an image after its first steps: the floor is one step's work.
        from dse.cost.activity import scale_to_steps

        counts["inference"] = scale_to_steps(counts["inference"], 1.0)
    return energy_mj(c, phase, profile, counts, accounting)


def activity_counts(design: str, neurons: int, stats: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Per-image counts of each phase of a network with this per-presentation activity
    (the fields of dse.cost.activity.ActivityStats)."""
    from dse.cost.activity import ActivityStats, counts_from_stats
    from dse.cost.structure import design_structure

    s, activity = design_structure(design), ActivityStats(**stats)
    return {ph: counts_from_stats(s, neurons, ph, activity) for ph in PHASES}


def hardware_comparison(c: Candidate, phase: str, counts: Mapping[str, Mapping[str, float]],
                        accounting: str = "dense", profiles: list[str] | None = None) -> list[Any]:
    """The candidate's modelled cost on every bundled profile (same counts): dse.cost.compare.HardwareRow
    rows, priced with the precision the phase stores (read them for that phase)."""
    from dse.cost.compare import row_from_report

    return [row_from_report(_cost(c, name, counts, accounting, phase)) for name in profiles or profile_names()]


def cost_labels(profile: str, accounting: str, synthetic: bool = False) -> dict[str, str]:
    """How memory and energy were obtained, for the outputs (both are modelled; the activity counts behind
    energy are measured on each trial's run, or made up by the synthetic evaluator)."""
    from dse.cost.model import profile_label

    counts = ("per-image activity counts from the synthetic evaluator (typical of each design, not measured)"
              if synthetic else "per-image activity counts measured on the trial's run")
    return {"memory": f"modelled: {accounting} accounting (dse.cost.memory)",
            "energy": f"{profile_label(_profile(profile))}; {counts}"}
