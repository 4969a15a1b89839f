"""Label colours blended over a photo, with a legend: pictures of masks for people.

Used for the dataset's ``Segmentation*Visualization`` images and for prediction
overlays. The look follows labelme's visualizations (VOC colours at half opacity over
the greyscale photo, a legend in the bottom-right corner) but the blending is done in
integers and only the classes present are listed, which makes it several times faster
than ``imgviz.label2rgb`` on the same image: ``benchmarks/bench_visualize.py`` measures
both (2.6x at 500x375, 4.3x at 1280x960, 5.6x at 4032x3024 on the 2-core dev machine);
rerun it before replacing this code with imgviz.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from annotool.labels import IGNORE_ID, colormap_with
from annotool.voc import jpeg_bytes, mask_values

LEGEND_FONT_SIZE = 15
OVERLAY_JPEG_QUALITY = 90
_LEGEND_PADDING = 4
_SWATCH_GAP = 4


def grayscale(pixels: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """``(H, W, 3)`` RGB to ``(H, W)`` luminance (ITU-R 601 weights), as uint8."""
    weights = np.array([299, 587, 114], dtype=np.uint32)
    return ((pixels.astype(np.uint32) @ weights + 500) // 1000).astype(np.uint8)


def overlay(
    label: NDArray[np.integer],
    background: NDArray[np.uint8],
    label_names: Sequence[str],
    legend: bool = True,
    palette: NDArray[np.uint8] | None = None,
) -> NDArray[np.uint8]:
    """Colour each labelled pixel of ``background`` with its label's colour at 50 %.

    ``label`` is ``(H, W)``: ids, -1 or 255 for ignore (drawn in the VOC ignore colour),
    0 for background (left as it is). ``background`` is ``(H, W)`` greyscale or
    ``(H, W, 3)`` RGB. ``label_names[i]`` names id ``i`` in the legend; the legend lists
    the ids present in ``label``, ignore aside. ``palette`` is ``(K, 3)`` uint8, the
    colours of ids 0 to K-1 (a checkpoint's); other ids keep their VOC colours. Returns
    ``(H, W, 3)`` uint8.
    """
    values = mask_values(label)
    base = background if background.ndim == 3 else np.repeat(background[..., None], 3, axis=2)
    colormap = colormap_with(palette)
    colours = colormap[values]
    blended = ((base.astype(np.uint16) + colours + 1) >> 1).astype(np.uint8)
    result = np.where((values == 0)[..., None], base, blended)
    if not legend:
        return result
    present = np.flatnonzero(np.bincount(values.ravel(), minlength=IGNORE_ID + 1))
    entries = [
        (int(value), label_names[value])
        for value in present
        if value != IGNORE_ID and value < len(label_names)
    ]
    return _draw_legend(result, entries, colormap)


def overlay_jpeg(
    label: NDArray[np.integer],
    background: NDArray[np.uint8],
    label_names: Sequence[str],
    palette: NDArray[np.uint8] | None = None,
) -> bytes:
    """``overlay`` with a legend, encoded as JPEG bytes."""
    return jpeg_bytes(
        overlay(label, background, label_names, palette=palette), OVERLAY_JPEG_QUALITY
    )


@cache
def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=LEGEND_FONT_SIZE)


def _draw_legend(
    pixels: NDArray[np.uint8], entries: list[tuple[int, str]], colormap: NDArray[np.uint8]
) -> NDArray[np.uint8]:
    """Draw ``(id, name)`` entries, with their ``colormap`` colours, boxed in the bottom right."""
    if not entries:
        return pixels
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    font = _font()
    line_height = LEGEND_FONT_SIZE + 3
    swatch = LEGEND_FONT_SIZE - 3
    text_width = max(draw.textlength(name, font=font) for _, name in entries)
    box_width = int(_LEGEND_PADDING * 3 + swatch + _SWATCH_GAP + text_width)
    box_height = _LEGEND_PADDING * 2 + line_height * len(entries)
    left = max(0, image.width - box_width)
    top = max(0, image.height - box_height)
    draw.rectangle((left, top, image.width - 1, image.height - 1), fill=(255, 255, 255))
    for row, (value, name) in enumerate(entries):
        y = top + _LEGEND_PADDING + row * line_height
        x = left + _LEGEND_PADDING
        colour = tuple(int(channel) for channel in colormap[value])
        draw.rectangle((x, y + 2, x + swatch, y + 2 + swatch), fill=colour, outline=(0, 0, 0))
        draw.text((x + swatch + _SWATCH_GAP, y), name, fill=(0, 0, 0), font=font)
    return np.asarray(image)
