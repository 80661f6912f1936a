"""IDX files (the MNIST format): read (raw, gzip or xz), write, and checksum their payload.

An IDX file is a 4-byte magic (0, 0, dtype 0x08 = unsigned byte, number of
dimensions), one big-endian uint32 per dimension, then the bytes.  Checksums
are taken over the *uncompressed* payload: mirrors re-compress the same bytes
with different gzip settings, so gzip-level hashes are not stable.
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np

from dse.data import DataError

__all__ = [
    "IMAGE_SIDE", "IMAGE_PIXELS", "N_CLASSES", "IMAGES_NDIM", "LABELS_NDIM",
    "read_idx", "read_idx_images", "read_idx_labels", "read_images_with_header", "read_labels_with_header",
    "idx_bytes", "write_idx", "payload_sha256",
]

IMAGE_SIDE = 28
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE
N_CLASSES = 10

IMAGES_NDIM = 3
LABELS_NDIM = 1
_IDX_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
_XZ_MAGIC = b"\xfd7zXZ\x00"
CHUNK = 1 << 20


def _compression(head: bytes) -> str:
    # Sniff rather than trust the suffix: renamed or re-compressed copies are common.
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_XZ_MAGIC):
        return "xz"
    return "raw"


@contextmanager
def _open_payload(path: Path) -> Iterator[tuple[BinaryIO, str]]:
    """Open ``path`` for reading its uncompressed bytes; yields (stream, compression)."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with open(path, "rb") as raw:
            kind = _compression(raw.read(len(_XZ_MAGIC)))
            raw.seek(0)
            if kind == "gzip":
                with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                    yield stream, kind
            elif kind == "xz":
                with lzma.LZMAFile(raw, mode="rb") as stream:
                    yield stream, kind
            else:
                yield raw, kind
    except PermissionError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from exc


