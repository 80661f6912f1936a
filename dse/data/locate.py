"""MNIST / Fashion-MNIST: IDX reader, data lookup, verified download, bundled subset.

Where the full data comes from, first match wins:

1. the ``data_dir`` argument (``<data_dir>/<name>/`` or ``<data_dir>`` itself),
2. the ``DSE_DATA_DIR`` environment variable (same two layouts),
3. the per-user cache, ``user_cache_dir() / <name>`` (where ``fetch_dataset`` puts it),
4. ``/usr/share/datasets/<name>`` (Debian's ``dataset-fashion-mnist`` layout).

A source named explicitly (1, 2) that is missing or broken is an error, never a
silent fallback.  When nothing is found, ``load_dataset`` returns the small
class-balanced subset shipped in ``dse/data/subset`` so the tool works offline.

Checksums are taken over the *uncompressed* IDX files: mirrors re-compress the
same payload with different gzip settings, so gzip-level hashes are not stable.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import lzma
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import IO, BinaryIO, Callable

import numpy as np

from dse.data import DATASETS

__all__ = [
    "DATASETS",
    "ENV_VAR",
    "SYSTEM_DATA_ROOT",
    "FILE_STEMS",
    "CLASS_NAMES",
    "PAYLOAD_SHA256",
    "DATASET_SHA256",
    "MIRRORS",
    "DataError",
    "Dataset",
    "load_dataset",
    "load_bundled_subset",
    "find_data_dir",
    "fetch_dataset",
    "user_cache_dir",
    "read_idx",
    "read_idx_images",
    "read_idx_labels",
    "write_idx",
    "idx_bytes",
    "payload_sha256",
    "subset_file_name",
]

ENV_VAR = "DSE_DATA_DIR"
# Debian's dataset-* packages install here (dataset-fashion-mnist ships
# /usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz).
SYSTEM_DATA_ROOT = Path("/usr/share/datasets")

IMAGE_SIDE = 28
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE
N_CLASSES = 10

# Order matters: Dataset.sha256 hashes the payloads in exactly this order.
FILE_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

_DISPLAY_NAMES = MappingProxyType({"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"})

CLASS_NAMES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "mnist": tuple(str(d) for d in range(10)),
        "fashion-mnist": (
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
    }
)

# SHA-256 of each *uncompressed* published IDX file (header included), i.e.
# `gzip -dc FILE | sha256sum`.  Identical for every mirror.
PAYLOAD_SHA256: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "mnist": MappingProxyType(
            {
                "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            }
        ),
        "fashion-mnist": MappingProxyType(
            {
                "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            }
        ),
    }
)

# Dataset.sha256 of the full published sets (sha256 over the four payloads in
# FILE_STEMS order).  Lets us tell "MNIST" from "Fashion-MNIST in the MNIST slot".
DATASET_SHA256: Mapping[str, str] = MappingProxyType(
    {
        "mnist": "b2d8f5bf39174ee5ffeefa97e42d673c35432b411bb5d1f74fbbeddae7f1690a",
        "fashion-mnist": "14410854cf7a289477dcfc7df3f8ec24741e281cdcc425ede0d9a748ca630214",
    }
)

# The original yann.lecun.com host now refuses anonymous downloads, so only
# mirrors that serve the files as-is; tried in order.
MIRRORS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "mnist": (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        "fashion-mnist": (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
    }
)

_SUBSET_PACKAGE = "dse.data.subset"
_MANIFEST = "manifest.json"

_IDX_UBYTE = 0x08
_LABELS_NDIM = 1
_IMAGES_NDIM = 3
_GZIP_MAGIC = b"\x1f\x8b"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_CHUNK = 1 << 20


class DataError(Exception):
    """A data set is unknown, missing, corrupt or cannot be downloaded."""

    def __str__(self) -> str:
        # Messages name user-given paths, which may hold line breaks; the CLI prints one line.
        return super().__str__().replace("\r", "\\r").replace("\n", "\\n")


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """One data set, train and test split, as uint8 arrays.

    ``eq=False``: element-wise array comparison makes dataclass ``==``/``hash``
    meaningless; compare ``sha256`` instead.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str
    is_subset: bool
    location: str
    sha256: str
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        # Others build Datasets by hand (tests, synthetic data); catch layout
        # mistakes here rather than deep inside a simulation kernel.
        for split in ("train", "test"):
            images = getattr(self, f"{split}_images")
            labels = getattr(self, f"{split}_labels")
            if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != IMAGE_PIXELS:
                raise DataError(
                    f"{split}_images must be uint8 (n, {IMAGE_PIXELS}), got {images.dtype} {images.shape}"
                )
            if not images.flags.c_contiguous:
                raise DataError(f"{split}_images must be C-contiguous")
            if labels.dtype != np.uint8 or labels.shape != (images.shape[0],):
                raise DataError(
                    f"{split}_labels must be uint8 ({images.shape[0]},), got {labels.dtype} {labels.shape}"
                )
        if len(self.class_names) != N_CLASSES:
            raise DataError(f"class_names must have {N_CLASSES} entries, got {len(self.class_names)}")

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={self.train_images.shape[0]}, "
            f"test={self.test_images.shape[0]}, source={self.source!r}, sha256={self.sha256[:12]}...)"
        )


