"""Open the HTML report in headless Chromium, offline: every plot renders, no console errors, a screenshot.

Skips when Chromium is not installed (CI installs Debian's `chromium` package).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings

import optuna
import pytest

from dse.report.build import report_data
from dse.report.html import FIGURE_IDS, write_report
from dse.search.explore import explore
from dse.search.objectives import Budgets, ExploreSettings
from dse.search.space import DEFAULT_SPACE
from dse.search.synthetic import SyntheticEvaluator

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


def _chromium(profile_dir, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
             "--disable-default-apps", f"--user-data-dir={profile_dir}",
             "--host-resolver-rules=MAP * ~NOTFOUND",  # no network: the page must work offline
             "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


def _console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_report_renders_every_plot_without_console_errors(tmp_path):
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = DEFAULT_SPACE.restricted({"neurons": "100..1000", "vmem_bits": "32", "vth_bits": "32"})
    result = explore(ExploreSettings(Budgets(memory_mb=0.6, energy_mj=250.0), space=space), SyntheticEvaluator(),
                     storage=None, study_name="<script>alert(1)</script>", n_trials=10)
    report = write_report(tmp_path / "report.html", report_data(result))

    dom = _chromium(tmp_path / "profile", "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    for fig_id in FIGURE_IDS:
        start = page.find(f'id="{fig_id}"')
        assert start >= 0, f"{fig_id} missing"
        following = [page.find(f'id="{other}"', start + 1) for other in FIGURE_IDS]
        end = min([p for p in following if p > start] or [len(page)])
        assert 'class="main-svg"' in page[start:end], f"{fig_id} did not render"
    # the study name stays text: no script element was made of it
    assert "<script>alert(1)</script>" not in page
    messages = _console_messages(dom.stderr)
    errors = [m for m in messages if re.search(r"Uncaught|Error|error", m)]
    assert not errors, errors

    shot = tmp_path / "report.png"
    snap = _chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,4000", report.as_uri())
    assert snap.returncode == 0, snap.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert shot.parent == report.parent  # next to the report


def _renders(page_uri: str, profile_dir, plots: int) -> str:
    """The DOM after the page ran: ``plots`` plotly figures drawn, no console errors."""
    dom = _chromium(profile_dir, "--dump-dom", page_uri)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('class="main-svg"') >= plots, "a plot did not render"
    errors = [m for m in _console_messages(dom.stderr) if re.search(r"Uncaught|Error|error", m)]
    assert not errors, errors
    return dom.stdout


def test_compare_hw_page_renders_with_the_terminal_units(tmp_path):
    from dse.cli.main import main

    page = tmp_path / "hw.html"
    assert main(["compare-hw", "--design", "fspinn", "--neurons", "400", "--quant", "8bit", "--vs-design",
                 "baseline", "--profiles", "cpu,jetson-nano,a100", "--html", str(page)]) == 0
    dom = _renders(page.as_uri(), tmp_path / "profile", 1)
    # the axis titles and table cells carry mJ and ms, as the terminal does; no bare J or s columns
    assert "energy per image (mJ)" in dom and "time per image (ms)" in dom
    assert " ms<" in dom and " mJ<" in dom
    shot = tmp_path / "hw.png"
    snap = _chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,1400", page.as_uri())
    assert snap.returncode == 0 and shot.stat().st_size > 10_000


def test_a_real_search_report_renders_its_weights_and_measured_labels(tmp_path):
    """A tiny real search on the bundled subset: its report shows the weights image and says measured."""
    import sys

    run = subprocess.run([sys.executable, "-m", "dse", "explore", "--budget-mb", "1", "--trials", "2",
                          "--train-samples", "60", "--assign-samples", "60", "--test-samples", "60",
                          "--fidelities", "1", "--min-accuracy", "0", "--jobs", "1", "--quiet",
                          "--space", "design=fspinn", "--space", "neurons=10..20:10", "--space", "rho=2",
                          "--space", "window_steps=50", "--storage", f"sqlite:///{tmp_path / 'e.db'}",
                          "--study-name", "real", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    dom = _renders((tmp_path / "out" / "report.html").as_uri(), tmp_path / "profile", len(FIGURE_IDS))
    assert "accuracy is measured on the test set" in dom and "synthetic" not in dom
    assert 'class="weights"' in dom and "data:image/png;base64," in dom
    assert "Confusion matrix (test set)" in dom
