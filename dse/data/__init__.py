"""Data sets: IDX files in, images and labels out.

``idx`` (the IDX format: read, write, payload checksum) -> ``locate`` (where a
data set is found: flag, environment, cache, system, else the bundled
``subset/``; the :class:`~dse.data.locate.Dataset` value) and ``fetch`` (the
verified download into the cache).  This module holds what all three share
and stays free of heavy imports (the CLI reads ``DATASETS`` for its help).
"""

__all__ = ["DATASETS", "DataError", "check_name"]

DATASETS = ("mnist", "fashion-mnist")


class DataError(Exception):
    """A data set is unknown, missing, corrupt or cannot be downloaded."""

    def __str__(self) -> str:
        # Messages name user-given paths, which may hold line breaks; the CLI prints one line.
        return super().__str__().replace("\r", "\\r").replace("\n", "\\n")


def check_name(name: str) -> None:
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}: choose one of {', '.join(DATASETS)}")
