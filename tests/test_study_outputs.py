"""Issue #11, F5, F6 and F7: studies made at once, output folders of one study, default study names.

F5: two `dse explore` started together on a new SQLite file both succeed
(the second joins the study the first made), on every one of several tries.
F6: an output folder belongs to the study that wrote it; another study's
outputs are never overwritten (also when the default reports/STUDY of two
storages coincide). F7: the README's synthetic try-out and its main job, run
in one folder, are two studies, not a conflict.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from tests.damaged_runs import CLI_MAIN, assert_one_line_exit_2, run_cli, write_tiny_data

SYN = ["--budget-mb", "1", "--evaluator", "synthetic", "--quiet", "--space", "design=fspinn",
       "--space", "neurons=100..300", "--fidelities", "1"]


@pytest.fixture()
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DSE_STORAGE", raising=False)
    return tmp_path


# --------------------------------------------------------------------------- F5


def test_two_explores_starting_together_on_a_new_sqlite_file_both_succeed(cwd):
    env = {k: v for k, v in os.environ.items() if k != "DSE_STORAGE"}
    for attempt in range(3):  # before the fix, the second process lost the race 6 times in 9
        url = f"sqlite:///{cwd / f'new-{attempt}.db'}"
        procs = [subprocess.Popen([sys.executable, "-c", CLI_MAIN, "explore", *SYN, "--trials", "1", "--storage",
                                   url, "--study-name", "race", "--out", str(cwd / f"out-{attempt}-{k}")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for k in range(2)]
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, f"try {attempt}: exit {proc.returncode}: {err}"


# --------------------------------------------------------------------------- F6


def _explore(capsys, *extra):
    return run_cli(capsys, ["explore", *SYN, "--trials", "2", *extra])


def test_an_output_folder_of_one_study_is_refused_to_another(cwd, capsys):
    code, _, err = _explore(capsys, "--study-name", "first", "--out", "shared")
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in (cwd / "shared").iterdir()}
    err = assert_one_line_exit_2(*_explore(capsys, "--study-name", "second", "--out", "shared"),
                                 "--out shared", "first", "choose another --out")
    assert {p.name: p.read_bytes() for p in (cwd / "shared").iterdir()} == before
    assert "second" not in json.loads((cwd / "shared" / "pareto.json").read_text())["study"]
    # the owning study writes there again when it is resumed
    code, _, err = _explore(capsys, "--study-name", "first", "--out", "shared")
    assert code == 0, err


def test_the_default_folder_of_a_study_in_another_storage_is_refused(cwd, capsys):
    code, out, err = _explore(capsys, "--storage", "sqlite:///a.db")
    assert code == 0, err
    name = out.split("study '")[1].split("'")[0]
    before = (cwd / "reports" / name / "trials.csv").read_bytes()
    assert_one_line_exit_2(*_explore(capsys, "--storage", "sqlite:///b.db"), f"reports/{name}", "a.db")
    assert (cwd / "reports" / name / "trials.csv").read_bytes() == before
    # nor does `dse report` of the other storage's study write into it
    assert_one_line_exit_2(*run_cli(capsys, ["report", name, "--storage", "sqlite:///b.db"]), "a.db")


def test_a_folder_written_before_owner_markers_still_belongs_to_its_study(cwd, capsys):
    code, _, err = _explore(capsys, "--study-name", "old", "--out", "legacy")
    assert code == 0, err
    for marker in (cwd / "legacy").glob(".dse-owner*"):
        marker.unlink()
    assert_one_line_exit_2(*_explore(capsys, "--study-name", "new", "--out", "legacy"), "legacy", "'old'")


def test_a_sweep_folder_of_other_settings_is_refused_not_reused(cwd, capsys, tmp_path):
    data = write_tiny_data(tmp_path / "data")
    argv = ["sweep-bits", "--designs", "fspinn", "--bits", "8", "--train-samples", "40", "--test-samples", "40",
            "--data-dir", str(data), "--out", "s"]
    code, _, err = run_cli(capsys, [*argv, "--neurons", "10"])
    assert code == 0, err
    before = (cwd / "s" / "sweep-ptq-nearest.csv").read_bytes()
    assert_one_line_exit_2(*run_cli(capsys, [*argv, "--neurons", "12"]), "--out s", "neurons")
    assert (cwd / "s" / "sweep-ptq-nearest.csv").read_bytes() == before


# --------------------------------------------------------------------------- F7


def test_the_readme_try_out_does_not_block_the_main_job(cwd, capsys, tmp_path):
    """`dse explore --budget-mb 1 --evaluator synthetic`, then `dse explore --budget-mb 1`: two studies."""
    data = write_tiny_data(tmp_path / "data")
    tiny = ["--trials", "1", "--fidelities", "1", "--space", "design=fspinn", "--space", "neurons=10",
            "--space", "weights_bits=32", "--space", "inh_bits=32", "--space", "vmem_bits=32",
            "--space", "vth_bits=32", "--data-dir", str(data), "--train-samples", "40", "--assign-samples", "40",
            "--test-samples", "40", "--quiet", "--min-accuracy", "0"]  # a network this small is below any floor
    code, out_try, err = run_cli(capsys, ["explore", "--budget-mb", "1", "--evaluator", "synthetic", *tiny])
    assert code == 0, err
    code, out_main, err = run_cli(capsys, ["explore", "--budget-mb", "1", *tiny])
    assert code == 0, err
    names = [o.split("study '")[1].split("'")[0] for o in (out_try, out_main)]
    assert names[0] != names[1] and "synthetic" in names[0] and "synthetic" not in names[1]
    rows = list(csv.DictReader(open(cwd / "reports" / names[1] / "trials.csv")))
    assert rows and rows[0]["status"] == "complete"
