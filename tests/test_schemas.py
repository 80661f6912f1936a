"""The versioned JSON Schemas in dse/schemas/ describe what the commands write, and refuse what they do not."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")

from dse.runs.quantize import quantize_run  # noqa: E402 - after the skip
from dse.runs.train import TrainConfig, train_run  # noqa: E402


def schema(name: str) -> dict:
    return json.loads(resources.files("dse").joinpath(f"schemas/{name}").read_text(encoding="utf-8"))


def validator(name: str):
    doc = schema(name)
    jsonschema.Draft202012Validator.check_schema(doc)
    return jsonschema.Draft202012Validator(doc, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def errors(name: str, doc: dict) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator(name).iter_errors(doc)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    """A FP32 run, its PTQ, and an ITQ run: tiny, but written by the real code."""
    root = tmp_path_factory.mktemp("schemas")
    small = dict(design="fspinn", dataset="mnist", neurons=10, train_samples=60, assign_samples=60, test_samples=60)
    out = {"train": train_run(TrainConfig(**small), root / "fp32")}
    out["quantize"] = quantize_run(root / "fp32", root / "ptq", "weights=Q0.8,vmem=Q*.6", "stochastic")
    out["itq"] = train_run(TrainConfig(**small, quant="weights=Q0.8", rounding="nearest"), root / "itq")
    for kind in out:  # what is on disk, not the dict in memory
        out[kind] = json.loads((root / {"train": "fp32", "quantize": "ptq", "itq": "itq"}[kind] / "manifest.json").read_text())
    return out


def test_schemas_are_versioned_and_valid():
    doc = schema("manifest-v1.schema.json")
    assert doc["$id"].endswith(":1") and doc["properties"]["schema_version"] == {"const": 1}
    jsonschema.Draft202012Validator.check_schema(doc)


@pytest.mark.parametrize("kind", ["train", "quantize", "itq"])
def test_written_manifests_validate(runs, kind):
    assert errors("manifest-v1.schema.json", runs[kind]) == []


def _broken(doc: dict, edit) -> dict:
    doc = copy.deepcopy(doc)
    edit(doc)
    return doc


@pytest.mark.parametrize("what, edit", [
    ("a newer schema_version", lambda d: d.update(schema_version=2)),
    ("an undocumented top-level key", lambda d: d.update(extra=1)),
    ("no metrics", lambda d: d.pop("metrics")),
    ("accuracy as a percentage", lambda d: d["metrics"].update(accuracy=81.7)),
    ("a count that is not an integer", lambda d: d["counts"]["training"].update(exc_spikes=1.5)),
    ("an unknown design", lambda d: d["config"].update(design="lif")),
    ("a quantized run's timings in a train manifest", lambda d: d["timings"].update(engine="numba")),
    ("a truncated data checksum", lambda d: d["data"].update(sha256="ebcf8e974ee7")),
])
def test_the_manifest_schema_refuses(runs, what, edit):
    assert errors("manifest-v1.schema.json", _broken(runs["train"], edit)), what


def test_a_ptq_manifest_must_name_its_source(runs):
    assert errors("manifest-v1.schema.json", _broken(runs["quantize"], lambda d: d["quantization"].pop("source_run")))
    # and a train manifest cannot claim to be PTQ
    assert errors("manifest-v1.schema.json", _broken(runs["itq"], lambda d: d["quantization"].update(scheme="ptq")))


def test_schema_files_are_package_data():
    files = sorted(p.name for p in Path(resources.files("dse").joinpath("schemas")).iterdir())
    assert "manifest-v1.schema.json" in files


# pareto.json ------------------------------------------------------------------------------------------

def _explore_doc(tmp_path: Path, budgets, name: str) -> dict:
    from dse.search.explore import explore, write_outputs
    from dse.search.objectives import ExploreSettings
    from dse.search.space import DEFAULT_SPACE
    from dse.search.synthetic import SyntheticEvaluator

    space = DEFAULT_SPACE.restricted({"neurons": "100..1500"})
    result = explore(ExploreSettings(budgets, space=space), SyntheticEvaluator(), storage=None, study_name=name,
                     n_trials=8)
    return json.loads(write_outputs(result, tmp_path / name)["pareto"].read_text())


@pytest.fixture(scope="module")
def paretos(tmp_path_factory) -> dict[str, dict]:
    """pareto.json of a synthetic search with a front, of one where nothing fits, and of a real tiny search."""
    import subprocess
    import sys
    import warnings

    import optuna

    from dse.search.objectives import Budgets

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tmp = tmp_path_factory.mktemp("pareto")
    out = {"synthetic": _explore_doc(tmp, Budgets(memory_mb=0.6, energy_mj=250.0), "front"),
           "nothing fits": _explore_doc(tmp, Budgets(memory_mb=0.6, min_accuracy=0.99), "none")}
    # a real search on the bundled subset: two tiny fspinn networks, trained and tested
    run = subprocess.run([sys.executable, "-m", "dse", "explore", "--budget-mb", "1", "--trials", "2",
                          "--train-samples", "60", "--assign-samples", "60", "--test-samples", "60",
                          "--fidelities", "1", "--min-accuracy", "0", "--jobs", "1", "--quiet",
                          "--space", "design=fspinn", "--space", "neurons=10..20:10", "--space", "rho=2",
                          "--space", "window_steps=50", "--storage", f"sqlite:///{tmp / 'real.db'}",
                          "--study-name", "real", "--out", str(tmp / "real"), "--cache", str(tmp / "cache")],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode in (0, 1), run.stderr[-2000:]
    out["real"] = json.loads((tmp / "real" / "pareto.json").read_text())
    return out


def test_the_pareto_schema_is_versioned_and_valid():
    doc = schema("pareto-v1.schema.json")
    assert doc["$id"].endswith(":1") and doc["properties"]["schema_version"] == {"const": 1}
    jsonschema.Draft202012Validator.check_schema(doc)


@pytest.mark.parametrize("kind", ["synthetic", "nothing fits", "real"])
def test_written_paretos_validate(paretos, kind):
    doc = paretos[kind]
    assert errors("pareto-v1.schema.json", doc) == []
    assert doc["feasible"] == (kind != "nothing fits")
    assert ("synthetic" in doc["labels"]["accuracy"]) == (kind != "real")
    if kind == "real":
        assert doc["front"][0]["run_dir"] and doc["front"][0]["trainings"] + doc["summary"]["trainings"] > 0
    if kind == "nothing fits":
        assert doc["closest"] and doc["selected"] is None


@pytest.mark.parametrize("what, edit", [
    ("a newer schema_version", lambda d: d.update(schema_version=2)),
    ("no schema_version", lambda d: d.pop("schema_version")),
    ("an undocumented top-level key", lambda d: d.update(extra=1)),
    ("FP32 bits as text", lambda d: d["front"][0].update(vmem_bits="fp32")),
    ("accuracy as a percentage", lambda d: d["front"][0].update(accuracy=73.8)),
    ("an infeasible trial on the front", lambda d: d["front"][0].update(feasible=False)),
    ("a selection that is not on a front of nothing", lambda d: d.update(front=[])),
    ("a timestamp without its offset", lambda d: d["front"][0].update(started="2026-11-30T23:48:48")),
    ("an unknown status", lambda d: d["front"][0].update(status="done")),
    ("a count that is not an integer", lambda d: d["summary"].update(trainings=1.5)),
    ("objectives in another order", lambda d: d.update(objectives=["memory_mb", "accuracy", "energy_mj"])),
])
def test_the_pareto_schema_refuses(paretos, what, edit):
    assert errors("pareto-v1.schema.json", _broken(paretos["synthetic"], edit)), what
