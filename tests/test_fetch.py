"""Tests for dse.data.fetch: the verified download, over loopback HTTP only."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dse.data import DATASETS, DataError, fetch, idx, locate
from dse.data.locate import FILE_STEMS
from dse.progress import ProgressSink
from tests.data_files import assert_one_line_naming, fake_images, write_set, isolated_lookup  # noqa: F401 (autouse fixture)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def http_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """Serve a tmp folder on 127.0.0.1; yield (folder, base URL)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_fetch_then_load(tmp_path: Path, http_root: tuple[Path, str], isolated_lookup: dict[str, Path]) -> None:
    root, url = http_root
    hashes = write_set(root)
    dest = fetch.fetch_dataset("mnist", base_url=url, expected=hashes)
    assert dest == isolated_lookup["cache"] / "mnist"
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{s}.gz" for s in FILE_STEMS)
    ds = locate.load_dataset("mnist")  # found in the (redirected) user cache
    assert ds.location == str(dest) and ds.train_images.shape == (20, 784)
    # Already present and valid: no server needed the second time.
    for f in root.iterdir():
        f.unlink()
    assert fetch.fetch_dataset("mnist", base_url=url, expected=hashes) == dest


def test_fetch_corrupt_file_is_rejected(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    root, url = http_root
    hashes = write_set(root)
    idx.write_idx(root / "t10k-images-idx3-ubyte.gz", fake_images(10, seed=99))  # valid IDX, wrong content
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as exc:
        fetch.fetch_dataset("fashion-mnist", dest, base_url=url, expected=hashes)
    assert_one_line_naming(exc, "t10k-images-idx3-ubyte.gz")
    assert_one_line_naming(exc, f"expected {hashes['t10k-images-idx3-ubyte']}")
    assert_one_line_naming(exc, "got ")
    names = {p.name for p in dest.iterdir()}
    assert "t10k-images-idx3-ubyte.gz" not in names
    assert not [n for n in names if n.endswith(".part")]


def test_fetch_garbage_is_rejected(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    root, url = http_root
    hashes = write_set(root)
    (root / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as exc:
        fetch.fetch_dataset("mnist", dest, base_url=url, expected=hashes)
    assert_one_line_naming(exc, "train-images-idx3-ubyte.gz")
    assert list(dest.iterdir()) == []


def test_fetch_404(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    root, url = http_root
    hashes = write_set(root)
    (root / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as exc:
        fetch.fetch_dataset("mnist", tmp_path / "dest", base_url=url, expected=hashes)
    assert_one_line_naming(exc, "could not fetch train-labels-idx1-ubyte.gz")
    assert_one_line_naming(exc, "HTTP 404")
    assert not (tmp_path / "dest" / "train-labels-idx1-ubyte.gz").exists()


def test_fetch_reports_each_file_in_bytes_and_logs_its_url(tmp_path: Path, http_root: tuple[Path, str],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    root, url = http_root
    hashes = write_set(root)
    events: list[tuple[str, str, int]] = []

    class Recorder(ProgressSink):
        def start(self, phase: str, total: int, done: int = 0) -> None:
            events.append(("start", phase, total))

        def advance(self, phase: str, done: int, running_accuracy: float | None = None) -> None:
            events.append(("advance", phase, done))

        def finish(self, phase: str) -> None:
            events.append(("finish", phase, 0))

    caplog.set_level(logging.INFO, logger="dse")
    dest = fetch.fetch_dataset("mnist", tmp_path / "dest", base_url=url, expected=hashes, progress=Recorder())
    assert locate.load_dataset("mnist", dest).train_images.shape == (20, 784)
    starts = [total for kind, _, total in events if kind == "start"]
    sizes = sorted((root / f"{stem}.gz").stat().st_size for stem in FILE_STEMS)
    assert sorted(starts) == sizes  # one phase per file, its total the Content-Length
    last_done = [done for kind, _, done in events if kind == "advance"]
    assert max(last_done) == max(sizes)
    assert {phase for _, phase, _ in events} == {"download"}
    logged = [r.getMessage() for r in caplog.records if r.name == "dse.data"]
    assert sorted(logged) == sorted(f"downloading {url.rstrip('/')}/{stem}.gz" for stem in FILE_STEMS)


def test_published_hashes_are_the_default() -> None:
    # Every mirror file must have a payload checksum, or fetch would refuse it.
    for name in DATASETS:
        assert set(fetch.PAYLOAD_SHA256[name]) == set(FILE_STEMS)
        assert fetch.MIRRORS[name]
