"""One design on many devices: the rows of `dse compare-hw` (pure; rendering is elsewhere)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dse.models.quantize import QuantConfig

from .model import CostReport, estimate_cost, profile_label
from .schema import HardwareProfile

__all__ = ["PAPER_ENERGY_RATIOS", "HardwareRow", "row_from_report", "compare_hw", "measured_row", "paper_reference", "rows_to_json"]

# FSpiNN (TCAD 2020) Sec. V-D / abstract: FSpiNN 8-bit vs the baseline at Net4900, energy-efficiency
# improvement averaged over MNIST and Fashion-MNIST and the GTX 1060, GTX 1080 Ti and RTX 2080 Ti.
PAPER_ENERGY_RATIOS = {"training": 3.5, "inference": 1.8}
PAPER_GPUS = ("gtx1060", "gtx1080ti", "rtx2080ti")


@dataclass(frozen=True)
class HardwareRow:
    """One design on one device: modelled from a profile, or measured on this machine."""

    profile: str
    display_name: str
    kind: str
    execution: str
    memory_bytes: Mapping[str, int] | None     # by phase; None for a measured row
    fits: Mapping[str, bool] | None
    time_s: Mapping[str, float]                # training_per_image, inference_per_image, training_per_epoch
    energy_j: Mapping[str, float]
    label: str                                 # "modelled" | "measured"
    source: str                                # where the figures came from
    energy_ratio: Mapping[str, float] | None = None  # vs design: its energy / this design's energy, by phase
    device_memory_bytes: int | None = None     # the profile's; None for a measured row
    time_ratio: Mapping[str, float] | None = None    # vs design: its time / this design's time, by phase

    def time_per_image_s(self, phase: str) -> float:
        return self.time_s[f"{phase}_per_image"]

    def energy_per_image_j(self, phase: str) -> float:
        return self.energy_j[f"{phase}_per_image"]


def row_from_report(r: CostReport, vs: CostReport | None = None) -> HardwareRow:
    """The row of one cost report; with ``vs`` (the same device's report of another design), energy ratios."""
    ratio = time_ratio = None
    if vs is not None:
        ratio = _ratios(r.energy_j(), vs.energy_j())
        time_ratio = _ratios(r.time_s(), vs.time_s())
    return HardwareRow(profile=r.profile.name, display_name=r.profile.display_name, kind=r.profile.kind,
                 execution=r.execution,
                 memory_bytes={ph: r.memory_bytes(ph) for ph in ("training", "inference")},
                 fits={ph: r.fits(ph) for ph in ("training", "inference")},
                 time_s=r.time_s(), energy_j=r.energy_j(), label="modelled", source=profile_label(r.profile),
                 energy_ratio=ratio, device_memory_bytes=r.profile.specs.memory_bytes, time_ratio=time_ratio)


def _ratios(ours: Mapping[str, float], theirs: Mapping[str, float]) -> dict[str, float]:
    """theirs / ours per image, by phase (inf where ours is 0)."""
    return {ph: theirs[f"{ph}_per_image"] / ours[f"{ph}_per_image"] if ours[f"{ph}_per_image"] > 0 else float("inf")
            for ph in ("training", "inference")}


def compare_hw(design: str, neurons: int, profiles: Sequence[HardwareProfile], *, precision: QuantConfig,
               accounting: str = "dense", execution: str | None = None, dataset: str = "mnist",
               vs: tuple[str, QuantConfig] | None = None) -> list[HardwareRow]:
    """One modelled row per profile; with ``vs`` (design, precision), energy ratios vs / this design."""
    rows = []
    for p in profiles:
        r = estimate_cost(design, neurons, p, precision=precision, accounting=accounting, execution=execution,
                          dataset=dataset)
        other = None
        if vs is not None:
            other = estimate_cost(vs[0], neurons, p, precision=vs[1], accounting=accounting, execution=execution,
                                  dataset=dataset)
        rows.append(row_from_report(r, other))
    return rows


def _find(records: Sequence[Mapping[str, Any]], design: str, neurons: int, spec: str, phase: str):
    for rec in records:
        if rec.get("variant"):
            continue  # a probe of the full grid (blank images, other rates): not the design as it runs
        if (rec.get("design"), int(rec.get("neurons", -1)), rec.get("precision"), rec.get("phase")) == (
                design, neurons, spec, phase):
            return rec
    return None


def measured_row(doc: Mapping[str, Any], design: str, neurons: int, precision: QuantConfig,
                 vs: tuple[str, QuantConfig] | None = None, epoch_images: int = 60_000) -> HardwareRow | None:
    """The row of this machine from `dse measure` records, if the cell was measured (both phases)."""
    records = doc.get("records", [])
    tr = _find(records, design, neurons, precision.spec(), "training")
    inf = _find(records, design, neurons, precision.spec(), "inference")
    if tr is None or inf is None:
        return None
    time_s = {"training_per_image": tr["wall_s_per_image"], "inference_per_image": inf["wall_s_per_image"],
              "training_per_epoch": tr["wall_s_per_image"] * epoch_images}
    energy_j = {"training_per_image": tr["energy_j_per_image"], "inference_per_image": inf["energy_j_per_image"],
                "training_per_epoch": tr["energy_j_per_image"] * epoch_images}
    ratio = time_ratio = None
    if vs is not None:
        vtr = _find(records, vs[0], neurons, vs[1].spec(), "training")
        vinf = _find(records, vs[0], neurons, vs[1].spec(), "inference")
        if vtr is not None and vinf is not None:
            ratio = {"training": vtr["energy_j_per_image"] / tr["energy_j_per_image"],
                     "inference": vinf["energy_j_per_image"] / inf["energy_j_per_image"]}
            time_ratio = {"training": vtr["wall_s_per_image"] / tr["wall_s_per_image"],
                          "inference": vinf["wall_s_per_image"] / inf["wall_s_per_image"]}
    machine = doc.get("machine", {}).get("cpu", "this machine")
    counted = all(r.get("energy_source") in ("nvml", "rapl") for r in (tr, inf))
    label = "measured" if counted else "measured time x modelled power"
    return HardwareRow(profile="this-machine", display_name=f"{machine} (measured)", kind="measured", execution="event",
                 memory_bytes=None, fits=None, time_s=time_s, energy_j=energy_j, label=label,
                 source=f"{tr['time_label']}; energy: {tr['energy_label']}", energy_ratio=ratio, time_ratio=time_ratio)


def paper_reference(design: str, precision: QuantConfig, vs: tuple[str, QuantConfig] | None, neurons: int) -> str | None:
    """The paper's figure to print beside ours, when the comparison is the paper's own."""
    if (vs is None or design != "fspinn" or neurons != 4900 or vs[0] != "baseline" or not vs[1].is_float
            or precision.bits("weights") != 8):
        return None
    return (f"FSpiNN paper (Sec. V-D): {PAPER_ENERGY_RATIOS['training']}x training, "
            f"{PAPER_ENERGY_RATIOS['inference']}x inference energy efficiency, FSpiNN 8-bit vs baseline at "
            "Net4900, measured (nvidia-smi power x time) and averaged over GTX 1060, GTX 1080 Ti, RTX 2080 Ti")


def rows_to_json(rows: Sequence[HardwareRow]) -> list[dict[str, Any]]:
    return [{"profile": r.profile, "display_name": r.display_name, "kind": r.kind, "execution": r.execution,
             "memory_bytes": dict(r.memory_bytes) if r.memory_bytes else None,
             "fits": dict(r.fits) if r.fits else None, "time_s": dict(r.time_s), "energy_j": dict(r.energy_j),
             "label": r.label, "source": r.source,
             "energy_ratio": dict(r.energy_ratio) if r.energy_ratio else None,
             "time_ratio": dict(r.time_ratio) if r.time_ratio else None} for r in rows]
