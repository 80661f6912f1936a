"""Early exit as a search dimension (issue 15): each trained network is tested at every exit margin of the
space without retraining, priced with the steps it ran, and recorded in trials.csv and the report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dse.cli import explore as explore_cli
from dse.cli.main import main
from dse.cost.memory import memory_report
from dse.models.early_exit import ExitRule
from dse.runs.exits import exit_sweep
from dse.runs.inference import evaluate_run
from dse.runs.train import TrainConfig, train_run
from dse.runs.documents import DamagedFile
from dse.search import costs
from dse.search.evaluate import SnnEvaluator
from dse.search.space import DEFAULT_SPACE, Candidate, SpaceError
from dse.search.synthetic import SyntheticEvaluator

TINY_NET = dict(design="fspinn", dataset="mnist", neurons=20, train_samples=200, assign_samples=200,
                test_samples=150, seed=3)


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_candidates_carry_the_margin_and_the_training_ignores_it():
    c = Candidate("fspinn", 400, rho=2.0, window_steps=50, exit_margin=3)
    assert c.label().endswith("exit3") and c.to_dict()["exit_margin"] == 3
    assert c.fp32().exit_margin == 0 and c.without_exit() == Candidate("fspinn", 400, rho=2.0, window_steps=50)
    assert Candidate.from_dict({k: v for k, v in c.to_dict().items() if k != "exit_margin"}).exit_margin == 0
    for bad in (-1, 1.5, True, 10**6):
        with pytest.raises(SpaceError, match="exit margin"):
            Candidate("baseline", 100, exit_margin=bad)
    # a candidate given without a margin takes the neutral one (no exit)
    assert DEFAULT_SPACE.candidate({"design": "baseline", "neurons": 100, "weights_bits": 32, "inh_bits": 32,
                                    "vmem_bits": 32, "vth_bits": 32}).exit_margin == 0


def test_exit_costs_the_votes_in_memory_and_lowers_the_energy_floor():
    c = Candidate("baseline", 400)
    e = c.with_exit(2)
    extra = (memory_report("baseline", 400, "inference", early_exit=True).total_bytes
             - memory_report("baseline", 400, "inference").total_bytes)
    assert extra > 0 and costs.memory_mb(e, "inference") - costs.memory_mb(c, "inference") == pytest.approx(extra / 1e6)
    assert costs.memory_mb(e, "training") == costs.memory_mb(c, "training")  # training runs every step
    assert costs.energy_floor_mj(e, "inference", "jetson-nano") < costs.energy_floor_mj(c, "inference", "jetson-nano")
    # the same measured counts cost the same energy: the saving comes from the steps the run skipped
    counts = SyntheticEvaluator().evaluate(c, 5000).counts_per_image
    assert costs.energy_mj(e, "inference", "jetson-nano", counts) == pytest.approx(
        costs.energy_mj(c, "inference", "jetson-nano", counts))


def test_synthetic_explore_adds_exit_siblings_that_reach_the_front(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(explore_cli, "_make_evaluator", lambda args: SyntheticEvaluator())
    out = tmp_path / "out"
    code, _, err = _cli(capsys, "explore", "--budget-mb", "1", "--trials", "4", "--jobs", "1", "--space",
                        "design=fspinn", "--space", "neurons=100..400", "--space", "rho=2", "--space",
                        "window_steps=50", "--storage", f"sqlite:///{tmp_path / 's.db'}", "--out", out, "--quiet")
    assert code == 0, err
    rows = list(csv.DictReader(open(out / "trials.csv")))
    done = [r for r in rows if r["status"] == "complete"]
    by_key = {}
    for r in done:
        key = tuple(r[k] for k in ("design", "neurons", "weights_bits", "inh_bits", "vmem_bits", "vth_bits",
                                   "scheme", "rounding"))
        by_key.setdefault(key, {})[int(r["exit_margin"])] = r
    pairs = [(v[0], v[m]) for v in by_key.values() for m in (2, 4) if 0 in v and m in v]
    assert pairs, "each evaluated network is tested with the space's exit margins"
    for full, early in pairs:
        assert early["sibling_of"] != "" and int(early["trainings"]) == 0  # no retraining
        assert float(early["energy_mj"]) < float(full["energy_mj"])
        assert float(early["memory_mb"]) > float(full["memory_mb"])
    pareto = json.loads((out / "pareto.json").read_text())
    assert any(p["exit_margin"] > 0 for p in pareto["front"]), "cheaper at nearly the same accuracy: on the front"
    assert "exit2" in (out / "report.html").read_text()


def test_without_exit_margins_in_the_space_nothing_is_added(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(explore_cli, "_make_evaluator", lambda args: SyntheticEvaluator())
    out = tmp_path / "out"
    code, _, err = _cli(capsys, "explore", "--budget-mb", "1", "--trials", "3", "--jobs", "1", "--space",
                        "exit_margin=0", "--storage", f"sqlite:///{tmp_path / 's.db'}", "--out", out, "--quiet")
    assert code == 0, err
    assert {r["exit_margin"] for r in csv.DictReader(open(out / "trials.csv")) if r["exit_margin"]} == {"0"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("exit") / "run"
    train_run(TrainConfig(**TINY_NET), run)
    return run


def test_the_sweep_matches_evaluate_with_the_same_rule(trained):
    rule = ExitRule(2, 0)
    swept = exit_sweep(trained, [ExitRule(1, 0), rule])
    one = evaluate_run(trained, exit_rule=rule)
    assert swept[1]["metrics"]["accuracy"] == one["metrics"]["accuracy"]
    assert swept[1]["steps_per_test_image"] == one["early_exit"]["steps_per_test_image"]
    assert swept[1]["test_per_image"] == pytest.approx(one["counts"]["test_per_image"])
    # a narrower margin stops no later
    assert swept[0]["steps_per_test_image"]["mean"] <= swept[1]["steps_per_test_image"]["mean"]
    with pytest.raises(ValueError, match="enabled"):
        exit_sweep(trained, [ExitRule()])


def test_the_evaluator_tests_all_margins_once_and_reads_them_back(tmp_path):
    ev = SnnEvaluator(dataset="mnist", cache_dir=tmp_path / "cache", train_samples=200, assign_samples=200,
                      test_samples=150, seed=3)
    ev.prepare(DEFAULT_SPACE.restricted({"exit_margin": "0,1,3"}))
    c = Candidate("fspinn", 20, rho=2.0, window_steps=50)
    full = ev.evaluate(c, 200)
    first = ev.evaluate(c.with_exit(1), 200)
    second = ev.evaluate(c.with_exit(3), 200)
    exits = sorted((tmp_path / "cache").glob("exit-*"))
    assert len(exits) == 1 and first.extra["exit_sweeps"] == 1 and second.extra["exit_sweeps"] == 0
    assert first.trainings == second.trainings == 0 and first.extra["source_run_dir"] == full.run_dir
    for e in (first, second):
        assert e.counts_per_image["inference"]["steps"] < full.counts_per_image["inference"]["steps"]
        assert e.counts_per_image["training"] == full.counts_per_image["training"]
        assert e.extra["mean_steps"] == pytest.approx(e.counts_per_image["inference"]["steps"])
    assert first.extra["mean_steps"] <= second.extra["mean_steps"]
    # a damaged cached result is refused, not used
    doc = json.loads((exits[0] / "manifest.json").read_text())
    doc["results"]["3"]["metrics"]["accuracy"] = 7
    (exits[0] / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(DamagedFile, match="margin 3"):
        ev.evaluate(c.with_exit(3), 200)


def test_a_run_without_stored_labels_is_assigned_again_with_the_same_result(trained, tmp_path):
    import shutil

    import numpy as np

    from dse.runs import folder

    old = tmp_path / "old"
    shutil.copytree(trained, old)
    arrays = dict(np.load(old / "weights.npz"))
    del arrays["neuron_labels"]  # as runs written before the labels were stored
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["files"]["weights_sha256"] = folder.atomic_save_npz(old / "weights.npz", **arrays)
    (old / "manifest.json").write_text(json.dumps(manifest))
    rules = [ExitRule(1, 0), ExitRule(3, 0)]
    stored, again = exit_sweep(trained, rules), exit_sweep(old, rules)
    for a, b in zip(stored, again):
        assert a["labels"] == "stored in the run" and b["labels"].startswith("assigned again")
        assert a["metrics"] == b["metrics"] and a["steps_per_test_image"] == b["steps_per_test_image"]


def test_an_exit_sibling_says_what_it_tested():
    from dse.report.terminal import _sibling_origin

    itq = Candidate("baseline", 200, weights_bits=8, scheme="itq", exit_margin=4)
    assert _sibling_origin(itq).format(n=7) == "early-exit test of the ITQ network of #7, no training of its own"
    assert _sibling_origin(Candidate("baseline", 200, weights_bits=8, scheme="ptq")).format(n=7).startswith("PTQ of #7")
