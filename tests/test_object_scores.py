"""Pre-labels against annotations: instances, matching, choosing the thresholds."""

from __future__ import annotations

import numpy as np

from annotool.object_scores import (
    MAX_AREA_FACTOR,
    MIN_AREA_FRACTIONS,
    ObjectMatch,
    choose_thresholds,
    instance_sizes,
    match_objects,
    score_matches,
    truth_instances,
)
from annotool.objects import DEFAULT_MIN_AREA, ObjectThresholds, find_objects


def probabilities_of(classes: np.ndarray, sure: float = 0.8) -> np.ndarray:
    """``(3, H, W)`` probabilities whose argmax is ``classes``."""
    result = np.full((3, *classes.shape), (1 - sure) / 2, dtype=np.float32)
    for class_id in range(3):
        result[class_id][classes == class_id] = sure
    return result


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
    assert instance_sizes(instance_map) == (4, 6)  # instance 1 touches the border


def test_instance_sizes_are_none_without_instances_or_inner_ones() -> None:
    instance_map = np.zeros((4, 4), dtype=np.int32)
    assert instance_sizes(instance_map) == (None, None)
    instance_map[0, :] = 1
    assert instance_sizes(instance_map) == (None, 4)


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
    scores = score_matches(matches, len(instance_classes), 1, ObjectThresholds(min_area=0))
    assert (scores.precision, scores.recall, scores.right_class_share) == (0.5, 2 / 3, 0.5)
    assert "4.0 shapes per photo (annotated 3.0), precision 0.50" in scores.describe()


def match(pixels: int, confidence: float, matched: bool) -> ObjectMatch:
    return ObjectMatch(pixels, 10_000, confidence, matched, matched)


def test_choose_thresholds_drops_unsure_and_small_objects_that_do_not_match() -> None:
    matches = [
        match(400, 0.95, True),
        match(300, 0.9, True),
        match(500, 0.6, False),  # unsure clutter
        match(20, 0.99, False),  # a speck
        match(350, 0.85, True),
    ]
    thresholds, scores = choose_thresholds(matches, 4, 2, smallest_share=0.03)
    assert thresholds.min_area is None and thresholds.max_area_share is None
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


def test_choose_thresholds_leaves_out_objects_twice_the_largest_instance() -> None:
    matches = [match(400, 0.9, True), match(450, 0.9, True), match(3000, 0.95, False)]
    thresholds, scores = choose_thresholds(matches, 2, 1, 0.03, largest_share=0.05)
    assert thresholds.max_area_share == MAX_AREA_FACTOR * 0.05
    assert (scores.predicted, scores.matched) == (2, 2)
