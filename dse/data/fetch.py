"""Download a data set's four IDX files from a mirror, verified by the SHA-256 of their payload.

Each file goes to a temporary file beside its final place, is checked, then
renamed (readers never see a partial file); files already present and valid
are not downloaded again.  The default destination is the per-user cache that
:func:`dse.data.locate.load_dataset` searches.
"""

from __future__ import annotations

import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import IO

from dse.data import DataError, check_name, locate
from dse.data.idx import CHUNK, payload_sha256
from dse.data.locate import FILE_STEMS, find_file
from dse.progress import ProgressSink

__all__ = ["PAYLOAD_SHA256", "MIRRORS", "fetch_dataset"]

log = logging.getLogger("dse.data")

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


def _download(url: str, target: IO[bytes], *, timeout: float, progress: ProgressSink) -> None:
    """Stream ``url`` into ``target`` (phase "download", in bytes); raises DataError with a one-line reason."""
    log.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            got = 0
            progress.start("download", total or 0)
            while chunk := response.read(CHUNK):
                target.write(chunk)
                got += len(chunk)
                progress.advance("download", got)
            progress.finish("download")
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
    progress: ProgressSink,
) -> None:
    """Download to a temp file, verify, then rename into place; try each URL in turn."""
    errors: list[str] = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=f".{file_name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                _download(url, out, timeout=timeout, progress=progress)
                out.flush()
                os.fsync(out.fileno())
            actual = payload_sha256(tmp)
            if actual != expected_sha:
                raise DataError(
                    f"{file_name} from {url}: SHA-256 mismatch of uncompressed payload, "
                    f"expected {expected_sha}, got {actual}"
                )
            os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; a data cache is shared
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
    progress: ProgressSink | None = None,
    expected: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download the four IDX files of ``name`` and return the folder holding them.

    Files go to ``dest_dir`` (default ``locate.user_cache_dir() / name``, which
    ``load_dataset`` searches).  Each file is verified by the SHA-256 of its
    uncompressed payload; files already present and valid are not downloaded again.
    ``base_url`` replaces the built-in mirrors; ``expected`` (stem -> payload
    SHA-256) replaces the published checksums, for custom mirrors and tests.
    ``progress`` hears each file's phase "download" (bytes); each URL is logged
    (logger ``dse.data``) as its download starts.
    """
    check_name(name)
    progress = progress or ProgressSink()
    dest = Path(dest_dir).expanduser() if dest_dir is not None else locate.user_cache_dir() / name
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
    existing = find_file(directory, stem)
    if existing is None:
        return False
    try:
        return payload_sha256(existing) == expected_sha
    except DataError:
        return False  # damaged copy: download again, the rename replaces it
