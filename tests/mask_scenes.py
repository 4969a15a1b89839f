"""Class masks for the mask-to-labelme tests, and the round trip through ``annotool convert``.

``masks()`` is a hypothesis strategy for the hard cases: blobs with holes (donuts with
something inside), regions touching the border, one-pixel lines and specks, several
classes and ignore regions, drawn over each other in random order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from annotool.convert import ConvertOptions, convert_dataset
from annotool.labelme_write import ShapeOptions
from annotool.labels import IGNORE_ID, LabelSet
from annotool.masks_to_labelme import MaskPair, masks_to_labelme
from annotool.voc import read_label_png, write_label_png

CLASS_NAMES = ("_background_", "cat", "dog", "bird")
LABELS = LabelSet(CLASS_NAMES)


@st.composite
def masks(draw: st.DrawFn, max_side: int = 48) -> NDArray[np.uint8]:
    """An ``(H, W)`` uint8 class mask with classes 0-3 and 255."""
    height = draw(st.integers(4, max_side))
    width = draw(st.integers(4, max_side))
    canvas = Image.new("L", (width, height), 0)
    pen = ImageDraw.Draw(canvas)
    coordinate = st.floats(-0.3, 1.3)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["ellipse", "rectangle", "donut", "line", "speck", "polygon"]))
        value = draw(st.sampled_from([1, 2, 3, 1, 2, 3, IGNORE_ID, 0]))
        x0, x1 = sorted(draw(coordinate) * width for _ in range(2))
        y0, y1 = sorted(draw(coordinate) * height for _ in range(2))
        if kind == "ellipse":
            pen.ellipse((x0, y0, x1, y1), fill=value)
        elif kind == "rectangle":
            pen.rectangle((x0, y0, x1, y1), fill=value)
        elif kind == "donut":
            pen.ellipse((x0, y0, x1, y1), fill=value)
            inset_x, inset_y = (x1 - x0) / 4, (y1 - y0) / 4
            inner = draw(st.sampled_from([0, 0, 1, 2, IGNORE_ID]))
            pen.ellipse((x0 + inset_x, y0 + inset_y, x1 - inset_x, y1 - inset_y), fill=inner)
        elif kind == "line":
            pen.line((x0, y0, x1, y1), fill=value, width=draw(st.integers(1, 2)))
        elif kind == "speck":
            pen.point((x0, y0), fill=value)
        else:
            points = [
                (draw(coordinate) * width, draw(coordinate) * height)
                for _ in range(draw(st.integers(3, 7)))
            ]
            pen.polygon(points, fill=value)
    return np.array(canvas)


def round_trip(
    masks_by_stem: dict[str, NDArray[np.uint8]], folder: Path, options: ShapeOptions
) -> dict[str, NDArray[np.uint8]]:
    """Masks -> labelme JSON (masks_to_labelme) -> ``annotool convert`` -> masks."""
    pairs = []
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for stem, mask in masks_by_stem.items():
        mask_path = folder / "masks" / f"{stem}.png"
        write_label_png(mask_path, mask)
        image_path = folder / "images" / f"{stem}.png"
        Image.fromarray(np.zeros((*mask.shape, 3), dtype=np.uint8)).save(image_path)
        pairs.append(MaskPair(mask_path, image_path))
    report = masks_to_labelme(pairs, folder / "labelme", LABELS, options)
    assert not report.failed, report.failed
    dataset = folder / "dataset"
    convert_dataset(
        folder / "labelme", dataset, LABELS, ConvertOptions(objects=False, visualizations=False)
    )
    return {
        stem: read_label_png(dataset / "SegmentationClass" / f"{stem}.png")
        for stem in masks_by_stem
    }