# --------------------------------------------------------------------------- IDX I/O


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}: choose one of {', '.join(DATASETS)}")


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
        what = "labels" if ndim == _LABELS_NDIM else "images"
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


def read_idx_images(path: str | os.PathLike[str]) -> np.ndarray:
    """28x28 uint8 images as an (n, 784) C-contiguous array."""
    return _check_images(Path(path), read_idx(path, _IMAGES_NDIM))


def read_idx_labels(path: str | os.PathLike[str]) -> np.ndarray:
    """uint8 labels in 0..9 as an (n,) array."""
    return _check_labels(Path(path), read_idx(path, _LABELS_NDIM))


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
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
        except _DECODE_ERRORS as exc:
            raise DataError(f"{path}: corrupt {kind} data ({exc})") from exc
    return digest.hexdigest()


# --------------------------------------------------------------------------- lookup


def user_cache_dir() -> Path:
    """Per-user cache folder for downloaded data sets."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("snn-dse", appauthor=False)) / "datasets"


def _file_candidates(stem: str) -> tuple[str, ...]:
    # Some mirrors / archives use "train-images.idx3-ubyte" (dot instead of dash).
    dotted = stem.replace("-idx", ".idx", 1)
    return (f"{stem}.gz", stem, f"{dotted}.gz", dotted)


def _find_file(directory: Path, stem: str) -> Path | None:
    for candidate in _file_candidates(stem):
        path = directory / candidate
        if path.is_file():
            return path
    return None


def _complete_set(directory: Path) -> dict[str, Path] | None:
    """The four IDX files in ``directory`` keyed by stem, or None if any is missing."""
    found = {stem: _find_file(directory, stem) for stem in FILE_STEMS}
    if any(p is None for p in found.values()):
        return None
    return {stem: p for stem, p in found.items() if p is not None}


def _missing_stems(directory: Path) -> list[str]:
    return [stem for stem in FILE_STEMS if _find_file(directory, stem) is None]


def _layouts(root: Path, name: str) -> tuple[Path, Path]:
    # The <name> sub-folder is unambiguous, so it wins over files at the root.
    return (root / name, root)


def _search_explicit(root: Path, name: str, label: str) -> Path:
    """Resolve a user-named folder or raise: explicit sources never fall through."""
    if not root.is_dir():
        raise DataError(f"{label}: folder {root} does not exist")
    for directory in _layouts(root, name):
        if _complete_set(directory) is not None:
            return directory
    # Report against the sub-folder if the user created one: that is where they put files.
    closest = root / name if (root / name).is_dir() else root
    missing = ", ".join(f"{s}[.gz]" for s in _missing_stems(closest))
    raise DataError(
        f"{label}: no complete {_DISPLAY_NAMES[name]} set in {root / name} or {root} "
        f"({closest} lacks {missing})"
    )


@dataclass(frozen=True)
class _Found:
    directory: Path
    origin: str  # how it was found, for error messages


def _locate(
    name: str,
    data_dir: str | os.PathLike[str] | None,
    *,
    environ: Mapping[str, str],
    cache_root: Path,
    system_root: Path,
) -> _Found | None:
    _check_name(name)
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        return _Found(_search_explicit(root, name, "data_dir"), f"data_dir argument {root}")
    env_value = environ.get(ENV_VAR, "")
    if env_value:
        root = Path(env_value).expanduser()
        return _Found(_search_explicit(root, name, f"{ENV_VAR}={env_value}"), f"{ENV_VAR}={env_value}")
    for directory, origin in (
        (cache_root / name, "the user cache"),
        (system_root / name, "the system data folder"),
    ):
        if _complete_set(directory) is not None:
            return _Found(directory, origin)
    return None


def _locate_default(name: str, data_dir: str | os.PathLike[str] | None) -> _Found | None:
    return _locate(
        name,
        data_dir,
        environ=os.environ,
        cache_root=user_cache_dir(),
        system_root=SYSTEM_DATA_ROOT,
    )


def find_data_dir(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """Folder holding the full ``name`` data set, or None; no files are read.

    Raises DataError when ``data_dir`` or ``$DSE_DATA_DIR`` is given but holds
    no complete set.
    """
    found = _locate_default(name, data_dir)
    return None if found is None else found.directory


# --------------------------------------------------------------------------- loading


_HeaderAndArray = tuple[bytes, np.ndarray]


def _read_split(images_path: Path, labels_path: Path) -> tuple[_HeaderAndArray, _HeaderAndArray]:
    img_header, images = _read_idx_with_header(images_path, _IMAGES_NDIM)
    lab_header, labels = _read_idx_with_header(labels_path, _LABELS_NDIM)
    images = _check_images(images_path, images)
    labels = _check_labels(labels_path, labels)
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{labels_path}: {labels.shape[0]} labels but {images_path.name} holds {images.shape[0]} images"
        )
    if images.shape[0] == 0:
        raise DataError(f"{images_path}: holds no images")
    return (img_header, images), (lab_header, labels)


def _read_four(paths: Mapping[str, Path]) -> tuple[list[np.ndarray], str]:
    """Read train then test split; return arrays in FILE_STEMS order and the set checksum."""
    train = _read_split(paths[FILE_STEMS[0]], paths[FILE_STEMS[1]])
    test = _read_split(paths[FILE_STEMS[2]], paths[FILE_STEMS[3]])
    digest = hashlib.sha256()
    arrays = []
    for header, array in (*train, *test):
        digest.update(header)
        digest.update(memoryview(array).cast("B"))
        arrays.append(array)
    return arrays, digest.hexdigest()


def _full_source(name: str, directory: Path, sha256: str) -> str:
    display = _DISPLAY_NAMES[name]
    if sha256 == DATASET_SHA256[name]:
        return f"full {display} from {directory}"
    return f"{display}-format data from {directory} (checksum differs from the published {display})"


def _load_full(name: str, found: _Found) -> Dataset:
    paths = _complete_set(found.directory)
    if paths is None:  # vanished between lookup and load
        raise DataError(f"{found.directory}: {_DISPLAY_NAMES[name]} files disappeared ({found.origin})")
    try:
        arrays, sha = _read_four(paths)
    except DataError as exc:
        raise DataError(f"{exc} [found via {found.origin}]") from exc
    for other in DATASETS:
        if other != name and sha == DATASET_SHA256[other]:
            raise DataError(
                f"{found.directory} holds {_DISPLAY_NAMES[other]}, not {_DISPLAY_NAMES[name]} "
                f"[found via {found.origin}]"
            )
    return Dataset(
        name=name,
        train_images=arrays[0],
        train_labels=arrays[1],
        test_images=arrays[2],
        test_labels=arrays[3],
        source=_full_source(name, found.directory, sha),
        is_subset=False,
        location=str(found.directory),
        sha256=sha,
        class_names=CLASS_NAMES[name],
    )


def subset_file_name(name: str, stem: str) -> str:
    """File name of one bundled subset file, e.g. ``mnist-train-images-idx3-ubyte.xz``."""
    return f"{name}-{stem}.xz"


def _read_manifest() -> dict:
    try:
        text = resources.files(_SUBSET_PACKAGE).joinpath(_MANIFEST).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise DataError(f"bundled subset manifest dse/data/subset/{_MANIFEST} is not installed") from exc
    return json.loads(text)


def load_bundled_subset(name: str) -> Dataset:
    """The class-balanced subset shipped with the package (always available offline)."""
    _check_name(name)
    manifest = _read_manifest()
    entry = manifest.get("datasets", {}).get(name)
    if entry is None:
        raise DataError(f"bundled subset manifest has no entry for {name!r}")
    package = resources.files(_SUBSET_PACKAGE)
    with _materialize(package, [subset_file_name(name, s) for s in FILE_STEMS]) as files:
        arrays, sha = _read_four(dict(zip(FILE_STEMS, files)))
    if sha != entry["sha256"]:
        raise DataError(
            f"bundled subset of {name} is damaged: sha256 {sha}, manifest says {entry['sha256']}"
        )
    n_train, n_test = arrays[0].shape[0], arrays[2].shape[0]
    return Dataset(
        name=name,
        train_images=arrays[0],
        train_labels=arrays[1],
        test_images=arrays[2],
        test_labels=arrays[3],
        source=f"bundled subset of {_DISPLAY_NAMES[name]} ({n_train:,} train / {n_test:,} test)",
        is_subset=True,
        location="bundled",
        sha256=sha,
        class_names=CLASS_NAMES[name],
    )


@contextmanager
def _materialize(package, names: list[str]) -> Iterator[list[Path]]:
    # as_file gives real paths even when the package is zipped.
    with ExitStack() as stack:
        paths = [stack.enter_context(resources.as_file(package.joinpath(n))) for n in names]
        for n, p in zip(names, paths):
            if not p.is_file():
                raise DataError(f"bundled subset file dse/data/subset/{n} is missing from the installation")
        yield paths


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    allow_bundled: bool = True,
) -> Dataset:
    """Load ``name`` ("mnist" or "fashion-mnist"); see the module doc for the lookup order."""
    found = _locate_default(name, data_dir)
    if found is not None:
        return _load_full(name, found)
    if not allow_bundled:
        raise DataError(
            f"no full {_DISPLAY_NAMES[name]} found (looked in {user_cache_dir() / name} and "
            f"{SYSTEM_DATA_ROOT / name}); run `dse data fetch {name}` or set {ENV_VAR}"
        )
    return load_bundled_subset(name)


# --------------------------------------------------------------------------- fetch


@contextmanager
def _progress(label: str, total: int | None, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yield an ``advance(n_bytes)`` callback: a rich bar on stderr, or a no-op."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _download(url: str, target: IO[bytes], *, timeout: float, label: str, progress: bool) -> None:
    """Stream ``url`` into ``target``; raises DataError with a one-line reason."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            got = 0
            with _progress(label, total, progress) as advance:
                while chunk := response.read(_CHUNK):
                    target.write(chunk)
                    got += len(chunk)
                    advance(len(chunk))
    except urllib.error.HTTPError as exc:
        raise DataError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DataError(f"{url}: {exc.reason}") from exc
    except (OSError, ValueError, http.client.HTTPException) as exc:  # timeouts, resets, bad URLs
        raise DataError(f"{url}: {exc}") from exc
    if total is not None and got != total:
        raise DataError(f"{url}: incomplete download ({got} of {total} bytes)")


