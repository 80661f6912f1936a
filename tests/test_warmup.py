"""Compiling the engine: once per machine, one process at a time, and said while it happens."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import numpy as np

from dse.models import warmup


def test_notice_only_when_the_first_call_is_slow(monkeypatch, caplog):
    monkeypatch.setattr(warmup, "NOTICE_AFTER_S", 0.05)
    caplog.set_level(logging.INFO, logger="dse.models")
    with warmup._notice_if_slow(("uint8", "float32")):
        pass
    assert caplog.records == []
    with warmup._notice_if_slow(("uint8", "float32")):
        time.sleep(0.3)
    text = [r.getMessage() for r in caplog.records]
    assert text[0].startswith("compiling the simulation engine for uint8 weight codes, float32 state")
    assert text[1].startswith("compiled uint8 weight codes, float32 state in")


def test_the_compile_lock_excludes_other_processes(tmp_path, monkeypatch):
    monkeypatch.setattr(warmup, "_cache_dir", lambda: str(tmp_path))
    probe = ("import fcntl, os, sys\n"
             f"fd = os.open({str(tmp_path / 'snn-dse-compile.lock')!r}, os.O_RDWR)\n"
             "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(3)\n")
    with warmup._machine_lock():
        held = subprocess.run([sys.executable, "-c", probe])
    free = subprocess.run([sys.executable, "-c", probe])
    assert held.returncode == 3 and free.returncode == 0


def test_ensure_compiled_marks_the_variant_ready():
    key = warmup.variant_key(np.uint16, np.float32)
    warmup.ensure_compiled(np.uint16, np.float32)
    assert warmup.is_ready(key)
    t = time.perf_counter()
    warmup.ensure_compiled(np.uint16, np.float32)
    assert time.perf_counter() - t < 0.01  # a set lookup once warm


def test_a_cold_run_says_it_is_compiling_before_it_trains(tmp_path):
    """A new user's first `dse train` with output piped: the notice comes first, as a plain line."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    proc = subprocess.run([sys.executable, "-m", "dse", "train", "--neurons", "10", "--train-samples", "20",
                           "--assign-samples", "20", "--test-samples", "20", "--out", str(tmp_path / "run")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("compiling the simulation engine for float weights, float32 state")
    assert any(line.startswith("compiled float weights, float32 state in") for line in lines)
    assert "accuracy" in proc.stdout


def test_a_long_compile_keeps_saying_so(monkeypatch, caplog):
    monkeypatch.setattr(warmup, "NOTICE_AFTER_S", 0.05)
    monkeypatch.setattr(warmup, "STILL_COMPILING_EVERY_S", 0.1)
    caplog.set_level(logging.INFO, logger="dse.models")
    with warmup._notice_if_slow(("float32", "float32")):
        time.sleep(0.5)
    text = [r.getMessage() for r in caplog.records]
    assert text[0].startswith("compiling the simulation engine for float weights")
    assert 2 <= sum(t.startswith("still compiling float weights, float32 state: ") for t in text) <= 5
    assert text[-1].startswith("compiled float weights, float32 state in")  # nothing after it
