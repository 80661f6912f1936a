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
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

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


class WriteFailed(RunError):
    """A file could not be written (disk full, no permission, a file where a folder must be); one line.

    ``reason`` is the bare cause ("cannot write PATH: No space left on device"), so that a caller
    can say it again under its own parameter and with its own advice (:func:`writing`).
    """

    def __init__(self, *parts: str, reason: str | None = None) -> None:
        super().__init__(*parts)
        self.reason = reason if reason is not None else "".join(parts)


def check_out_dir(path: Path, param: str = "out_dir", *, named: Path | None = None) -> None:
    """Refuse, before any work, a folder to write that cannot be made (a file is in the way) or written.

    The nearest existing folder is probed by writing (and removing) a small file: permission bits
    say nothing for root, a read-only mount or /proc, and a full disk only shows when written to.
    ``param`` names the parameter that gave ``path``; messages show ``named`` (the file the folder
    is for) if given, else ``path``.
    """
    path, name = Path(path), Param(param)
    shown = Path(named) if named is not None else path
    for p in (path, *path.parents):
        if p.is_dir():
            _probe_write(p, shown, name)
            return
        if p.exists() or p.is_symlink():
            raise WriteFailed(name, f" {shown}: {p} exists and is not a folder; choose another ", name)


_PROBE_BYTES = 4096  # one page: a full disk refuses it, where an empty file would still be made


def _probe_write(folder: Path, shown: Path, name: Param) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".dse-probe.", suffix=".tmp")
    except OSError as exc:
        raise WriteFailed(name, f" {shown}: cannot write in {folder} ({_reason(exc)}); choose another ",
                          name) from None
    try:
        os.write(fd, bytes(_PROBE_BYTES))
        os.fsync(fd)
    except OSError as exc:
        raise WriteFailed(name, f" {shown}: cannot write in {folder} ({_reason(exc)}); free space or choose "
                          "another ", name) from None
    finally:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)


def check_out_file(path: Path, param: str, example: str) -> None:
    """Refuse, before any work, a file to write that is a folder or cannot be made (see check_out_dir)."""
    path = Path(path)
    if path.is_dir():
        raise WriteFailed(Param(param), f" {path}: is a folder; give a file name, e.g. {path / example}")
    check_out_dir(path.parent, param, named=path)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


@contextmanager
def atomic_file(path: Path, verify: Callable[[Path], None] | None = None) -> Iterator[BinaryIO]:
    """A file handle whose content replaces ``path`` all at once, or not at all.

    Written to a temporary file beside it, fsynced, renamed over it, the folder fsynced: a reader
    (or a crash) sees the old file or the new one, never half of one. Any OS error (disk full, no
    permission, a file where a folder must be) is WriteFailed naming ``path``; the temporary file
    is removed and an old ``path`` is left as it was. ``verify(temporary path)`` may refuse the
    content (by raising) before it replaces anything.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise WriteFailed(f"cannot write {path}: {_reason(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if verify is not None:
            verify(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; results are meant to be shared
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise WriteFailed(f"cannot write {path}: {_reason(exc)}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable; some file systems cannot fsync a folder, and the rename stands anyway."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_file(path) as fh:
        fh.write(data)


def atomic_write_json(path: Path, obj: Any) -> None:
    """JSON without NaN or Infinity (which readers refuse), written atomically."""
    from dse.runs.validate import finite_json

    atomic_write_bytes(path, (finite_json(obj, str(path), indent=2, sort_keys=False) + "\n").encode())


def atomic_save_npz(path: Path, **arrays: np.ndarray) -> str:
    """Save ``arrays`` (no pickle) atomically; returns the file's SHA-256, for its readers to check."""
    import hashlib
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


@contextmanager
def writing(param: str, target: Path, then: str | tuple[str, ...]) -> Iterator[None]:
    """A WriteFailed inside names ``param`` and ``target`` and says what was kept and what to do (``then``,
    message parts: plain text and Params)."""
    try:
        yield
    except WriteFailed as exc:
        advice = (then,) if isinstance(then, str) else then
        raise WriteFailed(Param(param), f" {target}: {exc.reason}; ", *advice, reason=exc.reason) from None


OWNER = ".dse-owner.json"


def claim_folder(folder: Path, owner: dict[str, str], param: str, legacy: Callable[[Path], str | None], *,
                 record: bool = True) -> None:
    """Make ``folder`` belong to ``owner`` (a study, say), or refuse a folder that belongs to another.

    The owner is recorded in a small marker file (``record=False`` only checks, before long work
    that must not leave the folder behind if it fails); ``legacy(folder)`` names the study whose
    outputs a folder written before markers existed holds (None: nothing there, free to claim).
    """
    folder, name = Path(folder), Param(param)
    marker = folder / OWNER
    try:
        recorded = json.loads(marker.read_text())
    except FileNotFoundError:
        recorded = None
    except (OSError, ValueError) as exc:
        raise RunError(name, f" {folder}: unreadable {OWNER} ({exc}); remove it or choose another ", name) from None
    if recorded is None:
        previous = legacy(folder) if folder.is_dir() else None
        if previous is not None and previous != owner.get("study"):
            raise RunError(name, f" {folder}: holds the outputs of study '{previous}'; choose another ", name,
                           " (or remove the folder)")
        if record:
            with writing(param, folder, ("choose another ", name)):
                atomic_write_json(marker, owner)
        return
    if recorded != owner:
        what = ", ".join(f"{k} {v}" for k, v in sorted(recorded.items())) if isinstance(recorded, dict) else recorded
        raise RunError(name, f" {folder}: holds the outputs of another study ({what}); choose another ", name,
                       " (or remove the folder)")


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz file, without pickle; unchecked (readers use dse.runs.validate, which checks them)."""
    from dse.runs.validate import load_arrays

    return load_arrays(path, "restore the file or make it again")


def _refuse_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which no manifest of ours holds: a sign of a damaged file.
    raise ValueError(f"{name} is not a number JSON allows")


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / MANIFEST
    if not Path(run_dir).is_dir():
        raise RunError(f"{run_dir}: not a directory (give the folder a `dse train` run wrote)")
    try:
        doc = json.loads(path.read_text(), parse_constant=_refuse_constant)
    except FileNotFoundError:
        raise RunError(f"{path}: no manifest (is this a finished `dse train` run?)") from None
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: corrupt manifest ({exc.msg} at line {exc.lineno})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: unreadable manifest ({exc})") from None
    except ValueError as exc:  # NaN or Infinity
        raise RunError(f"{path}: corrupt manifest ({exc})") from None
    if not isinstance(doc, dict):
        raise RunError(f"{path}: corrupt manifest (not a JSON object)")
    return doc


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
