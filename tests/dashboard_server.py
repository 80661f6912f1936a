"""optuna-dashboard on loopback for tests: start it on a free port, read its JSON API, stop it."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["dashboard", "Dashboard"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dashboard:
    """The API of a running optuna-dashboard (the JSON its web page reads)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy

    def get(self, path: str) -> Any:
        with self._opener.open(self.base + path, timeout=10) as response:
            return json.load(response)

    def study(self, name: str) -> dict[str, Any]:
        """The study detail the dashboard shows for ``name``: trials, attributes, objective names."""
        (summary,) = [s for s in self.get("/api/studies")["study_summaries"] if s["study_name"] == name]
        return self.get(f"/api/studies/{summary['study_id']}")


@contextlib.contextmanager
def dashboard(storage_url: str, log: Path) -> Iterator[Dashboard]:
    """Run ``optuna-dashboard STORAGE`` on 127.0.0.1 until the block ends."""
    exe = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent)) or shutil.which("optuna-dashboard")
    assert exe, "optuna-dashboard is not installed"
    port = _free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen([exe, storage_url, "--host", "127.0.0.1", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        api = Dashboard(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        while True:
            try:
                api.get("/api/meta")
                break
            except OSError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "optuna-dashboard did not answer within 60 s"
                time.sleep(0.2)
        yield api
    finally:
        proc.terminate()
        proc.wait(timeout=30)
