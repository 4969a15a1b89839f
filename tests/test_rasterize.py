from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from annotool.errors import AnnotationError
from annotool.labelme import SHAPE_TYPES, Shape
from annotool.labels import IGNORE_ID_NPY, parse_labels
from annotool.rasterize import draw_label_images, rasterize, shape_box, shape_mask
from annotool.voc import label_png_bytes

LABELS = parse_labels("__ignore__\n_background_\ncat\ndog\n")
CAT, DOG = 1, 2  # class ids


def make_shape(
    shape_type: str,
    points: list[list[float]],
    label: str = "cat",
    group_id: int | None = None,
    mask: NDArray[np.bool_] | None = None,
    index: int = 0,
) -> Shape:
    return Shape(index, label, shape_type, np.array(points, dtype=np.float64), group_id, mask)


def pixels(mask: NDArray[np.bool_]) -> set[tuple[int, int]]:
    """The ``(row, column)`` of every set pixel."""
    return {(int(row), int(column)) for row, column in np.argwhere(mask)}


def box_pixels(top: int, bottom: int, left: int, right: int) -> set[tuple[int, int]]:
    """Rows ``top..bottom`` and columns ``left..right``, inclusive."""
    return {(row, column) for row in range(top, bottom + 1) for column in range(left, right + 1)}


def test_rectangle_covers_both_corners_inclusive() -> None:
    mask = shape_mask(make_shape("rectangle", [[1, 1], [3, 2]]), 5, 6)
    assert pixels(mask) == box_pixels(1, 2, 1, 3)


def test_rectangle_with_reversed_corners_is_the_same_rectangle() -> None:
    forward = shape_mask(make_shape("rectangle", [[1, 1], [3, 2]]), 5, 6)
    for corners in ([[3, 2], [1, 1]], [[3, 1], [1, 2]], [[1, 2], [3, 1]]):
        assert np.array_equal(shape_mask(make_shape("rectangle", corners), 5, 6), forward)


def test_circle_is_centre_plus_rim_point() -> None:
    mask = shape_mask(make_shape("circle", [[5, 5], [5, 8]]), 11, 11)
    rows, columns = np.nonzero(mask)
    assert (rows.min(), rows.max(), columns.min(), columns.max()) == (2, 8, 2, 8)
    assert mask[5, 5] and mask[2, 5] and mask[5, 8]
    assert not mask[2, 2] and not mask[8, 8]  # corners of the bounding square are outside
    assert np.array_equal(mask, mask[::-1, ::-1])  # symmetric about the centre


def test_point_is_a_disc_of_radius_5() -> None:
    mask = shape_mask(make_shape("point", [[7, 7]]), 15, 15)
    rows, columns = np.nonzero(mask)
    assert (rows.min(), rows.max(), columns.min(), columns.max()) == (2, 12, 2, 12)
    assert mask.sum() == 97
    assert not mask[2, 2]


def test_line_is_10_pixels_wide_without_caps() -> None:
    mask = shape_mask(make_shape("line", [[2, 10], [17, 10]]), 20, 20)
    assert pixels(mask) == box_pixels(6, 15, 2, 17)


def test_linestrip_is_10_pixels_wide_with_rounded_joints() -> None:
    points = [[3, 3], [15, 15], [27, 3]]
    strip = shape_mask(make_shape("linestrip", points), 30, 30)
    first = shape_mask(make_shape("line", points[:2]), 30, 30)
    second = shape_mask(make_shape("line", points[1:]), 30, 30)
    assert pixels(first | second) <= pixels(strip)
    joint = pixels(strip) - pixels(first | second)
    assert joint, "the rounded joint adds pixels beyond the two segments"
    assert all(abs(row - 15) <= 6 and abs(column - 15) <= 6 for row, column in joint)


def test_oriented_rectangle_is_its_four_corners_as_a_polygon() -> None:
    corners = [[6, 1], [11, 6], [6, 11], [1, 6]]
    mask = shape_mask(make_shape("oriented_rectangle", corners), 13, 13)
    assert np.array_equal(mask, shape_mask(make_shape("polygon", corners), 13, 13))
    assert mask[6, 6] and mask[1, 6] and mask[6, 1] and mask[11, 6]
    assert not mask[2, 2] and not mask[10, 10]
    assert mask.sum() == 1 + 3 + 5 + 7 + 9 + 11 + 9 + 7 + 5 + 3 + 1


def test_polygon_includes_its_outline() -> None:
    mask = shape_mask(make_shape("polygon", [[1, 1], [4, 1], [4, 3], [1, 3]]), 6, 6)
    assert pixels(mask) == box_pixels(1, 3, 1, 4)


PATCH = np.array([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 1]], dtype=bool)


