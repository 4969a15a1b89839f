"""Turning a class mask into labelme regions: one outline per connected region, in paint order.

labelme (and annotool's rasterizer, which matches it pixel for pixel) fills a polygon with
Pillow's ``ImageDraw.polygon`` *including its outline*, and integer coordinates are pixel
centres. So an outline that runs through the centres of a region's boundary pixels paints
exactly the region: every boundary pixel lies on the outline, every inner pixel inside it.
:func:`trace_regions` traces each region with ``skimage.measure.find_contours`` on a
one-pixel padded crop (so regions touching the image border close), at level 0.75:
between an inside pixel (1) and an outside pixel (0) the contour point then lies a quarter
pixel from the inside pixel's centre, and rounding moves it onto that centre. Consecutive
vertices are then neighbouring pixel centres, a chain Pillow draws without rounding.

A polygon paints its holes too. labelme paints later shapes over earlier ones, so regions
are returned largest outline first: whatever sits in a hole (a ``_background_`` island,
another class, an island inside that) has a smaller outline and is painted after the
region around it. Two regions that do not nest never overlap, so their order is free.
Connectivity follows the contour tracer: a class region is 4-connected (two pixels that
touch only at a corner are two regions), background is 8-connected.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from annotool.labels import IGNORE_ID
from annotool.voc import mask_values

DEFAULT_TOLERANCE = 1.0
"""Default ``--tolerance``: how far (pixels) a simplified outline may stray from the traced
one. Measured on blobs, fixtures and predictions (see ``benchmarks/bench_masks_to_labelme.py``):
1 px keeps over 99% of pixels and cuts the number of vertices several times over."""

BACKGROUND_ID = 0
_CONTOUR_LEVEL = 0.75
# scipy.ndimage.generate_binary_structure(2, 1) and (2, 2), written out so that importing
# this module (the CLI does, for its options) does not import scipy and scikit-image,
# which take longer to load than converting a hundred images; they load when tracing.
_FOUR_CONNECTED = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
MAX_OVERLAP = 0.1
"""Largest share of a region's pixels that may lie in ``avoid`` (see trace_regions): more
means the region repeats what a person annotated there; a few boundary pixels do not."""
MAX_SIMPLIFICATION_CHANGE = 0.005
"""Largest share of a region's pixels a simplified outline may paint differently, per pixel
of tolerance (0.5% at the default 1 px, 1% at 2 px: a larger tolerance trades more pixels
for fewer points); a region that would change more is simplified at half the tolerance,
and so on down to exact, so thin parts and small regions keep their shape."""
_MIN_TOLERANCE = 0.25
_DEGENERATE_OFFSET = 0.25
"""How far (pixels) the extra vertices of a one- or two-point outline lie from it: Pillow
rounds them back onto the same pixels, so the polygon still paints just the region."""


@dataclass(frozen=True)
class Region:
    """One connected region of one class, ready to become a labelme shape.

    ``points`` is the ``(N, 2)`` float64 outline ``x, y`` (pixel centres, N >= 3 distinct
    points, open: the last point is not repeated). ``box`` is ``(top, bottom, left,
    right)`` (bottom, right exclusive) of the region and ``filled`` the ``(h, w)`` bool
    pixels inside its outline within the box (the region plus its holes), which is what
    both its polygon and its mask shape paint. ``pixels`` counts the region's own pixels.
    """

    class_id: int
    points: NDArray[np.float64]
    box: tuple[int, int, int, int]
    filled: NDArray[np.bool_]
    pixels: int


@dataclass(frozen=True)
class TraceOptions:
    """How regions are traced: ``tolerance`` (pixels) for Douglas-Peucker, 0 = exact;
    regions under ``min_area`` pixels are dropped."""

    tolerance: float = DEFAULT_TOLERANCE
    min_area: int = 0


def trace_regions(
    class_mask: NDArray[np.integer],
    options: TraceOptions = TraceOptions(),
    avoid: NDArray[np.bool_] | None = None,
) -> list[Region]:
    """The regions of an ``(H, W)`` class-id mask, in the order labelme must paint them.

    Every connected region of every class except background becomes a Region (255 =
    ignore included); background regions are returned only where an earlier region's
    outline covers them (holes). A region with fewer than ``options.min_area`` pixels is
    dropped: its pixels take the class of whatever surrounds it. So is a region with
    more than MAX_OVERLAP of its pixels in ``avoid`` (``(H, W)`` bool: pixels a person
    already annotated), and the holes inside it. Values must lie in 0..255 (or -1 for ignore).
    """
    if class_mask.ndim != 2:
        raise ValueError(f"expected an (H, W) class mask, got shape {class_mask.shape}")
    if avoid is not None and avoid.shape != class_mask.shape:
        raise ValueError(f"avoid has shape {avoid.shape}, the mask {class_mask.shape}")
    mask = np.ascontiguousarray(mask_values(class_mask))
    traced: list[tuple[float, Region]] = []
    islands_seen: set[tuple[int, int]] = set()
    for class_id in np.flatnonzero(np.bincount(mask.ravel(), minlength=IGNORE_ID + 1)).tolist():
        if class_id == BACKGROUND_ID:
            continue
        for own, box in _components(mask == class_id, _FOUR_CONNECTED):
            if avoid is not None and np.count_nonzero(avoid[box] & own) > MAX_OVERLAP * own.sum():
                continue
            traced_region = _trace(class_id, own, box, "low", options)
            if traced_region is None:
                continue
            traced.append(traced_region)
            # Background inside the outline (holes) is painted back after the region.
            inside = traced_region[1].filled & (mask[box] == BACKGROUND_ID)
            for island, island_box in _components(inside, _EIGHT_CONNECTED, box):
                first_pixel = (island_box[0].start, island_box[1].start + int(np.argmax(island[0])))
                if first_pixel in islands_seen:  # also inside an earlier region
                    continue
                islands_seen.add(first_pixel)
                hole = _trace(BACKGROUND_ID, island, island_box, "high", options)
                if hole is not None:
                    traced.append(hole)
    traced.sort(key=lambda item: (-item[0], item[1].box[0], item[1].box[2], item[1].class_id))
    return [region for _, region in traced]


def _components(
    pixels: NDArray[np.bool_],
    structure: NDArray[np.bool_],
    within: tuple[slice, slice] = (slice(0, None), slice(0, None)),
) -> Iterator[tuple[NDArray[np.bool_], tuple[slice, slice]]]:
    """Each connected component of ``pixels`` as its own ``(h, w)`` pixels and its box in
    the image (``pixels`` being the part of the image at ``within``). Only the bounding
    box of all of them is labelled, which for a few objects is a small part of the image."""
    from scipy import ndimage

    rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
    if rows.size == 0:
        return
    top, left = int(rows[0]), int(cols[0])
    components, _ = ndimage.label(
        pixels[top : rows[-1] + 1, left : cols[-1] + 1], structure=structure
    )
    top += within[0].start
    left += within[1].start
    for index, (box_rows, box_cols) in enumerate(ndimage.find_objects(components), start=1):
        yield (
            components[box_rows, box_cols] == index,
            (
                slice(box_rows.start + top, box_rows.stop + top),
                slice(box_cols.start + left, box_cols.stop + left),
            ),
        )


def _trace(
    class_id: int,
    own: NDArray[np.bool_],
    box: tuple[slice, slice],
    fully_connected: str,
    options: TraceOptions,
) -> tuple[float, Region] | None:
    """The region of the ``(h, w)`` pixels ``own`` at ``box`` in the image and the area of
    its exact outline (the paint order), or None when it is too small."""
    pixels = int(np.count_nonzero(own))
    if pixels < options.min_area:
        return None
    outline = _outline(own, fully_connected)
    exact = _at_least_three_points(outline)
    filled = _paint(exact, own.shape)
    rows, cols = box
    offset = np.array([cols.start, rows.start], dtype=np.float64)
    points = _simplify(outline, exact, filled, options.tolerance) + offset
    region = Region(
        class_id=int(class_id),
        points=points,
        box=(rows.start, rows.stop, cols.start, cols.stop),
        filled=filled,
        pixels=pixels,
    )
    return _area(outline), region


def _outline(own: NDArray[np.bool_], fully_connected: str) -> NDArray[np.float64]:
    """The outer outline of the one region in ``own`` (``(h, w)`` bool); see centre_outlines."""
    return max(centre_outlines(own, fully_connected), key=lambda outline: abs(_area(outline)))


def centre_outlines(pixels: NDArray[np.bool_], fully_connected: str) -> list[NDArray[np.float64]]:
    """Every outline (outer borders and holes) of the ``(h, w)`` bool ``pixels``, as
    ``(N, 2)`` ``x, y`` pixel centres relative to the crop: closed chains of neighbouring
    centres with repeated and collinear vertices removed (lossless for the rasterizer).

    ``fully_connected`` is find_contours': "high" joins pixels touching at a corner.
    """
    from skimage import measure

    padded = np.pad(pixels, 1).astype(np.float64)  # what find_contours computes in
    contours = measure.find_contours(padded, _CONTOUR_LEVEL, fully_connected=fully_connected)
    # (row, col) -> (x, y), and undo the padding.
    return [_drop_redundant(np.rint(contour[:, ::-1]) - 1.0) for contour in contours]


def _drop_redundant(chain: NDArray[np.float64]) -> NDArray[np.float64]:
    """Remove repeated points, the closing point and vertices where the direction of a
    closed chain does not change (straight runs only happen along rows, columns and
    diagonals, which Pillow draws identically with or without the middle vertices)."""
    changes = np.any(np.diff(chain, axis=0) != 0, axis=1)
    chain = chain[np.concatenate(([True], changes))]
    if len(chain) > 1 and np.array_equal(chain[0], chain[-1]):
        chain = chain[:-1]
    if len(chain) < 3:
        return chain
    steps = np.diff(np.vstack((chain[-1:], chain, chain[:1])), axis=0)
    incoming, outgoing = steps[:-1], steps[1:]
    turning = incoming[:, 0] * outgoing[:, 1] - incoming[:, 1] * outgoing[:, 0] != 0
    turning |= np.sum(incoming * outgoing, axis=1) < 0  # a spike that doubles back
    return chain[turning] if turning.any() else chain[:1]


def _simplify(
    outline: NDArray[np.float64],
    exact: NDArray[np.float64],
    filled: NDArray[np.bool_],
    tolerance: float,
) -> NDArray[np.float64]:
    """The outline simplified with Douglas-Peucker at ``tolerance``, or at half of it (and
    so on) where the simplified polygon would paint more than MAX_SIMPLIFICATION_CHANGE
    times ``tolerance`` of the region's ``filled`` pixels differently."""
    if tolerance <= 0 or len(outline) <= 3:
        return exact
    closed = np.vstack((outline, outline[:1]))
    budget = MAX_SIMPLIFICATION_CHANGE * max(tolerance, 1.0) * np.count_nonzero(filled)
    while tolerance >= _MIN_TOLERANCE:
        simplified = _at_least_three_points(approximate_polygon(closed, tolerance)[:-1])
        if np.count_nonzero(_paint(simplified, filled.shape) != filled) <= budget:
            return simplified
        tolerance /= 2
    return exact


