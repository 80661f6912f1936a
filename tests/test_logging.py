"""Library messages go through `logging` (logger "dse"); only the command line decides where they go."""

from __future__ import annotations

import logging
import subprocess
import sys


def test_a_program_importing_the_library_hears_nothing_unless_it_asks():
    code = ("import logging, dse\n"
            "logging.getLogger('dse.models').warning('a warning from the library')\n"  # no lastResort output
            "h = logging.StreamHandler(open(1, 'w', closefd=False))\n"
            "logging.getLogger('dse').addHandler(h); logging.getLogger('dse').setLevel(logging.INFO)\n"
            "logging.getLogger('dse.data').info('routed by the program')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and proc.stdout == "routed by the program\n"


def test_the_command_line_sends_library_messages_to_stderr_as_one_line(capsys):
    from dse.cli.main import main, route_library_messages

    route_library_messages()
    logging.getLogger("dse.runs").info("two\nlines")
    assert capsys.readouterr().err == "two\\nlines\n"
    assert main(["data", "info", "mnist"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "source" in captured.out  # a quiet command stays quiet


def test_library_modules_do_not_print():
    """Rendering (dse.cli, dse.report.terminal with the console the CLI passes) aside, no module prints."""
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    offenders = []
    for path in [*(repo / "dse").rglob("*.py"), *(repo / "models").rglob("*.py")]:
        rel = path.relative_to(repo).as_posix()
        if rel.startswith("dse/cli/") or rel == "dse/report/terminal.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                offenders.append(f"{rel}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr in ("stdout", "stderr") and \
                    isinstance(node.value, ast.Name) and node.value.id == "sys":
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, offenders


def test_piped_output_has_one_width_for_every_command(capsys, monkeypatch):
    """Tables keep one line per row in a log: every command renders 200 columns when stdout is not a terminal."""
    from dse.cli.console import PIPED_WIDTH, console
    from dse.cli.main import main

    monkeypatch.delenv("COLUMNS", raising=False)
    assert console().width == PIPED_WIDTH == 200
    assert main(["compare-hw", "--design", "fspinn", "--neurons", "100", "--vs-design", "baseline"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("│")]
    assert len(rows) == 10 and 80 < max(map(len, rows)) <= PIPED_WIDTH  # one line per profile: nothing wrapped
    assert main(["cost", "--design", "fspinn", "--neurons", "100"]) == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and max(map(len, table)) <= PIPED_WIDTH  # prose lines are never wrapped, tables fit
    monkeypatch.setenv("COLUMNS", "100")
    assert console().width == 100  # $COLUMNS, when set, wins
