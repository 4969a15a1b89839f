"""Pre-labels against annotations: matching predicted objects to annotated instances, and
choosing the thresholds of :class:`~annotool.objects.ObjectThresholds` that pre-label a
set of photos best.

:func:`match_objects` scores predicted objects against annotated instances (IoU >= 0.5,
any class), :func:`score_matches` counts what some thresholds keep, and
:func:`choose_thresholds` searches the minimum area and confidence. All arrays are at the
photo's own size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from annotool.labels import IGNORE_ID
from annotool.objects import (
    BACKGROUND_ID,
    DEFAULT_MIN_AREA,
    ObjectThresholds,
    PredictedObject,
)

MATCH_IOU = 0.5
"""The IoU at which a predicted object counts as finding an annotated one (as in COCO's AP50)."""
MIN_AREA_FRACTIONS = (0.125, 0.25, 0.5)
"""The minimum areas :func:`choose_thresholds` tries, as fractions of the smallest
annotated instance of the training data: parts of an object, or objects seen smaller."""
MAX_AREA_FACTOR = 2.0
"""Objects more than this many times the largest annotated instance of the training data
are left out: such regions are clutter (a desk, a keyboard) the model took for an object
(on the ``boards`` photo set, one covered a third of a photo)."""
RECALL_FLOOR = 0.6
"""Thresholds that keep at least this share of the annotated objects are preferred to a
higher F1 that finds fewer: a missed object costs a person a whole drawing, a wrong
one a click to delete it."""
_FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)


def truth_instances(
    class_mask: NDArray[np.uint8], instance_mask: NDArray[np.integer] | None = None
) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
    """Annotated objects of an ``(H, W)`` class mask: the ``(H, W)`` int32 instance map
    (0: none) and each instance's class id (index ``i - 1`` for instance ``i``).

    With an ``instance_mask`` (VOC's SegmentationObject: one id per instance, 0 and 255
    none) its instances are used; without one, each 4-connected region of one class.
    Ignored pixels (255) belong to no instance.
    """
    labelled = (class_mask != BACKGROUND_ID) & (class_mask != IGNORE_ID)
    if instance_mask is not None:
        ids = np.where(labelled & (instance_mask != IGNORE_ID), instance_mask, 0)
        values, instance_map = np.unique(ids, return_inverse=True)
        instance_map = instance_map.reshape(ids.shape).astype(np.int32)
        if values[0] != 0:
            instance_map += 1
        count = int(instance_map.max())
    else:
        instance_map = np.zeros(class_mask.shape, dtype=np.int32)
        count = 0
        for class_id in np.unique(class_mask[labelled]).tolist():
            components, found = ndimage.label(class_mask == class_id, structure=_FOUR_CONNECTED)
            instance_map[components > 0] = components[components > 0] + count
            count += found
    classes = np.zeros(count, dtype=np.int64)
    if count:
        flat = instance_map.ravel()
        # Each instance's majority class (instances of VOC masks have one).
        votes = np.zeros((count + 1, int(class_mask.max()) + 1), dtype=np.int64)
        np.add.at(votes, (flat, class_mask.ravel().astype(np.int64)), 1)
        classes = votes[1:].argmax(axis=1)
    return instance_map, classes


def instance_sizes(instance_map: NDArray[np.int32]) -> tuple[int | None, int | None]:
    """Pixels of the smallest instance that does not touch the image border (a cut-off
    instance says nothing about how small objects are) and of the largest instance;
    None where there is none."""
    count = int(instance_map.max())
    if count == 0:
        return None, None
    on_border = np.zeros(count + 1, dtype=bool)
    for edge in (instance_map[0], instance_map[-1], instance_map[:, 0], instance_map[:, -1]):
        on_border[edge] = True
    sizes = np.bincount(instance_map.ravel(), minlength=count + 1)
    present = [i for i in range(1, count + 1) if sizes[i] > 0]
    inner = [int(sizes[i]) for i in present if not on_border[i]]
    return (min(inner) if inner else None), (int(max(sizes[present])) if present else None)


@dataclass(frozen=True)
class ObjectMatch:
    """A predicted object scored against the annotations of its photo."""

    pixels: int
    photo_pixels: int
    confidence: float
    matched: bool
    """Whether it has IoU >= MATCH_IOU with an annotated instance (of any class)."""
    right_class: bool

    @property
    def area_share(self) -> float:
        """Its area as a share of the photo's pixels."""
        return self.pixels / self.photo_pixels


