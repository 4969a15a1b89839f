"""Turning labelme shapes into class and instance label images, pixel-exact with labelme.

Every shape is drawn with the same Pillow calls labelme's ``shape_to_mask`` makes (line
and linestrip 10 px wide, linestrip with rounded joints, point a disc of radius 5,
rectangle corners in any order), so the masks match labelme's converter pixel for pixel.
For speed, :func:`draw_label_images` draws each shape with its id as the colour straight
into the label images (no mask per shape), and :func:`shape_patches` draws every shape on
one reusable canvas, reading back and clearing only the shape's bounding box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import cast

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from annotool.errors import AnnotationError
from annotool.labelme import MAX_COORDINATE, Shape
from annotool.labels import IGNORE_ID, IGNORE_ID_NPY, LabelSet

LINE_WIDTH = 10
"""Width in pixels of ``line`` and ``linestrip`` shapes, as labelme draws them."""
POINT_RADIUS = 5
"""Radius in pixels of the disc a ``point`` shape paints, as labelme draws it."""

# How far beyond its points a shape's pixels may reach: half the line width plus
# Pillow's rounding for lines, one outline pixel plus rounding for the rest.
_LINE_MARGIN = LINE_WIDTH / 2 + 3
_OUTLINE_MARGIN = 3


def shape_mask(shape: Shape, height: int, width: int) -> NDArray[np.bool_]:
    """The ``(H, W)`` pixels ``shape`` paints in an image of ``height`` x ``width``."""
    if shape.shape_type == "mask":
        mask = np.zeros((height, width), dtype=bool)
        box = shape_box(shape, height, width)
        if box is not None:
            top, bottom, left, right = box
            mask[top:bottom, left:right] = _mask_patch_in_box(shape, box)
        return mask
    canvas = Image.new("L", (width, height), 0)
    _draw_shape(ImageDraw.Draw(canvas), shape)
    return np.asarray(canvas) != 0


def rasterize(
    shapes: Sequence[Shape], height: int, width: int, labels: LabelSet
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """The class and instance label images of ``shapes``, as labelme's converter makes them.

    Returns ``(class_label, object_label)``, each ``(H, W)`` int32. ``class_label`` holds
    class ids, ``IGNORE_ID_NPY`` (-1) for ``__ignore__``. ``object_label`` numbers the
    instances from 1 in order of first appearance of (label, group_id); a shape without
    group_id is an instance of its own, ``_background_`` and ``__ignore__`` shapes take
    an id too (so ids can have gaps), and ignored pixels get 0. Shapes are painted in
    order, later shapes win. Raises AnnotationError for a label not in ``labels``.
    """
    values, object_label = rasterize_values(shapes, height, width, labels)
    return class_ids_npy(values), cast(NDArray[np.int32], object_label).astype(np.int32)


def class_ids_npy(values: NDArray[np.uint8]) -> NDArray[np.int32]:
    """``(H, W)`` uint8 mask values (255 = ignore) as int32 class ids, -1 = ignore."""
    class_label = values.astype(np.int32)
    class_label[values == IGNORE_ID] = IGNORE_ID_NPY
    return class_label


@dataclass
class LabelImages:
    """A file's class and instance label images as Pillow draws them.

    Pixels are read into numpy only when asked for: writing the class mask and counting
    its pixels need no copy (a tenth of a small photo's conversion).
    """

    classes: Image.Image
    """Mode ``"P"``: class ids, 255 = ignore (the pixel values of ``voc.mask_values``)."""
    objects: Image.Image | None
    """Mode ``"L"``, or ``"I"`` when 255 or more instances can occur: instance ids, still
    drawn where ``__ignore__`` shapes cover them; None when objects were not asked for."""
    paints_ignore: bool
    """Whether an ``__ignore__`` shape painted any class pixel."""

    @cached_property
    def class_values(self) -> NDArray[np.uint8]:
        """``(H, W)`` uint8 class mask values (read-only)."""
        return np.asarray(self.classes)

    def object_values(self) -> NDArray[np.uint8] | NDArray[np.int32] | None:
        """``(H, W)`` instance ids, 0 where ``__ignore__`` painted the class mask; uint8
        or int32 as ``objects``' mode; None without objects."""
        if self.objects is None:
            return None
        object_label = np.array(self.objects)
        if self.paints_ignore:
            object_label[self.class_values == IGNORE_ID] = 0
        return object_label


def rasterize_values(
    shapes: Sequence[Shape], height: int, width: int, labels: LabelSet, objects: bool = True
) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | NDArray[np.int32] | None]:
    """:func:`rasterize`'s label images as a dataset stores them.

    Returns ``(values, object_label)``: ``values`` is the ``(H, W)`` uint8 class mask
    (255 = ignore, what ``voc.mask_values`` makes of ``class_label``); ``object_label``
    the ``(H, W)`` instance ids, uint8 when fewer than 255 instances can occur, else
    int32; None when ``objects`` is false. See :func:`draw_label_images`.
    """
    drawn = draw_label_images(shapes, height, width, labels, objects)
    return drawn.class_values, drawn.object_values()