@pytest.mark.parametrize(
    ("first_point", "origin"),
    [
        ([2.0, 1.0], (2, 1)),
        ([2.4, 1.6], (2, 2)),
        ([2.5, 3.5], (2, 4)),  # rounded half to even, as numpy (and labelme) rounds
    ],
    ids=["integer", "fractional", "half-to-even"],
)
def test_mask_patch_is_placed_at_its_rounded_first_point(
    first_point: list[float], origin: tuple[int, int]
) -> None:
    shape = make_shape("mask", [first_point, [first_point[0] + 3, first_point[1] + 2]], mask=PATCH)
    mask = shape_mask(shape, 10, 10)
    x, y = origin
    expected = np.zeros((10, 10), dtype=bool)
    expected[y : y + 3, x : x + 4] = PATCH
    assert np.array_equal(mask, expected)


@pytest.mark.parametrize(
    ("first_point", "visible_rows", "visible_columns", "image_rows", "image_columns"),
    [
        ([-1, -2], slice(2, 3), slice(1, 4), slice(0, 1), slice(0, 3)),
        ([4, 3], slice(0, 2), slice(0, 2), slice(3, 5), slice(4, 6)),
    ],
    ids=["top-left-border", "bottom-right-border"],
)
def test_mask_patch_is_clipped_at_the_image_border(
    first_point: list[float],
    visible_rows: slice,
    visible_columns: slice,
    image_rows: slice,
    image_columns: slice,
) -> None:
    shape = make_shape("mask", [first_point, [first_point[0] + 3, first_point[1] + 2]], mask=PATCH)
    mask = shape_mask(shape, 5, 6)
    expected = np.zeros((5, 6), dtype=bool)
    expected[image_rows, image_columns] = PATCH[visible_rows, visible_columns]
    assert np.array_equal(mask, expected)


def test_mask_patch_entirely_outside_paints_nothing() -> None:
    shape = make_shape("mask", [[20, 20], [23, 22]], mask=PATCH)
    assert not shape_mask(shape, 5, 6).any()
    assert shape_box(shape, 5, 6) is None


def test_points_outside_the_image_are_clipped() -> None:
    shape = make_shape("polygon", [[-5, -5], [3, -5], [3, 2], [-5, 2]])
    assert pixels(shape_mask(shape, 6, 6)) == box_pixels(0, 2, 0, 3)


def test_shape_entirely_outside_the_image_paints_nothing() -> None:
    shapes = [make_shape("circle", [[50, 50], [55, 50]]), make_shape("line", [[-30, 2], [-20, 2]])]
    for shape in shapes:
        assert not shape_mask(shape, 8, 8).any()
        assert shape_box(shape, 8, 8) is None
    class_label, object_label = rasterize(shapes, 8, 8, LABELS)
    assert not class_label.any() and not object_label.any()


def test_instances_are_numbered_by_first_appearance_of_label_and_group() -> None:
    # Five disjoint 2x2 squares in a row, one per shape.
    specs = [("cat", None), ("cat", 1), ("dog", 1), ("cat", 1), ("cat", None)]
    shapes = [
        make_shape("rectangle", [[3 * i, 0], [3 * i + 1, 1]], label, group_id, index=i)
        for i, (label, group_id) in enumerate(specs)
    ]
    class_label, object_label = rasterize(shapes, 2, 15, LABELS)
    assert class_label[0, ::3].tolist() == [CAT, CAT, DOG, CAT, CAT]
    assert object_label[0, ::3].tolist() == [1, 2, 3, 2, 4]
    assert class_label.dtype == np.int32 and object_label.dtype == np.int32


def test_ignore_and_background_shapes_take_instance_ids_too() -> None:
    shapes = [
        make_shape("rectangle", [[0, 0], [1, 1]], "__ignore__", index=0),
        make_shape("rectangle", [[3, 0], [4, 1]], "_background_", index=1),
        make_shape("rectangle", [[6, 0], [7, 1]], "cat", index=2),
    ]
    class_label, object_label = rasterize(shapes, 2, 9, LABELS)
    assert class_label[0, ::3].tolist() == [IGNORE_ID_NPY, 0, CAT]
    # ignore pixels get instance 0; the background shape keeps its id, as in labelme.
    assert object_label[0, ::3].tolist() == [0, 2, 3]


def test_later_shapes_win_including_background_and_ignore() -> None:
    shapes = [
        make_shape("rectangle", [[0, 0], [9, 0]], "cat", index=0),
        make_shape("rectangle", [[2, 0], [7, 0]], "dog", index=1),
        make_shape("rectangle", [[4, 0], [5, 0]], "_background_", index=2),
        make_shape("rectangle", [[6, 0], [6, 0]], "__ignore__", index=3),
        make_shape("rectangle", [[0, 0], [0, 0]], "dog", index=4),
    ]
    class_label, object_label = rasterize(shapes, 1, 10, LABELS)
    assert class_label[0].tolist() == [DOG, CAT, DOG, DOG, 0, 0, -1, DOG, CAT, CAT]
    assert object_label[0].tolist() == [5, 1, 2, 2, 3, 3, 0, 2, 1, 1]


