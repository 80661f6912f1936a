"""Per-image activity counts of a design and size nobody has run: a model built from the structure.

Counts follow from the network's structure once a few per-presentation
statistics are known (docs/model.md, "Activity counts"):

* steps = presentations x steps per presentation;
* neuron updates = steps x N x layers;
* synaptic events = input spikes x N, plus N-1 per lateral or inhibitory
  spike and 1 per exc->inh spike;
* weight updates: pair-wise N per input spike + 784 per excitatory spike;
  SL-STDP 784 per K-th spike; FSpiNN 784 per window update;
* trace updates = steps x (784 [+ N for the pair-wise rule]);
* normalisations = N per training presentation (the rule as specified);
* what the engine actually did (models/counts.py): columns renormalised =
  changed columns per presentation x presentations; pair-wise depressions =
  depressions per input spike x input spikes.

The statistics (presentations per image, input and excitatory spikes per
presentation, inhibitory spikes per excitatory spike, rule updates per
excitatory spike, FSpiNN window updates per presentation, changed columns
per presentation, pair-wise depressions per input spike) were measured on
runs of this tool and are kept as data in ``activity.toml`` beside this
module, with the run that produced them.  Between measured sizes they are
interpolated in log N; outside, the nearest measured size is used (they
depend weakly on N: winner-take-all inhibition keeps the excitatory spikes per
presentation near constant).
"""

from __future__ import annotations

import bisect
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources
from typing import Any

from dse.errors import Param, ParameterError
from dse.models.counts import COUNT_NAMES

from .structure import N_INPUTS, DesignStructure, check_neurons, design_structure

__all__ = ["ActivityStats", "ActivityTable", "PER_IMAGE_KEYS", "counts_from_stats", "scale_to_steps", "stats_from_counts",
           "load_activity_table", "estimate_counts", "activity_table_toml"]

PER_IMAGE_KEYS = tuple(k for k in COUNT_NAMES if k != "images")
ACTIVITY_FILE = "activity.toml"


@dataclass(frozen=True)
class ActivityStats:
    """What a design does per presentation, the inputs of :func:`counts_from_stats`."""

    presentations_per_image: float
    input_spikes_per_presentation: float
    exc_spikes_per_presentation: float
    inh_spikes_per_exc_spike: float = 0.0       # layer designs: ~1 (each exc spike drives its inh twin)
    rule_updates_per_exc_spike: float = 0.0     # 784-weight column updates per exc spike (pair-wise 1, SL ~1/K)
    window_updates_per_presentation: float = 0.0  # FSpiNN
    # What the engine did (models/counts.py); None: not measured (a table or run from before they were
    # counted), and the counts they give are then left out, which the pricing reads as unknown.
    columns_normalised_per_presentation: float | None = None  # training: the columns the rule changed
    depressions_per_input_spike: float | None = None          # pair-wise training: neurons fired so far

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in OPTIONAL_STATS:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"activity statistic {f.name} must be a finite number >= 0, got {value!r}")


OPTIONAL_STATS = ("columns_normalised_per_presentation", "depressions_per_input_spike")
STAT_NAMES = tuple(f.name for f in fields(ActivityStats))


def scale_to_steps(counts: dict[str, float], mean_steps: float) -> dict[str, float]:
    """Inference counts per image when images run ``mean_steps`` steps on average (early exit).

    Activity is taken as uniform over a presentation, so every count scales by
    mean_steps / steps; presentations stay (an exit cuts one short, it does
    not remove it). An approximation for the modelled path; a run with early
    exit measures its own counts.
    """
    steps = float(counts["steps"])
    if not math.isfinite(mean_steps) or not 0 < mean_steps <= steps:
        raise ParameterError(Param("early_exit_steps"), f" must be > 0 and at most the {steps:g} steps an image "
                             f"runs without early exit, got {mean_steps!r}")
    f = mean_steps / steps
    return {k: (v if k == "presentations" else v * f) for k, v in counts.items()}


