"""The cost of one design on one device: memory, time and energy, each labelled with where it came from.

Pure assembly of :mod:`memory`, :mod:`activity` and :mod:`energy`; file reads
(a run's manifest) happen only in :func:`run_counts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .activity import PER_IMAGE_KEYS, estimate_counts, load_activity_table, scale_to_steps
from .energy import PhaseCost, default_execution, phase_work, price_phase
from dse.models.quantize import QuantConfig

from .memory import PHASES, MemoryReport, memory_report
from .schema import HardwareProfile
from .structure import check_neurons, design_structure

__all__ = ["DATASET_SIZES", "RunCounts", "CostReport", "estimate_cost", "run_counts", "profile_label",
           "cost_to_json"]

# Images per training epoch and per test set (MNIST and Fashion-MNIST alike).
DATASET_SIZES = {"mnist": (60_000, 10_000), "fashion-mnist": (60_000, 10_000)}


@dataclass(frozen=True)
class RunCounts:
    """Per-image counts of both phases from a finished run, and what the run was."""

    design: str
    neurons: int
    quant: str | None
    dataset: str
    counts: Mapping[str, Mapping[str, float]]  # phase -> per-image counts
    label: str


def run_counts(run_dir: str | Path) -> RunCounts:
    """Read a `dse train` run folder's manifest (``counts.*_per_image``)."""
    from dse.runs import folder, validate

    manifest = folder.read_manifest(Path(run_dir))
    counts = validate.per_image_counts(Path(run_dir), manifest)
    try:
        cfg = manifest["config"]
        per_phase = {ph: {k: float(c.get(k, 0.0)) for k in PER_IMAGE_KEYS} for ph, c in counts.items()}
        # in-training quantization is in the config; post-training (`dse quantize`) in "quantization"
        recorded = (manifest.get("quantization") or {}).get("spec")
        quant = cfg.get("quant") or (recorded if recorded not in (None, "fp32") else None)
        return RunCounts(design=str(cfg["design"]), neurons=int(cfg["neurons"]), quant=quant,
                         dataset=str(cfg.get("dataset", "mnist")), counts=per_phase,
                         label=f"measured run {run_dir}")
    except (KeyError, TypeError, ValueError) as exc:
        raise folder.RunError(f"{run_dir}: manifest has no per-image counts ({exc})") from None


def profile_label(profile: HardwareProfile) -> str:
    """'modelled from profile X (...)': says whether the coefficients are priors or a fit, and which fit."""
    cal = profile.calibration
    if cal is None:
        how = "uncalibrated priors derived from published specs"
    else:
        files = ", ".join(cal.measurement_files)
        method = (cal.method or "fit").split(";")[0].strip()  # the rest is in the profile's [calibration]
        how = f"calibration: {method} of {cal.base_profile} on {cal.fit_date} to {files}"
        if cal.notes:
            how += f"; {cal.notes.split(';')[0].strip()}"
    return f"modelled from profile {profile.name} ({how})"


@dataclass(frozen=True)
class CostReport:
    design: str
    neurons: int
    precision: QuantConfig
    accounting: str
    execution: str
    profile: HardwareProfile
    dataset: str
    memory: Mapping[str, MemoryReport]       # by phase
    counts: Mapping[str, Mapping[str, float]]  # by phase, per image
    counts_label: str
    phases: Mapping[str, PhaseCost]          # by phase
    epoch_images: int
    test_images: int

    def memory_bytes(self, phase: str) -> int:
        return self.memory[phase].total_bytes

    def fits(self, phase: str) -> bool:
        return self.memory_bytes(phase) <= self.profile.specs.memory_bytes

    def time_s(self) -> dict[str, float]:
        tr, inf = self.phases["training"].total_time_s, self.phases["inference"].total_time_s
        return {"training_per_image": tr, "inference_per_image": inf,
                "training_per_epoch": tr * self.epoch_images, "inference_per_test_set": inf * self.test_images}

    def energy_j(self) -> dict[str, float]:
        tr, inf = self.phases["training"].total_energy_j, self.phases["inference"].total_energy_j
        return {"training_per_image": tr, "inference_per_image": inf,
                "training_per_epoch": tr * self.epoch_images, "inference_per_test_set": inf * self.test_images}

    def labels(self) -> dict[str, str]:
        how = profile_label(self.profile)
        return {
            "memory": f"modelled: {self.accounting} accounting, precision {self.precision.label}",
            "counts": self.counts_label,
            "time": f"{how}; execution {self.execution}",
            "energy": f"{how}; execution {self.execution}; static power x modelled time included",
        }


