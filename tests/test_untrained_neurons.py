"""bench/untrained_neurons.py: a run's starting weights are redrawn exactly, so neurons never updated are found."""

from __future__ import annotations

import numpy as np
import pytest

from dse.runs.train import TrainConfig, train_run
from tests.bench_scripts import load_bench_script


@pytest.fixture(scope="module")
def untrained():
    return load_bench_script("untrained_neurons")


def test_fspinn_updates_only_winners_so_most_of_a_wide_layer_keeps_its_start(untrained, tmp_path):
    # 6 images, one winner per 50-step window (7 a presentation, more if an image is re-presented):
    # far fewer winner updates than 60 neurons need, so many never win.
    cfg = TrainConfig(design="fspinn", dataset="mnist", neurons=60, train_samples=6, test_samples=20,
                      assign_samples=20, seed=4)
    train_run(cfg, tmp_path / "run")
    config, now, start, theta, labels = untrained.load(tmp_path / "run")
    change = untrained.relative_change(now, start)
    updated = np.flatnonzero(change > 0)
    assert config["seed"] == 4 and now.shape == start.shape == (784, 60)
    # The redraw is exact: untouched columns equal the start to the last bit, the others moved.
    assert 1 <= updated.size < 60
    assert np.array_equal(now[:, change == 0], start[:, change == 0])
    text = untrained.report(tmp_path / "run")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "count" not in line]
    assert sum(int(r.split("|")[2]) for r in rows) == 60
    assert f"| never updated | {60 - updated.size} |" in text


def test_a_folder_that_is_not_a_run_is_one_line_and_exit_2(untrained, tmp_path, capsys):
    assert untrained.main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and err.count("\n") == 1
