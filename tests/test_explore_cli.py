"""`dse explore` and `dse report` through the CLI: outputs, exit codes, one-line errors, resume, a real tiny run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dse.cli import explore as explore_cli
from dse.cli.main import main
from dse.search.synthetic import SyntheticEvaluator


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def synthetic(monkeypatch):
    """Replace training by the synthetic test double."""
    monkeypatch.setattr(explore_cli, "_make_evaluator", lambda args: SyntheticEvaluator())


@pytest.fixture()
def bundled_only(monkeypatch, tmp_path):
    from dse.data import locate

    monkeypatch.delenv("DSE_DATA_DIR", raising=False)
    monkeypatch.setattr(locate, "user_cache_dir", lambda: tmp_path / "no-cache")
    monkeypatch.setattr(locate, "SYSTEM_DATA_ROOT", tmp_path / "no-system", raising=False)


# --jobs 1: the trials run in this process, with the evaluator these tests put in place
SMALL = ["--space", "neurons=100..1000", "--space", "vmem_bits=32", "--space", "vth_bits=32", "--jobs", "1"]


def test_explore_prints_front_and_writes_outputs(tmp_path, capsys, synthetic, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(capsys, "explore", "--budget-mb", "1", "--budget-mj", "300", "--trials", "8", *SMALL)
    assert code == 0, err
    name = "mnist-1mb-300mj-inference-jetson-nano-optuna"
    assert f"study '{name}' in sqlite:///reports/explore.db" in out
    assert "Feasible Pareto set" in out and "selected #" in out
    folder = tmp_path / "reports" / name
    assert f"report: reports/{name}/report.html" in out
    assert (folder / "report.html").is_file() and (tmp_path / "reports" / "explore.db").is_file()
    doc = json.loads((folder / "pareto.json").read_text())
    assert doc["feasible"] and doc["selected"] and doc["settings"]["budgets"]["energy_mj"] == 300
    rows = list(csv.DictReader(open(folder / "trials.csv")))
    assert sum(r["status"] in ("complete", "pruned") and r["sibling_of"] == "" for r in rows) == 8
    assert all(r["feasible"] == "False" for r in rows if r["status"] != "complete")
    # the same command again resumes the finished study: no new trial
    code, out2, _ = _cli(capsys, "explore", "--budget-mb", "1", "--budget-mj", "300", "--trials", "8", *SMALL)
    assert code == 0 and "#" not in out2.split("trials:")[0].split("modelled)")[-1]
    assert len(list(csv.DictReader(open(folder / "trials.csv")))) == len(rows)
    # other budgets under the same name: one line, exit 2
    code, _, err = _cli(capsys, "explore", "--budget-mb", "2", "--study-name", name, "--trials", "8", *SMALL)
    assert code == 2 and err.count("\n") == 1 and "exists with other settings" in err
    # the report command rebuilds from the storage alone
    code, out, _ = _cli(capsys, "report", name, "--out", str(tmp_path / "again.html"), "--select", "reward", "--mu", "2")
    assert code == 0 and (tmp_path / "again.html").stat().st_size > 1_000_000
    assert "R = A - 2 x M" in out


def test_nothing_feasible_says_so_and_lists_closest(tmp_path, capsys, synthetic):
    code, out, _ = _cli(capsys, "explore", "--budget-mb", "0.001", "--trials", "2", *SMALL,
                        "--storage", f"sqlite:///{tmp_path / 's.db'}", "--out", str(tmp_path / "o"))
    assert code == explore_cli.EXIT_NOTHING_FEASIBLE
    assert "No feasible model" in out and "closest candidates" in out
    doc = json.loads((tmp_path / "o" / "pareto.json").read_text())
    assert doc["feasible"] is False and doc["closest"] and doc["selected"] is None


def test_show_space_and_bad_input(capsys):
    code, out, _ = _cli(capsys, "explore", "--show-space")
    assert code == 0 and "neurons" in out and "100..4900 step 100" in out and "window_steps" in out
    code, out, _ = _cli(capsys, "explore", "--show-space", "--budget-mb", "1", "--space", "design=fspinn")
    assert code == 0 and "neurons capped at" in out and "baseline" not in out
    for argv, needle in [(["explore"], "--budget-mb is required"),
                         (["explore", "--budget-mb", "0"], "must be a number > 0"),
                         (["explore", "--budget-mb", "1", "--space", "design=lenet"], "unknown value"),
                         (["explore", "--budget-mb", "1", "--space", "nonsense"], "NAME=VALUES"),
                         (["explore", "--budget-mb", "1", "--profile", "toaster"], "toaster"),
                         (["explore", "--budget-mb", "1", "--fidelities", "0.5,0.2"], "increase"),
                         (["report", "nope", "--storage", "sqlite:///:memory:"], "no study 'nope'")]:
        code, _, err = _cli(capsys, *argv)
        assert code == 2, (argv, err)
        assert needle in err and err.count("\n") == 1, (argv, err)


def test_incremental_and_grid_strategies(tmp_path, capsys, synthetic):
    url = f"sqlite:///{tmp_path / 's.db'}"
    code, out, err = _cli(capsys, "explore", "--budget-mb", "1", "--strategy", "incremental", *SMALL,
                          "--storage", url, "--out", str(tmp_path / "inc"))
    assert code == 0, err
    assert "mnist-1mb-inference-jetson-nano-incremental" in out
    code, _, err = _cli(capsys, "explore", "--budget-mb", "1", "--strategy", "grid", "--trials", "10", *SMALL,
                        "--storage", url, "--out", str(tmp_path / "grid"))
    assert code == 2 and "grid has" in err
    code, out, err = _cli(capsys, "explore", "--budget-mb", "1", "--strategy", "grid", "--storage", url,
                          "--space", "design=fspinn", "--space", "neurons=100..300", "--space", "weights_bits=8,32",
                          "--space", "inh_bits=32", "--space", "vmem_bits=32", "--space", "vth_bits=32",
                          "--space", "rounding=nearest", "--space", "rho=2", "--space", "window_steps=50",
                          "--space", "exit_margin=0", "--out", str(tmp_path / "grid"), "--quiet", "--jobs", "1")
    assert code == 0, err
    assert "8 complete" in out and "1 rejected" in out  # 3 sizes x (fp32, ptq, itq); FP32 Net300 breaks 1 MB


def test_study_name_with_markup_is_escaped_in_the_report(tmp_path, capsys, synthetic):
    evil = "<script>alert(1)</script>"
    code, out, err = _cli(capsys, "explore", "--budget-mb", "1", "--trials", "3", *SMALL, "--study-name", evil,
                          "--storage", f"sqlite:///{tmp_path / 's.db'}", "--quiet")
    assert code == 0, err
    html_text = (Path("reports") / "script-alert-1-script" / "report.html")
    try:
        page = html_text.read_text()
    finally:
        import shutil

        shutil.rmtree(Path("reports") / "script-alert-1-script", ignore_errors=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert evil not in page


def test_real_tiny_exploration_on_the_bundled_subset(tmp_path, capsys, bundled_only):
    """The real trainer behind a tiny space: FP32 fspinn only, a few dozen neurons, a few hundred images."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    argv = ["explore", "--budget-mb", "0.1", "--trials", "2", "--storage", url, "--cache", str(tmp_path / "cache"),
            "--out", str(tmp_path / "out"), "--fidelities", "100,200", "--assign-samples", "200", "--jobs", "1",
            "--min-accuracy", "0.2",
            "--test-samples", "100", "--space", "design=fspinn", "--space", "neurons=10..30:10",
            "--space", "weights_bits=32", "--space", "inh_bits=32", "--space", "vmem_bits=32",
            "--space", "vth_bits=32", "--space", "window_steps=50"]
    code, out, err = _cli(capsys, *argv)
    assert code == 0, err
    assert "bundled subset of MNIST" in out
    doc = json.loads((tmp_path / "out" / "pareto.json").read_text())
    sel = doc["selected"]
    assert sel["design"] == "fspinn" and 0 < sel["accuracy"] <= 1
    run = Path(sel["run_dir"])
    # a training, or its early-exit test (which names the training it tested)
    assert run.parent == tmp_path / "cache" and (run / "manifest.json").is_file()
    if run.name.startswith("exit-"):
        assert sel["exit_margin"] > 0
        run = run.parent / json.loads((run / "manifest.json").read_text())["source"]
    assert run.name.startswith("train-") and (run / "manifest.json").is_file()
    assert "weights.png" in (tmp_path / "out" / "report.html").read_text() or \
        "data:image/png;base64," in (tmp_path / "out" / "report.html").read_text()
    trained = {p.name for p in (tmp_path / "cache").iterdir()}
    assert not [n for n in trained if "partial" in n]
    # a second study over the same space reuses the cached trainings (its outputs go to a folder of its own)
    code, out, err = _cli(capsys, *argv, "--study-name", "again", "--out", str(tmp_path / "out-again"))
    assert code == 0, err
    assert "(trained" not in out and "(cached" in out
    assert {p.name for p in (tmp_path / "cache").iterdir()} == trained


