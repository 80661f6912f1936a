"""Run directories: manifest, weights and checkpoints, written atomically.

Layout of a run directory:
  manifest.json     config, versions, data checksum, metrics, counts, timings
  weights.npz       weights (784, N), theta (N,), neuron_labels (N,)
  weights.png       learned receptive fields
  checkpoint.npz    training state between chunks (removed when training ends)
  checkpoint.json   what the checkpoint belongs to and how far it got
Nothing here is ever loaded with pickle.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from dse.errors import Param, ParameterError

MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"
WEIGHTS_PNG = "weights.png"
CHECKPOINT = "checkpoint.npz"
CHECKPOINT_META = "checkpoint.json"


class RunError(ParameterError):
    """A run directory is missing, incomplete or belongs to another configuration."""

    def __str__(self) -> str:
        # Messages name user-given paths, which may hold line breaks; the CLI prints one line.
        return super().__str__().replace("\r", "\\r").replace("\n", "\\n")


def check_out_dir(path: Path, param: str = "out_dir") -> None:
    """Refuse, before any work, a folder to write that cannot be made (a file is in the way) or written.

    ``param`` names the parameter that gave ``path``, for the message.
    """
    path, name = Path(path), Param(param)
    for p in (path, *path.parents):
        if p.is_dir():
            if not os.access(p, os.W_OK | os.X_OK):
                raise RunError(name, f" {path}: no permission to write in {p}; choose another ", name)
            return
        if p.exists() or p.is_symlink():
            raise RunError(name, f" {path}: {p} exists and is not a folder; choose another ", name)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise RunError(f"{path}: file not found") from None
    except (ValueError, OSError) as exc:
        raise RunError(f"{path}: not a readable .npz array file ({exc})") from None


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / MANIFEST
    if not Path(run_dir).is_dir():
        raise RunError(f"{run_dir}: not a directory (give the folder a `dse train` run wrote)")
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path}: no manifest (is this a finished `dse train` run?)") from None
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: corrupt manifest ({exc.msg} at line {exc.lineno})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(doc, dict):
        raise RunError(f"{path}: corrupt manifest (not a JSON object)")
    return doc


def require_keys(manifest: dict[str, Any], run_dir: Path, keys: dict[str, tuple[str, ...]]) -> None:
    """Refuse, in one line, a manifest lacking what a reader indexes (``{"config": ("design", ...)}``)."""
    for section, names in keys.items():
        table = manifest.get(section)
        for name in names:
            if not isinstance(table, dict) or name not in table:
                raise RunError(f"{Path(run_dir) / MANIFEST}: corrupt manifest (no {section}.{name}); "
                               "give the folder of a finished `dse train` run")


def code_version() -> str:
    """git commit of the source tree when run from a checkout, else the package version."""
    from dse import __version__

    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=5)
        if out.returncode == 0 and out.stdout.strip():
            return f"{__version__}+g{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return f"{__version__} (not a git checkout)"


def versions() -> dict[str, str]:
    import numba

    out = {"snn_dse": code_version(), "python": sys.version.split()[0],
           "numpy": np.__version__, "numba": numba.__version__,
           "platform": platform.platform(), "machine": platform.machine(),
           "cpu": cpu_model(), "cpu_count": str(os.cpu_count())}
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].__version__
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