def draw_label_images(
    shapes: Sequence[Shape], height: int, width: int, labels: LabelSet, objects: bool = True
) -> LabelImages:
    """Draw ``shapes`` into a class image and, when ``objects``, an instance image.

    Each shape is drawn with its id as the colour on the label image itself, in file
    order: the pixels a Pillow call paints do not depend on its colour, so this is
    labelme's per-shape mask pasted in order, without a mask per shape. Raises
    AnnotationError for a label not in ``labels``.
    """
    ids = instance_ids(shapes)
    class_image = Image.new("P", (width, height), 0)
    class_draw = ImageDraw.Draw(class_image)
    object_image: Image.Image | None = None
    object_draw: ImageDraw.ImageDraw | None = None
    if objects:
        object_image = Image.new("L" if max(ids, default=0) < IGNORE_ID else "I", (width, height))
        object_draw = ImageDraw.Draw(object_image)
    paints_ignore = False
    for shape, instance_id in zip(shapes, ids, strict=True):
        class_id = labels.class_id(shape.label)
        if class_id is None:
            raise AnnotationError(
                f"shape {shape.index}: label {shape.label!r} is not in {labels.source}; "
                "add it there or relabel the shape"
            )
        value = IGNORE_ID if class_id == IGNORE_ID_NPY else class_id
        if shape.shape_type == "mask":
            box = shape_box(shape, height, width)
            if box is None:
                continue
            top, bottom, left, right = box
            region = (left, top, right, bottom)
            patch = Image.fromarray(_mask_patch_in_box(shape, box).astype(np.uint8) * 255)
            class_image.paste(value, region, patch)
            if object_image is not None:
                object_image.paste(instance_id, region, patch)
        else:
            _draw_shape(class_draw, shape, value)
            if object_draw is not None:
                _draw_shape(object_draw, shape, instance_id)
        paints_ignore = paints_ignore or value == IGNORE_ID
    return LabelImages(class_image, object_image, paints_ignore)


def instance_ids(shapes: Sequence[Shape]) -> list[int]:
    """The instance id of each shape, as :func:`rasterize` numbers them.

    Ids count from 1 in order of first appearance of (label, group_id), the label as
    written in the file (before a label map, see :attr:`Shape.source_label`); a shape
    without group_id is an instance of its own.
    """
    ids: list[int] = []
    grouped: dict[tuple[str, int], int] = {}
    next_id = 1
    for shape in shapes:
        key = None if shape.group_id is None else (shape.source_label, shape.group_id)
        if key in grouped:
            ids.append(grouped[key])
            continue
        if key is not None:
            grouped[key] = next_id
        ids.append(next_id)
        next_id += 1
    return ids


def shape_patches(
    shapes: Sequence[Shape], height: int, width: int
) -> list[tuple[tuple[int, int, int, int], NDArray[np.bool_]] | None]:
    """Each shape's box ``(top, bottom, left, right)`` and the ``(h, w)`` pixels it paints
    there when drawn alone, exactly as :func:`rasterize` draws it; None for a shape that
    lies outside the image."""
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    return [_shape_pixels_in_box(shape, canvas, draw, height, width) for shape in shapes]


def shape_box(shape: Shape, height: int, width: int) -> tuple[int, int, int, int] | None:
    """``(top, bottom, left, right)``, a box within the image holding every pixel ``shape``
    can paint (bottom and right exclusive), or None when the shape lies outside the image.
    """
    _require_drawable_points(shape)
    if shape.shape_type == "mask":
        origin_x, origin_y = _mask_origin(shape)
        patch_height, patch_width = _mask_patch(shape).shape
        x_min, y_min = origin_x, origin_y
        x_max, y_max = origin_x + patch_width - 1, origin_y + patch_height - 1
    else:
        if shape.shape_type == "circle":
            radius = math.dist(shape.points[0], shape.points[1])
            center_x, center_y = shape.points[0]
            margin = _OUTLINE_MARGIN
            x_min, x_max = center_x - radius - margin, center_x + radius + margin
            y_min, y_max = center_y - radius - margin, center_y + radius + margin
        else:
            margin = {
                "line": _LINE_MARGIN,
                "linestrip": _LINE_MARGIN,
                "point": POINT_RADIUS + _OUTLINE_MARGIN,
            }.get(shape.shape_type, _OUTLINE_MARGIN)
            (x_low, y_low), (x_high, y_high) = (
                shape.points.min(axis=0).tolist(),
                shape.points.max(axis=0).tolist(),
            )
            x_min, x_max = x_low - margin, x_high + margin
            y_min, y_max = y_low - margin, y_high + margin
    left, top = max(0, math.floor(x_min)), max(0, math.floor(y_min))
    right, bottom = min(width, math.ceil(x_max) + 1), min(height, math.ceil(y_max) + 1)
    if left >= right or top >= bottom:
        return None
    return top, bottom, left, right


