"""Train once, evaluate every precision: the PTQ variants of each FP32 training, recorded as trials.

A PTQ model is an FP32 training quantized afterwards, so every PTQ variant of
a trained network costs inference only (label assignment and the test), not
a training. After a trial that trained an FP32 network completes, the search
evaluates a planned set of that network's PTQ variants ("siblings") and adds
each to the study as its own complete trial (``Study.add_trial``, with its
parameters, distributions and constraint values, so the sampler learns from
it like from any trial). Sampled trials are then left to what needs a
training: design, N, rho, T_w, and ITQ.

Which siblings: those of the space that pass the prefilter (memory model and
energy floor), in this order, up to a limit per training (:func:`sibling_limit`):

1. the FP32 network itself (already evaluated: free, and not counted);
2. weights k bits, inhibition at the narrowest width >= k the space offers,
   potentials at their widest, for each weight width k (the potentials hold
   N values against the weights' 784 x N: narrowing them saves almost no
   memory, no modelled energy, and may cost accuracy);
3. FSpiNN's k-bit designs (Algorithm 2): the potentials at >= k bits too;
4. weights k bits, inhibition at its narrowest, potentials at their widest;
5. groups 2-4 with the other roundings of the space (nearest first);
6. every other variant (widest first).

Within a group the weight widths come widest first, then narrowest, then the
middle of the widest gap left (16, 4, 8, 12, 6): a few siblings already span
the memory range of the front.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from .attrs import LEGACY_CONSTRAINTS_KEY, legacy_constraints
from .records import record_from_trial
from .space import BIT_KEYS, FP32_BITS, Candidate, SearchSpace, SpaceError

__all__ = ["SIBLING_SHARE", "MIN_SIBLINGS", "sibling_limit", "spread", "variant_groups", "ptq_variants",
           "plan_siblings", "distributions", "held_candidates", "evaluate_siblings", "exit_variants"]

# Siblings per training: as many as simulate about as many images as the training did (label
# assignment and test per sibling against the images trained), and at least MIN_SIBLINGS.
SIBLING_SHARE = 1.0
MIN_SIBLINGS = 1
T = TypeVar("T")


def sibling_limit(full_images: int, evaluation_images: int) -> int:
    """PTQ siblings evaluated per FP32 training (the FP32 network itself not counted)."""
    return max(MIN_SIBLINGS, int(SIBLING_SHARE * full_images) // max(evaluation_images, 1))


def spread(items: Sequence[T]) -> list[T]:
    """The items reordered so that every prefix spans them: first, last, then midpoints of the widest gaps."""
    if len(items) <= 2:
        return list(items)
    order, gaps = [0, len(items) - 1], [(0, len(items) - 1)]
    while gaps:
        gaps.sort(key=lambda g: (-(g[1] - g[0]), g[0]))
        lo, hi = gaps.pop(0)
        if hi - lo < 2:
            continue
        mid = (lo + hi) // 2
        order.append(mid)
        gaps += [(lo, mid), (mid, hi)]
    return [items[i] for i in order]


def _variant(space: SearchSpace, parent: Candidate, bits: dict[str, int], rounding: str) -> Candidate | None:
    values = {**parent.to_dict(), **{f"{k}_bits": b for k, b in bits.items()}, "scheme": "ptq", "rounding": rounding}
    try:
        c = space.candidate(values)
    except SpaceError:
        return None
    return c if space.contains(c) else None


def _at_least(choices: Iterable[int], bits: int) -> int:
    wide = [b for b in choices if b >= bits]
    return min(wide) if wide else max(choices)


def variant_groups(parent: Candidate, space: SearchSpace) -> list[list[Candidate]]:
    """The PTQ variants of the FP32 ``parent`` in the space, in the groups of the module doc (each group
    ordered by weight width, widest first); a variant appears in its first group only."""
    widths = {k: sorted(space.dim(f"{k}_bits").values()) for k in BIT_KEYS}
    roundings = list(space.dim("rounding").values()) if "ptq" in space.dim("scheme").values() else []
    roundings.sort(key=lambda r: r != "nearest")  # nearest first: the usual rounding of PTQ
    weight_widths = [w for w in sorted(widths["weights"], reverse=True) if w < FP32_BITS]
    wide = {"vmem": widths["vmem"][-1], "vth": widths["vth"][-1]}
    bit_sets = ([{"weights": w, "inh": _at_least(widths["inh"], w), **wide} for w in weight_widths],
                [{"weights": w, **{k: _at_least(widths[k], w) for k in BIT_KEYS[1:]}} for w in weight_widths],
                [{"weights": w, "inh": widths["inh"][0], **wide} for w in weight_widths])
    groups = [[parent] if space.contains(parent) else []]
    for r in roundings:
        groups += [[_variant(space, parent, b, r) for b in bits] for bits in bit_sets]
    groups.append([_variant(space, parent, dict(zip(BIT_KEYS, bits)), r) for r in roundings
                   for bits in itertools.product(*(sorted(widths[k], reverse=True) for k in BIT_KEYS))])
    seen: set[Candidate] = set()
    out = []
    for group in groups:
        kept = [c for c in group if c is not None and c not in seen]
        seen.update(kept)
        out.append(kept)
    return out


def ptq_variants(parent: Candidate, space: SearchSpace) -> list[Candidate]:
    """Every PTQ variant of ``parent`` in the space (and ``parent`` itself if it is in the space), each once."""
    return [c for group in variant_groups(parent, space) for c in group]


def plan_siblings(parent: Candidate, space: SearchSpace, fits: Callable[[Candidate], bool],
                  limit: int) -> list[Candidate]:
    """The precisions ``parent``'s training is evaluated at: the FP32 network if it fits, and the first
    ``limit`` PTQ variants that fit, each group spread over the weight widths. A fixed set per training:
    whoever trains that network again finds it evaluated and adds nothing."""
    free: list[Candidate] = []
    chosen: list[Candidate] = []
    for group in variant_groups(parent, space):
        if len(chosen) >= limit:
            break
        for c in spread([c for c in group if fits(c)]):
            (free if c == parent else chosen).append(c)
    return free + chosen[:limit]


def distributions(space: SearchSpace, c: Candidate) -> dict[str, Any]:
    """The Optuna distributions of a candidate's parameters, as :meth:`SearchSpace.suggest` records them."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for name in space.params(c):
        d = space.dim(name)
        if d.kind == "categorical":
            out[name] = CategoricalDistribution(list(d.choices))
        elif d.kind == "int":
            out[name] = IntDistribution(int(d.low), int(d.high), step=int(d.step))
        else:
            out[name] = FloatDistribution(float(d.low), float(d.high), step=float(d.step))
    return out


