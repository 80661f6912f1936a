"""Tests for dse.data.locate: lookup order, bundled subset, the full data sets when present."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dse.data import DATASETS, DataError, fetch, idx, locate
from tests.bench_scripts import load_bench_script
from tests.data_files import assert_one_line_naming, write_set, isolated_lookup  # noqa: F401 (autouse fixture)

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
        write_set(d)
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
    write_set(tmp_path / "flat")
    monkeypatch.setenv(locate.ENV_VAR, str(tmp_path / "flat"))
    ds = locate.load_dataset("fashion-mnist")
    assert ds.location == str(tmp_path / "flat") and not ds.is_subset


@pytest.mark.parametrize("make", ["missing", "empty", "partial"])
def test_env_var_unusable_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: str) -> None:
    root = tmp_path / "env"
    if make != "missing":
        root.mkdir()
    if make == "partial":
        write_set(root)
        (root / "t10k-images-idx3-ubyte.gz").unlink()
    monkeypatch.setenv(locate.ENV_VAR, str(root))
    write_set(tmp_path / "cache" / "mnist")  # must not be used as a silent fallback
    with pytest.raises(DataError) as exc:
        locate.load_dataset("mnist")
    assert_one_line_naming(exc, "DSE_DATA_DIR=")
    if make == "partial":
        assert_one_line_naming(exc, "t10k-images-idx3-ubyte[.gz]")


def test_explicit_dir_never_falls_back(tmp_path: Path) -> None:
    write_set(tmp_path / "cache" / "mnist")
    with pytest.raises(DataError, match="does not exist"):
        locate.load_dataset("mnist", tmp_path / "nowhere")
    broken = tmp_path / "broken"
    write_set(broken)
    (broken / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bgarbage")
    with pytest.raises(DataError) as exc:
        locate.load_dataset("mnist", broken)
    assert_one_line_naming(exc, "train-labels-idx1-ubyte.gz")
    assert_one_line_naming(exc, "data_dir argument")


def test_a_data_set_is_read_once_per_process_until_its_files_change(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    write_set(tmp_path / "d", n_train=20)
    reads = []
    real = locate._read_four_files
    monkeypatch.setattr(locate, "_read_four_files", lambda paths: reads.append(1) or real(paths))
    a = locate.load_dataset("mnist", tmp_path / "d")
    b = locate.load_dataset("mnist", tmp_path / "d")
    assert len(reads) == 1 and a.sha256 == b.sha256 and np.array_equal(a.train_images, b.train_images)
    with pytest.raises(ValueError, match="read-only"):
        a.train_images[0, 0] = 1  # shared between callers: nobody may change it
    write_set(tmp_path / "d", n_train=30, seed=5)  # replaced: read again
    c = locate.load_dataset("mnist", tmp_path / "d")
    assert len(reads) == 2 and len(c.train_images) == 30 and c.sha256 != a.sha256


def test_incomplete_cache_is_skipped(isolated_lookup: dict[str, Path]) -> None:
    cache = isolated_lookup["cache"] / "mnist"
    write_set(cache)
    (cache / "train-images-idx3-ubyte.gz").unlink()  # e.g. an interrupted fetch
    write_set(isolated_lookup["system"] / "mnist")
    assert locate.find_data_dir("mnist") == isolated_lookup["system"] / "mnist"


def test_no_data_and_no_bundled_is_an_error() -> None:
    with pytest.raises(DataError) as exc:
        locate.load_dataset("mnist", allow_bundled=False)
    assert_one_line_naming(exc, "dse data fetch mnist")


def test_debian_layout(isolated_lookup: dict[str, Path]) -> None:
    # dataset-fashion-mnist installs /usr/share/datasets/fashion-mnist/<stem>.gz
    write_set(isolated_lookup["system"] / "fashion-mnist")
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


def test_make_subset_is_deterministic_and_balanced(tmp_path: Path) -> None:
    make_subset = load_bench_script("make_subset")
    for i, name in enumerate(DATASETS):
        write_set(tmp_path / "src" / name, n_train=60, n_test=40, seed=10 * i)
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
    assert_one_line_naming(exc, "holds Fashion-MNIST, not MNIST")


@needs_shared
def test_published_payload_checksums() -> None:
    for name in DATASETS:
        for stem in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):  # small files only: fast
            assert idx.payload_sha256(SHARED_DATA / name / f"{stem}.gz") == fetch.PAYLOAD_SHA256[name][stem]
