"""The search spends its time learning: PTQ siblings without training, continued rungs, hopeless
trainings stopped, rejections that cost no trial, several trainings at once."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import optuna
import pytest

from dse.search.evaluate import SnnEvaluator
from dse.search.explore import explore
from dse.search.objectives import Budgets, ExploreSettings
from dse.search.siblings import plan_siblings, ptq_variants, spread
from dse.search.space import DEFAULT_SPACE
from dse.search.synthetic import SyntheticEvaluator

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
optuna.logging.set_verbosity(optuna.logging.WARNING)

TINY = {"design": "fspinn", "neurons": "10..20:10", "inh_bits": "32", "vmem_bits": "32", "vth_bits": "32",
        "rho": "2", "window_steps": "50", "rounding": "nearest", "exit_margin": "0"}  # exits: tests/test_exit_search.py


@pytest.fixture()
def bundled_only(monkeypatch, tmp_path):
    from dse.data import locate

    monkeypatch.delenv("DSE_DATA_DIR", raising=False)
    monkeypatch.setattr(locate, "user_cache_dir", lambda: tmp_path / "no-cache")


def _snn(tmp_path: Path) -> SnnEvaluator:
    return SnnEvaluator(dataset="mnist", cache_dir=tmp_path / "cache", train_samples=120, assign_samples=60,
                        test_samples=60)


def test_a_rung_continues_the_lower_one_and_trains_only_the_difference(tmp_path, bundled_only):
    ev = _snn(tmp_path)
    c = DEFAULT_SPACE.restricted(TINY).candidate({"neurons": 10, "weights_bits": 32})
    low = ev.evaluate(c, 50)
    assert (low.trainings, low.trained_images, low.continued_from) == (1, 50, None)
    full = ev.evaluate(c, 120)
    assert (full.trainings, full.trained_images, full.continued_from) == (0, 70, 50)  # the difference only
    again = ev.evaluate(c, 120)
    assert (again.trainings, again.trained_images) == (0, 0)
    fresh = _snn(tmp_path / "other").evaluate(c, 120)  # straight to 120 images in an empty cache
    assert (fresh.trainings, fresh.trained_images) == (1, 120)
    assert fresh.accuracy == full.accuracy and fresh.counts_per_image == full.counts_per_image


def test_ptq_siblings_are_evaluated_without_training(tmp_path, bundled_only, monkeypatch):
    """A real tiny search: every FP32 training is followed by its PTQ variants, which train nothing."""
    from dse.search import siblings
    from dse.search.runner import TrialRunner

    monkeypatch.setattr(siblings, "SIBLING_SHARE", 2.0)  # two siblings per training (one by default here)
    space = DEFAULT_SPACE.restricted({**TINY, "weights_bits": "4,8,32", "scheme": "ptq", "neurons": "10"})
    settings = ExploreSettings(Budgets(memory_mb=1.0, min_accuracy=0.0), space=space, fidelities=(1.0,))
    url = f"sqlite:///{tmp_path / 's.db'}"
    evaluator = _snn(tmp_path)
    res = explore(settings, evaluator, storage=url, study_name="siblings", n_trials=1, jobs=None)
    sampled = [r for r in res.records if r.sibling_of is None]
    siblings_ = [r for r in res.records if r.sibling_of is not None]
    assert len(sampled) == 1 and sampled[0].status == "complete"
    # the FP32 network and the two PTQ variants: one training (120 images), three models
    parent = sampled[0].candidate.fp32()
    assert {r.candidate for r in res.records} == set(ptq_variants(parent, space))
    assert all(r.status == "complete" and r.trainings == 0 and r.trained_images == 0 for r in siblings_)
    assert res.counts()["trainings"] == 1 and res.counts()["trained_images"] == 120
    assert {Path(r.fp32_run_dir) for r in res.records} == {Path(sampled[0].fp32_run_dir)}  # one FP32 run
    assert len([p for p in (tmp_path / "cache").iterdir() if p.name.startswith("train-")]) == 1
    # each sibling names the process that evaluated it: the one that trained (reports, worker shares)
    trials = optuna.load_study(study_name="siblings", storage=url).get_trials(deepcopy=False)
    (trained,) = [t for t in trials if t.user_attrs.get("sibling_of") is None]
    assert trained.user_attrs["worker"]["pid"] == os.getpid()
    assert all(t.user_attrs["worker"] == trained.user_attrs["worker"] and t.user_attrs["worker_id"]
               for t in trials)
    # another worker that trained the same network finds its siblings in the study and adds none
    runner = TrialRunner(settings, evaluator, optuna.load_study(study_name="siblings", storage=url))
    assert siblings.evaluate_siblings(runner, space, 99, parent, 120) == []


def test_the_sibling_plan_spans_the_weight_widths_in_a_fixed_order():
    assert spread([16, 12, 8, 6, 4]) == [16, 4, 8, 12, 6]
    space = DEFAULT_SPACE.restricted({"design": "fspinn", "rho": "2", "window_steps": "50"})
    parent = space.candidate({"neurons": 400, "weights_bits": 32, "inh_bits": 32, "vmem_bits": 32, "vth_bits": 32})
    from dse.search import costs

    fits = lambda c: costs.memory_mb(c, "inference") <= 1.0  # noqa: E731
    plan = plan_siblings(parent, space, fits, 4)
    assert parent not in plan  # FP32 Net400 breaks 1 MB: not a sibling
    assert [c.weights_bits for c in plan] == [16, 4, 8, 12] and all(c.scheme == "ptq" and fits(c) for c in plan)
    assert plan_siblings(parent, space, fits, 2) == plan[:2]  # a fixed order: a smaller limit takes its head
    small = parent.__class__(**{**parent.to_dict(), "neurons": 100})
    assert plan_siblings(small, space, fits, 1)[0] == small  # the FP32 network, when it fits, comes free


class Collapsing(SyntheticEvaluator):
    """Baselines fall silent: hardly a spike, every image at the re-presentation limit, accuracy near 0."""

    def evaluate(self, c, train_images):
        ev = super().evaluate(c, train_images)
        if c.design != "baseline":
            return ev
        from dataclasses import replace

        silent = {ph: {**v, "presentations": 6.0, "exc_spikes": 0.4} for ph, v in ev.counts_per_image.items()}
        return replace(ev, accuracy=0.014, counts_per_image=silent)


def test_a_collapsed_candidate_stops_at_the_first_rung_with_its_reason():
    space = DEFAULT_SPACE.restricted({"design": "baseline,fspinn", "neurons": "100..400", "vmem_bits": "32",
                                      "vth_bits": "32"})
    settings = ExploreSettings(Budgets(memory_mb=1.0), space=space, seed=3)
    res = explore(settings, Collapsing(), storage=None, study_name="collapse", n_trials=14)
    base = [r for r in res.records if r.candidate.design == "baseline" and r.status not in ("rejected", "duplicate")]
    assert base, "the sampler tried some baseline"
    for r in base:
        assert r.status == "pruned" and r.images == 1000 and r.trained_images == 1000, r
        assert r.reason.startswith("stopped at 1000 images: silent network")
    assert all(r.candidate.design == "fspinn" for r in res.front)


def test_the_accuracy_floor_keeps_models_off_the_front_and_out_of_the_selection():
    space = DEFAULT_SPACE.restricted({"design": "baseline", "neurons": "100..200", "vmem_bits": "32",
                                      "vth_bits": "32"})
    res = explore(ExploreSettings(Budgets(memory_mb=1.0, min_accuracy=0.9), space=space), SyntheticEvaluator(),
                  storage=None, study_name="floor", n_trials=4)
    complete = [r for r in res.records if r.status == "complete"]
    assert complete and all(r.accuracy < 0.9 and r.below_floor and not r.feasible for r in complete)
    assert not res.front and res.selected is None


def test_rejected_candidates_do_not_use_up_the_trials():
    budgets = Budgets(memory_mb=0.2, min_accuracy=0.0)  # most of the space breaks it
    space = DEFAULT_SPACE.restricted({"neurons": "100..300", "vmem_bits": "32", "vth_bits": "32"})
    res = explore(ExploreSettings(budgets, space=space, seed=1),
                  SyntheticEvaluator(), storage=None, study_name="tight", n_trials=6)
    rejected = [r for r in res.records if r.status == "rejected"]
    assert rejected and all(r.trainings == 0 and r.trained_images == 0 for r in rejected)
    assert sum(r.status in ("complete", "pruned") and r.sibling_of is None for r in res.records) == 6


def test_two_trainings_run_at_once_by_default(tmp_path, monkeypatch, capsys):
    """`dse explore` without --jobs runs one training per core, each in a `dse worker` process."""
    from dse.cli.main import main
    from dse.search import jobs

    monkeypatch.setattr(jobs, "usable_cores", lambda: 2)
    url = f"sqlite:///{tmp_path / 's.db'}"
    code = main(["explore", "--budget-mb", "1", "--evaluator", "synthetic", "--synthetic-seconds", "0.5",
                 "--fidelities", "1", "--trials", "4", "--space", "design=fspinn", "--space", "neurons=100..400",
                 "--storage", url, "--study-name", "two", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0, out
    study = optuna.load_study(study_name="two", storage=url)
    sampled = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("sibling_of") is None
               and t.user_attrs.get("status") in ("complete", "pruned")]
    assert len(sampled) == 4
    by_pid: dict[int, list] = {}
    for t in sampled:
        by_pid.setdefault(t.user_attrs["worker"]["pid"], []).append(t)
    assert len(by_pid) == 2  # two processes shared the work
    a, b = by_pid.values()
    overlap = any(x.datetime_start < y.datetime_complete and y.datetime_start < x.datetime_complete
                  for x in a for y in b)
    assert overlap, "the two processes trained at the same time"
    assert all(f"#{t.number} " in out for t in study.get_trials(deepcopy=False) if t.state.is_finished())


def _pop(url: str, start: float, out: str) -> None:
    import time

    from dse.search.liveness import ask_lock

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name="queue", storage=url)
    time.sleep(max(start - time.time(), 0))  # every process asks at the same moment
    with ask_lock(study):
        trial = study.ask()
    Path(out).write_text(str(trial.number))


def test_processes_on_one_sqlite_study_never_pop_the_same_queued_trial(tmp_path):
    """SQLite has no row locks: without ask_lock two processes can both take one queued trial."""
    import multiprocessing as mp
    import time

    url = f"sqlite:///{tmp_path / 'q.db'}"
    study = optuna.create_study(study_name="queue", storage=url)
    for x in range(3):
        study.enqueue_trial({"x": x})
    ctx = mp.get_context("fork")
    start = time.time() + 1.5
    procs = [ctx.Process(target=_pop, args=(url, start, str(tmp_path / f"n{k}"))) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    numbers = [int((tmp_path / f"n{k}").read_text()) for k in range(4)]
    assert len(set(numbers)) == 4  # three queued trials popped once each, and one new trial


def test_the_search_starts_at_algorithm_2s_point_and_at_the_largest_network_that_fits():
    from dse.search import costs
    from dse.search.strategies import starting_points

    def fits(c):
        return costs.memory_mb(c, "inference", "dense") <= 1.0

    first, corner = starting_points(DEFAULT_SPACE, fits)
    assert (first.design, first.neurons, first.weights_bits) == ("fspinn", 400, 16)  # FSpiNN's sizes: 900 breaks 1 MB
    assert (corner.design, corner.neurons, corner.weights_bits, corner.scheme) == ("fspinn", 800, 4, "ptq")
    assert fits(corner) and not fits(corner.__class__(**{**corner.to_dict(), "neurons": 900}))
    # one size only: the corner would be a PTQ sibling of the first point, so it is not added
    assert len(starting_points(DEFAULT_SPACE.restricted({"neurons": "400"}), fits)) == 1


def test_an_fp32_network_over_the_budget_is_trained_untested_and_tested_only_if_asked(tmp_path, bundled_only):
    """Its PTQ variants assign labels and test themselves; testing the FP32 network would cost an
    evaluation that is no candidate. The result of the PTQ variant does not depend on it."""
    from dse.runs import folder

    space = DEFAULT_SPACE.restricted(TINY)
    ptq = space.candidate({"neurons": 10, "weights_bits": 8, "scheme": "ptq"})
    lean = _snn(tmp_path / "lean")
    lean.parent_tested = lambda parent: False  # what the search sets when the FP32 network breaks the budget
    got = lean.evaluate(ptq, 120)
    untested = Path(got.fp32_run_dir)
    assert untested.name.endswith("-untested") and (got.trainings, got.trained_images) == (1, 120)
    m = folder.read_manifest(untested)
    assert m["evaluated"] is False and m["metrics"] is None and m["counts"]["inference"] is None
    assert m["health"]["test"] is None and m["stream"]["window_images"] > 0
    assert (folder.load_npz(untested / folder.WEIGHTS)["neuron_labels"] == -1).all()

    full = _snn(tmp_path / "full")  # the same search with the FP32 network tested
    ref = full.evaluate(ptq, 120)
    assert (got.accuracy, got.confusion, got.counts_per_image) == (ref.accuracy, ref.confusion, ref.counts_per_image)

    # asked for later (another study's budget admits it): tested from the untested folder, nothing trained
    fp32 = lean.evaluate(ptq.fp32(), 120)
    ref32 = full.evaluate(ptq.fp32(), 120)
    assert (fp32.trainings, fp32.trained_images) == (0, 0)
    assert (fp32.accuracy, fp32.confusion, fp32.counts_per_image) == (ref32.accuracy, ref32.confusion,
                                                                       ref32.counts_per_image)
    # and the PTQ variant is not made again: it is keyed by the training, tested or not
    again = lean.evaluate(ptq, 120)
    assert again.quantizations == 0 and again.accuracy == got.accuracy


def test_a_low_rung_reads_the_training_stream_and_tests_nothing(tmp_path, bundled_only):
    from dse.runs import folder

    def evaluator(where):
        return SnnEvaluator(dataset="mnist", cache_dir=where, train_samples=1000, assign_samples=60,
                            test_samples=60)

    ev = evaluator(tmp_path / "cache")
    c = DEFAULT_SPACE.restricted(TINY).candidate({"neurons": 10, "weights_bits": 8, "scheme": "ptq"})
    low = ev.evaluate(c.fp32(), 500)
    m = folder.read_manifest(Path(low.run_dir))
    assert low.extra["measured"] == "training stream" and low.run_dir.endswith("-untested")
    assert m["evaluated"] is False and m["timings"]["infer_s"] == 0  # no label assignment, no test
    # two chunks of 250 images: the second is predicted with labels from the first
    assert m["stream"]["recent_images"] == 250 and low.accuracy == m["stream"]["recent_correct"] / 250
    assert low.accuracy_ci95[0] < low.accuracy < low.accuracy_ci95[1]
    inference, training = low.counts_per_image["inference"], low.counts_per_image["training"]
    assert inference["weight_updates"] == 0 and training["weight_updates"] > 0
    assert inference["exc_spikes"] == training["exc_spikes"] > 0
    full = ev.evaluate(c, 1000)  # the full rung continues the untested one, then quantizes and tests
    assert (full.trainings, full.trained_images, full.continued_from) == (0, 500, 500)
    fresh = evaluator(tmp_path / "other").evaluate(c, 1000)
    assert fresh.accuracy == full.accuracy and fresh.counts_per_image == full.counts_per_image
    # a rung of one chunk has no prediction yet: it is tested
    assert ev.evaluate(c.fp32(), 200).extra.get("measured") is None


def test_labels_are_assigned_on_a_sixth_of_the_training_set_at_most_10000(tmp_path, bundled_only):
    from dse.search.evaluate import default_assign_samples

    assert [default_assign_samples(n) for n in (60_000, 5_000, 600, 3)] == [10_000, 833, 100, 1]
    assert SnnEvaluator(dataset="mnist", cache_dir=tmp_path).assign_cap == 833  # the bundled subset
    assert SnnEvaluator(dataset="mnist", cache_dir=tmp_path, assign_samples=50).assign_cap == 50
