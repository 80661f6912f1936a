"""Issue #11, F2: a full disk fails in one line naming the flag and the path, and loses nothing.

Each case runs on a small tmpfs mounted for the test (root, or CAP_SYS_ADMIN,
is needed; elsewhere the cases are skipped and say why). A training keeps
its last checkpoint and `--resume` finishes it, once space is freed, to the
result of an uninterrupted run; a search keeps its study, and the same
command writes the outputs once space is freed; a full SQLite storage stops
the search in one line and keeps every finished trial.
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from tests.damaged_runs import (TINY, assert_fails_in_one_line, assert_one_line_exit_2, run_cli, same_run,
                                write_tiny_data)

SYN = ["--budget-mb", "1", "--evaluator", "synthetic", "--quiet", "--space", "design=fspinn",
       "--space", "neurons=100..300", "--fidelities", "1"]


class SmallDisk:
    """A tmpfs of a given size at ``path``: ``fill`` leaves a few KiB free, ``grow`` frees space."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ballast = path / "ballast"

    def mount(self, size: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(self.path)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {proc.stderr.strip()}")

    def grow(self, size: str = "8M") -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)], check=True)
        self.ballast.unlink(missing_ok=True)

    def fill(self, leave_kib: int) -> None:
        free_kib = int(subprocess.run(["df", "-k", "--output=avail", str(self.path)], capture_output=True,
                                      text=True, check=True).stdout.split()[-1])
        with open(self.ballast, "wb") as f:
            f.write(bytes(max(0, free_kib - leave_kib) * 1024))

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


@pytest.fixture()
def disk(tmp_path):
    d = SmallDisk(tmp_path / "disk")
    yield d
    d.unmount()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_tiny_data(tmp_path_factory.mktemp("disk-full") / "data")


# --------------------------------------------------------------------------- training


@pytest.mark.parametrize("epochs, kept", [
    # 80 images: the trained network fits, the results (weights, image, manifest) do not
    (["--epochs", "2"], "the trained network is kept as a checkpoint"),
    # 5100 images: the checkpoint after 5000 (at the end of that epoch) fits, a second one does not
    (["--train-samples", "60", "--epochs", "85"], "the checkpoint at image 5040 of 5100 is kept"),
])
def test_training_on_a_full_disk_keeps_a_checkpoint_that_resume_finishes(disk, data, tmp_path, capsys, epochs,
                                                                          kept):
    argv = ["train", *TINY, *epochs, "--data-dir", data]
    whole = tmp_path / "whole"
    code, _, err = run_cli(capsys, [*argv, "--out", whole])
    assert code == 0, err
    disk.mount("64k")  # a checkpoint of 10 neurons is 36 KiB with its JSON; an atomic replacement needs twice that
    cut = disk.path / "run"
    err = assert_fails_in_one_line(*run_cli(capsys, [*argv, "--out", cut]), f"--out {cut}",
                                   "No space left on device", kept)
    assert "--resume" in err and not (cut / "manifest.json").exists()
    assert not [p.name for p in cut.iterdir() if p.name.endswith(".tmp")], "temporary files left behind"
    disk.grow()
    code, _, err = run_cli(capsys, [*argv, "--out", cut, "--resume"])
    assert code == 0, err
    assert same_run(cut, whole)


def test_training_refuses_a_disk_already_full_before_any_work(disk, data, capsys):
    disk.mount("1m")
    disk.fill(leave_kib=0)
    out = disk.path / "run"
    err = assert_one_line_exit_2(*run_cli(capsys, ["train", *TINY, "--data-dir", data, "--out", out]), "--out")
    assert "No space left on device" in err and not out.exists()


# --------------------------------------------------------------------------- the search


def test_explore_outputs_on_a_full_disk_keep_the_study(disk, tmp_path, capsys):
    disk.mount("32k")  # trials.csv and pareto.json fit; the report (plotly inlined, megabytes) does not
    out = disk.path / "out"
    argv = ["explore", *SYN, "--trials", "3", "--storage", f"sqlite:///{tmp_path / 's.db'}", "--out", out]
    err = assert_one_line_exit_2(*run_cli(capsys, argv), f"--out {out}", "No space left on device")
    assert "rerun the same command" in err
    disk.grow()
    code, stdout, err = run_cli(capsys, argv)
    assert code == 0, err
    assert (out / "report.html").stat().st_size > 0
    rows = list(csv.DictReader(open(out / "trials.csv")))
    sampled = [r for r in rows if r["sibling_of"] == ""]  # PTQ siblings of the trainings come on top
    assert len(sampled) == 3, "the finished study was searched again"


def test_a_full_cache_stops_the_search_and_its_trial_runs_again(disk, data, tmp_path, capsys):
    disk.mount("64k")  # a network of 10 neurons, trained into the cache, does not fit
    tiny = ["--trials", "1", "--fidelities", "1", "--space", "design=fspinn", "--space", "neurons=10", "--space", "exit_margin=0",
            "--space", "weights_bits=32", "--space", "inh_bits=32", "--space", "vmem_bits=32", "--space",
            "vth_bits=32", "--data-dir", data, "--train-samples", "40", "--assign-samples", "40",
            "--test-samples", "40", "--quiet", "--min-accuracy", "0",  # a network this small is below any floor
            "--jobs", "1"]  # with two processes the second may pop the retry before the first one's stop ends the search
    argv = ["explore", "--budget-mb", "1", *tiny, "--storage", f"sqlite:///{tmp_path / 's.db'}",
            "--out", tmp_path / "out", "--cache", disk.path / "cache"]
    err = assert_fails_in_one_line(*run_cli(capsys, argv), f"--cache {disk.path / 'cache'}",
                                   "No space left on device")
    assert "rerun the same command" in err
    disk.grow()
    code, _, err = run_cli(capsys, argv)
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "out" / "trials.csv")))
    assert [r["status"] for r in rows] == ["failed", "complete"]  # the stopped trial, then its candidate again
    assert (rows[0]["design"], rows[0]["neurons"]) == (rows[1]["design"], rows[1]["neurons"])


def test_a_full_sqlite_storage_stops_the_search_and_keeps_its_trials(disk, tmp_path, capsys):
    disk.mount("2m")
    url = f"sqlite:///{disk.path / 's.db'}"
    argv = ["explore", *SYN, "--storage", url, "--out", tmp_path / "out"]
    code, _, err = run_cli(capsys, [*argv, "--trials", "2"])
    assert code == 0, err
    disk.fill(leave_kib=64)
    assert_one_line_exit_2(*run_cli(capsys, [*argv, "--trials", "200"]), "--storage", url, "full")
    disk.grow()
    code, _, err = run_cli(capsys, [*argv, "--trials", "12"])
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "out" / "trials.csv")))
    complete = [r for r in rows if r["status"] in ("complete", "pruned")]
    assert len([r for r in complete if r["sibling_of"] == ""]) == 12  # PTQ siblings of the trainings on top
    numbers = [int(r["number"]) for r in rows]
    assert numbers == sorted(set(numbers)), "a trial number was recorded twice"
    doc = json.loads((tmp_path / "out" / "pareto.json").read_text())
    assert doc["summary"]["complete"] + doc["summary"]["pruned"] == len(complete)
