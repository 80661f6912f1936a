"""Data sets: IDX files in, images and labels out.

``locate`` (where a data set is found: flag, environment, cache, system, bundled
``subset/``; the :class:`~dse.data.locate.Dataset` value), the IDX reader and
writer, and the verified download.  This module stays free of heavy imports:
the CLI reads ``DATASETS`` for its help.
"""

__all__ = ["DATASETS"]

DATASETS = ("mnist", "fashion-mnist")
