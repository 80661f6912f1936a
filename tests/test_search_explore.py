"""The search end to end on the synthetic test double: constraints, fidelities, strategies, resume, front."""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dse.search import costs
from dse.search.explore import explore, result_from_study, write_outputs
from dse.search.objectives import Budgets, ExploreSettings
from dse.search.pareto import dominates, hypervolume
from dse.search.records import pareto_front, records_from_trials
from dse.search.runner import capped_space
from dse.search.select import closest_candidates, select_model
from dse.search.space import DEFAULT_SPACE, Candidate
from dse.search.strategies import incremental_candidates, incremental_sizes
from dse.search.study import StudyError, default_study_name, mask_url, slug
from dse.search.synthetic import SyntheticEvaluator

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = DEFAULT_SPACE.restricted({"neurons": "100..1500", "vmem_bits": "32", "vth_bits": "32",
                                  "rounding": "nearest", "rho": "4", "window_steps": "50"})


def _run(budgets: Budgets, strategy: str = "optuna", trials: int | None = 12, space=SPACE, storage=None,
         name: str = "s", seed: int = 0, **kw):
    s = ExploreSettings(budgets, space=space, strategy=strategy, seed=seed)
    return explore(s, SyntheticEvaluator(), storage=storage, study_name=name, n_trials=trials, **kw)


def _sampled(result) -> int:
    """What --trials counts: sampled trials evaluated (PTQ siblings, rejections and duplicates come on top)."""
    return sum(r.status in ("complete", "pruned") and r.sibling_of is None for r in result.records)


def _check_invariants(result, budgets: Budgets) -> None:
    numbers = {r.number for r in result.records}
    for r in result.records:
        if r.feasible:
            # recompute from the cost model: a feasible trial fits every budget
            assert r.status == "complete"
            assert costs.memory_mb(r.candidate, budgets.phase) == r.memory_mb <= budgets.memory_mb
            if budgets.energy_mj is not None:
                assert r.energy_mj <= budgets.energy_mj
        if r.status == "rejected":
            assert r.accuracy is None and r.trainings == 0 and "rejected before training" in r.reason
    for f in result.front:
        assert f.number in numbers and f.feasible
        assert not any(dominates(g.point, f.point) for g in result.records if g.feasible)
    if result.front:
        assert result.selected is not None and result.selected.number in {f.number for f in result.front}
        assert not result.closest
    else:
        assert result.selected is None


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(0.03, 3.0), st.one_of(st.none(), st.floats(20.0, 400.0)), st.sampled_from(["inference", "training"]),
       st.integers(0, 3))
def test_no_budget_breaking_trial_is_ever_feasible(mem, energy, phase, seed):
    budgets = Budgets(memory_mb=mem, energy_mj=energy, phase=phase)
    _check_invariants(_run(budgets, trials=10, seed=seed), budgets)


_attr = st.fixed_dictionaries({"memory_mb": st.floats(0.01, 5.0), "energy_mj": st.floats(1.0, 500.0),
                               "accuracy": st.floats(0.0, 1.0), "state": st.sampled_from(["COMPLETE", "PRUNED", "FAIL"])})


@settings(max_examples=200, deadline=None)
@given(st.lists(_attr, max_size=25), st.floats(0.05, 5.0), st.one_of(st.none(), st.floats(1.0, 500.0)))
def test_reported_front_is_non_dominated_feasible_subset(trials, mem_budget, energy_budget):
    budgets = Budgets(memory_mb=mem_budget, energy_mj=energy_budget)
    fake = []
    for k, t in enumerate(trials):
        cand = Candidate("baseline", 100 + k)
        attrs = {"candidate": cand.to_dict(), "costs": {"memory_mb": t["memory_mb"]},
                 "rungs": [{"images": 10, "accuracy": t["accuracy"], "energy_mj": t["energy_mj"],
                            "memory_mb": t["memory_mb"]}]}
        values = [t["accuracy"], t["memory_mb"], t["energy_mj"]] if t["state"] == "COMPLETE" else None
        fake.append(SimpleNamespace(number=k, state=SimpleNamespace(name=t["state"]), values=values, user_attrs=attrs))
    records = records_from_trials(fake, budgets)
    front = pareto_front(records)
    assert {r.number for r in front} <= {r.number for r in records}
    for r in records:
        if r.feasible:
            assert r.memory_mb <= mem_budget and (energy_budget is None or r.energy_mj <= energy_budget)
    for a in front:
        assert a.feasible and not any(dominates(b.point, a.point) for b in records if b.feasible)
    feasible = [r for r in records if r.feasible]
    assert bool(front) == bool(feasible)
    if not feasible:
        near = closest_candidates(records)
        assert len(near) == min(5, sum(r.status in ("complete", "pruned") for r in records))
        assert [r.excess for r in near] == sorted(r.excess for r in near)


