"""Mask visualizations: blending and legend."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from annotool.labels import voc_colormap
from annotool.visualize import grayscale, overlay, overlay_jpeg


def test_grayscale_uses_luminance_weights() -> None:
    pixels = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [200, 200, 200]]], np.uint8)
    assert grayscale(pixels).tolist() == [[76, 150, 29, 200]]


@pytest.mark.parametrize("ignore_value", [-1, 255], ids=["npy-ignore", "png-ignore"])
def test_overlay_blends_labels_and_keeps_background(ignore_value: int) -> None:
    gray = np.full((4, 5), 100, np.uint8)
    label = np.zeros((4, 5), np.int32)
    label[0, 0] = 1
    label[1, 1] = ignore_value
    result = overlay(label, gray, ["_background_", "cat"], legend=False)
    assert result.shape == (4, 5, 3) and result.dtype == np.uint8
    assert result[3, 4].tolist() == [100, 100, 100]
    cat = voc_colormap()[1].astype(int)
    assert result[0, 0].tolist() == ((cat + 100 + 1) // 2).tolist()
    ignore = voc_colormap()[255].astype(int)
    assert result[1, 1].tolist() == ((ignore + 100 + 1) // 2).tolist()


def test_overlay_accepts_rgb_background() -> None:
    rgb = np.zeros((3, 3, 3), np.uint8)
    rgb[..., 2] = 60
    result = overlay(np.zeros((3, 3), np.uint8), rgb, ["_background_"], legend=False)
    assert np.array_equal(result, rgb)


def test_legend_lists_present_classes_in_the_bottom_right_corner() -> None:
    gray = np.full((80, 200), 128, np.uint8)
    label = np.zeros((80, 200), np.uint8)
    label[:20, :20] = 2
    plain = overlay(label, gray, ["_background_", "cat", "dog"], legend=False)
    with_legend = overlay(label, gray, ["_background_", "cat", "dog"])
    changed = np.argwhere((plain != with_legend).any(axis=2))
    assert len(changed) > 0
    assert changed[:, 0].min() > 30 and changed[:, 1].min() > 60
    assert (with_legend[-2, -2] == 255).all()


def test_overlay_jpeg_encodes_the_overlay() -> None:
    data = overlay_jpeg(np.ones((16, 16), np.int32), np.zeros((16, 16), np.uint8), ["bg", "a"])
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.size) == ("JPEG", (16, 16))


def test_overlay_and_legend_use_a_given_palette() -> None:
    gray = np.full((60, 200), 100, np.uint8)
    label = np.zeros((60, 200), np.uint8)
    label[:10, :10] = 1
    label[10, 10] = 255
    palette = np.array([[0, 0, 0], [20, 240, 60]], np.uint8)
    result = overlay(label, gray, ["_background_", "leaf"], palette=palette)
    assert result[0, 0].tolist() == [60, 170, 80]
    ignore = voc_colormap()[255].astype(int)  # ids beyond the palette keep the VOC colours
    assert result[10, 10].tolist() == ((ignore + 100 + 1) // 2).tolist()
    legend = result[20:].reshape(-1, 3)  # below the labelled corner: only the legend
    assert (legend == palette[1]).all(axis=1).any()  # the swatch has the palette's colour
    assert not (legend == voc_colormap()[1]).all(axis=1).any()