def counts_from_stats(s: DesignStructure, neurons: int, phase: str, st: ActivityStats) -> dict[str, float]:
    """Per-image counts (keys as in COUNT_NAMES, without ``images``) from structure and statistics."""
    n = check_neurons(neurons)
    pres = st.presentations_per_image
    steps = pres * s.steps_per_presentation
    inp = st.input_spikes_per_presentation * pres
    exc = st.exc_spikes_per_presentation * pres
    inh = st.inh_spikes_per_exc_spike * exc if s.scheme == "layer" else 0.0
    if s.scheme == "lateral":
        syn = inp * n + exc * (n - 1)
    else:
        syn = inp * n + exc + inh * (n - 1)
    out = {
        "presentations": pres, "steps": steps, "input_spikes": inp, "exc_spikes": exc, "inh_spikes": inh,
        "neuron_updates": steps * n * s.layers, "synaptic_events": syn,
        "weight_updates": 0.0, "trace_updates": 0.0, "normalisations": 0.0, "window_updates": 0.0,
        "columns_normalised": 0.0, "depressions": 0.0,
    }
    if phase == "training":
        if s.rule == "pairwise":
            out["weight_updates"] = inp * n + N_INPUTS * exc * st.rule_updates_per_exc_spike
        elif s.rule == "sl-stdp":
            out["weight_updates"] = N_INPUTS * exc * st.rule_updates_per_exc_spike
        else:
            windows = st.window_updates_per_presentation * pres
            out["weight_updates"] = N_INPUTS * windows
            out["window_updates"] = windows
        out["trace_updates"] = steps * (N_INPUTS + (n if s.rule == "pairwise" else 0))
        out["normalisations"] = n * pres
        _engine_actual(out, s, st, pres, inp)
    elif phase != "inference":
        raise ValueError(f"unknown phase {phase!r}: choose inference or training")
    return out


def _engine_actual(out: dict[str, float], s: DesignStructure, st: ActivityStats, pres: float, inp: float) -> None:
    """The training counts of what the engine did; left out where their statistic is unknown."""
    if st.columns_normalised_per_presentation is None:
        del out["columns_normalised"]
    else:
        out["columns_normalised"] = st.columns_normalised_per_presentation * pres
    if s.rule != "pairwise":
        return
    if st.depressions_per_input_spike is None:
        del out["depressions"]
    else:
        out["depressions"] = st.depressions_per_input_spike * inp


def stats_from_counts(s: DesignStructure, neurons: int, phase: str, per_image: Mapping[str, float]) -> ActivityStats:
    """Invert :func:`counts_from_stats` on measured per-image counts (how the table is built)."""
    pres = float(per_image["presentations"])
    if pres <= 0:
        raise ValueError("measured counts have no presentations")
    exc = float(per_image["exc_spikes"])
    inp = float(per_image["input_spikes"])
    rule = 0.0
    if phase == "training" and exc > 0:
        wu = float(per_image["weight_updates"])
        if s.rule == "pairwise":
            rule = max(wu - inp * neurons, 0.0) / (N_INPUTS * exc)
        elif s.rule == "sl-stdp":
            rule = wu / (N_INPUTS * exc)
    columns, depressions = 0.0, 0.0
    if phase == "training":
        # a record from before the engine counted them leaves them unknown
        columns = float(per_image["columns_normalised"]) / pres if "columns_normalised" in per_image else None
        if s.rule == "pairwise":
            have = "depressions" in per_image
            depressions = (float(per_image["depressions"]) / inp if inp > 0 else 0.0) if have else None
    return ActivityStats(
        presentations_per_image=pres,
        input_spikes_per_presentation=inp / pres,
        exc_spikes_per_presentation=exc / pres,
        inh_spikes_per_exc_spike=(float(per_image["inh_spikes"]) / exc) if (exc > 0 and s.scheme == "layer") else 0.0,
        rule_updates_per_exc_spike=rule,
        window_updates_per_presentation=(float(per_image["window_updates"]) / pres) if phase == "training" else 0.0,
        columns_normalised_per_presentation=columns,
        depressions_per_input_spike=depressions,
    )