def test_interrupted_explore_resumes_with_the_same_command(tmp_path, capsys, monkeypatch):
    class Interrupting(SyntheticEvaluator):
        def evaluate(self, c, train_images):
            if self.calls == 3:
                self.calls += 1
                raise KeyboardInterrupt
            return super().evaluate(c, train_images)

    monkeypatch.setattr(explore_cli, "_make_evaluator", lambda args: Interrupting())
    argv = ["explore", "--budget-mb", "1", "--trials", "4", *SMALL, "--storage", f"sqlite:///{tmp_path / 's.db'}",
            "--out", str(tmp_path / "o"), "--fidelities", "1"]
    code, _, err = _cli(capsys, *argv)
    assert code == 130 and "rerun the same command to resume" in err
    monkeypatch.setattr(explore_cli, "_make_evaluator", lambda args: SyntheticEvaluator())
    code, out, err = _cli(capsys, *argv)
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "o" / "trials.csv")))
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 1  # the interrupted trial; its candidate ran again right after
    key = ("design", "neurons", "weights_bits", "inh_bits", "scheme", "rounding")
    # run again by the rerun (after the trials already queued: the second start point, PTQ siblings)
    again = [r for r in rows[int(failed[0]["number"]) + 1:]
             if r["sibling_of"] == "" and [r[k] for k in key] == [failed[0][k] for k in key]]
    assert len(again) == 1 and again[0]["status"] == "complete"
    complete = [r for r in rows if r["status"] == "complete"]
    assert sum(r["sibling_of"] == "" for r in complete) == 4
    # the retry added the siblings still missing and none twice: no candidate is evaluated twice
    assert len({tuple(r[k] for k in (*key, "vmem_bits", "vth_bits", "rho", "window_steps", "exit_margin"))
                for r in complete}) \
        == len(complete)