def test_prefilter_rejects_before_training_and_constraints_reach_optuna():
    budgets = Budgets(memory_mb=0.5, energy_mj=250.0)
    res = _run(budgets, trials=12)
    _check_invariants(res, budgets)
    assert any(r.status == "rejected" for r in res.records) or res.counts()["complete"] >= 12
    assert _sampled(res) == 12  # --trials counts sampled trials that were evaluated


def test_fidelity_rule_prunes_dominated_candidates():
    res = _run(Budgets(memory_mb=1.0), trials=30)
    pruned = [r for r in res.records if r.status == "pruned"]
    assert pruned, "with 30 trials some candidate is dominated at a lower fidelity"
    for r in pruned:
        assert r.images < 5000 and r.accuracy is None and "dominated there by" in r.reason
    sampled = [r for r in res.records if r.status == "complete" and r.sibling_of is None]
    assert all([g["images"] for g in r.rungs] == [1000, 5000] for r in sampled)
    siblings = [r for r in res.records if r.sibling_of is not None]
    assert siblings and all([g["images"] for g in r.rungs] == [5000] and r.trainings == 0 for r in siblings)


def test_optuna_reaches_the_grid_hypervolume_with_a_fraction_of_its_evaluations():
    """Fast version of bench/search_hypervolume.py: >= 95% of the grid's hypervolume with <= 30% of its evaluations."""
    budgets = Budgets(memory_mb=1.0, energy_mj=300.0)
    space = SPACE.restricted({"neurons": "100..1000", "inh_bits": "8,32"})
    ref = (0.0, budgets.memory_mb, budgets.energy_mj)
    grid = _run(budgets, "grid", trials=None, space=space, name="grid")
    grid_evals = sum(r.trained_images for r in grid.records) / 5000  # full-training equivalents
    ratios = []
    for seed in (0, 1):
        opt = _run(budgets, trials=40, space=space, name=f"opt{seed}", seed=seed)
        evals = sum(r.trained_images for r in opt.records) / 5000
        assert evals <= 0.30 * grid_evals
        ratios.append(hypervolume([r.point for r in opt.front], ref) / hypervolume([r.point for r in grid.front], ref))
    assert min(ratios) >= 0.95, ratios


def test_resume_runs_only_the_missing_trials_and_refuses_other_settings(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    budgets = Budgets(memory_mb=1.0)
    first = _run(budgets, trials=4, storage=url, name="resume")
    assert _sampled(first) == 4
    again = _run(budgets, trials=4, storage=url, name="resume")
    assert [r.number for r in again.records] == [r.number for r in first.records]  # nothing repeated
    more = _run(budgets, trials=6, storage=url, name="resume")
    assert _sampled(more) == 6
    with pytest.raises(StudyError, match="exists with other settings.*budgets.memory_mb") as exc:
        _run(Budgets(memory_mb=2.0), trials=4, storage=url, name="resume")
    assert "\n" not in str(exc.value)
    with pytest.raises(StudyError, match="other settings"):
        _run(budgets, trials=4, storage=url, name="resume", space=SPACE.restricted({"design": "fspinn"}))


def test_interrupted_trial_is_failed_and_its_candidate_run_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    budgets = Budgets(memory_mb=1.0)
    first = _run(budgets, trials=2, storage=url, name="cut")
    study = optuna.load_study(study_name="cut", storage=url)
    cand = next(c for c in SPACE.grid() if c.design == "fspinn" and c.neurons == 300)
    study.enqueue_trial(SPACE.params(cand))
    stale = study.ask()
    space, _ = capped_space(SPACE, ExploreSettings(budgets, space=SPACE))  # what the search itself suggests from
    space.suggest(stale)  # its params are recorded; then the process "dies" with the trial RUNNING
    assert stale.number == len(first.records)
    res = _run(budgets, trials=3, storage=url, name="cut", heartbeat_s=1)  # no worker named: failed after 3 s
    states = {r.number: r.status for r in res.records}
    assert states[stale.number] == "failed"
    assert res.records[stale.number + 1].candidate == cand  # retried first


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_sigterm_whose_raise_python_drops_still_stops_the_search_and_fails_its_trial(tmp_path):
    """The SIGTERM handler raises KeyboardInterrupt wherever the main thread is; in a finalizer Python
    drops it ("Exception ignored"). The search still stops, failing and queueing the trial it hit."""
    import signal

    from optuna.trial import TrialState

    from dse.search import interrupts

    class Finalizer:
        def __del__(self):
            interrupts._stop(signal.SIGTERM, None)  # the handler, run inside a __del__

    class LosesOneSigterm(SyntheticEvaluator):
        def evaluate(self, c, train_images):
            if self.calls == 1:
                Finalizer()  # collected at once: its KeyboardInterrupt goes nowhere
            return super().evaluate(c, train_images)

    url = f"sqlite:///{tmp_path / 'study.db'}"
    settings_ = ExploreSettings(Budgets(memory_mb=1.0), space=SPACE, seed=0)
    try:
        with pytest.raises(KeyboardInterrupt):
            explore(settings_, LosesOneSigterm(), storage=url, study_name="term", n_trials=6)
    finally:
        interrupts._asked.clear()
    trials = optuna.load_study(study_name="term", storage=url).get_trials(deepcopy=False)
    (failed,) = [t for t in trials if t.state == TrialState.FAIL]
    assert failed.user_attrs["reason"] == "interrupted"
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == failed.number]
    assert retry.state == TrialState.WAITING and retry.params == failed.params
    assert not [t for t in trials if t.state == TrialState.RUNNING]


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(1e-5, 0.01), st.sampled_from(["inference", "training"]))
def test_when_nothing_is_feasible_the_result_says_so_and_lists_the_closest(mem, phase):
    from rich.console import Console

    from dse.report.terminal import print_result

    budgets = Budgets(memory_mb=mem, phase=phase)
    res = _run(budgets, trials=2)
    _check_invariants(res, budgets)
    assert not res.front and res.closest
    con = Console(record=True, width=200)
    print_result(res, con)
    text = con.export_text()
    assert "No feasible model" in text and "Closest candidates" in text
    assert all(f" {r.number} " in text for r in res.closest)


