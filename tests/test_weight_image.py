"""Tests for dse.runs.image: receptive-field grid rendering and PNG output."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from dse.runs.image import (
    SEPARATOR,
    grid_shape,
    tile_order,
    weights_to_image,
    write_weight_png,
)


def tile(img: np.ndarray, k: int, n_tiles: int, side: int = 28) -> np.ndarray:
    """Cell k (row-major) of a grid rendered for n_tiles."""
    _, cols = grid_shape(n_tiles)
    r, c = divmod(k, cols)
    y, x = r * (side + 1), c * (side + 1)
    return img[y:y + side, x:x + side]


def test_grid_shape():
    assert grid_shape(1) == (1, 1)
    assert grid_shape(100) == (10, 10)
    assert grid_shape(7) == (3, 3)
    assert grid_shape(101) == (10, 11)
    assert grid_shape(6) == (2, 3)
    with pytest.raises(ValueError):
        grid_shape(0)


@given(st.integers(1, 5000))
def test_grid_shape_near_square(n):
    rows, cols = grid_shape(n)
    assert cols * cols >= n > (cols - 1) ** 2
    assert rows * cols >= n > (rows - 1) * cols


def test_shape_n100():
    img = weights_to_image(np.random.default_rng(0).random((784, 100)))
    assert img.dtype == np.uint8
    assert img.shape == (10 * 28 + 9, 10 * 28 + 9)


def test_shape_n7_three_columns_and_empty_cells():
    img = weights_to_image(np.ones((784, 7)))
    assert img.shape == (3 * 28 + 2, 3 * 28 + 2)
    # 7 tiles fill cells 0..6; cells 7 and 8 are empty (separator colour)
    assert np.all(tile(img, 6, 7) == 255)
    assert np.all(tile(img, 7, 7) == SEPARATOR)
    assert np.all(tile(img, 8, 7) == SEPARATOR)
    # separator lines
    assert np.all(img[28, :] == SEPARATOR) and np.all(img[:, 57] == SEPARATOR)


def test_tile_reproduces_receptive_field_row_major():
    rng = np.random.default_rng(1)
    w = rng.random((784, 5))
    w[0, 3] = 2.0  # global max
    img = weights_to_image(w)
    for n in range(5):
        expected = np.rint(w[:, n].reshape(28, 28) / 2.0 * 255).astype(np.uint8)
        np.testing.assert_array_equal(tile(img, n, 5), expected)


def test_pixel_mapping_is_row_major():
    w = np.zeros((784, 1))
    r, c = 3, 17
    w[r * 28 + c, 0] = 1.0
    img = weights_to_image(w)
    assert img.shape == (28, 28)
    assert img[r, c] == 255
    assert np.count_nonzero(img) == 1


def test_global_scale_keeps_relative_strength():
    w = np.zeros((784, 2))
    w[:, 0] = 1.0
    w[:, 1] = 0.5
    img = weights_to_image(w)
    assert np.all(tile(img, 0, 2) == 255)
    assert np.all(tile(img, 1, 2) == 128)


def test_vmax_fixes_scale_and_saturates():
    w = np.full((784, 1), 0.25)
    w[0, 0] = 2.0
    img = weights_to_image(w, vmax=1.0)
    assert img[0, 0] == 255 and img[0, 1] == 64
    with pytest.raises(ValueError, match="vmax"):
        weights_to_image(w, vmax=0)


def test_all_zero_weights_render_black():
    img = weights_to_image(np.zeros((784, 4)))
    assert np.all(tile(img, 0, 4) == 0)


def test_class_labels_group_tiles():
    w = np.zeros((784, 4))
    for n in range(4):
        w[:, n] = n + 1  # tile intensity identifies the neuron
    assert tile_order(4, np.array([2, -1, 0, 2])).tolist() == [2, 0, 3, 1]
    img = weights_to_image(w, class_labels=np.array([2, -1, 0, 2]))
    shown = [int(tile(img, k, 4)[0, 0]) for k in range(4)]
    expected = [int(np.rint((n + 1) / 4 * 255)) for n in [2, 0, 3, 1]]
    assert shown == expected


def test_max_neurons_keeps_global_scale():
    w = np.zeros((784, 10))
    w[:, 0] = 0.5
    w[:, 9] = 1.0  # not shown, still sets the scale
    img = weights_to_image(w, max_neurons=4)
    assert img.shape == (2 * 28 + 1, 2 * 28 + 1)
    assert np.all(tile(img, 0, 4) == 128)


@pytest.mark.parametrize("cmap", ["hot", "viridis"])
def test_colormaps_rgb(cmap):
    w = np.linspace(0, 1, 784)[:, None] * np.ones((1, 3))
    img = weights_to_image(w, cmap=cmap)
    assert img.shape == (2 * 28 + 1, 2 * 28 + 1, 3) and img.dtype == np.uint8
    t = tile(img, 0, 3)
    assert np.all(img[28, :] == SEPARATOR)
    # perceptually increasing: brightness grows from weight 0 to weight max
    lum = t.astype(float) @ [0.299, 0.587, 0.114]
    flat = lum.reshape(-1)
    assert np.all(np.diff(flat) >= -1.0)
    assert flat[-1] > flat[0] + 150


@pytest.mark.parametrize(
    "weights, kwargs, match",
    [
        (np.zeros(784), {}, "2-D"),
        (np.zeros((783, 3)), {}, "square"),
        (np.zeros((784, 0)), {}, "no neurons"),
        (-np.ones((784, 2)), {}, "non-negative"),
        (np.full((784, 2), np.inf), {}, "finite"),
        (np.zeros((784, 2)), {"cmap": "jet"}, "cmap"),
        (np.zeros((784, 2)), {"max_neurons": 0}, "max_neurons"),
        (np.zeros((784, 2)), {"class_labels": np.array([0])}, "class_labels"),
        (np.zeros((784, 2)), {"class_labels": np.array([0.0, 1.0])}, "integer"),
    ],
)
def test_bad_input_raises(weights, kwargs, match):
    with pytest.raises(ValueError, match=match):
        weights_to_image(weights, **kwargs)


def test_other_square_input_sizes():
    img = weights_to_image(np.ones((196, 4)))  # 14x14 inputs
    assert img.shape == (2 * 14 + 1, 2 * 14 + 1)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), side=st.integers(1, 6))
def test_every_tile_roundtrips(n, side):
    rng = np.random.default_rng(n * 7 + side)
    w = rng.integers(0, 256, (side * side, n)).astype(float)
    w[0, 0] = 255.0  # scale = 1 per grey level
    img = weights_to_image(w)
    rows, cols = grid_shape(n)
    assert img.shape == (rows * (side + 1) - 1, cols * (side + 1) - 1)
    for k in range(n):
        np.testing.assert_array_equal(tile(img, k, n, side), w[:, k].reshape(side, side))


def test_png_roundtrip(tmp_path):
    rng = np.random.default_rng(2)
    w = rng.random((784, 7))
    path = write_weight_png(tmp_path / "w.png", w, scale=3)
    assert path == tmp_path / "w.png"
    with Image.open(path) as im:
        assert im.size == ((3 * 28 + 2) * 3, (3 * 28 + 2) * 3)  # (width, height)
        arr = np.asarray(im)
    small = weights_to_image(w)
    np.testing.assert_array_equal(arr[::3, ::3], small)
    np.testing.assert_array_equal(arr[2::3, 2::3], small)
    # no temporary files left behind
    assert os.listdir(tmp_path) == ["w.png"]


def test_png_rgb_and_overwrite(tmp_path):
    p = tmp_path / "w.png"
    write_weight_png(p, np.ones((784, 2)), scale=1)
    write_weight_png(p, np.ones((784, 4)), scale=1, cmap="hot")
    with Image.open(p) as im:
        assert im.mode == "RGB" and im.size == (57, 57)


def test_png_bad_args_leave_nothing(tmp_path):
    with pytest.raises(ValueError, match="scale"):
        write_weight_png(tmp_path / "w.png", np.ones((784, 2)), scale=0)
    with pytest.raises(ValueError, match="square"):
        write_weight_png(tmp_path / "w.png", np.ones((780, 2)))
    assert os.listdir(tmp_path) == []
