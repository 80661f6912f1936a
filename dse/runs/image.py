"""Render the input->excitatory weights as a grid of receptive fields.

``weights`` has shape ``(n_inputs, N)``: row = input pixel, column = neuron,
with ``n_inputs = side * side`` (784 = 28 x 28 for MNIST).  Column ``n``
reshaped row-major to ``(side, side)`` is neuron ``n``'s receptive field, i.e.
input index ``i`` maps to pixel ``(i // side, i % side)``.

The fields are tiled in a near-square grid with ``ceil(sqrt(N))`` columns,
filled row by row, separated by 1-pixel lines of mid-grey; grid cells beyond
the last neuron are filled with the separator colour.  All tiles share one
intensity scale, the global maximum weight (or an explicit ``vmax``), so that
relative strengths between neurons stay visible -- a per-tile scale would make
a barely-trained neuron look as crisp as a converged one.

Only numpy and Pillow are used; the colormaps are small hand-made
approximations of matplotlib's ``hot`` and ``viridis``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "COLORMAPS",
    "SEPARATOR",
    "grid_shape",
    "tile_order",
    "weights_to_image",
    "write_weight_png",
]

SEPARATOR = 128
"""Grey level of separator lines and empty grid cells."""

# viridis sampled at 0, 1/8, ..., 1 (8-bit RGB); linear interpolation between
# the anchors is visually indistinguishable at tile sizes.
_VIRIDIS_ANCHORS = np.array(
    [
        (68, 1, 84),
        (71, 44, 122),
        (59, 82, 139),
        (44, 113, 142),
        (33, 145, 140),
        (39, 173, 129),
        (94, 201, 98),
        (170, 220, 50),
        (253, 231, 37),
    ],
    dtype=np.float64,
)

COLORMAPS = ("gray", "hot", "viridis")


def grid_shape(n_tiles: int) -> tuple[int, int]:
    """(rows, cols) of the near-square grid: ``ceil(sqrt(n))`` columns."""
    if n_tiles < 1:
        raise ValueError(f"need at least one tile, got {n_tiles}")
    cols = math.isqrt(n_tiles - 1) + 1  # exact ceil(sqrt(n)) without float error
    rows = -(-n_tiles // cols)
    return rows, cols


def tile_order(n_neurons: int, class_labels: Any = None) -> np.ndarray:
    """Neuron index shown in each grid cell, in row-major cell order.

    Without labels neurons appear in index order.  With ``class_labels``
    (``(N,)`` ints, -1 = unassigned) they are grouped by class, ascending,
    unassigned last, keeping index order within a class (stable sort), so the
    fields of one digit sit next to each other.
    """
    if class_labels is None:
        return np.arange(n_neurons, dtype=np.int64)
    lab = np.asarray(class_labels)
    if lab.shape != (n_neurons,):
        raise ValueError(f"class_labels must have shape ({n_neurons},), got {lab.shape}")
    if lab.size and not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"class_labels must have an integer dtype, got {lab.dtype}")
    lab = lab.astype(np.int64)
    if lab.size and lab.min() < -1:
        raise ValueError(f"class_labels must be >= -1, got minimum {lab.min()}")
    key = np.where(lab < 0, np.iinfo(np.int64).max, lab)
    return np.argsort(key, kind="stable").astype(np.int64)


def _check_weights(weights: Any) -> tuple[np.ndarray, int]:
    w = np.asarray(weights)
    if w.ndim != 2:
        raise ValueError(f"weights must be 2-D (n_inputs, n_neurons), got shape {w.shape}")
    n_inputs, n_neurons = w.shape
    side = math.isqrt(n_inputs)
    if n_inputs == 0 or side * side != n_inputs:
        raise ValueError(
            f"weights must have a square number of input rows (784 for 28x28), got {n_inputs}"
        )
    if n_neurons == 0:
        raise ValueError("weights has no neurons (0 columns)")
    if not (np.issubdtype(w.dtype, np.integer) or np.issubdtype(w.dtype, np.floating)):
        raise ValueError(f"weights must be numeric, got dtype {w.dtype}")
    w = w.astype(np.float64, copy=False)
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite")
    if w.min() < 0:
        raise ValueError(f"weights must be non-negative, got minimum {w.min()}")
    return w, side


def _apply_colormap(x: np.ndarray, cmap: str) -> np.ndarray:
    """Map intensities in [0, 1] (NaN = separator) to uint8 grey or RGB."""
    sep = np.isnan(x)
    x = np.where(sep, 0.0, x)
    if cmap == "gray":
        out = np.rint(x * 255.0).astype(np.uint8)
        out[sep] = SEPARATOR
        return out
    if cmap == "hot":
        # black -> red -> yellow -> white, like matplotlib's 'hot'
        rgb = np.stack(
            [
                np.clip(x / 0.375, 0.0, 1.0),
                np.clip((x - 0.375) / 0.375, 0.0, 1.0),
                np.clip((x - 0.75) / 0.25, 0.0, 1.0),
            ],
            axis=-1,
        ) * 255.0
    elif cmap == "viridis":
        pos = np.linspace(0.0, 1.0, len(_VIRIDIS_ANCHORS))
        rgb = np.stack([np.interp(x, pos, _VIRIDIS_ANCHORS[:, k]) for k in range(3)], axis=-1)
    else:
        raise ValueError(f"unknown cmap {cmap!r}; choose one of {COLORMAPS}")
    out = np.rint(rgb).astype(np.uint8)
    out[sep] = SEPARATOR
    return out


def weights_to_image(
    weights: Any,
    *,
    class_labels: Any = None,
    max_neurons: int | None = None,
    cmap: str = "gray",
    vmax: float | None = None,
) -> np.ndarray:
    """Tile every neuron's receptive field into one image.

    Args:
        weights: ``(side*side, N)`` non-negative weights, input-major.
        class_labels: optional ``(N,)`` neuron classes (-1 = unassigned); when
            given, tiles are grouped by class (see :func:`tile_order`).
        max_neurons: show only the first ``max_neurons`` tiles (after ordering).
        cmap: ``"gray"`` (returns ``(H, W)``), ``"hot"`` or ``"viridis"``
            (return ``(H, W, 3)``).
        vmax: weight that maps to full intensity; defaults to the maximum of
            the whole matrix (including neurons not shown, so previews of a
            subset keep the same scale).  Pass the network's ``w_max`` to keep
            frames from different epochs comparable.  Larger weights saturate.

    Returns:
        uint8 image of ``rows*side + rows-1`` by ``cols*side + cols-1`` pixels.

    Raises:
        ValueError: on a non-2-D or non-square-input weight matrix, negative or
            non-finite weights, bad ``class_labels``/``max_neurons``/``vmax``,
            or an unknown ``cmap``.
    """
    w, side = _check_weights(weights)
    if cmap not in COLORMAPS:
        raise ValueError(f"unknown cmap {cmap!r}; choose one of {COLORMAPS}")
    order = tile_order(w.shape[1], class_labels)
    if max_neurons is not None:
        if isinstance(max_neurons, bool) or not isinstance(max_neurons, (int, np.integer)) \
                or max_neurons < 1:
            raise ValueError(f"max_neurons must be a positive int, got {max_neurons!r}")
        order = order[:max_neurons]

    if vmax is None:
        scale = float(w.max())
    else:
        scale = float(vmax)
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"vmax must be positive and finite, got {vmax!r}")
    # All-zero weights: nothing to scale, render black rather than divide by 0.
    norm = np.clip(w / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(w)

    n = order.shape[0]
    rows, cols = grid_shape(n)
    # (n, side, side) tiles; pad to a full grid with NaN (= separator colour)
    # and give every tile one trailing separator row and column, so that a
    # single reshape lays them out; the last separator row/column is cut off.
    tiles = np.full((rows * cols, side + 1, side + 1), np.nan)
    tiles[:n, :side, :side] = norm[:, order].T.reshape(n, side, side)
    grid = tiles.reshape(rows, cols, side + 1, side + 1).transpose(0, 2, 1, 3)
    canvas = grid.reshape(rows * (side + 1), cols * (side + 1))[:-1, :-1]
    return _apply_colormap(canvas, cmap)


def write_weight_png(
    path: str | os.PathLike[str],
    weights: Any,
    *,
    scale: int = 2,
    class_labels: Any = None,
    max_neurons: int | None = None,
    cmap: str = "gray",
    vmax: float | None = None,
) -> Path:
    """Render ``weights`` (see :func:`weights_to_image`) and write a PNG.

    Each pixel becomes a ``scale`` x ``scale`` block (nearest neighbour, so
    individual weights stay sharp).  The file is written atomically
    (:func:`dse.runs.folder.atomic_file`), so a reader never sees a half-written image.

    Returns:
        The path written.
    """
    from PIL import Image  # deferred: only this function needs Pillow

    from dse.runs.folder import atomic_file

    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be a positive int, got {scale!r}")
    img = weights_to_image(
        weights, class_labels=class_labels, max_neurons=max_neurons, cmap=cmap, vmax=vmax
    )
    img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)

    path = Path(path)
    with atomic_file(path) as fh:
        Image.fromarray(np.ascontiguousarray(img)).save(fh, format="PNG")
    return path