def held_candidates(study: Any) -> set[Candidate]:
    """Candidates with a trial that is evaluated, being evaluated or queued (not rejected or failed)."""
    from optuna.trial import TrialState

    out = set()
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)):
        if t.user_attrs.get("candidate") and t.user_attrs.get("status") not in ("rejected", "duplicate"):
            out.add(Candidate.from_dict(t.user_attrs["candidate"]))
    return out


def evaluate_siblings(runner: Any, space: SearchSpace, number: int, c: Candidate, full_images: int,
                      on_trial: Callable[[Any], None] | None = None, own: Any = None,
                      worker: Mapping[str, Any] | None = None) -> list[Any]:
    """Evaluate the PTQ siblings of trial ``number``'s FP32 network, and the early-exit variants of the
    precisions evaluated, and add each to the study; returns the added trials. An ITQ trial gets its
    exit variants only (its training is its precision). Nothing is added for a network below the
    accuracy floor (quantizing it does not make it usable), or once the time budget is spent.
    ``own``: the trial's evaluation; the floor is judged on the FP32 network when that is a candidate
    (then tested anyway), else on the trial's own precision (the FP32 network is not tested).
    ``worker``: the trial's worker attributes (``worker``, ``worker_id``), which each sibling carries too:
    the process that evaluated it."""
    itq = c.scheme == "itq"
    parent = c.without_exit() if itq else c.fp32()
    tested_parent = itq or own is None or runner.fits(parent)
    # the training just done, read from the cache
    fp32 = runner.evaluator.evaluate(parent, full_images) if tested_parent else own
    if fp32.accuracy < runner.budgets.min_accuracy:
        return []
    limit = sibling_limit(full_images, runner.evaluator.evaluation_images(full_images))
    added = []
    # Two workers may have trained the same network at once (the cache made it once): the first to
    # take the lock evaluates the siblings, the other then finds them in the study.
    with runner.evaluator.siblings_lock(parent):
        held = held_candidates(runner.study) | {c}
        precisions = [] if itq else plan_siblings(parent, space, runner.fits, limit)
        for s in [*precisions, *exit_variants([c.without_exit(), *precisions], space, runner)]:
            if s in held:
                continue
            if runner.deadline is not None and time.monotonic() >= runner.deadline:
                break
            ev = fp32 if s == parent and tested_parent else runner.evaluator.evaluate(s, full_images)
            added.append(_add_trial(runner, space, number, s, ev, worker or {}))
            held.add(s)
            if on_trial is not None:
                on_trial(added[-1])
    return added