def _fetch_one(
    file_name: str,
    urls: list[str],
    final: Path,
    expected_sha: str,
    *,
    timeout: float,
    progress: bool,
) -> None:
    """Download to a temp file, verify, then rename into place; try each URL in turn."""
    errors: list[str] = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=f".{file_name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                _download(url, out, timeout=timeout, label=file_name, progress=progress)
            actual = payload_sha256(tmp)
            if actual != expected_sha:
                raise DataError(
                    f"{file_name} from {url}: SHA-256 mismatch of uncompressed payload, "
                    f"expected {expected_sha}, got {actual}"
                )
            os.replace(tmp, final)  # atomic: readers never see a partial file
            return
        except DataError as exc:
            errors.append(str(exc).replace(str(tmp), file_name))
        finally:
            tmp.unlink(missing_ok=True)
    raise DataError(f"could not fetch {file_name}: " + "; ".join(errors))


def fetch_dataset(
    name: str,
    dest_dir: str | os.PathLike[str] | None = None,
    *,
    base_url: str | None = None,
    progress: bool = True,
    expected: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download the four IDX files of ``name`` and return the folder holding them.

    Files go to ``dest_dir`` (default ``user_cache_dir() / name``, which
    ``load_dataset`` searches).  Each file is verified by the SHA-256 of its
    uncompressed payload; files already present and valid are not downloaded again.
    ``base_url`` replaces the built-in mirrors; ``expected`` (stem -> payload
    SHA-256) replaces the published checksums, for custom mirrors and tests.
    """
    _check_name(name)
    dest = Path(dest_dir).expanduser() if dest_dir is not None else user_cache_dir() / name
    hashes = PAYLOAD_SHA256[name] if expected is None else expected
    missing = [stem for stem in FILE_STEMS if stem not in hashes]
    if missing:
        raise DataError(f"no expected SHA-256 for {', '.join(missing)}")
    mirrors = (base_url,) if base_url else MIRRORS[name]
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{dest}: cannot create download folder ({exc.strerror})") from exc
    for stem in FILE_STEMS:
        if _already_valid(dest, stem, hashes[stem]):
            continue
        file_name = f"{stem}.gz"
        urls = [m.rstrip("/") + "/" + file_name for m in mirrors]
        _fetch_one(file_name, urls, dest / file_name, hashes[stem], timeout=timeout, progress=progress)
    return dest


def _already_valid(directory: Path, stem: str, expected_sha: str) -> bool:
    existing = _find_file(directory, stem)
    if existing is None:
        return False
    try:
        return payload_sha256(existing) == expected_sha
    except DataError:
        return False  # damaged copy: download again, the rename replaces it
