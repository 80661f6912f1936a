"""`dse export` refuses bad input in one line (exit 2) and never leaves a half-written folder."""

from __future__ import annotations

import json
import shutil

import pytest

from dse.cli.main import main
from dse.export import codegen, toolchain
from dse.export.writer import export_run
from tests.export_runs import fp32_run, quantized_run


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("export-runs-cli")


def _fails(capsys, *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_fp32_run_is_refused_with_how_to_quantize(root, tmp_path, capsys):
    out = tmp_path / "c"
    err = _fails(capsys, "export", str(fp32_run(root, "fspinn")), "--target", "c", "--out", str(out))
    assert "FP32 run" in err and "dse quantize" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_existing_folder_is_not_touched(root, tmp_path, capsys):
    out = tmp_path / "c"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    err = _fails(capsys, "export", str(quantized_run(root, "fspinn")), "--target", "c", "--out", str(out))
    assert "already exists" in err and "--out" in err
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("argv,fragment", [
    (["--images", "0"], "--images"),
    (["--images", "x"], "--images"),
    (["--target", "rust"], "--target"),
    (["--core", "cortex-m0"], "--core"),
])
def test_bad_flags(argv, fragment, root, tmp_path, capsys):
    err = _fails(capsys, "export", str(quantized_run(root, "fspinn")), "--target", "c", "--out",
                 str(tmp_path / "c"), *argv)
    assert fragment in err
    assert not (tmp_path / "c").exists()


def test_missing_or_broken_run_folders(root, tmp_path, capsys):
    err = _fails(capsys, "export", str(tmp_path / "nope"), "--target", "c", "--out", str(tmp_path / "c"))
    assert "nope" in err
    broken = tmp_path / "broken"
    shutil.copytree(quantized_run(root, "fspinn"), broken)
    shutil.copy(fp32_run(root, "fspinn") / "weights.npz", broken / "weights.npz")  # float weights, 8-bit manifest
    err = _fails(capsys, "export", str(broken), "--target", "c", "--out", str(tmp_path / "c"))
    assert "weights.npz" in err and "float32" in err
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["data"]["sha256"] = "0" * 64
    shutil.copy(quantized_run(root, "fspinn") / "weights.npz", broken / "weights.npz")
    (broken / "manifest.json").write_text(json.dumps(manifest))
    err = _fails(capsys, "export", str(broken), "--target", "c", "--out", str(tmp_path / "c"))
    assert "trained on data" in err and "--data-dir" in err
    assert not (tmp_path / "c").exists()


def test_a_failure_midway_leaves_nothing_behind(root, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(codegen, "images_header", broken)
    with pytest.raises(RuntimeError):
        export_run(quantized_run(root, "fspinn"), tmp_path / "c", images=2)
    assert list(tmp_path.iterdir()) == []


def test_report_without_the_cross_compiler_refuses_before_writing(root, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(toolchain, "cross_toolchain_missing", lambda core="cortex-m4": "arm-none-eabi-gcc is gone")
    err = _fails(capsys, "export", str(quantized_run(root, "fspinn")), "--target", "c", "--out",
                 str(tmp_path / "c"), "--report")
    assert "--report" in err and "arm-none-eabi-gcc" in err
    assert not (tmp_path / "c").exists()


def test_json_output_describes_the_export(root, tmp_path, capsys):
    run = quantized_run(root, "sl-stdp")
    capsys.readouterr()
    assert main(["export", str(run), "--target", "c", "--out", str(tmp_path / "c"),
                 "--images", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["export"]
    assert doc["design"] == "sl-stdp" and doc["images"] == 3 and len(doc["engine_predictions"]) == 3
    assert doc["quantization"]["spec"] == "weights=Q0.8,inh=Q6.2,vmem=sQ7.0,vth=sQ7.0"
    assert sorted(p.relative_to(tmp_path / "c").as_posix() for p in (tmp_path / "c").rglob("*")
                  if p.is_file()) == doc["files"]
