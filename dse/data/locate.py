"""Where a data set is found, and the :class:`Dataset` value that holds it.

Where the full data comes from, first match wins:

1. the ``data_dir`` argument (``<data_dir>/<name>/`` or ``<data_dir>`` itself),
2. the ``DSE_DATA_DIR`` environment variable (same two layouts),
3. the per-user cache, ``user_cache_dir() / <name>`` (where :func:`dse.data.fetch.fetch_dataset` puts it),
4. ``/usr/share/datasets/<name>`` (Debian's ``dataset-fashion-mnist`` layout).

A source named explicitly (1, 2) that is missing or broken is an error, never a
silent fallback.  When nothing is found, ``load_dataset`` returns the small
class-balanced subset shipped in ``dse/data/subset`` so the tool works offline.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from dse.data import DATASETS, DataError, check_name
from dse.data.idx import IMAGE_PIXELS, N_CLASSES, read_images_with_header, read_labels_with_header

__all__ = [
    "DATASETS",
    "ENV_VAR",
    "SYSTEM_DATA_ROOT",
    "FILE_STEMS",
    "CLASS_NAMES",
    "DATASET_SHA256",
    "DataError",
    "Dataset",
    "load_dataset",
    "load_bundled_subset",
    "find_data_dir",
    "find_file",
    "user_cache_dir",
    "subset_file_name",
]

ENV_VAR = "DSE_DATA_DIR"
# Debian's dataset-* packages install here (dataset-fashion-mnist ships
# /usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz).
SYSTEM_DATA_ROOT = Path("/usr/share/datasets")

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

# Dataset.sha256 of the full published sets (sha256 over the four payloads in
# FILE_STEMS order).  Lets us tell "MNIST" from "Fashion-MNIST in the MNIST slot".
DATASET_SHA256: Mapping[str, str] = MappingProxyType(
    {
        "mnist": "b2d8f5bf39174ee5ffeefa97e42d673c35432b411bb5d1f74fbbeddae7f1690a",
        "fashion-mnist": "14410854cf7a289477dcfc7df3f8ec24741e281cdcc425ede0d9a748ca630214",
    }
)

_SUBSET_PACKAGE = "dse.data.subset"
_MANIFEST = "manifest.json"



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


# --------------------------------------------------------------------------- lookup


def user_cache_dir() -> Path:
    """Per-user cache folder for downloaded data sets."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("snn-dse", appauthor=False)) / "datasets"


def _file_candidates(stem: str) -> tuple[str, ...]:
    # Some mirrors / archives use "train-images.idx3-ubyte" (dot instead of dash).
    dotted = stem.replace("-idx", ".idx", 1)
    return (f"{stem}.gz", stem, f"{dotted}.gz", dotted)


def find_file(directory: Path, stem: str) -> Path | None:
    for candidate in _file_candidates(stem):
        path = directory / candidate
        if path.is_file():
            return path
    return None


def _complete_set(directory: Path) -> dict[str, Path] | None:
    """The four IDX files in ``directory`` keyed by stem, or None if any is missing."""
    found = {stem: find_file(directory, stem) for stem in FILE_STEMS}
    if any(p is None for p in found.values()):
        return None
    return {stem: p for stem, p in found.items() if p is not None}


def _missing_stems(directory: Path) -> list[str]:
    return [stem for stem in FILE_STEMS if find_file(directory, stem) is None]


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
    check_name(name)
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
    img_header, images = read_images_with_header(images_path)
    lab_header, labels = read_labels_with_header(labels_path)
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{labels_path}: {labels.shape[0]} labels but {images_path.name} holds {images.shape[0]} images"
        )
    if images.shape[0] == 0:
        raise DataError(f"{images_path}: holds no images")
    return (img_header, images), (lab_header, labels)


def _read_four(paths: Mapping[str, Path]) -> tuple[list[np.ndarray], str]:
    """Read train then test split; return arrays in FILE_STEMS order and the set checksum.

    A search loads its data set once per training, PTQ variant and early-exit test (hundreds of times;
    decompressing took 5% of the embedded default's time), so the arrays are kept per process, read-only,
    and read again only when a file's identity (path, inode, size, modification time) changes.
    """
    identity = tuple(_file_identity(paths[stem]) for stem in FILE_STEMS)
    if identity not in _LOADED:
        if len(_LOADED) >= _LOADED_MAX:
            _LOADED.pop(next(iter(_LOADED)))
        arrays, sha = _read_four_files(paths)
        for array in arrays:
            array.flags.writeable = False
        _LOADED[identity] = (arrays, sha)
    arrays, sha = _LOADED[identity]
    return list(arrays), sha


_LOADED: dict[tuple[Any, ...], tuple[list[np.ndarray], str]] = {}
_LOADED_MAX = 4  # data sets kept per process (full MNIST: 55 MB)


def _file_identity(path: Path) -> tuple[Any, ...]:
    try:
        st = Path(path).stat()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


def _read_four_files(paths: Mapping[str, Path]) -> tuple[list[np.ndarray], str]:
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
    return _dataset(name, arrays, sha, source=_full_source(name, found.directory, sha), is_subset=False,
                    location=str(found.directory))


def _dataset(name: str, arrays: list[np.ndarray], sha: str, *, source: str, is_subset: bool, location: str) -> Dataset:
    """A Dataset from the four arrays in FILE_STEMS order."""
    return Dataset(name=name, train_images=arrays[0], train_labels=arrays[1], test_images=arrays[2],
                   test_labels=arrays[3], source=source, is_subset=is_subset, location=location, sha256=sha,
                   class_names=CLASS_NAMES[name])


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
    check_name(name)
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
    return _dataset(name, arrays, sha, source=f"bundled subset of {_DISPLAY_NAMES[name]} ({n_train:,} train / "
                    f"{n_test:,} test)", is_subset=True, location="bundled")


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
