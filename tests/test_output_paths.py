"""Issue #11, F3 and F4: path mistakes are one line, and an unwritable --out is found before the work.

F3: an existing folder given as a file, a regular file where a folder must
be (also inside a SQLite URL), for report, explore and worker. F4: a folder
that cannot be written, even by root (/proc), is refused by train, explore,
measure and calibrate before they train, search or measure anything.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.damaged_runs import TINY, assert_one_line_exit_2, run_cli, write_tiny_data

SYN = ["--budget-mb", "1", "--evaluator", "synthetic", "--quiet", "--space", "design=fspinn",
       "--space", "neurons=100..300", "--fidelities", "1"]
STUDY = "paths"


@pytest.fixture()
def study(tmp_path, capsys, monkeypatch):
    """A finished synthetic study in a SQLite file, a regular file, an existing folder; cwd is tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DSE_STORAGE", raising=False)
    url = f"sqlite:///{tmp_path / 's.db'}"
    code, _, err = run_cli(capsys, ["explore", *SYN, "--trials", "2", "--storage", url, "--study-name", STUDY,
                                    "--out", tmp_path / "first"])
    assert code == 0, err
    (tmp_path / "afile").write_text("a file, not a folder\n")
    (tmp_path / "runs").mkdir()
    return url


def test_report_into_an_existing_folder_is_one_line(study, tmp_path, capsys):
    assert_one_line_exit_2(*run_cli(capsys, ["report", STUDY, "--storage", study, "--out", "runs"]),
                           "--out runs", "is a folder")


def test_report_under_a_regular_file_is_one_line(study, tmp_path, capsys):
    assert_one_line_exit_2(*run_cli(capsys, ["report", STUDY, "--storage", study, "--out", "afile/r.html"]),
                           "--out afile/r.html", "not a folder")


@pytest.mark.parametrize("command", [
    ["explore", *SYN, "--trials", "1", "--out", "o"],
    ["worker", "--study-name", STUDY],
    ["report", STUDY, "--out", "r.html"],
])
def test_a_sqlite_file_under_a_regular_file_is_one_line(study, tmp_path, capsys, command):
    before = sorted(os.listdir(tmp_path))
    assert_one_line_exit_2(*run_cli(capsys, [*command, "--storage", "sqlite:///afile/x.db"]),
                           "--storage", "afile", "not a folder")
    assert sorted(os.listdir(tmp_path)) == before


# --------------------------------------------------------------------------- F4: found before the work

UNWRITABLE = Path("/proc/dse_run")  # not writable even by root


@pytest.fixture()
def unwritable():
    if not Path("/proc").is_dir():
        pytest.skip("no /proc: no folder here refuses root")
    return UNWRITABLE


def _quick_refusal(capsys, argv, *fragments) -> str:
    """Refused in one line naming the flag and the path, within seconds (before any training or search)."""
    t0 = time.perf_counter()
    err = assert_one_line_exit_2(*run_cli(capsys, argv), *fragments)
    assert time.perf_counter() - t0 < 20
    assert "Errno" not in err, err
    return err


def test_train_refuses_an_unwritable_out_before_training(unwritable, tmp_path, capsys):
    data = write_tiny_data(tmp_path / "data")
    _quick_refusal(capsys, ["train", *TINY, "--data-dir", data, "--out", unwritable], f"--out {unwritable}")


def test_explore_refuses_an_unwritable_out_before_searching(unwritable, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 's.db'}"
    _quick_refusal(capsys, ["explore", *SYN, "--trials", "1", "--storage", url, "--out", unwritable],
                   f"--out {unwritable}")
    assert not (tmp_path / "s.db").exists(), "the study was made before the output folder was checked"


def test_explore_refuses_an_unwritable_cache_before_searching(unwritable, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 's.db'}"
    _quick_refusal(capsys, ["explore", *SYN, "--trials", "1", "--storage", url, "--out", tmp_path / "o",
                            "--cache", unwritable], f"--cache {unwritable}")


def test_measure_refuses_an_unwritable_out_before_measuring(unwritable, capsys):
    _quick_refusal(capsys, ["measure", "--sizes", "10", "--images", "2", "--repeats", "1", "--out", unwritable],
                   f"--out {unwritable}")


def test_calibrate_refuses_an_unwritable_out_before_fitting(unwritable, tmp_path, capsys):
    meas = tmp_path / "m.json"
    meas.write_text('{"kind": "measurements", "records": []}')
    _quick_refusal(capsys, ["calibrate", meas, "--profile", "cpu", "--out", unwritable / "c.toml"],
                   f"--out {unwritable / 'c.toml'}")