def approximate_polygon(coords: NDArray[np.float64], tolerance: float) -> NDArray[np.float64]:
    """Douglas-Peucker simplification of an ``(N, 2)`` chain, the same points
    ``skimage.measure.approximate_polygon`` keeps (same distances, same splits).

    scikit-image splits one segment per Python step; this splits every segment of a
    level at once with numpy, which is about 20 times faster on outlines of thousands
    of points (the difference between a few and a hundred milliseconds per mask).
    """
    if tolerance <= 0 or len(coords) < 3:
        return coords
    keep = np.zeros(len(coords), dtype=bool)
    keep[[0, -1]] = True
    first, second = coords[:, 0], coords[:, 1]
    while True:
        breaks = np.flatnonzero(keep)
        starts, ends = breaks[:-1], breaks[1:]
        segment = np.repeat(np.arange(len(starts)), np.diff(breaks))
        # Per segment, then per point: the same arithmetic as scikit-image, so that ties
        # between equally distant points break the same way.
        delta_first, delta_second = first[ends] - first[starts], second[ends] - second[starts]
        angle = -np.arctan2(delta_first, delta_second)
        cosine, sine = np.cos(angle), np.sin(angle)
        offset = second[starts] * sine + first[starts] * cosine
        start, end = starts[segment], ends[segment]
        delta_first, delta_second = delta_first[segment], delta_second[segment]
        inner_first, inner_second = first[:-1], second[:-1]
        to_start = (inner_first - first[start], inner_second - second[start])
        to_end = (inner_first - first[end], inner_second - second[end])
        along_start = to_start[0] * delta_first + to_start[1] * delta_second
        along_end = -to_end[0] * delta_first - to_end[1] * delta_second
        distance = np.where(
            (along_start > 0) & (along_end > 0),
            np.abs(inner_first * cosine[segment] + inner_second * sine[segment] - offset[segment]),
            np.minimum(np.hypot(*to_start), np.hypot(*to_end)),
        )
        distance[starts] = -1.0
        farthest = np.maximum.reduceat(distance, starts)
        splits = (distance == farthest[segment]) & (distance > tolerance)
        if not splits.any():
            return coords[keep]
        candidates = np.flatnonzero(splits)
        first_of_segment = np.flatnonzero(np.diff(segment[candidates], prepend=-1))
        keep[candidates[first_of_segment]] = True


