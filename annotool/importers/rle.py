"""COCO's run-length encoded masks: reading them safely, and the shapes they become.

An RLE region (a crowd region, a mask drawn with a brush) is traced into polygons by the
code of ``masks-to-labelme`` (:func:`annotool.polygons.trace_regions`), its holes painted
back as later ``_background_`` polygons. labelme paints shapes in order and a hole's
``_background_`` would also erase an earlier annotation lying in it, so
:class:`PaintedPixels` keeps what the image's earlier annotations paint, and a region
whose hole would erase any of it becomes one lossless ``mask`` shape instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from pycocotools import mask as coco_mask

from annotool.labelme import Shape
from annotool.labelme_write import ShapeOptions, mask_shape, new_shape
from annotool.labels import BACKGROUND_LABEL
from annotool.polygons import BACKGROUND_ID, trace_regions
from annotool.rasterize import shape_mask


def decode_rle(rle: dict[str, Any], height: int, width: int) -> NDArray[np.bool_]:
    """The ``(H, W)`` bool pixels of a COCO RLE, compressed (``counts`` text) or not (a
    list of run lengths). The run lengths are checked first: pycocotools decodes counts
    that do not add up to the image without complaint, into garbage."""
    size, counts = rle.get("size"), rle.get("counts")
    if not isinstance(size, list) or len(size) != 2 or not isinstance(counts, str | list):
        raise ValueError("the RLE segmentation needs 'size' [height, width] and 'counts'")
    if size != [height, width]:
        raise ValueError(
            f"the RLE segmentation's size is {size}, but the image is {[height, width]}"
        )
    runs = run_lengths(counts) if isinstance(counts, str) else counts
    if (
        runs is None
        or not all(isinstance(run, int) and not isinstance(run, bool) and run >= 0 for run in runs)
        or sum(runs) != height * width
    ):
        raise ValueError(
            f"the RLE segmentation's counts do not describe the {width}x{height} pixels of "
            "the image (their run lengths must add up to height x width)"
        )
    encoded = coco_mask.frPyObjects({"size": size, "counts": list(runs)}, height, width)
    return coco_mask.decode(encoded).astype(bool)


def run_lengths(counts: str) -> list[int] | None:
    """The run lengths of COCO's compressed RLE text (None when it is malformed): each
    number in 5-bit groups, a character ``48 + group`` with 0x20 meaning "more follows",
    the last group's 0x10 the sign; from the third number on, a difference to the number
    two before."""
    runs: list[int] = []
    position = 0
    while position < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(counts):
                return None
            group = ord(counts[position]) - 48
            if not 0 <= group < 64:
                return None
            value |= (group & 0x1F) << shift
            more = bool(group & 0x20)
            position += 1
            shift += 5
            if not more and group & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def rle_shapes(
    label: str,
    pixels: NDArray[np.bool_],
    painted: PaintedPixels,
    group_id: int,
    options: ShapeOptions,
) -> list[dict[str, Any]]:
    """The shapes of one RLE annotation's ``(H, W)`` bool pixels: traced polygons (holes
    as later ``_background_`` polygons, the parts sharing ``group_id``), or one mask shape
    when asked for, or when a hole would erase pixels of an earlier annotation."""
    if not pixels.any():
        return []
    if options.shape_type == "polygon":
        regions = trace_regions(pixels.astype(np.uint8), options.trace)
        parts = [region for region in regions if region.class_id != BACKGROUND_ID]
        holes = np.zeros_like(pixels)
        for region in regions:
            if region.class_id == BACKGROUND_ID:
                top, bottom, left, right = region.box
                holes[top:bottom, left:right] |= region.filled
        if not (holes & painted.covered()).any():
            shared = group_id if len(parts) > 1 else None
            return [
                new_shape(
                    label if region.class_id != BACKGROUND_ID else BACKGROUND_LABEL,
                    region.points.tolist(),
                    "polygon",
                    shared if region.class_id != BACKGROUND_ID else None,
                )
                for region in regions
            ]
    rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
    patch = pixels[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return [mask_shape(label, patch, (int(rows[0]), int(cols[0])))]


class PaintedPixels:
    """The pixels the shapes of one image paint so far (whatever their label), drawn only
    when asked for: most images never need them."""

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width
        self._items: list[dict[str, Any] | NDArray[np.bool_]] = []
        self._covered = np.zeros((height, width), dtype=bool)
        self._drawn = 0

    def add(self, shapes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Remember polygon and rectangle ``shapes``, in paint order; return them."""
        self._items += shapes
        return shapes

    def add_pixels(
        self, shapes: list[dict[str, Any]], pixels: NDArray[np.bool_]
    ) -> list[dict[str, Any]]:
        """Remember the ``(H, W)`` bool pixels of an RLE annotation; return its ``shapes``."""
        if shapes:
            self._items.append(pixels)
        return shapes

    def covered(self) -> NDArray[np.bool_]:
        """``(H, W)`` bool: the pixels painted so far."""
        for item in self._items[self._drawn :]:
            if isinstance(item, np.ndarray):
                self._covered |= item
                continue
            points = np.array(item["points"], dtype=np.float64)
            shape = Shape(0, item["label"], item["shape_type"], points, None)
            drawn = shape_mask(shape, self.height, self.width)
            if item["label"] == BACKGROUND_LABEL:  # a hole: it erases what lies under it
                self._covered &= ~drawn
            else:
                self._covered |= drawn
        self._drawn = len(self._items)
        return self._covered
