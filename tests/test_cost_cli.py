"""`dse cost` and `dse compare-hw` through the CLI: output, JSON schema, errors, the HTML chart."""

from __future__ import annotations

import json

import pytest

from dse.cli.main import main
from dse.cost.profiles import list_profiles
from dse.models.counts import COUNT_NAMES


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cost_text(capsys):
    code, out, err = _run(capsys, "cost", "--design", "fspinn", "--neurons", "400", "--quant", "8bit",
                          "--profile", "gtx1060")
    assert code == 0, err
    assert "fspinn Net400, precision 8bit, dense accounting, profile gtx1060 (dense execution)" in out
    for word in ("input_weights", "lateral_weights", "step_overhead", "static", "per epoch", "counts: estimated",
                 "time: modelled from profile gtx1060"):
        assert word in out


def test_cost_json_schema(capsys):
    code, out, err = _run(capsys, "cost", "--design", "baseline", "--neurons", "4900", "--profile", "gtx1080ti",
                          "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert {"design", "neurons", "quant", "accounting", "memory_bytes", "memory", "time_s", "energy_j",
            "breakdown", "labels", "profile", "execution", "counts_per_image", "phase"} <= set(doc)
    assert doc["phase"] == "inference" and doc["memory_bytes"] == doc["memory"]["inference"]["total_bytes"]
    assert 200e6 < doc["memory_bytes"] < 210e6
    assert set(doc["memory"]) == {"training", "inference"}
    assert doc["memory"]["training"]["total_bytes"] == sum(doc["memory"]["training"]["components"].values())
    assert {"training_per_image", "inference_per_image", "training_per_epoch"} <= set(doc["time_s"])
    assert {"training_per_image", "inference_per_image", "training_per_epoch"} <= set(doc["energy_j"])
    assert set(doc["breakdown"]["training"]["time_s"]) == {"synaptic", "neuron", "weight_update", "memory_traffic",
                                                           "step_overhead", "input_spikes"}
    assert set(doc["counts_per_image"]["training"]) == set(COUNT_NAMES) - {"images"}
    assert set(doc["labels"]) == {"memory", "counts", "time", "energy"}
    assert doc["execution"] == "dense" and doc["profile"] == "gtx1080ti"


