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
from functools import cache, lru_cache

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
    # One channel at a time: twice as fast as a uint32 matrix product (numpy has no BLAS
    # for integers), with the same integer rounding.
    red, green, blue = (pixels[..., channel].astype(np.uint32) for channel in range(3))
    return ((red * 299 + green * 587 + blue * 114 + 500) // 1000).astype(np.uint8)


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
    image = _overlay_image(label, background, label_names, legend, palette)
    return np.array(image if image.mode == "RGB" else image.convert("RGB"))


def overlay_jpeg(
    label: NDArray[np.integer],
    background: NDArray[np.uint8],
    label_names: Sequence[str],
    palette: NDArray[np.uint8] | None = None,
) -> bytes:
    """``overlay`` with a legend, encoded as JPEG bytes."""
    image = _overlay_image(label, background, label_names, True, palette)
    return jpeg_bytes(image, OVERLAY_JPEG_QUALITY)


def _overlay_image(
    label: NDArray[np.integer],
    background: NDArray[np.uint8],
    label_names: Sequence[str],
    legend: bool,
    palette: NDArray[np.uint8] | None,
) -> Image.Image:
    """:func:`overlay` as a Pillow image: RGBX over a greyscale background (the lookup's
    4-byte pixels, encoded as they are: repacking them into RGB costs more than the
    blend), RGB over an RGB one."""
    values = mask_values(label)
    colormap = colormap_with(palette)
    entries = _legend_entries(values, label_names) if legend else []
    height, width = values.shape
    if background.ndim == 2:
        index = (values.astype(np.uint16) << 8) | background
        rgbx = np.take(_blend_lookup(colormap.tobytes()), index)
        if entries:
            _paste_legend(rgbx, _legend_rgbx(entries, colormap, width, height), entries)
        return Image.frombuffer("RGBX", (width, height), rgbx, "raw", "RGBX", 0, 1)
    colours = colormap[values]
    blended = ((background.astype(np.uint16) + colours + 1) >> 1).astype(np.uint8)
    result = np.where((values == 0)[..., None], background, blended)
    if entries:
        _paste_legend(result, _legend_rgb(entries, colormap, width, height), entries)
    return Image.fromarray(result)


def _legend_entries(values: NDArray[np.uint8], label_names: Sequence[str]) -> list[tuple[int, str]]:
    """``(id, name)`` of each id present in ``values`` that has a name, ignore aside."""
    counts = Image.fromarray(values).histogram()
    return [
        (value, label_names[value])
        for value, count in enumerate(counts)
        if count and value != IGNORE_ID and value < len(label_names)
    ]


@lru_cache(maxsize=4)
def _blend_lookup(colormap_bytes: bytes) -> NDArray[np.uint32]:
    """``(256 * 256,)`` uint32: at ``value << 8 | grey`` the overlay's colour of a pixel of
    label ``value`` over grey level ``grey``, as the bytes R, G, B, 0. Blending a
    greyscale photo is then one lookup of 4 bytes per pixel instead of several passes of
    integer arithmetic (same values, about ten times faster).
    """
    colormap = np.frombuffer(colormap_bytes, dtype=np.uint8).reshape(256, 3)
    grey = np.arange(256, dtype=np.uint16)
    table = np.zeros((256, 256, 4), dtype=np.uint8)
    table[..., :3] = (grey[None, :, None] + colormap[:, None, :].astype(np.uint16) + 1) >> 1
    table[0, :, :3] = grey[:, None]  # background stays as it is
    return table.view(np.uint32).reshape(256 * 256)


@cache
def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=LEGEND_FONT_SIZE)


def _paste_legend(
    pixels: NDArray[np.uint8] | NDArray[np.uint32],
    patch: NDArray[np.uint8] | NDArray[np.uint32],
    entries: list[tuple[int, str]],
) -> None:
    """Put the legend ``patch`` (see :func:`_legend_rgb`) in the bottom-right corner.

    The legend box is filled white before anything is drawn in it, so its pixels do not
    depend on the image below: images of one size and one set of classes share one
    legend, drawn once (Pillow's text at integer positions is the same wherever it lands).
    """
    height, width = pixels.shape[:2]
    box_width, box_height = _legend_size(tuple(name for _, name in entries))
    pixels[max(0, height - box_height) :, max(0, width - box_width) :] = patch


def _legend_rgbx(
    entries: list[tuple[int, str]], colormap: NDArray[np.uint8], width: int, height: int
) -> NDArray[np.uint32]:
    """:func:`_legend_rgb`'s patch as 4-byte RGBX pixels, for :func:`_blend_lookup`'s."""
    return _legend_patches(_legend_key(entries, colormap), width, height)[1]


def _legend_rgb(
    entries: list[tuple[int, str]], colormap: NDArray[np.uint8], width: int, height: int
) -> NDArray[np.uint8]:
    """The ``(h, w, 3)`` bottom-right corner of a ``width`` x ``height`` image holding the
    legend of ``entries`` in their ``colormap`` colours."""
    return _legend_patches(_legend_key(entries, colormap), width, height)[0]


def _legend_key(
    entries: list[tuple[int, str]], colormap: NDArray[np.uint8]
) -> tuple[tuple[str, tuple[int, ...]], ...]:
    return tuple((name, tuple(int(c) for c in colormap[value])) for value, name in entries)


@lru_cache(maxsize=256)
def _legend_size(names: tuple[str, ...]) -> tuple[int, int]:
    """The legend box's ``(width, height)`` in pixels for these names."""
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_width = max(draw.textlength(name, font=_font()) for name in names)
    swatch = LEGEND_FONT_SIZE - 3
    box_width = int(_LEGEND_PADDING * 3 + swatch + _SWATCH_GAP + text_width)
    box_height = _LEGEND_PADDING * 2 + (LEGEND_FONT_SIZE + 3) * len(names)
    return box_width, box_height


@lru_cache(maxsize=64)
def _legend_patches(
    entries: tuple[tuple[str, tuple[int, ...]], ...], image_width: int, image_height: int
) -> tuple[NDArray[np.uint8], NDArray[np.uint32]]:
    """The legend's corner of an image of this size, as RGB and as RGBX pixels. The box
    (see :func:`_legend_size`) is cut off at the image's edges when the image is smaller."""
    box_width, box_height = _legend_size(tuple(name for name, _ in entries))
    width, height = min(box_width, image_width), min(box_height, image_height)
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = _font()
    line_height = LEGEND_FONT_SIZE + 3
    swatch = LEGEND_FONT_SIZE - 3
    for row, (name, colour) in enumerate(entries):
        y = _LEGEND_PADDING + row * line_height
        x = _LEGEND_PADDING
        draw.rectangle((x, y + 2, x + swatch, y + 2 + swatch), fill=colour, outline=(0, 0, 0))
        draw.text((x + swatch + _SWATCH_GAP, y), name, fill=(0, 0, 0), font=font)
    rgb = np.asarray(image)
    rgbx = np.zeros((height, width, 4), dtype=np.uint8)
    rgbx[..., :3] = rgb
    rgb.setflags(write=False)
    rgbx.setflags(write=False)
    return rgb, rgbx.view(np.uint32).reshape(height, width)