def exit_variants(networks: Sequence[Candidate], space: SearchSpace, runner: Any) -> list[Candidate]:
    """Each network tested with every early-exit margin of the space that fits the budgets (inference
    only: training runs every step). Not counted in the sibling limit: each margin costs one test
    pass that stops early (the run's stored labels vote), so all of them cost less than one more
    precision."""
    if runner.budgets.phase != "inference" or "exit_margin" not in space.names():
        return []
    margins = [m for m in space.dim("exit_margin").values() if m]
    out = []
    for network in dict.fromkeys(networks):
        for m in margins:
            v = network.with_exit(m)
            if space.contains(v) and runner.fits(v):
                out.append(v)
    return out


def _add_trial(runner: Any, space: SearchSpace, number: int, s: Candidate, ev: Any,
               worker: Mapping[str, Any]) -> Any:
    """Add a complete trial for sibling ``s`` measured by ``ev``; returns it as stored (with its number)."""
    import optuna

    from . import costs

    st, b = runner.settings, runner.budgets
    mem = costs.memory_mb(s, b.phase, st.accounting)
    energy = costs.energy_mj(s, b.phase, st.profile, ev.counts_per_image, st.accounting)
    constraints = {"memory_mb": mem - b.memory_mb, "min_accuracy": b.min_accuracy - ev.accuracy}
    if b.energy_mj is not None:
        constraints["energy_mj"] = energy - b.energy_mj
    result = {"accuracy_ci95": list(ev.accuracy_ci95), "run_dir": ev.run_dir, "fp32_run_dir": ev.fp32_run_dir,
              "counts_per_image": {ph: dict(v) for ph, v in ev.counts_per_image.items()}, **dict(ev.extra)}
    if ev.confusion is not None:
        result["confusion"] = [list(r) for r in ev.confusion]
    attrs = {"candidate": {**s.to_dict(), "label": s.label()}, "sibling_of": number, "status": "complete",
             "costs": {"memory_mb": mem, "memory_fp32_mb": costs.fp32_memory_mb(s, b.phase, st.accounting),
                       "energy_floor_mj": costs.energy_floor_mj(s, b.phase, st.profile, st.accounting)},
             "rungs": [{"images": ev.train_images, "accuracy": ev.accuracy, "energy_mj": energy, "memory_mb": mem,
                        "trainings": ev.trainings, "trained_images": ev.trained_images,
                        "seconds": round(ev.seconds, 3)}],
             "result": result, **worker}
    values = [ev.accuracy, mem, energy]
    attrs.update(record_from_trial(-1, "COMPLETE", values, attrs, b).flat_attrs())  # dse.search.attrs
    trial = optuna.trial.create_trial(state=optuna.trial.TrialState.COMPLETE, values=values,
                                      params=space.params(s), distributions=distributions(space, s),
                                      user_attrs=attrs, constraints=constraints,
                                      system_attrs={LEGACY_CONSTRAINTS_KEY: legacy_constraints(constraints)})
    # Study.add_trial validates and stores the same way but returns nothing; the storage call gives the
    # number the trial got (other workers may add trials at the same time).
    trial._validate()
    storage = runner.study._storage
    return storage.get_trial(storage.create_new_trial(runner.study._study_id, template_trial=trial))
