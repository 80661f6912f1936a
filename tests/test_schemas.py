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
