"""Small synthetic IDX data sets and an isolated data lookup, for the tests of dse.data.

``isolated_lookup`` (import it into a test module; it is autouse) points the
per-user cache and the system data folder into the test's tmp folder and clears
``DSE_DATA_DIR``, so only what a test writes can be found.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from dse.data import DataError, idx, locate

__all__ = ["fake_images", "fake_labels", "write_set", "assert_one_line_naming", "isolated_lookup"]


def fake_images(n: int, seed: int = 0, side: int = 28) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, side, side), dtype=np.uint8)


def fake_labels(n: int) -> np.ndarray:
    return (np.arange(n) % 10).astype(np.uint8)


def write_set(
    directory: Path, n_train: int = 20, n_test: int = 10, suffix: str = ".gz", seed: int = 0
) -> dict[str, str]:
    """Write a small synthetic four-file set; return stem -> payload sha256."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": fake_images(n_train, seed),
        "train-labels-idx1-ubyte": fake_labels(n_train),
        "t10k-images-idx3-ubyte": fake_images(n_test, seed + 1),
        "t10k-labels-idx1-ubyte": fake_labels(n_test),
    }
    hashes = {}
    for stem, array in arrays.items():
        idx.write_idx(directory / f"{stem}{suffix}", array)
        hashes[stem] = hashlib.sha256(idx.idx_bytes(array)).hexdigest()
    return hashes


def assert_one_line_naming(exc: pytest.ExceptionInfo[DataError], needle: str) -> None:
    message = str(exc.value)
    assert needle in message, message
    assert "\n" not in message, message


@pytest.fixture(autouse=True)
def isolated_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Point the cache and system roots into tmp and clear the env var, for every test."""
    cache = tmp_path / "cache"
    system = tmp_path / "system"
    monkeypatch.setattr(locate, "user_cache_dir", lambda: cache)
    monkeypatch.setattr(locate, "SYSTEM_DATA_ROOT", system)
    monkeypatch.delenv(locate.ENV_VAR, raising=False)
    return {"cache": cache, "system": system}