def _paint(points: NDArray[np.float64], shape: tuple[int, int]) -> NDArray[np.bool_]:
    """The ``(h, w)`` pixels a labelme polygon with ``points`` (crop coordinates) paints."""
    canvas = Image.new("1", (shape[1], shape[0]), 0)
    ImageDraw.Draw(canvas).polygon([tuple(point) for point in points.tolist()], fill=1, outline=1)
    return np.asarray(canvas)


def _at_least_three_points(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """labelme needs three distinct points for a polygon: a one-pixel region or a straight
    one-pixel line gets a vertex a quarter pixel off its end. Pillow floors coordinates
    when it fills, so the offset goes towards +x or +y (never off the line's side) and
    the polygon paints the same pixels."""
    if len(points) >= 3:
        return points
    first, last = points[0], points[-1]
    if len(points) == 1:
        right, down = np.array([_DEGENERATE_OFFSET, 0.0]), np.array([0.0, _DEGENERATE_OFFSET])
        return np.array([first, first + right, first + down])
    vertical = last[0] == first[0]
    offset = (_DEGENERATE_OFFSET, 0.0) if vertical else (0.0, _DEGENERATE_OFFSET)
    return np.array([first, last, last + offset])


def _area(points: NDArray[np.float64]) -> float:
    """Absolute shoelace area of an ``(N, 2)`` polygon."""
    x, y = points[:, 0], points[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2
