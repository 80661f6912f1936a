"""A `dse explore --evaluator synthetic` study seen through optuna-dashboard's own API (on loopback).

What the dashboard shows is what its JSON API serves: per trial, the constraint
list it colours feasible/infeasible by and the user attributes it can sort by
(numbers only); per study, the user attributes. Skips without optuna-dashboard
(it is in the `test` extra).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

pytest.importorskip("optuna_dashboard")

from tests.dashboard_server import dashboard  # noqa: E402

SORTABLE = ("accuracy", "accuracy_low", "accuracy_high", "memory_mb", "memory_fp32_mb", "energy_mj",
            "energy_floor_mj", "trainings", "trained_images", "images")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dash")
    db = f"sqlite:///{tmp / 'explore.db'}"
    # budgets tight enough that some candidates are rejected before training and some fall below the floor
    run = subprocess.run([sys.executable, "-m", "dse", "explore", "--evaluator", "synthetic", "--budget-mb", "0.6",
                          "--budget-mj", "250", "--trials", "15", "--jobs", "1", "--storage", db,
                          "--study-name", "dash", "--out", str(tmp / "out"), "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode in (0, 1), run.stderr
    with dashboard(db, tmp / "dashboard.log") as api:
        yield api.study("dash")


def _attrs(entry):
    return {a["key"]: a["value"] for a in entry["user_attrs"]}


def test_budgets_are_flat_study_attributes(study):
    attrs = _attrs(study)
    assert float(attrs["budget_memory_mb"]) == 0.6
    assert float(attrs["budget_energy_mj"]) == 250.0
    assert float(attrs["min_accuracy"]) == 0.5
    assert attrs["evaluator"] == "synthetic"
    assert attrs["constraint_order"] == "memory_mb, energy_mj, min_accuracy"
    assert study["objective_names"] == ["accuracy", "memory_mb", "energy_mj"]


def test_each_trial_shows_its_feasibility(study):
    trials = study["trials"]
    statuses = {_attrs(t)["status"] for t in trials}
    assert {"complete", "rejected"} <= statuses, statuses
    feasible = infeasible = 0
    for t in trials:
        attrs = _attrs(t)
        constraints = t["constraints"]
        # the dashboard's rule: feasible when every listed constraint is <= 0
        shown_feasible = bool(constraints) and all(c <= 0 for c in constraints)
        memory, energy = float(attrs["memory_mb"]), float(attrs["energy_floor_mj"])
        assert math.isclose(constraints[0], memory - 0.6, abs_tol=1e-9), t["number"]
        if attrs["status"] == "rejected":  # no accuracy: memory and the energy floor only, one over its budget
            assert t["state"] == "Pruned" and len(constraints) == 2
            assert not shown_feasible and (memory > 0.6 or energy > 250), t["number"]
            assert "reason" in attrs and "rejected before training" in attrs["reason"]
        elif attrs["status"] == "complete":
            assert t["state"] == "Complete" and len(constraints) == 3
            assert shown_feasible == (attrs["feasible"] == "True"), t["number"]
            accuracy = float(attrs["accuracy"])
            assert shown_feasible == (accuracy >= 0.5 and memory <= 0.6 and float(attrs["energy_mj"]) <= 250)
            feasible += shown_feasible
            infeasible += not shown_feasible
    assert feasible and infeasible, "the study should hold feasible and infeasible complete trials"


def test_results_are_sortable_attributes(study):
    sortable = {a["key"]: a["sortable"] for a in study["union_user_attrs"]}
    for key in SORTABLE:
        assert sortable.get(key) is True, (key, sortable.get(key))
    for t in study["trials"]:
        attrs = _attrs(t)
        if attrs["status"] == "complete":
            low, acc, high = (float(attrs[k]) for k in ("accuracy_low", "accuracy", "accuracy_high"))
            assert 0 <= low <= acc <= high <= 1
            assert float(attrs["memory_mb"]) <= float(attrs["memory_fp32_mb"])
            assert int(attrs["trainings"]) >= 0 and int(attrs["images"]) > 0
            assert t["values"][1] == pytest.approx(float(attrs["memory_mb"]))


def test_the_note_and_the_front_figure_are_in_the_dashboard(study):
    note = study["note"]["body"]
    assert "Budgets (inference): memory 0.6 MB, energy 250 mJ per image; accuracy floor 50%" in note
    assert "memory_mb, energy_mj, min_accuracy" in note and "accuracy is synthetic" in note
    front_rows = [ln for ln in note.splitlines() if ln.startswith("| ") and not ln.startswith("| #")]
    on_front = [t for t in study["trials"] if _attrs(t).get("feasible") == "True"]
    assert front_rows and len(front_rows) <= len(on_front)
    (figure,) = [g for g in study["plotly_graph_objects"] if g["id"] == "dse-front-memory"]
    traces = json.loads(figure["graph_object"])["data"]
    assert any(t["name"].startswith("feasible Pareto set") for t in traces)
    assert any(t["name"] == "budget 0.6 MB" for t in traces)