# What a damaged gzip/xz stream raises somewhere mid-read (EOFError: cut-off stream).
_DECODE_ERRORS: tuple[type[Exception], ...] = (gzip.BadGzipFile, zlib.error, lzma.LZMAError, EOFError)


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _parse_header(path: Path, stream: IO[bytes], ndim: int) -> tuple[bytes, tuple[int, ...]]:
    magic = _read_exact(stream, 4)
    if len(magic) < 4:
        raise DataError(f"{path}: truncated header ({len(magic)} bytes, not an IDX file)")
    expected_magic = (_IDX_UBYTE << 8) | ndim
    if magic[0] != 0 or magic[1] != 0:
        raise DataError(
            f"{path}: bad magic 0x{magic.hex()}, expected 0x{expected_magic:08x} (not an IDX file)"
        )
    if magic[2] != _IDX_UBYTE:
        raise DataError(f"{path}: wrong dtype code 0x{magic[2]:02x}, expected 0x08 (unsigned byte)")
    if magic[3] != ndim:
        what = "labels" if ndim == LABELS_NDIM else "images"
        raise DataError(
            f"{path}: bad magic 0x{magic.hex()}, expected 0x{expected_magic:08x} ({what}, {ndim}-D)"
        )
    dims_raw = _read_exact(stream, 4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DataError(f"{path}: truncated header (dimension sizes missing)")
    dims = tuple(int(d) for d in np.frombuffer(dims_raw, dtype=">u4"))
    return magic + dims_raw, dims


def _read_body(path: Path, stream: IO[bytes], dims: tuple[int, ...]) -> np.ndarray:
    expected = int(np.prod(dims, dtype=np.int64))
    shape = "x".join(map(str, dims))
    try:
        # Read straight into the final array: no copy, and it stays writable.
        body = np.empty(expected, dtype=np.uint8)
    except (MemoryError, ValueError) as exc:
        raise DataError(f"{path}: header claims {shape} = {expected} bytes, implausible") from exc
    view, got = memoryview(body), 0
    while got < expected:
        n = stream.readinto(view[got:])
        if not n:
            break
        got += n
    if got < expected:
        raise DataError(f"{path}: truncated payload: header says {shape} = {expected} bytes, found {got}")
    # Also forces the gzip CRC/length trailer check, which only runs at end of stream.
    if stream.read(1):
        raise DataError(f"{path}: size mismatch: payload is longer than header dims {shape} say")
    return body.reshape(dims)


def _read_idx_with_header(path: str | os.PathLike[str], ndim: int) -> tuple[bytes, np.ndarray]:
    path = Path(path)
    with _open_payload(path) as (stream, kind):
        try:
            header, dims = _parse_header(path, stream, ndim)
            return header, _read_body(path, stream, dims)
        except _DECODE_ERRORS as exc:
            raise DataError(f"{path}: corrupt {kind} data ({exc})") from exc
        except OSError as exc:
            raise DataError(f"{path}: read error ({exc})") from exc


def read_idx(path: str | os.PathLike[str], ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (raw, gzip or xz) of ``ndim`` dimensions."""
    return _read_idx_with_header(path, ndim)[1]


def _check_images(path: Path, images: np.ndarray) -> np.ndarray:
    if images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        h, w = images.shape[1:]
        raise DataError(f"{path}: image size {h}x{w}, expected {IMAGE_SIDE}x{IMAGE_SIDE}")
    return images.reshape(images.shape[0], IMAGE_PIXELS)


def _check_labels(path: Path, labels: np.ndarray) -> np.ndarray:
    if labels.size and int(labels.max()) >= N_CLASSES:
        bad = int(np.flatnonzero(labels >= N_CLASSES)[0])
        raise DataError(
            f"{path}: label {int(labels[bad])} at index {bad} out of range 0..{N_CLASSES - 1}"
        )
    return labels


def read_images_with_header(path: str | os.PathLike[str]) -> tuple[bytes, np.ndarray]:
    """The header bytes and the checked (n, 784) images of an IDX images file."""
    header, images = _read_idx_with_header(path, IMAGES_NDIM)
    return header, _check_images(Path(path), images)


def read_labels_with_header(path: str | os.PathLike[str]) -> tuple[bytes, np.ndarray]:
    """The header bytes and the checked labels (0..9) of an IDX labels file."""
    header, labels = _read_idx_with_header(path, LABELS_NDIM)
    return header, _check_labels(Path(path), labels)


def read_idx_images(path: str | os.PathLike[str]) -> np.ndarray:
    """28x28 uint8 images as an (n, 784) C-contiguous array."""
    return _check_images(Path(path), read_idx(path, IMAGES_NDIM))


def read_idx_labels(path: str | os.PathLike[str]) -> np.ndarray:
    """uint8 labels in 0..9 as an (n,) array."""
    return _check_labels(Path(path), read_idx(path, LABELS_NDIM))


def idx_bytes(array: np.ndarray) -> bytes:
    """The uncompressed IDX encoding of a uint8 array (shape taken as is)."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise DataError(f"IDX writer handles uint8 only, got {array.dtype}")
    header = bytes((0, 0, _IDX_UBYTE, array.ndim)) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write ``array`` as IDX; ``.gz`` / ``.xz`` suffix selects compression.

    Output is byte-for-byte deterministic (gzip mtime 0, fixed xz preset) so
    generated files can be committed and checked.
    """
    path = Path(path)
    payload = idx_bytes(array)
    if path.suffix == ".gz":
        data = gzip.compress(payload, compresslevel=9, mtime=0)
    elif path.suffix == ".xz":
        data = lzma.compress(payload, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)
    else:
        data = payload
    path.write_bytes(data)
    return path


def payload_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of the uncompressed bytes of ``path`` (same for raw/gzip/xz copies)."""
    path = Path(path)
    digest = hashlib.sha256()
    with _open_payload(path) as (stream, kind):
        try:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
        except _DECODE_ERRORS as exc:
            raise DataError(f"{path}: corrupt {kind} data ({exc})") from exc
    return digest.hexdigest()
