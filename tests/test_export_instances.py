"""annotool.export.instances: objects as SegmentationObject holds them, outlines, joins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from scipy import ndimage

from annotool.export.instances import (
    Instance,
    image_objects,
    join_polygons,
    mask_outlines,
    shape_polygon,
)
from annotool.labelme import Annotation, Shape
from annotool.labels import LabelSet
from annotool.rasterize import instance_ids

LABELS = LabelSet(("_background_", "cat", "dog"))


def make_shape(
    index: int, label: str, kind: str, points: list[list[float]], group_id: int | None = None
) -> Shape:
    return Shape(index, label, kind, np.array(points, dtype=np.float64), group_id)


def annotation(*shapes: Shape) -> Annotation:
    return Annotation(
        path=Path("a.json"),
        shapes=shapes,
        image_height=20,
        image_width=30,
        image_path="a.png",
        image_data=None,
    )


def fill(polygon: NDArray[np.float64], height: int, width: int) -> NDArray[np.bool_]:
    """Fill a polygon as Ultralytics does: corners truncated to pixels, outline included."""
    canvas = Image.new("L", (width, height), 0)
    corners = [(int(x), int(y)) for x, y in polygon.astype(np.int32)]
    ImageDraw.Draw(canvas).polygon(corners, fill=1, outline=1)
    return np.asarray(canvas, dtype=bool)


def test_instance_ids_group_label_and_group_id() -> None:
    shapes = [
        make_shape(0, "cat", "point", [[1, 1]], group_id=1),
        make_shape(1, "dog", "point", [[1, 1]], group_id=1),
        make_shape(2, "cat", "point", [[1, 1]]),
        make_shape(3, "cat", "point", [[1, 1]], group_id=1),
        make_shape(4, "cat", "point", [[1, 1]]),
    ]
    assert instance_ids(shapes) == [1, 2, 3, 1, 4]


def test_objects_follow_the_instance_mask() -> None:
    objects = image_objects(
        annotation(
            make_shape(0, "cat", "rectangle", [[1, 1], [10, 10]], group_id=4),
            make_shape(1, "dog", "polygon", [[15, 2], [25, 2], [20, 12]]),
            make_shape(2, "cat", "rectangle", [[12, 12], [14, 14]], group_id=4),
            make_shape(3, "_background_", "rectangle", [[8, 8], [12, 12]]),
            make_shape(4, "__ignore__", "rectangle", [[26, 15], [29, 19]]),
        ),
        LABELS,
        20,
        30,
    )
    cat, dog = objects.instances
    assert (cat.class_id, cat.shape_indices) == (1, (0, 2))
    assert cat.polygons is None  # the background rectangle paints over part of it
    assert cat.box == (1, 15, 1, 15)
    assert cat.mask.sum() == 100 - 9 + 9 - 1  # 10x10 less the 3x3 corner, plus 3x3 less 1
    assert dog.polygons is not None and len(dog.polygons) == 1
    assert objects.ignore is not None and objects.ignore.sum() == 4 * 5
    assert objects.class_presence.tolist() == [True, True, True]


def test_shape_types_that_are_not_polygons_have_only_pixels() -> None:
    objects = image_objects(
        annotation(
            make_shape(0, "cat", "line", [[1, 1], [10, 1]]),
            make_shape(1, "cat", "point", [[20, 10]]),
            make_shape(2, "dog", "circle", [[15, 15], [15, 18]]),
        ),
        LABELS,
        20,
        30,
    )
    assert [instance.polygons is None for instance in objects.instances] == [True, True, False]


def test_oriented_rectangle_keeps_its_four_corners() -> None:
    corners = [[5, 2], [12, 6], [9, 11], [2, 7]]
    objects = image_objects(
        annotation(make_shape(0, "dog", "oriented_rectangle", corners)), LABELS, 20, 30
    )
    (instance,) = objects.instances
    assert instance.polygons is not None
    assert instance.polygons[0].tolist() == corners


def test_rectangle_polygon_has_its_four_corners_in_any_order() -> None:
    polygon = shape_polygon(make_shape(0, "cat", "rectangle", [[9, 7], [2, 3]]))
    assert sorted(map(tuple, polygon.tolist())) == [(2, 3), (2, 7), (9, 3), (9, 7)]


def test_join_polygons_walks_out_and_back_through_every_polygon() -> None:
    squares = [
        np.array([[0, 0], [2, 0], [2, 2], [0, 2]], dtype=np.float64) + offset
        for offset in ([0, 0], [10, 0], [20, 0])
    ]
    joined = join_polygons(squares)
    for square in squares:
        for corner in square:
            assert np.any(np.all(joined == corner, axis=1))
    # Filled, the join paints the three squares and the two zero-width bridges only.
    painted = fill(joined, 5, 25)
    expected = np.zeros((5, 25), dtype=bool)
    for x in (0, 10, 20):
        expected[0:3, x : x + 3] = True
    expected[0, 2:21] = True  # the bridges between the closest corners
    assert np.array_equal(painted, expected)


def test_join_of_one_polygon_is_that_polygon() -> None:
    triangle = np.array([[0, 0], [4, 0], [2, 3]], dtype=np.float64)
    assert join_polygons([triangle]) is triangle


def instance_of(mask: NDArray[np.bool_]) -> Instance:
    rows, columns = np.nonzero(mask)
    top, left = int(rows.min()), int(columns.min())
    bottom, right = int(rows.max()) + 1, int(columns.max()) + 1
    return Instance(1, (0,), (top, bottom, left, right), mask[top:bottom, left:right], None)


@settings(max_examples=60, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12))))
def test_traced_outlines_fill_back_to_the_pixels_of_one_blob(mask: NDArray[np.bool_]) -> None:
    """A blob without holes whose pixels touch along sides: its outline fills it exactly."""
    labelled, count = ndimage.label(mask)
    if count == 0:
        return
    blob = ndimage.binary_fill_holes(labelled == 1)
    outlines = mask_outlines(instance_of(blob))
    assert len(outlines) == 1
    painted = fill(outlines[0], *blob.shape)
    assert np.array_equal(painted, blob)