def match_objects(
    object_map: NDArray[np.int32],
    objects: Sequence[PredictedObject],
    instance_map: NDArray[np.int32],
    instance_classes: NDArray[np.int64],
) -> list[ObjectMatch]:
    """Each object matched one-to-one to an annotated instance, greedily by IoU (objects,
    and instances, do not overlap, so above an IoU of 0.5 each has at most one partner)."""
    count = len(instance_classes)
    total = object_map.size
    predicted_max = int(object_map.max())
    pairs = object_map.astype(np.int64).ravel() * (count + 1) + instance_map.ravel()
    overlap = np.bincount(pairs, minlength=(predicted_max + 1) * (count + 1)).reshape(
        predicted_max + 1, count + 1
    )
    object_sizes, instance_sizes = overlap.sum(axis=1), overlap.sum(axis=0)
    taken: set[int] = set()
    matches = []
    for item in objects:
        row = overlap[item.index, 1:]
        union = object_sizes[item.index] + instance_sizes[1:] - row
        iou = np.divide(row, union, out=np.zeros(count), where=union > 0)
        best = int(np.argmax(iou)) if count else -1
        matched = count > 0 and iou[best] >= MATCH_IOU and best not in taken
        if matched:
            taken.add(best)
        matches.append(
            ObjectMatch(
                pixels=item.pixels,
                photo_pixels=total,
                confidence=item.confidence,
                matched=bool(matched),
                right_class=bool(matched and instance_classes[best] == item.class_id),
            )
        )
    return matches


@dataclass(frozen=True)
class PrelabelScores:
    """How pre-labels compare with the annotations of some photos."""

    photos: int
    instances: int
    predicted: int
    matched: int
    right_class: int

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.instances if self.instances else 0.0

    @property
    def f1(self) -> float:
        total = self.predicted + self.instances
        return 2 * self.matched / total if total else 0.0

    @property
    def right_class_share(self) -> float:
        return self.right_class / self.matched if self.matched else 0.0

    def describe(self) -> str:
        per_photo = self.predicted / max(self.photos, 1)
        truth = self.instances / max(self.photos, 1)
        return (
            f"{per_photo:.1f} shapes per photo (annotated {truth:.1f}), precision "
            f"{self.precision:.2f}, recall {self.recall:.2f} at IoU {MATCH_IOU}, "
            f"right class {self.right_class_share:.2f}"
        )


def score_matches(
    matches: Sequence[ObjectMatch], instances: int, photos: int, thresholds: ObjectThresholds
) -> PrelabelScores:
    """Scores of the objects ``thresholds`` keep."""
    kept = [
        item
        for item in matches
        if thresholds.area_problem(item.pixels, item.photo_pixels) is None
        and item.confidence >= thresholds.min_confidence
    ]
    return PrelabelScores(
        photos=photos,
        instances=instances,
        predicted=len(kept),
        matched=sum(item.matched for item in kept),
        right_class=sum(item.right_class for item in kept),
    )


def choose_thresholds(
    matches: Sequence[ObjectMatch],
    instances: int,
    photos: int,
    smallest_share: float | None,
    largest_share: float | None = None,
) -> tuple[ObjectThresholds, PrelabelScores]:
    """The thresholds that pre-label best: among minimum areas of MIN_AREA_FRACTIONS of
    ``smallest_share`` (the smallest annotated instance as a share of its photo;
    DEFAULT_MIN_AREA pixels without one) and every minimum confidence, the pair with the
    highest F1 among those with recall >= RECALL_FLOOR (among all when none reaches it;
    ties go to the stricter). The maximum area is MAX_AREA_FACTOR times
    ``largest_share``, the largest annotated instance (none without one)."""
    max_area_share = MAX_AREA_FACTOR * largest_share if largest_share else None
    if smallest_share is None:
        areas = [ObjectThresholds(min_area=DEFAULT_MIN_AREA, max_area_share=max_area_share)]
    else:
        areas = [
            ObjectThresholds(
                min_area=None,
                min_area_share=fraction * smallest_share,
                max_area_share=max_area_share,
            )
            for fraction in MIN_AREA_FRACTIONS
        ]
    # Floored, so that a threshold at an object's confidence keeps that object.
    confidence = np.floor(np.array([item.confidence for item in matches]) * 1e4) / 1e4
    matched = np.array([item.matched for item in matches], dtype=bool)
    right = np.array([item.right_class for item in matches], dtype=bool)
    levels = np.unique(np.concatenate(([0.0], confidence)))
    candidates = []
    for area in areas:
        sized = np.array(
            [area.area_problem(item.pixels, item.photo_pixels) is None for item in matches],
            dtype=bool,
        )
        kept = _at_or_above(confidence[sized], levels)
        found = _at_or_above(confidence[sized & matched], levels)
        right_counts = _at_or_above(confidence[sized & right], levels)
        for level, predicted, hits, correct in zip(
            levels.tolist(), kept.tolist(), found.tolist(), right_counts.tolist(), strict=True
        ):
            scores = PrelabelScores(photos, instances, predicted, hits, correct)
            candidates.append((replace(area, min_confidence=level), scores))
    enough = [item for item in candidates if item[1].recall >= RECALL_FLOOR]
    return max(
        enough or candidates,
        key=lambda item: (
            round(item[1].f1, 9),
            item[0].min_confidence,
            item[0].min_area_share or 0.0,
        ),
    )


def _at_or_above(values: NDArray[np.float64], levels: NDArray[np.float64]) -> NDArray[np.int64]:
    """For each level, how many ``values`` are at or above it."""
    ordered = np.sort(values)
    return len(ordered) - np.searchsorted(ordered, levels, side="left")
