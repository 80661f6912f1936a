"""Tests for dse.data.locate: IDX reader, lookup order, bundled subset, verified fetch."""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from dse.data import locate
from dse.data.locate import DATASETS, FILE_STEMS, DataError

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not (SHARED_DATA / "mnist").is_dir() or not (SHARED_DATA / "fashion-mnist").is_dir(),
    reason="full data sets not available in ../shared/data",
)

# Changing the bundled subset must be deliberate: update these with the manifest.
BUNDLED = {
    "mnist": {
        "train": 5000,
        "test": 1000,
        "sha256": "ebcf8e974ee726864b95d539387e252f4b228e655a45487882b54d2b0091fe3b",
    },
    "fashion-mnist": {
        "train": 2400,
        "test": 1000,
        "sha256": "0848d9715fc77feb2c5db84a586a80cafeff1ec483610166dccbf52d5450634d",
    },
}
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


# --------------------------------------------------------------------------- helpers


def _images(n: int, seed: int = 0, side: int = 28) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, side, side), dtype=np.uint8)


def _labels(n: int) -> np.ndarray:
    return (np.arange(n) % 10).astype(np.uint8)


def _write_set(
    directory: Path, n_train: int = 20, n_test: int = 10, suffix: str = ".gz", seed: int = 0
) -> dict[str, str]:
    """Write a small synthetic four-file set; return stem -> payload sha256."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": _images(n_train, seed),
        "train-labels-idx1-ubyte": _labels(n_train),
        "t10k-images-idx3-ubyte": _images(n_test, seed + 1),
        "t10k-labels-idx1-ubyte": _labels(n_test),
    }
    hashes = {}
    for stem, array in arrays.items():
        locate.write_idx(directory / f"{stem}{suffix}", array)
        hashes[stem] = hashlib.sha256(locate.idx_bytes(array)).hexdigest()
    return hashes


def _assert_one_line_naming(exc: pytest.ExceptionInfo[DataError], needle: str) -> None:
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


# --------------------------------------------------------------------------- reader


@pytest.mark.parametrize("suffix", ["", ".gz", ".xz"])
def test_reader_round_trip(tmp_path: Path, suffix: str) -> None:
    images, labels = _images(7), _labels(7)
    img_path = locate.write_idx(tmp_path / f"img{suffix}", images)
    lab_path = locate.write_idx(tmp_path / f"lab{suffix}", labels)
    got_images = locate.read_idx_images(img_path)
    got_labels = locate.read_idx_labels(lab_path)
    assert got_images.shape == (7, 784) and got_images.dtype == np.uint8
    assert got_images.flags.c_contiguous and got_images.flags.writeable
    np.testing.assert_array_equal(got_images, images.reshape(7, 784))
    np.testing.assert_array_equal(got_labels, labels)
    assert locate.payload_sha256(img_path) == hashlib.sha256(locate.idx_bytes(images)).hexdigest()


def test_compression_is_sniffed_not_taken_from_suffix(tmp_path: Path) -> None:
    path = tmp_path / "train-labels-idx1-ubyte"  # no .gz suffix, gzip inside
    path.write_bytes(gzip.compress(locate.idx_bytes(_labels(5))))
    np.testing.assert_array_equal(locate.read_idx_labels(path), _labels(5))


def _idx(magic: bytes, dims: tuple[int, ...], body: bytes) -> bytes:
    return magic + np.asarray(dims, dtype=">u4").tobytes() + body


IMAGES_OK = locate.idx_bytes(_images(3))
LABELS_OK = locate.idx_bytes(_labels(3))


@pytest.mark.parametrize(
    ("reader", "content", "needle"),
    [
        ("images", _idx(b"\x12\x34\x08\x03", (3, 28, 28), bytes(3 * 784)), "bad magic"),
        ("images", _idx(b"\x00\x00\x0d\x03", (3, 28, 28), bytes(3 * 784 * 4)), "wrong dtype code 0x0d"),
        ("labels", IMAGES_OK, "bad magic"),  # images file where labels are expected
        ("images", IMAGES_OK[:-100], "truncated payload"),
        ("images", IMAGES_OK + b"\x00", "size mismatch"),
        ("images", IMAGES_OK[:10], "truncated header"),
        ("images", gzip.compress(IMAGES_OK[:-5], mtime=0), "truncated payload"),
        ("images", _idx(b"\x00\x00\x08\x03", (2, 32, 32), bytes(2 * 32 * 32)), "image size 32x32"),
        ("labels", _idx(b"\x00\x00\x08\x01", (3,), bytes([1, 12, 3])), "label 12 at index 1 out of range"),
        ("labels", b"", "truncated header"),
    ],
    ids=[
        "bad-magic", "dtype", "wrong-ndim", "truncated", "trailing", "short-header",
        "gz-truncated-payload", "not-28x28", "label-range", "empty",
    ],
)
def test_reader_errors_name_file_and_problem(tmp_path: Path, reader: str, content: bytes, needle: str) -> None:
    path = tmp_path / f"broken-{reader}-idx-ubyte"
    path.write_bytes(content)
    read = locate.read_idx_images if reader == "images" else locate.read_idx_labels
    with pytest.raises(DataError) as exc:
        read(path)
    _assert_one_line_naming(exc, path.name)
    _assert_one_line_naming(exc, needle)


def test_corrupt_and_cut_gzip(tmp_path: Path) -> None:
    packed = bytearray(gzip.compress(IMAGES_OK, mtime=0))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(bytes(packed[: len(packed) // 2]))
    packed[len(packed) // 2] ^= 0xFF
    flipped = tmp_path / "flipped.gz"
    flipped.write_bytes(bytes(packed))
    for path in (cut, flipped):
        with pytest.raises(DataError) as exc:
            locate.read_idx_images(path)
        _assert_one_line_naming(exc, path.name)
        _assert_one_line_naming(exc, "corrupt gzip")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        locate.read_idx_labels(tmp_path / "nope-idx1-ubyte.gz")
    _assert_one_line_naming(exc, "nope-idx1-ubyte.gz: file not found")


def test_label_image_count_mismatch(tmp_path: Path) -> None:
    _write_set(tmp_path / "d")
    locate.write_idx(tmp_path / "d" / "t10k-labels-idx1-ubyte.gz", _labels(9))
    with pytest.raises(DataError) as exc:
        locate.load_dataset("mnist", tmp_path / "d")
    _assert_one_line_naming(exc, "t10k-labels-idx1-ubyte.gz: 9 labels but t10k-images-idx3-ubyte.gz holds 10")


def test_dataset_checksum_is_independent_of_compression(tmp_path: Path) -> None:
    _write_set(tmp_path / "gz", suffix=".gz")
    _write_set(tmp_path / "raw", suffix="")
    gz = locate.load_dataset("mnist", tmp_path / "gz")
    raw = locate.load_dataset("mnist", tmp_path / "raw")
    assert gz.sha256 == raw.sha256
    assert not gz.is_subset and gz.location == str(tmp_path / "gz")
    assert gz.source.startswith("MNIST-format data from")  # synthetic: not the published checksum


def test_dotted_file_names_are_accepted(tmp_path: Path) -> None:
    d = tmp_path / "dotted"
    _write_set(d, suffix="")
    for stem in FILE_STEMS:
        (d / stem).rename(d / stem.replace("-idx", ".idx"))
    assert locate.load_dataset("fashion-mnist", d).train_images.shape == (20, 784)


def test_dataset_rejects_bad_layout() -> None:
    good = np.zeros((2, 784), np.uint8)
    with pytest.raises(DataError):
        locate.Dataset("mnist", good, np.zeros(3, np.uint8), good, np.zeros(2, np.uint8),
                     "x", False, "x", "0", locate.CLASS_NAMES["mnist"])


# --------------------------------------------------------------------------- lookup


def test_unknown_name() -> None:
    with pytest.raises(DataError, match="^unknown data set 'xyz': choose one of mnist, fashion-mnist$"):
        locate.load_dataset("xyz")
    with pytest.raises(DataError, match="unknown data set"):
        locate.find_data_dir("xyz")


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_lookup: dict[str, Path]) -> None:
    explicit, env = tmp_path / "explicit", tmp_path / "env"
    cache, system = isolated_lookup["cache"] / "mnist", isolated_lookup["system"] / "mnist"
    for d in (explicit / "mnist", env / "mnist", cache, system):
        _write_set(d)
    monkeypatch.setenv(locate.ENV_VAR, str(env))

    assert locate.find_data_dir("mnist", explicit) == explicit / "mnist"
    assert locate.find_data_dir("mnist") == env / "mnist"
    monkeypatch.delenv(locate.ENV_VAR)
    assert locate.find_data_dir("mnist") == cache
    _clear(cache)
    assert locate.find_data_dir("mnist") == system
    _clear(system)
    assert locate.find_data_dir("mnist") is None
    assert locate.load_dataset("mnist").is_subset


def _clear(directory: Path) -> None:
    for f in directory.iterdir():
        f.unlink()


def test_env_var_accepts_folder_holding_files_directly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_set(tmp_path / "flat")
    monkeypatch.setenv(locate.ENV_VAR, str(tmp_path / "flat"))
    ds = locate.load_dataset("fashion-mnist")
    assert ds.location == str(tmp_path / "flat") and not ds.is_subset


@pytest.mark.parametrize("make", ["missing", "empty", "partial"])
def test_env_var_unusable_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: str) -> None:
    root = tmp_path / "env"
    if make != "missing":
        root.mkdir()
    if make == "partial":
        _write_set(root)
        (root / "t10k-images-idx3-ubyte.gz").unlink()
    monkeypatch.setenv(locate.ENV_VAR, str(root))
    _write_set(tmp_path / "cache" / "mnist")  # must not be used as a silent fallback
    with pytest.raises(DataError) as exc:
        locate.load_dataset("mnist")
    _assert_one_line_naming(exc, "DSE_DATA_DIR=")
    if make == "partial":
        _assert_one_line_naming(exc, "t10k-images-idx3-ubyte[.gz]")


def test_explicit_dir_never_falls_back(tmp_path: Path) -> None:
    _write_set(tmp_path / "cache" / "mnist")
    with pytest.raises(DataError, match="does not exist"):
        locate.load_dataset("mnist", tmp_path / "nowhere")
    broken = tmp_path / "broken"
    _write_set(broken)
    (broken / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bgarbage")
    with pytest.raises(DataError) as exc:
        locate.load_dataset("mnist", broken)
    _assert_one_line_naming(exc, "train-labels-idx1-ubyte.gz")
    _assert_one_line_naming(exc, "data_dir argument")


def test_incomplete_cache_is_skipped(isolated_lookup: dict[str, Path]) -> None:
    cache = isolated_lookup["cache"] / "mnist"
    _write_set(cache)
    (cache / "train-images-idx3-ubyte.gz").unlink()  # e.g. an interrupted fetch
    _write_set(isolated_lookup["system"] / "mnist")
    assert locate.find_data_dir("mnist") == isolated_lookup["system"] / "mnist"


def test_no_data_and_no_bundled_is_an_error() -> None:
    with pytest.raises(DataError) as exc:
        locate.load_dataset("mnist", allow_bundled=False)
    _assert_one_line_naming(exc, "dse data fetch mnist")


def test_debian_layout(isolated_lookup: dict[str, Path]) -> None:
    # dataset-fashion-mnist installs /usr/share/datasets/fashion-mnist/<stem>.gz
    _write_set(isolated_lookup["system"] / "fashion-mnist")
    ds = locate.load_dataset("fashion-mnist")
    assert ds.location == str(isolated_lookup["system"] / "fashion-mnist")


# --------------------------------------------------------------------------- bundled subset


def _manifest() -> dict:
    return json.loads((REPO_ROOT / "dse" / "data" / "subset" / "manifest.json").read_text())


@pytest.mark.parametrize("name", DATASETS)
def test_bundled_subset(name: str) -> None:
    ds = locate.load_dataset(name)  # nothing else is reachable: falls back to bundled
    want = BUNDLED[name]
    entry = _manifest()["datasets"][name]
    assert ds.is_subset and ds.location == "bundled"
    assert ds.source == (
        f"bundled subset of {'MNIST' if name == 'mnist' else 'Fashion-MNIST'} "
        f"({want['train']:,} train / {want['test']:,} test)"
    )
    assert ds.train_images.shape == (want["train"], 784) and ds.test_images.shape == (want["test"], 784)
    assert np.bincount(ds.train_labels, minlength=10).tolist() == [want["train"] // 10] * 10
    assert np.bincount(ds.test_labels, minlength=10).tolist() == [want["test"] // 10] * 10
    assert ds.sha256 == want["sha256"] == entry["sha256"]
    assert entry["splits"]["train"]["per_class"] == [want["train"] // 10] * 10
    assert ds.class_names == locate.CLASS_NAMES[name] and len(ds.class_names) == 10
    assert locate.load_bundled_subset(name).sha256 == ds.sha256


def test_bundled_files_fit_budget() -> None:
    subset = REPO_ROOT / "dse" / "data" / "subset"
    total = sum(p.stat().st_size for p in subset.iterdir() if p.suffix in {".xz", ".json"})
    assert total <= 2_200_000


def _load_make_subset():
    spec = importlib.util.spec_from_file_location("make_subset", REPO_ROOT / "bench" / "make_subset.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_subset_is_deterministic_and_balanced(tmp_path: Path) -> None:
    make_subset = _load_make_subset()
    for i, name in enumerate(DATASETS):
        _write_set(tmp_path / "src" / name, n_train=60, n_test=40, seed=10 * i)
    counts = ["--mnist-train", "30", "--mnist-test", "20", "--fashion-mnist-train", "20", "--fashion-mnist-test", "10"]
    runs = []
    for run in ("a", "b"):
        out = tmp_path / run
        rc = make_subset.main(["--source-dir", str(tmp_path / "src"), "--out-dir", str(out),
                               "--allow-unpublished", *counts])
        assert rc == 0
        runs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert runs[0] == runs[1]
    manifest = json.loads(runs[0]["manifest.json"])
    assert manifest["datasets"]["mnist"]["splits"]["train"]["per_class"] == [3] * 10
    assert manifest["datasets"]["fashion-mnist"]["counts"] == {"train": 20, "test": 10}


# --------------------------------------------------------------------------- full data (optional)


@pytest.fixture(scope="module")
def full_sets() -> dict[str, locate.Dataset]:
    return {name: locate.load_dataset(name, SHARED_DATA, allow_bundled=False) for name in DATASETS}


@needs_shared
def test_full_data_sets(full_sets: dict[str, locate.Dataset]) -> None:
    mnist, fashion = full_sets["mnist"], full_sets["fashion-mnist"]
    for ds in (mnist, fashion):
        assert ds.train_images.shape == (60000, 784) and ds.test_images.shape == (10000, 784)
        assert not ds.is_subset and ds.sha256 == locate.DATASET_SHA256[ds.name]
        assert ds.source.startswith("full ")
    assert np.bincount(mnist.train_labels).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(fashion.train_labels).tolist() == [6000] * 10
    assert np.bincount(fashion.test_labels).tolist() == [1000] * 10


@needs_shared
@pytest.mark.parametrize("name", DATASETS)
def test_bundled_subset_is_drawn_from_the_published_set(full_sets: dict[str, locate.Dataset], name: str) -> None:
    full, subset = full_sets[name], locate.load_bundled_subset(name)
    entry = _manifest()["datasets"][name]
    assert entry["source_sha256"] == full.sha256
    for split in ("train", "test"):
        idx = np.asarray(entry["splits"][split]["indices"])
        np.testing.assert_array_equal(getattr(subset, f"{split}_images"), getattr(full, f"{split}_images")[idx])
        np.testing.assert_array_equal(getattr(subset, f"{split}_labels"), getattr(full, f"{split}_labels")[idx])


@needs_shared
def test_wrong_data_set_in_slot_is_detected() -> None:
    with pytest.raises(DataError) as exc:
        locate.load_dataset("mnist", SHARED_DATA / "fashion-mnist")
    _assert_one_line_naming(exc, "holds Fashion-MNIST, not MNIST")


@needs_shared
def test_published_payload_checksums() -> None:
    for name in DATASETS:
        for stem in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):  # small files only: fast
            assert locate.payload_sha256(SHARED_DATA / name / f"{stem}.gz") == locate.PAYLOAD_SHA256[name][stem]


# --------------------------------------------------------------------------- fetch (loopback only)


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
    hashes = _write_set(root)
    dest = locate.fetch_dataset("mnist", base_url=url, expected=hashes, progress=False)
    assert dest == isolated_lookup["cache"] / "mnist"
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{s}.gz" for s in FILE_STEMS)
    ds = locate.load_dataset("mnist")  # found in the (redirected) user cache
    assert ds.location == str(dest) and ds.train_images.shape == (20, 784)
    # Already present and valid: no server needed the second time.
    for f in root.iterdir():
        f.unlink()
    assert locate.fetch_dataset("mnist", base_url=url, expected=hashes, progress=False) == dest


def test_fetch_corrupt_file_is_rejected(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    root, url = http_root
    hashes = _write_set(root)
    locate.write_idx(root / "t10k-images-idx3-ubyte.gz", _images(10, seed=99))  # valid IDX, wrong content
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as exc:
        locate.fetch_dataset("fashion-mnist", dest, base_url=url, expected=hashes, progress=False)
    _assert_one_line_naming(exc, "t10k-images-idx3-ubyte.gz")
    _assert_one_line_naming(exc, f"expected {hashes['t10k-images-idx3-ubyte']}")
    _assert_one_line_naming(exc, "got ")
    names = {p.name for p in dest.iterdir()}
    assert "t10k-images-idx3-ubyte.gz" not in names
    assert not [n for n in names if n.endswith(".part")]


def test_fetch_garbage_is_rejected(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    root, url = http_root
    hashes = _write_set(root)
    (root / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as exc:
        locate.fetch_dataset("mnist", dest, base_url=url, expected=hashes, progress=False)
    _assert_one_line_naming(exc, "train-images-idx3-ubyte.gz")
    assert list(dest.iterdir()) == []


def test_fetch_404(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    root, url = http_root
    hashes = _write_set(root)
    (root / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as exc:
        locate.fetch_dataset("mnist", tmp_path / "dest", base_url=url, expected=hashes, progress=False)
    _assert_one_line_naming(exc, "could not fetch train-labels-idx1-ubyte.gz")
    _assert_one_line_naming(exc, "HTTP 404")
    assert not (tmp_path / "dest" / "train-labels-idx1-ubyte.gz").exists()


def test_fetch_with_progress_bar(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    root, url = http_root
    hashes = _write_set(root)
    dest = locate.fetch_dataset("mnist", tmp_path / "dest", base_url=url, expected=hashes, progress=True)
    assert locate.load_dataset("mnist", dest).train_images.shape == (20, 784)


def test_published_hashes_are_the_default() -> None:
    # Every mirror file must have a payload checksum, or fetch would refuse it.
    for name in DATASETS:
        assert set(locate.PAYLOAD_SHA256[name]) == set(FILE_STEMS)
        assert locate.MIRRORS[name]