def test_cost_phase_and_minimal_accounting(capsys):
    code, out, _ = _run(capsys, "cost", "--design", "fspinn", "--neurons", "100", "--phase", "training",
                        "--accounting", "minimal", "--execution", "event", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["memory_bytes"] == doc["memory"]["training"]["total_bytes"]
    assert doc["memory"]["training"]["components"]["lateral_weights"] == 4
    assert doc["accounting"] == "minimal" and doc["execution"] == "event"


@pytest.mark.parametrize("argv, needle", [
    (["cost", "--design", "fspinn", "--neurons", "10", "--profile", "gtx9999"], "unknown hardware profile"),
    (["cost", "--design", "fspinn", "--neurons", "10", "--quant", "weights=Q-1.8"], "integer bits"),
    (["cost", "--design", "fspinn", "--neurons", "0"], "must be > 0"),
    (["cost", "--design", "fspinn", "--neurons", "-5"], "must be > 0"),
    (["cost", "--design", "nope", "--neurons", "10"], "invalid choice"),
    (["cost", "--neurons", "10"], "--design and --neurons"),
    (["cost", "--design", "fspinn", "--neurons", "10", "--profile", "no/such/file.toml"], "no such profile file"),
    (["cost", "--design", "fspinn", "--neurons", "10", "--from-run", "/no/such/run"], "not a directory"),
    (["compare-hw", "--design", "fspinn", "--neurons", "0"], "must be > 0"),
    (["compare-hw", "--design", "fspinn", "--neurons", "10", "--profiles", "gtx1060,nope"], "unknown hardware"),
    (["compare-hw", "--design", "fspinn", "--neurons", "10", "--vs-design", "baseline", "--vs-quant", "Q"],
     "bad --quant"),
])
def test_errors_are_one_line_with_exit_2(capsys, argv, needle):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert needle in err


def test_cost_from_a_run_uses_its_counts(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    per_image = {k: 0.0 for k in COUNT_NAMES if k != "images"}
    per_image.update(presentations=1.0, steps=350.0, input_spikes=4000.0, exc_spikes=20.0,
                     neuron_updates=350.0 * 50, synaptic_events=4000.0 * 50 + 20 * 49)
    (run / "manifest.json").write_text(json.dumps({
        "config": {"design": "fspinn", "neurons": 50, "dataset": "mnist", "quant": None},
        "counts": {"training_per_image": {**per_image, "weight_updates": 7840.0, "window_updates": 10.0},
                   "inference_per_image": per_image}}))
    code, out, err = _run(capsys, "cost", "--from-run", str(run), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["design"] == "fspinn" and doc["neurons"] == 50
    assert doc["counts_per_image"]["inference"]["synaptic_events"] == per_image["synaptic_events"]
    assert doc["labels"]["counts"] == f"measured run {run}"
    assert doc["bits"]["weights"] == 32
    code, _, err = _run(capsys, "cost", "--from-run", str(run), "--neurons", "60")
    assert code == 2 and "disagrees" in err
    # a post-training-quantized run is costed at its recorded precision
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["quantization"] = {"scheme": "ptq", "spec": "weights=Q0.8,vmem=sQ7.8"}
    (run / "manifest.json").write_text(json.dumps(manifest))
    code, out, err = _run(capsys, "cost", "--from-run", str(run), "--json")
    assert code == 0, err
    assert json.loads(out)["bits"] == {"weights": 8, "inh": 32, "vmem": 16, "vth": 32}


def test_compare_hw_has_a_row_for_every_profile(capsys):
    code, out, err = _run(capsys, "compare-hw", "--design", "fspinn", "--neurons", "4900", "--quant", "8bit",
                          "--vs-design", "baseline", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [r["profile"] for r in doc["rows"]] == list_profiles()
    assert len(doc["rows"]) == 10
    for r in doc["rows"]:
        assert r["label"] == "modelled" and r["source"].startswith(f"modelled from profile {r['profile']}")
        assert r["fits"] == {"training": True, "inference": True}
        assert r["energy_ratio"]["training"] > 1 and r["energy_ratio"]["inference"] > 1
        assert r["energy_j"]["training_per_epoch"] == pytest.approx(60_000 * r["energy_j"]["training_per_image"])
    assert any("3.5x training, 1.8x inference" in n for n in doc["notes"])


def test_compare_hw_text_and_fit(capsys):
    code, out, err = _run(capsys, "compare-hw", "--design", "baseline", "--neurons", "30000", "--profiles",
                          "jetson-nano", "--profiles", "a100")
    assert code == 0, err
    assert "jetson-nano" in out and "a100" in out and "NO/NO" in out  # 2 x 30000^2 x 4 B = 7.2 GB


def test_compare_hw_adds_a_measured_row(tmp_path, capsys):
    records = []
    for design, e in (("fspinn", 1.0), ("baseline", 3.0)):
        for phase in ("training", "inference"):
            records.append({"design": design, "neurons": 20, "precision": "fp32", "phase": phase,
                            "wall_s_per_image": 1e-3, "energy_j_per_image": e * 1e-3,
                            "time_label": "measured (wall clock on Test CPU)",
                            "energy_label": "modelled power x measured time (profile cpu)"})
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"kind": "measurements", "records": records, "machine": {"cpu": "Test CPU"}}))
    code, out, err = _run(capsys, "compare-hw", "--design", "fspinn", "--neurons", "20", "--profiles", "cpu",
                          "--vs-design", "baseline", "--measurements", str(m), "--json")
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert [r["label"] for r in rows] == ["modelled", "measured time x modelled power"]
    assert rows[1]["energy_ratio"] == {"training": pytest.approx(3.0), "inference": pytest.approx(3.0)}
    assert "modelled power x measured time" in rows[1]["source"]


def test_compare_hw_html_is_self_contained_and_escaped(tmp_path, capsys):
    page = tmp_path / "hw.html"
    title = '<script>alert("x")</script> & co'
    code, out, err = _run(capsys, "compare-hw", "--design", "fspinn", "--neurons", "900", "--quant", "8bit",
                          "--vs-design", "baseline", "--html", str(page), "--title", title)
    assert code == 0, err
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "Plotly.newPlot" in html and "plotly.js v" in html  # plotly.js inlined, no CDN
    assert "<script src=" not in html and "<script type=\"text/javascript\" src=" not in html
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in html
    assert html.count("<tr>") == 1 + 10
    assert str(page) in out