def _shape_pixels_in_box(
    shape: Shape, canvas: Image.Image, draw: ImageDraw.ImageDraw, height: int, width: int
) -> tuple[tuple[int, int, int, int], NDArray[np.bool_]] | None:
    """The shape's box and the ``(h, w)`` pixels it paints inside it, None if outside.

    The canvas is the full image so that Pillow sees the exact coordinates labelme gives
    it (shifting them could change float rounding); only the box is read and cleared.
    """
    box = shape_box(shape, height, width)
    if box is None:
        return None
    top, bottom, left, right = box
    if shape.shape_type == "mask":
        return box, _mask_patch_in_box(shape, box)
    _draw_shape(draw, shape)
    region = (left, top, right, bottom)
    # Shapes are drawn with value 1 on 0, so the bytes already are booleans.
    pixels = np.asarray(canvas.crop(region)).view(np.bool_)
    draw.rectangle((left, top, right - 1, bottom - 1), fill=0)
    return box, pixels


def _draw_shape(draw: ImageDraw.ImageDraw, shape: Shape, value: int = 1) -> None:
    """Draw ``shape`` with ``value`` where labelme's ``shape_to_mask`` draws 1."""
    _require_drawable_points(shape)
    xy = [(x, y) for x, y in shape.points.tolist()]
    kind = shape.shape_type
    if kind == "circle":
        (center_x, center_y), (rim_x, rim_y) = xy
        radius = math.sqrt((center_x - rim_x) ** 2 + (center_y - rim_y) ** 2)
        draw.ellipse(
            ((center_x - radius, center_y - radius), (center_x + radius, center_y + radius)),
            outline=value,
            fill=value,
        )
    elif kind == "rectangle":
        (x0, y0), (x1, y1) = xy
        draw.rectangle(
            ((min(x0, x1), min(y0, y1)), (max(x0, x1), max(y0, y1))), outline=value, fill=value
        )
    elif kind == "line":
        draw.line(xy, fill=value, width=LINE_WIDTH)
    elif kind == "linestrip":
        draw.line(xy, fill=value, width=LINE_WIDTH, joint="curve")
    elif kind == "point":
        ((center_x, center_y),) = xy
        draw.ellipse(
            (
                (center_x - POINT_RADIUS, center_y - POINT_RADIUS),
                (center_x + POINT_RADIUS, center_y + POINT_RADIUS),
            ),
            outline=value,
            fill=value,
        )
    elif kind in ("polygon", "oriented_rectangle"):
        draw.polygon(xy, outline=value, fill=value)
    else:
        raise AnnotationError(f"shape {shape.index}: cannot draw shape_type {kind!r}")


def _require_drawable_points(shape: Shape) -> None:
    # One reduction, NaN included (it fails the comparison): run for every shape drawn.
    if shape.points.size == 0 or not np.abs(shape.points).max() <= MAX_COORDINATE:
        raise AnnotationError(
            f"shape {shape.index}: coordinates must be finite numbers within "
            f"±{MAX_COORDINATE:.0f} pixels, and there must be at least one point"
        )


def _mask_origin(shape: Shape) -> tuple[int, int]:
    """Where labelme places a mask patch: its first point, rounded half to even."""
    origin = np.round(shape.points[0]).astype(int)
    return int(origin[0]), int(origin[1])


def _mask_patch(shape: Shape) -> NDArray[np.bool_]:
    if shape.mask is None:
        raise AnnotationError(f"shape {shape.index}: the mask shape has no mask data")
    return shape.mask


def _mask_patch_in_box(shape: Shape, box: tuple[int, int, int, int]) -> NDArray[np.bool_]:
    """The part of the mask patch inside ``box`` (the patch clipped to the image)."""
    top, bottom, left, right = box
    origin_x, origin_y = _mask_origin(shape)
    return _mask_patch(shape)[
        top - origin_y : bottom - origin_y, left - origin_x : right - origin_x
    ]