def test_nothing_feasible_lists_the_closest():
    res = _run(Budgets(memory_mb=0.001), trials=3)
    assert not res.front and res.selected is None
    assert res.closest and all(r.status == "rejected" for r in res.closest)
    assert [r.excess for r in res.closest] == sorted(r.excess for r in res.closest)


def test_incremental_is_fspinn_algorithm_2():
    space = SPACE.restricted({"design": "fspinn", "weights_bits": "8,32", "inh_bits": "8,32", "scheme": "ptq"})
    assert incremental_sizes(space) == (100, 400, 900)
    cands = incremental_candidates(space, "fspinn", 400)
    assert [(c.weights_bits, c.inh_bits) for c in cands] == [(32, 32), (8, 8)]
    res = _run(Budgets(memory_mb=1.0), "incremental", trials=None, space=space, name="inc")
    tried = {(r.candidate.neurons, r.candidate.weights_bits, r.candidate.inh_bits): r.status for r in res.records}
    # grows N while something fits (Net900 cannot fit 1 MB even at 8 bits, so the capped space
    # stops at Net400); the FP32 training at each size is shared by its PTQ variants, which come
    # in as siblings of that training (the 8-bit design among them) or as Algorithm 2's own trials
    assert {k: v for k, v in tried.items() if k[1] == k[2]} == {
        (100, 32, 32): "complete", (100, 8, 8): "complete", (400, 32, 32): "rejected", (400, 8, 8): "complete"}
    assert [r.candidate.neurons for r in res.records] == sorted(r.candidate.neurons for r in res.records)
    assert res.counts()["trainings"] == 2
    best = max((r for r in res.records if r.feasible), key=lambda r: r.accuracy)
    assert res.selected.number == best.number


def test_grid_refuses_a_space_larger_than_the_trials():
    with pytest.raises(ValueError, match="grid has"):
        _run(Budgets(memory_mb=1.0), "grid", trials=5)


def test_selection_by_reward_prefers_smaller_models_as_mu_grows():
    res = _run(Budgets(memory_mb=1.0), trials=25)
    front = list(res.front)
    low, high = select_model(front, "reward", 0.0), select_model(front, "reward", 5.0)
    assert low.accuracy == max(r.accuracy for r in front)
    assert high.memory_mb / high.memory_fp32_mb <= low.memory_mb / low.memory_fp32_mb
    with pytest.raises(ValueError):
        select_model(front, "reward", -1)


def test_outputs_are_written_and_rebuilt_from_the_storage_alone(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    res = _run(Budgets(memory_mb=1.0, energy_mj=300.0), trials=6, storage=url, name="out")
    paths = write_outputs(res, tmp_path / "out")
    doc = json.loads(paths["pareto"].read_text())
    assert doc["feasible"] is True and len(doc["front"]) == len(res.front)
    assert doc["selected"]["number"] == res.selected.number
    lines = paths["trials"].read_text().splitlines()
    assert len(lines) == 1 + len(res.records) and lines[0].startswith("number,status,feasible")
    again = result_from_study(optuna.load_study(study_name="out", storage=url), url)
    assert [r.number for r in again.front] == [r.number for r in res.front]


def test_names_and_urls():
    assert default_study_name("optuna", "mnist", 1.0, None, "inference", "jetson-nano") == \
        "mnist-1mb-inference-jetson-nano-optuna"
    assert default_study_name("grid", "mnist", 0.5, 20.0, "training", "cpu") == "mnist-0.5mb-20mj-training-cpu-grid"
    assert mask_url("postgresql://user:secret@host/db") == "postgresql://user:***@host/db"
    assert slug("<script>alert(1)</script>") == "script-alert-1-script"
