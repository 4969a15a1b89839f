"""Predicted objects: grouping, class votes, what thresholds keep."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray
from scipy import ndimage

from annotool.objects import (
    DEFAULT_MIN_AREA,
    ObjectThresholds,
    describe_object,
    find_objects,
    object_class_mask,
    select_objects,
)

NAMES = ("_background_", "cat", "dog")


def probabilities_of(classes: NDArray[np.integer], sure: float = 0.8) -> NDArray[np.float32]:
    """``(3, H, W)`` probabilities whose argmax is ``classes``: ``sure`` on the class, the
    rest shared by the other two."""
    result = np.full((3, *classes.shape), (1 - sure) / 2, dtype=np.float32)
    for class_id in range(3):
        result[class_id][classes == class_id] = sure
    return result


def test_touching_fragments_of_two_classes_are_one_object_of_the_larger_class() -> None:
    classes = np.zeros((10, 12), dtype=np.uint8)
    classes[2:8, 2:6] = 1  # 24 cat pixels
    classes[2:8, 6:8] = 2  # 12 dog pixels beside them
    object_map, objects = find_objects(probabilities_of(classes))
    assert len(objects) == 1
    item = objects[0]
    assert (item.class_id, item.runner_up, item.pixels) == (1, 2, 36)
    assert item.probability == pytest.approx((24 * 0.8 + 12 * 0.1) / 36)
    assert item.runner_up_probability == pytest.approx((24 * 0.1 + 12 * 0.8) / 36)
    assert item.confidence == pytest.approx(0.9)
    assert np.array_equal(object_map > 0, classes > 0)
    assert describe_object(item, NAMES) == (
        "mean probability cat 0.57, runner-up dog 0.33; confidence 0.90"
    )


def test_holes_are_filled_and_separate_regions_are_separate_objects() -> None:
    classes = np.zeros((12, 20), dtype=np.uint8)
    classes[1:8, 1:8] = 1
    classes[3:5, 3:5] = 0  # a hole
    classes[9:11, 14:18] = 2
    classes[8, 8] = 1  # touches the ring at a corner only: another object
    object_map, objects = find_objects(probabilities_of(classes))
    assert [(item.index, item.class_id, item.pixels) for item in objects] == [
        (1, 1, 49),
        (2, 1, 1),
        (3, 2, 8),
    ]
    assert np.all(object_map[3:5, 3:5] == 1)
    # The hole's background lowers the confidence of the object around it.
    assert objects[0].confidence == pytest.approx((45 * 0.9 + 4 * 0.2) / 49)


def test_nothing_predicted_gives_no_objects() -> None:
    object_map, objects = find_objects(probabilities_of(np.zeros((4, 5), dtype=np.uint8)))
    assert objects == [] and not object_map.any()
    with pytest.raises(ValueError, match="expected"):
        find_objects(np.zeros((4, 5), dtype=np.float32))


def test_select_counts_what_it_drops_and_the_class_mask_keeps_the_rest() -> None:
    classes = np.zeros((10, 20), dtype=np.uint8)
    classes[1:6, 1:6] = 1  # 25 px, sure
    classes[1:3, 10:12] = 2  # 4 px
    classes[6:10, 7:11] = 1  # 16 px
    probabilities = probabilities_of(classes)
    classes[7:10, 14:19] = 2  # 15 px, unsure
    probabilities[:, 7:10, 14:19] = np.array([0.4, 0.1, 0.5])[:, None, None]
    object_map, objects = find_objects(probabilities)
    thresholds = ObjectThresholds(min_area=5, min_confidence=0.7, max_area=20)
    selection = select_objects(objects, thresholds, object_map.size)
    assert [item.pixels for item in selection.kept] == [16]
    assert (selection.too_small, selection.too_large, selection.unsure) == (1, 1, 1)
    mask = object_class_mask(object_map, selection.kept)
    assert mask.dtype == np.uint8 and np.array_equal(mask == 1, object_map == 3)
    assert not np.any(mask == 2)
    no_limit = replace(thresholds, max_area=0)
    assert len(select_objects(objects, no_limit, object_map.size).kept) == 2


def test_thresholds_give_pixels_from_a_share_of_the_photo_or_the_default() -> None:
    assert ObjectThresholds().min_pixels(10_000) == DEFAULT_MIN_AREA
    assert ObjectThresholds().max_pixels(10_000) is None
    share = ObjectThresholds(
        min_area=None, min_area_share=0.01, min_confidence=0.5, max_area_share=0.1
    )
    assert (share.min_pixels(480_000), share.max_pixels(480_000)) == (4800, 48_000)
    assert share.area_problem(4799, 480_000) == "too small"
    assert share.area_problem(48_001, 480_000) == "too large"
    assert share.area_problem(48_000, 480_000) is None
    assert share.describe(480_000) == (
        "minimum area 1.000% of the photo (4800 px), maximum area 10.000% of the photo "
        "(48000 px), minimum confidence 0.50"
    )
    assert ObjectThresholds().describe() == "minimum area 20 px, minimum confidence 0.00"
    given = ObjectThresholds(min_area=7, min_area_share=0.5, max_area=9, max_area_share=0.5)
    assert (given.min_pixels(480_000), given.max_pixels(480_000)) == (7, 9)
    assert given.describe() == "minimum area 7 px, maximum area 9 px, minimum confidence 0.00"


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.integers(0, 2))
)
def test_objects_cover_the_foreground_and_never_touch(classes: NDArray[np.uint8]) -> None:
    object_map, objects = find_objects(probabilities_of(classes))
    assert np.all(object_map[classes > 0] > 0)
    assert sum(item.pixels for item in objects) == np.count_nonzero(object_map)
    assert [item.index for item in objects] == list(range(1, len(objects) + 1))
    for item in objects:
        own = object_map == item.index
        grown = ndimage.binary_dilation(own, ndimage.generate_binary_structure(2, 1))
        assert set(np.unique(object_map[grown]).tolist()) <= {0, item.index}
        assert 0 < item.confidence <= 1 and item.probability >= item.runner_up_probability
