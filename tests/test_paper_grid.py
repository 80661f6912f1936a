"""bench/paper_grid.py: one JSON line per cell, resumable, interrupted cells redone, bad input exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dse.data import idx as data
from tests.bench_scripts import load_bench_script


@pytest.fixture(scope="module")
def grid():
    return load_bench_script("paper_grid")


@pytest.fixture()
def data_dir(tmp_path):
    """Tiny synthetic MNIST and Fashion-MNIST (blobs of bright pixels, labels 0-9 in turn)."""
    rng = np.random.default_rng(0)
    for name in ("mnist", "fashion-mnist"):
        d = tmp_path / "data" / name
        d.mkdir(parents=True)
        for stem, n in (("train", 60), ("t10k", 30)):
            images = (rng.random((n, 28, 28)) > 0.8).astype(np.uint8) * 255
            data.write_idx(d / f"{stem}-images-idx3-ubyte.gz", images)
            data.write_idx(d / f"{stem}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    return tmp_path / "data"


def _args(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["--data-dir", str(data_dir), "--out", str(out), "--sizes", "4", "6", "--designs", "fspinn",
            "baseline", "--datasets", "mnist", *extra]


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "grid.jsonl").read_text().splitlines()]


def test_grid_writes_one_row_per_cell_and_resumes(grid, data_dir, tmp_path, capsys):
    out = tmp_path / "grid"
    assert grid.main(_args(data_dir, out)) == 0
    first = capsys.readouterr().out
    rows = _rows(out)
    assert sorted(r["cell"] for r in rows) == sorted(
        ["mnist/fspinn/4", "mnist/baseline/4", "mnist/fspinn/6", "mnist/baseline/6"])
    row = rows[0]
    lo, hi = row["accuracy_ci95"]
    assert 0 <= lo <= row["accuracy"] <= hi <= 1
    assert row["n_test"] == 30 and row["n_train"] == 60 and row["wall_s"] > 0 and row["cpu_s"] > 0
    assert row["health"]["status"] in ("ok", "silent", "saturated")
    assert row["command"].startswith("dse train --design ") and "--neurons" in row["command"]
    # rows are committed: the machine's data folder never appears, DATA stands for it
    assert "--data-dir DATA/mnist" in row["command"] and str(data_dir) not in row["command"]
    assert str(tmp_path) not in json.dumps(row) and row["run_dir"].startswith("runs/")  # nor its grid folder
    assert row["code_version"] and row["machine"]["cpu_count"]
    assert "[1/4]" in first and "| N | fspinn (ours) | baseline (ours) |" in first
    assert "4/4 cells measured" in first
    cpu = sum(r["cpu_s"] for r in rows)
    assert f"process CPU time of the 4 cells that recorded it: {cpu:,.0f} s" in first
    assert "logical CPUs), 4 cells; 1-minute load average" in first

    # A rerun skips every finished cell and writes nothing new.
    assert grid.main(_args(data_dir, out)) == 0
    again = capsys.readouterr().out
    assert again.count("done already, skipped") == 4
    assert len(_rows(out)) == 4


def test_table_describes_only_the_cells_it_shows(grid, data_dir, tmp_path, capsys):
    """A row of a recipe since changed stays in grid.jsonl but is neither a cell nor a measured machine."""
    out = tmp_path / "grid"
    assert grid.main(_args(data_dir, out, "--sizes", "4")) == 0
    stale = dict(_rows(out)[0], config_digest="0" * 16, machine={"cpu": "Old CPU", "cpu_count": "8",
                                                                  "load_average_start": 0.0,
                                                                  "load_average_end": 0.0})
    with (out / "grid.jsonl").open("a") as fh:
        fh.write(json.dumps(stale) + "\n")
    capsys.readouterr()
    assert grid.main(_args(data_dir, out, "--sizes", "4", "--table")) == 0
    text = capsys.readouterr().out
    assert "2/2 cells measured" in text and "logical CPUs), 2 cells;" in text
    assert "Old CPU" not in text


def test_interrupted_cell_is_redone(grid, data_dir, tmp_path, capsys):
    out = tmp_path / "grid"
    assert grid.main(_args(data_dir, out)) == 0
    rows = _rows(out)
    victim = rows[-1]
    # Lose the last row, leave a half-written run folder and a cut-off line behind.
    kept = [json.dumps(r, sort_keys=True) for r in rows[:-1]]
    (out / "grid.jsonl").write_text("\n".join(kept) + "\n" + '{"cell": "mnist/fsp')
    run_dir = out / victim["run_dir"]
    shutil.rmtree(run_dir)
    run_dir.mkdir()
    (run_dir / "checkpoint.json").write_text("{}")
    capsys.readouterr()
    assert grid.main(_args(data_dir, out)) == 0
    text = capsys.readouterr().out
    assert "redoing an interrupted run" in text and "not a complete JSON line" in text
    redone = [r for r in grid.read_rows(out / "grid.jsonl") if r["cell"] == victim["cell"]]
    assert len(redone) == 1 and redone[0]["accuracy"] == victim["accuracy"]  # same seed, same result


def test_finished_run_without_row_is_recorded_from_its_manifest(grid, data_dir, tmp_path, capsys):
    out = tmp_path / "grid"
    assert grid.main(_args(data_dir, out)) == 0
    rows = _rows(out)
    (out / "grid.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:-1]))
    assert grid.main(_args(data_dir, out)) == 0
    last = _rows(out)[-1]
    assert last["cell"] == rows[-1]["cell"] and last["wall_source"] == "manifest timings"


def test_changed_recipe_reruns_cells(grid, data_dir, tmp_path, capsys):
    out = tmp_path / "grid"
    assert grid.main(_args(data_dir, out, "--sizes", "4", "--designs", "fspinn")) == 0
    assert grid.main(_args(data_dir, out, "--sizes", "4", "--designs", "fspinn",
                           "--set", "plasticity.eta_post=0.02")) == 0
    rows = _rows(out)
    assert len(rows) == 2 and rows[0]["config_digest"] != rows[1]["config_digest"]
    assert "--set plasticity.eta_post=0.02" in rows[1]["command"]


def test_a_cell_running_in_another_process_is_left_to_it(grid, data_dir, tmp_path, capsys):
    """Processes share the grid: a cell whose lock another process holds is skipped, then run once free."""
    import argparse

    from dse.search.cachefolders import key_lock

    out = tmp_path / "grid"
    ns = argparse.Namespace(out=str(out), seed=0, set=[], train_samples=None, test_samples=None)
    busy = grid.cell_dir(ns, "mnist", "baseline", 6, grid.config_digest(ns, "baseline", 6)).with_suffix(".lock")
    busy.parent.mkdir(parents=True)
    with key_lock(busy):  # another open file holding the lock: as another process would
        assert grid.main(_args(data_dir, out)) == 0
    assert "mnist/baseline/6: running in another process, skipped" in capsys.readouterr().out
    assert sorted(r["cell"] for r in _rows(out)) == ["mnist/baseline/4", "mnist/fspinn/4", "mnist/fspinn/6"]
    assert grid.main(_args(data_dir, out)) == 0
    assert "mnist/fspinn/4: done already, skipped" in capsys.readouterr().out
    assert sorted(r["cell"] for r in _rows(out)) == ["mnist/baseline/4", "mnist/baseline/6", "mnist/fspinn/4",
                                                     "mnist/fspinn/6"]


def test_a_cell_finished_by_another_process_meanwhile_is_not_run_again(grid, data_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "grid"
    real, ran = grid.run_cell, []

    def run_and_let_another_process_finish_the_last(args, dataset, design, neurons, digest):
        row = real(args, dataset, design, neurons, digest)
        ran.append(row["cell"])
        if len(ran) == 1:  # meanwhile "another process" finishes the last cell of the list
            last = grid.cell_order(args)[-1]
            other = dict(row, cell=grid.cell_id(last[1], last[2], last[0]), dataset=last[1], design=last[2],
                         neurons=last[0], config_digest=grid.config_digest(args, last[2], last[0]))
            grid.append_row(Path(args.out) / "grid.jsonl", other)
        return row

    monkeypatch.setattr(grid, "run_cell", run_and_let_another_process_finish_the_last)
    assert grid.main(_args(data_dir, out)) == 0
    assert len(ran) == 3 and len(_rows(out)) == 4
    assert "done already, skipped" in capsys.readouterr().out


def test_cell_key_leaves_out_a_key_that_cannot_act_at_its_size(grid):
    """tau_theta_max_neurons changes nothing at or below its size: those cells keep their key, larger ones change."""
    import argparse

    def digest(design, n, *sets):
        return grid.config_digest(argparse.Namespace(set=list(sets), train_samples=None, test_samples=None), design, n)

    without = "excitatory.tau_theta_max_neurons=0"
    assert digest("baseline", 900) == digest("baseline", 900, without)
    assert digest("baseline", 1000) == digest("baseline", 1000, without)
    assert digest("baseline", 1600) != digest("baseline", 1600, without)
    assert digest("baseline", 900) != digest("baseline", 900, "plasticity.eta_post=0.02")


def test_an_engine_that_trains_differently_makes_every_cell_stale(grid, monkeypatch):
    """models.constants.ENGINE_REVISION is in each cell's key (and in the search cache's keys)."""
    import argparse

    from dse.search import evaluate

    ns = argparse.Namespace(set=[], train_samples=None, test_samples=None)
    before = grid.config_digest(ns, "fspinn", 400), evaluate.cache_key({"kind": "train"})
    monkeypatch.setattr(grid, "ENGINE_REVISION", grid.ENGINE_REVISION + 1)
    monkeypatch.setattr(evaluate, "ENGINE_REVISION", evaluate.ENGINE_REVISION + 1)
    after = grid.config_digest(ns, "fspinn", 400), evaluate.cache_key({"kind": "train"})
    assert before[0] != after[0] and before[1] != after[1]


@pytest.mark.parametrize("extra, needle", [
    (("--designs", "nope"), "unknown design"),
    (("--datasets", "cifar"), "unknown data set"),
    (("--sizes", "0"), "--sizes must be positive"),
    (("--set", "plasticity.nope=1"), "unknown key"),
    (("--shard", "2/2"), "--shard 2/2"),
])
def test_bad_input_is_one_line_and_exit_2(grid, data_dir, tmp_path, capsys, extra, needle):
    assert grid.main(_args(data_dir, tmp_path / "g", *extra)) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_missing_data_folder_is_bad_input(grid, tmp_path, capsys):
    assert grid.main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "g")]) == 2
    assert "no folder 'mnist'" in capsys.readouterr().err


def test_table_only_prints_paper_figures(grid, tmp_path, capsys):
    assert grid.main(["--out", str(tmp_path / "empty"), "--table"]) == 0
    text = capsys.readouterr().out
    assert "| 400 | - | - | - | 95.6% | 88.4% |" in text      # Fig. 13a: FSpiNN 95.6, +7.2 over baseline
    assert "| 3600 | - | - | - | 64.4% | 37.4% |" in text     # Fig. 14a: 64.4, +27.0
    assert "0/42 cells measured" in text


def test_cells_run_cheapest_first_and_shards_split_them(grid):
    ap = type("A", (), {})()
    ap.sizes, ap.datasets = [100, 400], ["mnist", "fashion-mnist"]
    ap.designs, ap.order = ["baseline", "fspinn"], "cost"
    ap.shard = (0, 1)
    order = grid.cell_order(ap)
    assert order[0] == (100, "mnist", "fspinn") and order[-1] == (400, "fashion-mnist", "baseline")
    ap.shard = (0, 2)
    first = grid.cell_order(ap)
    ap.shard = (1, 2)
    assert sorted(first + grid.cell_order(ap)) == sorted(order) and len(first) == 4