def test_shape_painted_over_ignore_gets_its_instance_back() -> None:
    shapes = [
        make_shape("rectangle", [[0, 0], [3, 0]], "__ignore__", index=0),
        make_shape("rectangle", [[2, 0], [3, 0]], "cat", index=1),
    ]
    class_label, object_label = rasterize(shapes, 1, 4, LABELS)
    assert class_label[0].tolist() == [-1, -1, CAT, CAT]
    assert object_label[0].tolist() == [0, 0, 2, 2]


def test_unknown_label_is_an_annotation_error() -> None:
    shape = make_shape("point", [[1, 1]], "horse", index=4)
    with pytest.raises(AnnotationError, match=r"shape 4: label 'horse' is not in"):
        rasterize([shape], 4, 4, LABELS)


@pytest.mark.parametrize(
    "points",
    [[[1, 1], [float("nan"), 2]], [[1, 1], [1e6, 1]], []],
    ids=["nan", "far-out", "no-points"],
)
def test_undrawable_points_are_an_annotation_error(points: list) -> None:
    shape = make_shape("circle", points, index=2)
    with pytest.raises(AnnotationError, match=r"shape 2: coordinates must be finite numbers"):
        rasterize([shape], 4, 4, LABELS)
    with pytest.raises(AnnotationError, match=r"shape 2: coordinates must be finite numbers"):
        shape_mask(shape, 4, 4)


def test_mask_shape_without_patch_is_an_annotation_error() -> None:
    with pytest.raises(AnnotationError, match="no mask data"):
        rasterize([make_shape("mask", [[0, 0], [1, 1]])], 4, 4, LABELS)


coordinate = st.floats(min_value=-15, max_value=45, allow_nan=False).map(lambda v: round(v, 2))


@st.composite
def random_shape(draw: st.DrawFn) -> Shape:
    shape_type = draw(st.sampled_from(sorted(SHAPE_TYPES)))
    count = {"polygon": draw(st.integers(3, 7)), "linestrip": draw(st.integers(2, 5))}.get(
        shape_type, SHAPE_TYPES[shape_type]
    )
    points = [[draw(coordinate), draw(coordinate)] for _ in range(count)]
    mask = None
    if shape_type == "mask":
        height, width = draw(st.integers(1, 12)), draw(st.integers(1, 12))
        mask = np.random.default_rng(draw(st.integers(0, 2**16))).random((height, width)) > 0.4
    label = draw(st.sampled_from(["cat", "dog", "_background_", "__ignore__"]))
    group_id = draw(st.none() | st.integers(0, 2))
    return make_shape(shape_type, points, label, group_id, mask)


SHAPE_LISTS = st.lists(random_shape(), min_size=1, max_size=6)
IMAGE_SIZES = st.tuples(*[st.integers(1, 30)] * 2)


def reference_rasterize(
    shapes: list[Shape], height: int, width: int
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """labelme's algorithm, literally: one full-image mask per shape."""
    class_label = np.zeros((height, width), dtype=np.int32)
    object_label = np.zeros((height, width), dtype=np.int32)
    instances: list[tuple[str, object]] = []
    for shape in shapes:
        key = (shape.label, shape.group_id if shape.group_id is not None else object())
        if key not in instances:
            instances.append(key)
        mask = shape_mask(shape, height, width)
        class_label[mask] = LABELS.class_id(shape.label)
        object_label[mask] = instances.index(key) + 1
    object_label[class_label == IGNORE_ID_NPY] = 0
    return class_label, object_label


@settings(max_examples=150, deadline=None)
@given(shapes=SHAPE_LISTS, size=IMAGE_SIZES)
def test_bounding_box_rasterizing_equals_full_image_masks(
    shapes: list[Shape], size: tuple[int, int]
) -> None:
    height, width = size
    class_label, object_label = rasterize(shapes, height, width, LABELS)
    expected_class, expected_object = reference_rasterize(shapes, height, width)
    assert np.array_equal(class_label, expected_class)
    assert np.array_equal(object_label, expected_object)


@settings(max_examples=60, deadline=None)
@given(shapes=SHAPE_LISTS, size=IMAGE_SIZES)
def test_label_images_save_and_count_as_their_arrays(
    shapes: list[Shape], size: tuple[int, int]
) -> None:
    # convert writes and counts the drawn image itself, not an array copy of it.
    drawn = draw_label_images(shapes, *size, LABELS)
    values = drawn.class_values.copy()
    assert drawn.classes.histogram() == np.bincount(values.ravel(), minlength=256).tolist()
    assert label_png_bytes(drawn.classes) == label_png_bytes(values)
