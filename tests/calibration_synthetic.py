"""Synthetic `dse measure` records whose times follow known coefficients, for the calibration tests.

Counts come from the activity model and are changed the way each probe of
the full grid changes a run (dse/calibration/grid.py): input rate, presentation
length, blank images. Times are what the known coefficients predict, times
(1 + noise x a standard normal draw).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from dse.calibration.calibrate import TIME_NAMES, design_matrix
from dse.calibration.grid import grid_cells
from dse.cost.activity import estimate_counts
from dse.cost.profiles import load_profile

# Plausible for the cpu profile (dse/calibration/plausible.py) and near what this machine measures.
KNOWN = {"time_per_synaptic_event_ns": 0.035, "time_per_neuron_update_ns": 0.22, "time_per_weight_update_ns": 0.8,
         "time_per_byte_dram_ns": 0.06, "time_per_step_overhead_us": 0.07, "time_per_input_spike_ns": 10.0}
DESIGNS = ("baseline", "sl-stdp", "fspinn")
SIZES = (100, 225, 400, 625, 900)
MAX_PRESENTATIONS = 6  # the recipes' max_representations + 1: every blank image uses them all


def probe_counts(design: str, n: int, phase: str, variant: str) -> dict[str, float]:
    """Per-image counts of a run of the full grid, from the activity model."""
    c = dict(estimate_counts(design, n, phase))
    inhibition = c["synaptic_events"] - c["input_spikes"] * n  # fan-out of the spikes of the layer(s)
    if variant == "blank":
        scale = MAX_PRESENTATIONS / c["presentations"]
        out = {k: 0.0 for k in c}
        for k in ("presentations", "steps", "neuron_updates", "trace_updates", "normalisations"):
            out[k] = c[k] * scale
        return out
    if variant in ("rate0.5", "rate2"):
        r = 0.5 if variant == "rate0.5" else 2.0
        c["input_spikes"] *= r
        for k in ("exc_spikes", "inh_spikes", "weight_updates", "window_updates", "columns_normalised"):
            c[k] *= r
        c["depressions"] *= r * r  # more input spikes, each depressing more fired neurons
        c["synaptic_events"] = c["input_spikes"] * n + inhibition * r
    if variant in ("steps0.5", "steps2"):
        s = 0.5 if variant == "steps0.5" else 2.0
        for k in ("steps", "input_spikes", "exc_spikes", "inh_spikes", "neuron_updates", "synaptic_events",
                  "weight_updates", "trace_updates", "window_updates", "columns_normalised", "depressions"):
            c[k] *= s
    return c


def synthetic_records(truth: dict[str, float] | None = None, *, noise: float = 0.0, seed: int = 0,
                      grid: str = "full", designs=DESIGNS, sizes=SIZES, dataset: str = "mnist") -> list[dict]:
    base = load_profile("cpu")
    coef = dataclasses.replace(base.coefficients, **(truth or KNOWN))
    rng = np.random.default_rng(seed)
    records = []
    for cell in grid_cells(designs, sizes, ["fp32"], grid):
        for phase in ("training", "inference"):
            v = cell.variant.name
            key = f"{cell.design}/{cell.neurons}/fp32/{phase}" + (f"/{v}" if v else "")
            records.append({"key": key, "design": cell.design, "neurons": cell.neurons, "precision": "fp32",
                            "phase": phase, "variant": v, "dataset": dataset,
                            "counts_per_image": probe_counts(cell.design, cell.neurons, phase, v),
                            "cpu_s_per_image": 1.0, "wall_s_per_image": 1.0,
                            "energy_j_per_image": 1e-3, "energy_source": "modelled"})
    x, _ = design_matrix(records, base, "event", "cpu")
    y = x @ np.array([getattr(coef, k) for k in TIME_NAMES])
    for rec, t in zip(records, y):
        rec["cpu_s_per_image"] = rec["wall_s_per_image"] = float(t * (1 + noise * rng.normal()))
    return records


def write_measurements(path: Path, records: list[dict], dataset: str = "mnist") -> Path:
    path.write_text(json.dumps({"schema_version": 1, "kind": "measurements", "settings": {"dataset": dataset},
                                "records": records}))
    return path
