"""Progress wherever stderr goes: plain periodic lines when it is not a terminal, rich bars when it is."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time

import pytest

from dse.cli.progress import (REPORT_PERIOD_S, RichProgress, SilentProgress, TextProgress, progress_for,
                              status_line, PhaseState)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_status_line_has_count_rate_accuracy_elapsed_and_time_left():
    state = PhaseState("train", total=5_000, done=2_000, done_at_start=0, started=0.0, running_accuracy=0.801)
    assert status_line(state, now=1.0) == ("training: 2,000/5,000 images (40%), 2,000 img/s, running accuracy 80.1%, "
                                           "1 s elapsed, about 2 s left")
    resumed = PhaseState("train", total=60_000, done=40_000, done_at_start=30_000, started=0.0)
    assert status_line(resumed, now=100.0) == ("training: 40,000/60,000 images (67%), 100 img/s, 1 min 40 s elapsed, "
                                               "about 3 min 20 s left")
    unknown = PhaseState("download", total=0, done=3_000_000, done_at_start=0, started=0.0)
    assert status_line(unknown, now=2.0) == "downloading: 3,000,000 bytes, 1.5 MB/s, 2 s elapsed"
    waiting = PhaseState("assign", total=1_000, done=0, done_at_start=0, started=0.0)
    assert status_line(waiting, now=3.2) == "assigning labels: 0/1,000 images (0%), 3 s elapsed"  # no rate yet


def test_a_search_shows_time_per_trial_and_ends_by_its_deadline():
    state = PhaseState("trials", total=25, done=5, done_at_start=0, started=0.0)
    assert status_line(state, now=100.0) == ("search: 5/25 trials (20%), 20 s per trial, 1 min 40 s elapsed, "
                                             "about 6 min 40 s left")
    state.deadline = 400.0  # --timeout: the search stops starting trials then
    assert status_line(state, now=100.0).endswith("about 5 min 00 s left")
    clock, lines = _Clock(), []
    sink = TextProgress(clock=clock, write=lines.append)
    sink.start("trials", 10)
    sink.limit("trials", 60)
    clock.now += 30
    sink.advance("trials", 1)
    sink.report_now()
    assert lines[-1] == "search: 1/10 trials (10%), 30 s per trial, 30 s elapsed, about 30 s left"


def test_rich_bars_show_the_same_time_left():
    with RichProgress() as bars:
        bars.start("trials", 10)
        bars.limit("trials", 3600)
        bars._phases["trials"].started -= 10  # 10 s ago
        bars.advance("trials", 5)
        (task,) = bars._progress.tasks
        left = bars._progress.columns[-1].render(task).plain
        assert task.fields["rate"] == "2 s per trial" and left == "~10 s left"


def test_text_progress_lines_at_start_while_running_and_at_the_end():
    clock, lines = _Clock(), []
    sink = TextProgress(clock=clock, write=lines.append)
    sink.start("sweep", 4)
    sink.start("train", 1_000, done=250)
    clock.now += 2
    sink.advance("train", 650, running_accuracy=0.5)
    sink.report_now()
    clock.now += 1
    sink.finish("train")
    sink.report_now()
    sink.start("download", 0)
    sink.advance("download", 2_500)
    sink.finish("download")
    assert lines[-2:] == ["downloading: size unknown, in bytes", "downloading: done, 2,500 bytes in 0 s"]
    assert lines[:-2] == [
        "sweep: 4 cells",
        "training: 1,000 images, resuming after 250",
        "sweep: 0/4 cells (0%), 2 s elapsed",
        "training: 650/1,000 images (65%), 200 img/s, running accuracy 50.0%, 2 s elapsed, about 2 s left",
        "training: done, 1,000 images in 3 s (250 img/s)",
        "sweep: 0/4 cells (0%), 3 s elapsed",  # a finished phase is no longer reported
    ]


def test_text_progress_reports_periodically_from_its_own_thread():
    lines: list[str] = []
    got_three = threading.Event()

    def write(line: str) -> None:
        lines.append(line)
        if len(lines) >= 4:
            got_three.set()

    with TextProgress(period_s=0.05, write=write) as sink:
        sink.start("test", 10)  # and never advanced: the thread still says it is alive
        assert got_three.wait(5)
    n = len(lines)
    time.sleep(0.2)
    assert len(lines) == n  # the thread stopped with the context
    assert all(line.startswith("testing: 0/10 images (0%), ") for line in lines[1:4])


def test_repeated_phase_reuses_its_rich_bar():
    with RichProgress() as bars:
        for total in (10, 20):
            bars.start("train", total)
            bars.advance("train", total // 2, running_accuracy=0.5)
            bars.finish("train")
        tasks = bars._progress.tasks
    assert len(tasks) == 1 and tasks[0].total == 20 and tasks[0].completed == 20


def test_the_sink_follows_stderr(monkeypatch):
    assert isinstance(progress_for(quiet=True), SilentProgress)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert isinstance(progress_for(), TextProgress)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    assert isinstance(progress_for(), RichProgress)


def test_piped_train_writes_progress_lines_and_no_bar(tmp_path):
    """`dse train ... 2>log`: plain lines with counts, no control codes; at most 10 s between lines."""
    proc = subprocess.Popen([sys.executable, "-m", "dse", "train", "--neurons", "20", "--train-samples", "600",
                             "--assign-samples", "300", "--test-samples", "300", "--out", str(tmp_path / "run")],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env=dict(os.environ, COLUMNS=""))
    stamped = []
    for line in proc.stderr:
        stamped.append((time.monotonic(), line.rstrip("\n")))
    assert proc.wait(timeout=600) == 0, stamped
    lines = [line for _, line in stamped]
    assert "\x1b" not in "".join(lines) and "\r" not in "".join(lines)
    for expected in ("training: 600 images", "training: done, 600 images in ", "assigning labels: 300 images",
                     "assigning labels: done, 300 images in ", "testing: 300 images", "testing: done, 300 images in "):
        assert any(line.startswith(expected) for line in lines), (expected, lines)
    times = [t for t, _ in stamped]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) <= 2 * REPORT_PERIOD_S, list(zip(gaps, lines[1:]))


@pytest.mark.parametrize("command", [["evaluate", "{run}"], ["quantize", "{run}", "--weights", "Q0.8", "--out", "{out}"]])
def test_evaluate_and_quantize_write_progress_lines(tmp_path, command, trained_tiny_run):
    args = [a.format(run=trained_tiny_run, out=tmp_path / "q") for a in command]
    proc = subprocess.run([sys.executable, "-m", "dse", *args, "--test-samples", "200"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "assigning labels: done, " in proc.stderr and "testing: done, 200 images in " in proc.stderr


@pytest.fixture(scope="module")
def trained_tiny_run(tmp_path_factory):
    from dse.runs.train import TrainConfig, train_run

    out = tmp_path_factory.mktemp("progress") / "run"
    train_run(TrainConfig(design="fspinn", dataset="mnist", neurons=10, train_samples=100, assign_samples=100,
                          test_samples=100), out)
    return out


@pytest.mark.parametrize("argv, outer", [
    (["sweep-bits", "--designs", "fspinn", "--neurons", "10", "--bits", "8", "--train-samples", "60",
      "--test-samples", "60", "--out", "{tmp}/sweep"], "sweep: 1 cell"),
    (["measure", "--designs", "fspinn", "--sizes", "10", "--grid", "sizes", "--images", "20", "--repeats", "2",
      "--out", "{tmp}/m"],
     "measuring: 2 cells"),
])
def test_sweep_and_measure_report_their_cells_and_each_phase(tmp_path, capsys, argv, outer):
    from dse.cli.main import main

    assert main([a.format(tmp=tmp_path) for a in argv]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == outer and err[-1].startswith(outer.split(":")[0] + ": done, ")
    if argv[0] == "sweep-bits":  # the cell's own training and evaluations, inside the sweep
        assert "training: 60 images" in err and "testing: 60 images" in err
    assert main([a.format(tmp=tmp_path) for a in argv] + ["--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_piped_explore_writes_trial_k_of_n_elapsed_and_time_left(tmp_path):
    """`dse explore 2>log`: a line after each evaluated trial with k/N, elapsed and time left, then a summary."""
    import re

    argv = [sys.executable, "-m", "dse", "explore", "--evaluator", "synthetic", "--synthetic-seconds", "0.05",
            "--budget-mb", "0.6", "--trials", "4", "--jobs", "1", "--storage", f"sqlite:///{tmp_path / 'e.db'}",
            "--study-name", "piped", "--out", str(tmp_path / "out")]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert run.returncode in (0, 1), run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.startswith("search:")]
    assert lines[0] == "search: 4 trials"
    counts = [int(m.group(1)) for ln in lines if (m := re.match(r"search: (\d)/4 trials \(\d+%\), .*elapsed", ln))]
    assert counts == sorted(counts) and counts[-1] == 4 and {1, 2, 3} <= set(counts), lines
    assert all("left" in ln for ln in lines if ln.startswith(("search: 1/4", "search: 2/4")))
    assert re.fullmatch(r"search: done, 4 trials in \d+ s \(.* per trial\)", lines[-1]), lines[-1]
    assert "\x1b[" not in run.stderr and "━" not in run.stderr  # no bar, no control codes in a log
    # a resumed study counts its earlier trials; --quiet says nothing
    again = subprocess.run([*argv[:argv.index("4")], "5", *argv[argv.index("4") + 1:], "--quiet"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode in (0, 1), again.stderr
    assert "search:" not in again.stderr
    resumed = subprocess.run([*argv[:argv.index("4")], "6", *argv[argv.index("4") + 1:]],
                             capture_output=True, text=True, timeout=300)
    shown = [ln for ln in resumed.stderr.splitlines() if ln.startswith("search:")]
    assert shown[0] == "search: 6 trials, resuming after 5" and shown[1].startswith("search: 6/6 trials (100%)")


def _explore_on_a_terminal(tmp_path, name: str, stdout_too: bool) -> tuple[str, str]:
    """(stdout if piped, what the terminal got) of a short synthetic `dse explore` with stderr on a pty."""
    import pty

    master, slave = pty.openpty()
    argv = [sys.executable, "-m", "dse", "explore", "--evaluator", "synthetic", "--synthetic-seconds", "0.05",
            "--budget-mb", "0.6", "--trials", "3", "--jobs", "1", "--storage", f"sqlite:///{tmp_path / 'e.db'}",
            "--study-name", name, "--out", str(tmp_path / name)]
    proc = subprocess.Popen(argv, stdout=slave if stdout_too else subprocess.PIPE, stderr=slave,
                            stdin=subprocess.DEVNULL, text=True, env={**os.environ, "COLUMNS": "150"})
    os.close(slave)
    seen = bytearray()

    def drain() -> None:  # the terminal side: read what the bar draws, so the child never blocks on it
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=300)
    reader.join(timeout=10)
    os.close(master)
    assert proc.returncode in (0, 1)
    return out or "", seen.decode(errors="replace")


def test_explore_trial_lines_scroll_above_the_bar_or_stay_in_a_piped_stdout(tmp_path):
    import re

    # `dse explore` on a terminal: each trial line on a line of its own, never run into the bar
    _, terminal = _explore_on_a_terminal(tmp_path, "both", stdout_too=True)
    screen = re.sub(r"\x1b\[[0-9;]*m", "", terminal)  # colours: within a line
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "\n", screen)  # a cursor move or erase ends one
    pieces = [p.strip() for p in re.split(r"[\r\n]", screen) if p.strip()]
    trial_pieces = [p for p in pieces if re.match(r"#\d+ ", p)]
    assert len(trial_pieces) >= 3, pieces
    assert "━" in terminal and not [p for p in pieces if re.search(r"#\d+ ", p) and "━" in p]
    # `dse explore | tee log`: the bar on the terminal, the trial lines in the pipe
    out, terminal = _explore_on_a_terminal(tmp_path, "piped", stdout_too=False)
    trial_lines = [ln for ln in out.splitlines() if ln.startswith("#")]
    assert len(trial_lines) >= 3, out
    assert "━" in terminal and not any(ln[:20] in terminal for ln in trial_lines)
