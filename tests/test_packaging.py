"""Python packaging conventions: one version, every dependency used, the files a wheel must carry, `python -m dse`."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import dse

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PACKAGE_DIRS = ("dse", "models", "hw_profiles")  # what installs as the dse package


def _requirement_name(spec: str) -> str:
    """'psycopg[binary]>=3.1' -> 'psycopg' (PEP 508 name, normalised)."""
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec.strip())
    assert name, spec
    return re.sub(r"[-_.]+", "-", name.group(0)).lower()


def _imported_top_level_modules() -> set[str]:
    names: set[str] = set()
    for folder in PACKAGE_DIRS:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names


def test_every_declared_runtime_dependency_is_imported_by_the_package():
    # distribution -> the top-level modules it installs (pillow -> PIL, nvidia-ml-py -> pynvml)
    provides: dict[str, set[str]] = {}
    for module, dists in metadata.packages_distributions().items():
        for dist in dists:
            provides.setdefault(_requirement_name(dist), set()).add(module)
    imported = _imported_top_level_modules()
    declared = [_requirement_name(spec) for spec in PYPROJECT["project"]["dependencies"]]
    unused = [name for name in declared if not provides.get(name, set()) & imported]
    assert not unused, f"declared in pyproject.toml but imported nowhere in the package: {unused}"


def test_the_check_finds_a_dependency_nothing_imports():
    provides = {_requirement_name(d) for ds in metadata.packages_distributions().values() for d in ds}
    assert "pooch" not in [_requirement_name(s) for s in PYPROJECT["project"]["dependencies"]]
    assert "pooch" not in _imported_top_level_modules()
    assert "numba" in provides and "numba" in _imported_top_level_modules()


def test_the_version_is_written_once():
    text = (REPO / "pyproject.toml").read_text()
    assert "version" in PYPROJECT["project"]["dynamic"] and "version" not in PYPROJECT["project"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "dse.__version__"}
    assert text.count(dse.__version__) == 0, "pyproject.toml repeats the version"
    assert metadata.version("snn-dse") == dse.__version__
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert f"## [{dse.__version__}]" in changelog or "## [Unreleased]" in changelog


def test_license_classifiers_and_typing_marker():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    assert "Typing :: Typed" in project["classifiers"] and project["keywords"]
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]  # PEP 639: the expression says it
    assert (REPO / "dse" / "py.typed").is_file()


def test_python_m_dse_help_lists_every_command():
    proc = subprocess.run([sys.executable, "-m", "dse", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for command in ("train", "evaluate", "quantize", "sweep-bits", "cost", "compare-hw", "measure", "calibrate",
                    "explore", "worker", "report", "bench", "data"):
        assert re.search(rf"^\s+{re.escape(command)}\s", proc.stdout, re.M), command
    version = subprocess.run([sys.executable, "-m", "dse", "--version"], capture_output=True, text=True, timeout=120)
    assert version.stdout.strip() == f"snn-dse {dse.__version__}"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to list the tracked files")
def test_the_wheel_carries_license_typing_marker_schemas_and_data(tmp_path):
    """Build a wheel from a copy of the tracked files (the checkout is left alone) and look inside."""
    pytest.importorskip("setuptools")
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, text=True, check=True).stdout.split()
    src = tmp_path / "src"
    for rel in tracked:
        if rel.split("/")[0] in (*PACKAGE_DIRS, "pyproject.toml", "README.md", "LICENSE") and (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / rel, src / rel)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("snn_dse-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in ("dse/py.typed", "dse/schemas/manifest-v1.schema.json", "dse/schemas/pareto-v1.schema.json",
                     "dse/models/designs/fspinn.toml",
                     "dse/hw_profiles/jetson-nano.toml", "dse/data/subset/manifest.json", "dse/cost/activity.toml"):
        assert expected in names, expected
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert any(n.startswith("dse/export/c/") and n.endswith(".c") for n in names)
    assert wheel.name.startswith(f"snn_dse-{dse.__version__}-")
