"""Tests for dse.data.idx: the IDX reader and writer, payload checksums, and the checks on what it reads."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from dse.data import DataError, idx, locate
from dse.data.locate import FILE_STEMS
from tests.data_files import assert_one_line_naming, fake_images, fake_labels, write_set, isolated_lookup  # noqa: F401 (autouse fixture)


@pytest.mark.parametrize("suffix", ["", ".gz", ".xz"])
def test_reader_round_trip(tmp_path: Path, suffix: str) -> None:
    images, labels = fake_images(7), fake_labels(7)
    img_path = idx.write_idx(tmp_path / f"img{suffix}", images)
    lab_path = idx.write_idx(tmp_path / f"lab{suffix}", labels)
    got_images = idx.read_idx_images(img_path)
    got_labels = idx.read_idx_labels(lab_path)
    assert got_images.shape == (7, 784) and got_images.dtype == np.uint8
    assert got_images.flags.c_contiguous and got_images.flags.writeable
    np.testing.assert_array_equal(got_images, images.reshape(7, 784))
    np.testing.assert_array_equal(got_labels, labels)
    assert idx.payload_sha256(img_path) == hashlib.sha256(idx.idx_bytes(images)).hexdigest()


def test_compression_is_sniffed_not_taken_from_suffix(tmp_path: Path) -> None:
    path = tmp_path / "train-labels-idx1-ubyte"  # no .gz suffix, gzip inside
    path.write_bytes(gzip.compress(idx.idx_bytes(fake_labels(5))))
    np.testing.assert_array_equal(idx.read_idx_labels(path), fake_labels(5))


def _idx(magic: bytes, dims: tuple[int, ...], body: bytes) -> bytes:
    return magic + np.asarray(dims, dtype=">u4").tobytes() + body


IMAGES_OK = idx.idx_bytes(fake_images(3))
LABELS_OK = idx.idx_bytes(fake_labels(3))


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
    read = idx.read_idx_images if reader == "images" else idx.read_idx_labels
    with pytest.raises(DataError) as exc:
        read(path)
    assert_one_line_naming(exc, path.name)
    assert_one_line_naming(exc, needle)


def test_corrupt_and_cut_gzip(tmp_path: Path) -> None:
    packed = bytearray(gzip.compress(IMAGES_OK, mtime=0))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(bytes(packed[: len(packed) // 2]))
    packed[len(packed) // 2] ^= 0xFF
    flipped = tmp_path / "flipped.gz"
    flipped.write_bytes(bytes(packed))
    for path in (cut, flipped):
        with pytest.raises(DataError) as exc:
            idx.read_idx_images(path)
        assert_one_line_naming(exc, path.name)
        assert_one_line_naming(exc, "corrupt gzip")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        idx.read_idx_labels(tmp_path / "nope-idx1-ubyte.gz")
    assert_one_line_naming(exc, "nope-idx1-ubyte.gz: file not found")


def test_label_image_count_mismatch(tmp_path: Path) -> None:
    write_set(tmp_path / "d")
    idx.write_idx(tmp_path / "d" / "t10k-labels-idx1-ubyte.gz", fake_labels(9))
    with pytest.raises(DataError) as exc:
        locate.load_dataset("mnist", tmp_path / "d")
    assert_one_line_naming(exc, "t10k-labels-idx1-ubyte.gz: 9 labels but t10k-images-idx3-ubyte.gz holds 10")


def test_dataset_checksum_is_independent_of_compression(tmp_path: Path) -> None:
    write_set(tmp_path / "gz", suffix=".gz")
    write_set(tmp_path / "raw", suffix="")
    gz = locate.load_dataset("mnist", tmp_path / "gz")
    raw = locate.load_dataset("mnist", tmp_path / "raw")
    assert gz.sha256 == raw.sha256
    assert not gz.is_subset and gz.location == str(tmp_path / "gz")
    assert gz.source.startswith("MNIST-format data from")  # synthetic: not the published checksum


def test_dotted_file_names_are_accepted(tmp_path: Path) -> None:
    d = tmp_path / "dotted"
    write_set(d, suffix="")
    for stem in FILE_STEMS:
        (d / stem).rename(d / stem.replace("-idx", ".idx"))
    assert locate.load_dataset("fashion-mnist", d).train_images.shape == (20, 784)


def test_dataset_rejects_bad_layout() -> None:
    good = np.zeros((2, 784), np.uint8)
    with pytest.raises(DataError):
        locate.Dataset("mnist", good, np.zeros(3, np.uint8), good, np.zeros(2, np.uint8),
                     "x", False, "x", "0", locate.CLASS_NAMES["mnist"])
