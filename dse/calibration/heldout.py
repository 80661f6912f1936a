"""Trust in a calibration: predictions of records the fit did not see, and per-term probes.

Held-out checks (each fits on some records and predicts the rest):

* leave one size out, and leave one design out: every group in turn;
* transfer: fit on one data set (MNIST) and predict another (Fashion-MNIST,
  whose images are brighter, so more input spikes and fewer re-presentations).

Probes check the breakdown rather than the total: a probe is a set of records
in which a few terms move while the others stay put (blank images: neuron
updates and steps only; training against inference: the weight updates).
The other coefficients are fitted without the probe's records, and the
probe's own terms are then estimated from its records alone; the probe
agrees when that estimate is close to the full fit's value. All pure
functions over the design matrix: ``fit`` maps (x, y) to coefficients.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .fit import relative_nnls

__all__ = ["HeldOut", "leave_one_group_out", "transfer", "Probe", "PROBES", "ProbeResult", "probe_agreement"]

Fit = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class HeldOut:
    """Predictions of held-out records: one entry per predicted record."""

    kind: str                       # "size", "design", "dataset"
    groups: tuple[str, ...]         # the held-out group of each record
    predicted_s: tuple[float, ...]
    measured_s: tuple[float, ...]
    phases: tuple[str, ...]

    def ape(self) -> np.ndarray:
        m = np.array(self.measured_s)
        return np.abs(np.array(self.predicted_s) - m) / m

    def mape(self, phase: str | None = None) -> float:
        ape = self.ape()
        if phase is not None:
            ape = ape[np.array(self.phases) == phase]
        return float(ape.mean()) if ape.size else float("nan")

    def mape_by_group(self) -> dict[str, float]:
        ape, g = self.ape(), np.array(self.groups)
        return {k: float(ape[g == k].mean()) for k in dict.fromkeys(self.groups)}

    def summary(self) -> dict[str, Any]:
        phases = sorted(set(self.phases))
        return {"mape": self.mape(), "records": len(self.groups),
                "by_phase": {ph: self.mape(ph) for ph in phases}, "by_group": self.mape_by_group()}


def leave_one_group_out(records: Sequence[Mapping[str, Any]], x: np.ndarray, y: np.ndarray, kind: str,
                        label: Callable[[Mapping[str, Any]], Any], fit: Fit) -> HeldOut:
    """For each group, fit on the others and predict it."""
    labels = [str(label(r)) for r in records]
    groups = list(dict.fromkeys(labels))
    if len(groups) < 2:
        raise ValueError(f"leave one {kind} out needs measurements of two or more {kind}s")
    lab = np.array(labels)
    pred = np.zeros(len(y))
    for g in groups:
        held = lab == g
        pred[held] = x[held] @ fit(x[~held], y[~held])
    return HeldOut(kind, tuple(labels), tuple(pred.tolist()), tuple(y.tolist()),
                   tuple(r["phase"] for r in records))


def transfer(records: Sequence[Mapping[str, Any]], x: np.ndarray, y: np.ndarray, kind: str,
             label: Callable[[Mapping[str, Any]], Any], source: str, fit: Fit) -> HeldOut:
    """Fit on the records labelled ``source``, predict all the others."""
    lab = np.array([str(label(r)) for r in records])
    train = lab == source
    if train.all() or not train.any():
        raise ValueError(f"a {kind} transfer needs records of {source} and of another {kind}")
    pred = x[~train] @ fit(x[train], y[train])
    kept = [r for r, t in zip(records, train) if not t]
    return HeldOut(kind, tuple(lab[~train].tolist()), tuple(pred.tolist()), tuple(y[~train].tolist()),
                   tuple(r["phase"] for r in kept))


@dataclass(frozen=True)
class Probe:
    name: str
    terms: tuple[str, ...]                          # the coefficients it isolates
    selects: Callable[[Mapping[str, Any]], bool]     # its records


PROBES = (
    Probe("blank images (neuron updates and steps, no spikes)",
          ("time_per_neuron_update_ns", "time_per_step_overhead_us"), lambda r: r.get("variant") == "blank"),
    Probe("input rate x0.5 and x2 (input spikes and synaptic events move)",
          ("time_per_synaptic_event_ns", "time_per_input_spike_ns"),
          lambda r: r.get("variant") in ("rate0.5", "rate2")),
    Probe("training against inference (weight updates)", ("time_per_weight_update_ns",),
          lambda r: r["phase"] == "training"),
)


@dataclass(frozen=True)
class ProbeResult:
    probe: str
    records: int
    estimates: Mapping[str, float]   # term -> the probe's own estimate
    fitted: Mapping[str, float]      # term -> the full fit's value

    def ratio(self, term: str) -> float:
        return self.estimates[term] / self.fitted[term] if self.fitted[term] > 0 else float("nan")

    def agrees(self, tolerance: float = 0.25) -> bool:
        return all(abs(self.ratio(t) - 1) <= tolerance for t in self.estimates)


def probe_agreement(records: Sequence[Mapping[str, Any]], x: np.ndarray, y: np.ndarray, names: Sequence[str],
                    full: np.ndarray, fitted: Sequence[str], fit: Fit,
                    probes: Sequence[Probe] = PROBES) -> list[ProbeResult]:
    """Each probe's estimate of its terms, the other terms fitted without its records.

    Terms the other records do not exercise (the weight updates and memory
    traffic, without training records) are estimated from the probe too.
    Only terms the full fit estimated (``fitted``) are compared; probes
    with no records, or no such term, are skipped.
    """
    names = list(names)
    out = []
    for probe in probes:
        mask = np.array([bool(probe.selects(r)) for r in records])
        compared = [t for t in probe.terms if t in fitted]
        if not mask.any() or mask.all() or not compared:
            continue
        rest = fit(x[~mask], y[~mask])
        unseen = np.abs(x[~mask]).sum(axis=0) == 0
        own = {names.index(t) for t in probe.terms} | set(np.flatnonzero(unseen).tolist())
        fixed = {k: float(rest[k]) for k in range(len(names)) if k not in own}
        est = relative_nnls(x[mask], y[mask], fixed)
        out.append(ProbeResult(probe.name, int(mask.sum()), {t: float(est[names.index(t)]) for t in compared},
                               {t: float(full[names.index(t)]) for t in compared}))
    return out
