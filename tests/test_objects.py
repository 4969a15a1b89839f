"""Predicted objects: grouping, class votes, thresholds, matching against annotations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray
from scipy import ndimage

from annotool.objects import (
    DEFAULT_MIN_AREA,
    MIN_AREA_FRACTIONS,
    ObjectMatch,
    ObjectThresholds,
    choose_thresholds,
    describe_object,
    find_objects,
    match_objects,
    object_class_mask,
    score_matches,
    select_objects,
    smallest_inner_instance,
    truth_instances,
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
    probabilities = probabilities_of(classes)
    classes[7:10, 14:19] = 2  # 15 px, unsure
    probabilities[:, 7:10, 14:19] = np.array([0.4, 0.1, 0.5])[:, None, None]
    object_map, objects = find_objects(probabilities)
    selection = select_objects(objects, min_pixels=5, min_confidence=0.7)
    assert [item.pixels for item in selection.kept] == [25]
    assert (selection.too_small, selection.unsure) == (1, 1)
    mask = object_class_mask(object_map, selection.kept)
    assert mask.dtype == np.uint8 and np.array_equal(mask == 1, classes == 1)
    assert not np.any(mask == 2)


def test_thresholds_give_pixels_from_a_share_of_the_photo_or_the_default() -> None:
    assert ObjectThresholds().min_pixels(100, 100) == DEFAULT_MIN_AREA
    share = ObjectThresholds(min_area=None, min_area_share=0.01, min_confidence=0.5)
    assert share.min_pixels(600, 800) == 4800
    assert share.describe(600, 800) == (
        "minimum area 1.000% of the photo (4800 px), minimum confidence 0.50"
    )
    assert ObjectThresholds().describe() == "minimum area 20 px, minimum confidence 0.00"
    assert ObjectThresholds(min_area=7, min_area_share=0.5).min_pixels(600, 800) == 7


def test_truth_instances_from_components_or_the_instance_mask() -> None:
    classes = np.zeros((6, 8), dtype=np.uint8)
    classes[0:2, 0:3] = 1
    classes[3:5, 2:4] = 2
    classes[3:5, 4:6] = 2  # the same class, touching: one component
    classes[5, 7] = 255
    instance_map, instance_classes = truth_instances(classes)
    assert instance_classes.tolist() == [1, 2]
    assert instance_map[5, 7] == 0
    instances = np.zeros_like(classes)
    instances[0:2, 0:3] = 1
    instances[3:5, 2:4] = 2
    instances[3:5, 4:6] = 3
    instance_map, instance_classes = truth_instances(classes, instances)
    assert instance_classes.tolist() == [1, 2, 2]
    assert smallest_inner_instance(instance_map) == 4  # instance 1 touches the border


def test_smallest_inner_instance_is_none_when_all_touch_the_border() -> None:
    instance_map = np.zeros((4, 4), dtype=np.int32)
    assert smallest_inner_instance(instance_map) is None
    instance_map[0, :] = 1
    assert smallest_inner_instance(instance_map) is None


def test_match_objects_at_iou_one_half_one_to_one_with_the_class() -> None:
    truth = np.zeros((10, 20), dtype=np.uint8)
    truth[1:5, 1:5] = 1  # found with the right class
    truth[1:5, 10:14] = 2  # found as a cat
    truth[6:10, 1:5] = 1  # missed: the prediction covers a quarter of it
    instance_map, instance_classes = truth_instances(truth)
    predicted = np.zeros_like(truth)
    predicted[1:5, 1:4] = 1
    predicted[1:5, 10:14] = 1
    predicted[6:8, 1:3] = 1
    predicted[8:10, 15:20] = 2  # nothing there
    object_map, objects = find_objects(probabilities_of(predicted))
    matches = match_objects(object_map, objects, instance_map, instance_classes)
    assert [(match.matched, match.right_class) for match in matches] == [
        (True, True),
        (True, False),
        (False, False),
        (False, False),
    ]
    scores = score_matches(matches, len(instance_classes), 1, 0.0, 0.0)
    assert (scores.precision, scores.recall, scores.right_class_share) == (0.5, 2 / 3, 0.5)
    assert "4.0 shapes per photo (annotated 3.0), precision 0.50" in scores.describe()


def match(pixels: int, confidence: float, matched: bool) -> ObjectMatch:
    return ObjectMatch(pixels, pixels / 10_000, confidence, matched, matched)


def test_choose_thresholds_drops_unsure_and_small_objects_that_do_not_match() -> None:
    matches = [
        match(400, 0.95, True),
        match(300, 0.9, True),
        match(500, 0.6, False),  # unsure clutter
        match(20, 0.99, False),  # a speck
        match(350, 0.85, True),
    ]
    thresholds, scores = choose_thresholds(matches, 4, 2, smallest_share=0.03)
    assert thresholds.min_area is None
    assert thresholds.min_area_share in [fraction * 0.03 for fraction in MIN_AREA_FRACTIONS]
    assert 0.6 < thresholds.min_confidence <= 0.85
    assert (scores.predicted, scores.matched, scores.recall) == (3, 3, 0.75)


def test_choose_thresholds_keeps_recall_above_the_floor_when_it_can() -> None:
    # The best F1 (0.8) would drop the two unsure hits; recall 0.6 needs them.
    matches = [match(400, 0.9, True)] * 4 + [match(400, 0.5, True)] * 2
    matches += [match(400, 0.6, False)] * 6
    thresholds, scores = choose_thresholds(matches, 10, 5, smallest_share=None)
    assert thresholds.min_area == DEFAULT_MIN_AREA and thresholds.min_confidence == 0.5
    assert scores.recall == 0.6


def test_choose_thresholds_on_nothing_predicted_keeps_everything() -> None:
    thresholds, scores = choose_thresholds([], 3, 1, smallest_share=None)
    assert thresholds.min_confidence == 0.0 and scores.predicted == 0 and scores.recall == 0


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