def estimate_cost(design: str, neurons: int, profile: HardwareProfile, *, precision: QuantConfig | None = None,
                  accounting: str = "dense", execution: str | None = None, dataset: str = "mnist",
                  counts: Mapping[str, Mapping[str, float]] | None = None,
                  counts_label: str | None = None, early_exit_steps: float | None = None,
                  early_exit: bool = False) -> CostReport:
    """Memory of both phases, and time and energy per image of both phases, on ``profile``.

    ``counts`` (phase -> per-image counts) come from a measured run; without
    them the activity model estimates them. ``early_exit_steps``: inference
    images stop early, after this many steps on average; modelled counts are
    scaled to it (measured ones already are), and inference memory holds the
    votes. ``early_exit``: measured ``counts`` of a run with early exit (not
    scaled again); inference memory holds the votes.
    """
    check_neurons(neurons)
    s = design_structure(design)
    precision = precision or QuantConfig()
    execution = execution or default_execution(profile)
    if dataset not in DATASET_SIZES:
        raise ValueError(f"unknown data set {dataset!r}: choose one of {', '.join(DATASET_SIZES)}")
    if counts is None:
        counts = {ph: estimate_counts(design, neurons, ph, dataset) for ph in PHASES}
        table = load_activity_table()
        sizes = table.sizes(dataset, design, "inference")
        outside = ""
        if sizes and not sizes[0] <= neurons <= sizes[-1]:
            nearest = sizes[0] if neurons < sizes[0] else sizes[-1]
            outside = (f"; N={neurons} is outside the measured sizes {sizes[0]}-{sizes[-1]}: per-presentation "
                       f"statistics of N={nearest} used")
        counts_label = f"estimated from activity model (dse/cost/activity.toml: {table.source}){outside}"
    if early_exit_steps is not None:
        counts = {**counts, "inference": scale_to_steps(dict(counts["inference"]), early_exit_steps)}
        counts_label = (f"{counts_label or 'given'}; inference scaled to {early_exit_steps:g} steps per image "
                        "(early exit; activity taken as uniform over a presentation)")
    exiting = early_exit or early_exit_steps is not None
    memory = {ph: memory_report(design, neurons, ph, precision, accounting, early_exit=exiting) for ph in PHASES}
    phases = {}
    for ph in PHASES:
        work = phase_work(s, neurons, ph, counts[ph], precision, execution, cores=profile.specs.cores,
                          l2_cache_bytes=profile.specs.l2_cache_bytes)
        phases[ph] = price_phase(work, profile.coefficients, ph, execution)
    epoch, test = DATASET_SIZES[dataset]
    return CostReport(design=design, neurons=neurons, precision=precision, accounting=accounting,
                      execution=execution, profile=profile, dataset=dataset, memory=memory,
                      counts={ph: dict(counts[ph]) for ph in PHASES}, counts_label=counts_label or "given",
                      phases=phases, epoch_images=epoch, test_images=test)


def cost_to_json(r: CostReport, phase: str = "inference") -> dict[str, Any]:
    """The `dse cost --json` document. ``memory_bytes`` is the memory of ``phase`` (default inference)."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}: choose one of {', '.join(PHASES)}")
    return {
        "design": r.design,
        "neurons": r.neurons,
        "quant": r.precision.label,
        "quant_spec": r.precision.spec(),
        "bits": r.precision.bit_widths(),
        "accounting": r.accounting,
        "phase": phase,
        "memory_bytes": r.memory_bytes(phase),
        "memory": {ph: {"total_bytes": m.total_bytes, "components": m.by_name()} for ph, m in r.memory.items()},
        "fits_in_device_memory": {ph: r.fits(ph) for ph in PHASES},
        "device_memory_bytes": r.profile.specs.memory_bytes,
        "execution": r.execution,
        "dataset": r.dataset,
        "counts_per_image": {ph: dict(c) for ph, c in r.counts.items()},
        "time_s": r.time_s(),
        "energy_j": r.energy_j(),
        "breakdown": {ph: {"time_s": dict(pc.time_s), "energy_j": dict(pc.energy_j)} for ph, pc in r.phases.items()},
        "labels": r.labels(),
        "profile": r.profile.name,
        "calibrated": r.profile.calibration is not None,
    }
