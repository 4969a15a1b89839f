"""The objects of one annotated image, as ``SegmentationObject`` holds them, for export.

An object (instance) is every shape sharing a (label, group_id) pair, or one shape with
a null group_id, exactly as :func:`annotool.rasterize.rasterize` numbers them. Its pixels
are the ones it keeps in the instance mask, after later shapes have painted over it.
It keeps its shapes' polygons when they describe those pixels exactly: every shape is a
polygon, rectangle, circle or oriented rectangle, and no later shape covers any of it.
Otherwise (mask shapes, lines, points, instances painted over) only its pixels describe it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from annotool.labelme import Annotation, Shape
from annotool.labels import BACKGROUND_LABEL, IGNORE_ID_NPY, IGNORE_LABEL, LabelSet
from annotool.polygons import centre_outlines
from annotool.rasterize import instance_ids, rasterize, shape_patches

POLYGON_SHAPE_TYPES = ("polygon", "rectangle", "circle", "oriented_rectangle")
"""Shape types whose outline is a polygon (a circle as a fine regular polygon)."""
CIRCLE_TOLERANCE = 0.2
"""Most distance, in pixels, between a circle and the regular polygon standing for it."""

Box = tuple[int, int, int, int]
"""``(top, bottom, left, right)`` in pixels, bottom and right exclusive."""


@dataclass(frozen=True)
class Instance:
    """One object of an image.

    ``mask`` holds its ``(bottom - top, right - left)`` pixels inside ``box``;
    ``polygons`` its shapes' outlines as ``(K, 2)`` float64 ``x, y`` arrays in image
    pixels, or None when they do not describe exactly ``mask``.
    """

    class_id: int
    shape_indices: tuple[int, ...]
    box: Box
    mask: NDArray[np.bool_]
    polygons: tuple[NDArray[np.float64], ...] | None


@dataclass(frozen=True)
class ImageObjects:
    """The objects and ignored pixels of one ``height`` x ``width`` image.

    ``ignore`` is the ``(H, W)`` mask of ``__ignore__`` pixels, None when there are none;
    ``class_presence`` is ``(num_classes,)``: which class ids the class mask holds.
    """

    height: int
    width: int
    instances: tuple[Instance, ...]
    ignore: NDArray[np.bool_] | None
    class_presence: NDArray[np.bool_]


def image_objects(
    annotation: Annotation, labels: LabelSet, height: int, width: int
) -> ImageObjects:
    """The objects of ``annotation``'s shapes in a ``height`` x ``width`` image.

    Background shapes and objects that later shapes cover completely are left out.
    """
    shapes = annotation.shapes
    class_label, object_label = rasterize(shapes, height, width, labels)
    patches = shape_patches(shapes, height, width)
    members: dict[int, list[int]] = {}
    for position, instance_id in enumerate(instance_ids(shapes)):
        members.setdefault(instance_id, []).append(position)
    instances = []
    for instance_id, positions in members.items():
        label = shapes[positions[0]].label
        if label in (BACKGROUND_LABEL, IGNORE_LABEL):
            continue
        instance = _instance(
            [shapes[p] for p in positions],
            [patches[p] for p in positions],
            object_label,
            instance_id,
            labels.class_names.index(label),
        )
        if instance is not None:
            instances.append(instance)
    ignore = class_label == IGNORE_ID_NPY
    # Ignore (-1) counts at index 0, class c at c + 1.
    counts = np.bincount((class_label + 1).ravel(), minlength=labels.num_classes + 1)
    presence = counts[1:] > 0
    return ImageObjects(
        height=height,
        width=width,
        instances=tuple(instances),
        ignore=ignore if ignore.any() else None,
        class_presence=presence,
    )


def _instance(
    shapes: Sequence[Shape],
    patches: Sequence[tuple[Box, NDArray[np.bool_]] | None],
    object_label: NDArray[np.int32],
    instance_id: int,
    class_id: int,
) -> Instance | None:
    drawn = [patch for patch in patches if patch is not None]
    if not drawn:
        return None
    top = min(box[0] for box, _ in drawn)
    bottom = max(box[1] for box, _ in drawn)
    left = min(box[2] for box, _ in drawn)
    right = max(box[3] for box, _ in drawn)
    kept = object_label[top:bottom, left:right] == instance_id
    if not kept.any():
        return None
    polygons = None
    if all(shape.shape_type in POLYGON_SHAPE_TYPES for shape in shapes):
        painted = np.zeros_like(kept)
        for (shape_top, shape_bottom, shape_left, shape_right), pixels in drawn:
            painted[
                shape_top - top : shape_bottom - top, shape_left - left : shape_right - left
            ] |= pixels
        # The instance keeps a subset of what its shapes paint: equal counts, equal sets.
        if int(painted.sum()) == int(kept.sum()):
            polygons = tuple(shape_polygon(shape) for shape in shapes)
    rows = np.flatnonzero(kept.any(axis=1))
    columns = np.flatnonzero(kept.any(axis=0))
    box = (
        top + int(rows[0]),
        top + int(rows[-1]) + 1,
        left + int(columns[0]),
        left + int(columns[-1]) + 1,
    )
    mask = kept[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    return Instance(
        class_id=class_id,
        shape_indices=tuple(shape.index for shape in shapes),
        box=box,
        mask=mask,
        polygons=polygons,
    )


def shape_polygon(shape: Shape) -> NDArray[np.float64]:
    """The ``(K, 2)`` outline of a polygon-like shape (see POLYGON_SHAPE_TYPES)."""
    if shape.shape_type == "rectangle":
        (x0, y0), (x1, y1) = shape.points
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
    if shape.shape_type == "circle":
        (center_x, center_y), rim = shape.points
        radius = math.dist((center_x, center_y), rim)
        # A regular polygon of n corners strays radius * (1 - cos(pi / n)) from the circle.
        ratio = min(1.0, CIRCLE_TOLERANCE / max(radius, CIRCLE_TOLERANCE))
        corners = max(8, math.ceil(math.pi / math.acos(1 - ratio)))
        angles = np.linspace(0, 2 * math.pi, corners, endpoint=False)
        corners_xy = [center_x + radius * np.cos(angles), center_y + radius * np.sin(angles)]
        return np.round(np.stack(corners_xy, axis=1), 3)
    return np.asarray(shape.points, dtype=np.float64)


def mask_outlines(instance: Instance) -> list[NDArray[np.float64]]:
    """``(K, 2)`` ``x, y`` outlines (outer borders and holes) of the instance's pixels.

    Each runs through the centres of the instance's border pixels, as OpenCV's
    ``findContours`` (which Ultralytics uses) traces them, so filling it even-odd with its
    outline, as labelme and OpenCV fill polygons, paints the instance's pixels again.
    Pixels that touch only at a corner count as connected.
    """
    top, _, left, _ = instance.box
    outlines = []
    for outline in centre_outlines(instance.mask, fully_connected="high"):
        if len(outline) < 3:  # one pixel, or a straight line of them
            outline = np.concatenate([outline, outline[::-1], outline])[:3]
        outlines.append(outline + np.array([left, top], dtype=np.float64))
    return outlines


def join_polygons(polygons: Sequence[NDArray[np.float64]]) -> NDArray[np.float64]:
    """One ``(K, 2)`` polygon through all ``polygons``, as Ultralytics' converter joins them.

    Neighbouring polygons (in the given order) are linked at their closest pair of
    corners by a zero-width bridge: the walk goes out through the first part of each
    polygon, around the last one, and back through the remaining parts. Unlike Ultralytics'
    ``merge_multi_segment``, a middle polygon keeps its direction.
    """
    if len(polygons) == 1:
        return polygons[0]
    links: list[list[int]] = [[] for _ in polygons]
    for index in range(1, len(polygons)):
        previous, current = polygons[index - 1], polygons[index]
        distances = ((previous[:, None, :] - current[None, :, :]) ** 2).sum(axis=-1)
        exit_corner, entry_corner = np.unravel_index(int(np.argmin(distances)), distances.shape)
        links[index - 1].append(int(exit_corner))
        links[index].append(int(entry_corner))
    outward: list[NDArray[np.float64]] = []
    homeward: list[NDArray[np.float64]] = []
    last = len(polygons) - 1
    for index, (polygon, link) in enumerate(zip(polygons, links, strict=True)):
        rolled = np.roll(polygon, -link[0], axis=0)
        closed = np.concatenate([rolled, rolled[:1]])
        if index in (0, last):
            outward.append(closed)
            continue
        exit_position = (link[1] - link[0]) % len(polygon)
        outward.append(closed[: exit_position + 1])
        homeward.append(closed[exit_position:])
    return np.concatenate([*outward, *reversed(homeward)])