@dataclass(frozen=True)
class ActivityTable:
    """Measured statistics by (dataset, design, phase), each a list of (neurons, stats) sorted by size."""

    source: str
    points: Mapping[tuple[str, str, str], tuple[tuple[int, ActivityStats], ...]]

    def sizes(self, dataset: str, design: str, phase: str) -> tuple[int, ...]:
        return tuple(n for n, _ in self.points.get((dataset, design, phase), ()))

    def stats(self, dataset: str, design: str, phase: str, neurons: int) -> ActivityStats:
        key = (dataset, design, phase)
        if key not in self.points:
            have = sorted({k[0] for k in self.points})
            raise ParameterError(f"no activity statistics for {design} {phase} on {dataset!r} "
                             f"(the activity model has: {', '.join(have) or 'nothing'}); give the counts of a run (", Param("from_run"), ")")
        return _interpolate(self.points[key], neurons)


def _interpolate(pts: tuple[tuple[int, ActivityStats], ...], neurons: int) -> ActivityStats:
    sizes = [p[0] for p in pts]
    if neurons <= sizes[0]:
        return pts[0][1]
    if neurons >= sizes[-1]:
        return pts[-1][1]
    hi = bisect.bisect_left(sizes, neurons)
    if sizes[hi] == neurons:
        return pts[hi][1]
    (n0, a), (n1, b) = pts[hi - 1], pts[hi]
    t = (math.log(neurons) - math.log(n0)) / (math.log(n1) - math.log(n0))

    def mix(k: str) -> float | None:
        u, v = getattr(a, k), getattr(b, k)
        return None if u is None or v is None else (1 - t) * u + t * v

    return ActivityStats(**{k: mix(k) for k in STAT_NAMES})


def parse_activity_table(data: Any, origin: str) -> ActivityTable:
    try:
        if data.get("schema_version") != 1:
            raise ValueError("schema_version must be 1")
        source = str(data["source"]["description"])
        grouped: dict[tuple[str, str, str], list[tuple[int, ActivityStats]]] = {}
        for row in data["point"]:
            row = dict(row)
            key = (row.pop("dataset"), row.pop("design"), row.pop("phase"))
            n = int(row.pop("neurons"))
            grouped.setdefault(key, []).append((n, ActivityStats(**row)))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"{origin}: malformed activity table ({exc})") from None
    return ActivityTable(source=source, points={k: tuple(sorted(v, key=lambda p: p[0])) for k, v in grouped.items()})


@lru_cache(maxsize=1)
def load_activity_table() -> ActivityTable:
    """The bundled table (``dse/cost/activity.toml``)."""
    origin = f"dse/cost/{ACTIVITY_FILE}"
    try:
        text = resources.files("dse.cost").joinpath(ACTIVITY_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{origin}: missing from the installation (package data of dse.cost)") from None
    return parse_activity_table(tomllib.loads(text), origin)


def estimate_counts(design: str, neurons: int, phase: str, dataset: str = "mnist",
                    table: ActivityTable | None = None) -> dict[str, float]:
    """Per-image counts of ``design`` at ``neurons`` for ``phase``, from the activity model."""
    s = design_structure(design)
    table = table or load_activity_table()
    return counts_from_stats(s, neurons, phase, table.stats(dataset, design, phase, check_neurons(neurons)))


def activity_table_toml(records: Iterable[Mapping[str, Any]], description: str) -> str:
    """Write the table from measurement records (``dse measure`` output) as TOML text."""
    from .toml import dumps_with_header

    rows = []
    for r in records:
        if r.get("precision", "fp32") != "fp32":
            continue  # activity is a property of the design; quantization changes it slightly
        if r.get("variant"):
            continue  # a probe of the full grid changes the input on purpose
        s = design_structure(r["design"])
        st = stats_from_counts(s, int(r["neurons"]), r["phase"], r["counts_per_image"])
        rows.append((r["dataset"], r["design"], r["phase"], int(r["neurons"]), st))
    # an unknown statistic (None) is left out: TOML has no null
    points = [{"dataset": dataset, "design": design, "phase": phase, "neurons": n,
               **{k: round(float(getattr(st, k)), 4) for k in STAT_NAMES if getattr(st, k) is not None}}
              for dataset, design, phase, n, st in sorted(rows, key=lambda x: x[:4])]
    header = ["Per-presentation activity statistics measured by `dse measure`; read by dse/cost/activity.py.",
              "Regenerate with bench/calibration.py --write-activity. Counts per image follow from these",
              "and the design's structure (docs/cost-model.md)."]
    return dumps_with_header({"schema_version": 1, "source": {"description": description}, "point": points}, header)
