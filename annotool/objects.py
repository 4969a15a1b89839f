"""Predicted objects: what a person correcting pre-labels sees as one shape each.

A model's per-pixel classes are not what a person draws. A board whose pixels the model
splits between two classes is still one board, and a few pixels of clutter that look like
a board are not one. So :func:`find_objects` groups the pixels of every non-background
class into connected regions (4-connected, holes filled: a person draws the outline), and
gives each region the class with the highest summed probability over it, with the
runner-up for the shape's description. :func:`select_objects` then drops regions too
small to be an object of the training data, or on which the model is unsure (the mean
probability of "not background" over the region), counting each reason.

:func:`match_objects` scores predicted objects against annotated instances (IoU >= 0.5,
any class), and :func:`choose_thresholds` picks the minimum area and confidence that
pre-label a validation set best. All arrays are at the photo's own size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from annotool.labels import IGNORE_ID

BACKGROUND_ID = 0
MATCH_IOU = 0.5
"""The IoU at which a predicted object counts as finding an annotated one (as in COCO's AP50)."""
DEFAULT_MIN_AREA = 20
"""Minimum area (pixels) of checkpoints that predate measured thresholds: smaller specks
are noise a person would delete one by one."""
MIN_AREA_FRACTIONS = (0.125, 0.25, 0.5)
"""The minimum areas :func:`choose_thresholds` tries, as fractions of the smallest
annotated instance of the training data: parts of an object, or objects seen smaller."""
RECALL_FLOOR = 0.6
"""Thresholds that keep at least this share of the annotated objects are preferred to a
higher F1 that finds fewer: a missed object costs a person a whole drawing, a wrong
one a click to delete it."""
_FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)


@dataclass(frozen=True)
class PredictedObject:
    """One connected region of predicted non-background pixels (holes filled).

    ``index`` is its id in the object map of :func:`find_objects` (1-based).
    ``class_id`` has the highest summed probability over its pixels, ``probability`` is
    that class's mean probability there; ``runner_up`` and ``runner_up_probability`` the
    same for the next class (None and 0 with a single object class). ``confidence`` is
    the mean probability of not being background over its pixels.
    """

    index: int
    class_id: int
    probability: float
    runner_up: int | None
    runner_up_probability: float
    confidence: float
    pixels: int


@dataclass(frozen=True)
class ObjectThresholds:
    """What a predicted object needs to become a shape: at least ``min_area`` pixels
    (``min_area_share`` of the photo's pixels where that is None) and a confidence of
    at least ``min_confidence``."""

    min_area: int | None = DEFAULT_MIN_AREA
    min_area_share: float | None = None
    min_confidence: float = 0.0

    def min_pixels(self, height: int, width: int) -> int:
        """The minimum area in pixels on a photo of ``height`` x ``width``."""
        if self.min_area is not None or self.min_area_share is None:
            return self.min_area if self.min_area is not None else DEFAULT_MIN_AREA
        return max(1, round(self.min_area_share * height * width))

    def describe(self, height: int | None = None, width: int | None = None) -> str:
        if self.min_area is not None or self.min_area_share is None:
            area = f"{self.min_pixels(0, 0)} px"
        else:
            area = f"{self.min_area_share:.3%} of the photo"
            if height is not None and width is not None:
                area += f" ({self.min_pixels(height, width)} px)"
        return f"minimum area {area}, minimum confidence {self.min_confidence:.2f}"


@dataclass
class Selection:
    """The objects kept, and how many were dropped for each reason."""

    kept: list[PredictedObject]
    too_small: int = 0
    unsure: int = 0


def find_objects(
    probabilities: NDArray[np.floating],
) -> tuple[NDArray[np.int32], list[PredictedObject]]:
    """The objects of a ``(C, H, W)`` per-class probability map (class 0: background).

    Returns the ``(H, W)`` int32 object map (0: no object, ``i``: the pixels of object
    ``i``) and the objects in index order (row-major order of their first pixel).
    """
    if probabilities.ndim != 3 or probabilities.shape[0] < 2:
        raise ValueError(f"expected (C, H, W) probabilities, C >= 2, got {probabilities.shape}")
    foreground = probabilities.argmax(axis=0) != BACKGROUND_ID
    filled = ndimage.binary_fill_holes(foreground)
    object_map, count = ndimage.label(filled, structure=_FOUR_CONNECTED)
    object_map = object_map.astype(np.int32)
    if count == 0:
        return object_map, []
    flat = object_map.ravel()
    pixels = np.bincount(flat, minlength=count + 1)[1:]
    sums = np.stack(
        [
            np.bincount(flat, weights=channel.ravel(), minlength=count + 1)[1:]
            for channel in probabilities
        ]
    )  # (C, objects)
    objects = []
    for position in range(count):
        object_sums = sums[1:, position]
        order = np.argsort(-object_sums, kind="stable")
        area = int(pixels[position])
        runner_up = int(order[1]) + 1 if len(order) > 1 else None
        objects.append(
            PredictedObject(
                index=position + 1,
                class_id=int(order[0]) + 1,
                probability=float(object_sums[order[0]] / area),
                runner_up=runner_up,
                runner_up_probability=float(object_sums[order[1]] / area)
                if runner_up is not None
                else 0.0,
                confidence=float(1.0 - sums[BACKGROUND_ID, position] / area),
                pixels=area,
            )
        )
    return object_map, objects


def select_objects(
    objects: Sequence[PredictedObject], min_pixels: int, min_confidence: float
) -> Selection:
    """The objects with at least ``min_pixels`` pixels and ``min_confidence``; an object
    both too small and unsure counts as too small."""
    selection = Selection(kept=[])
    for item in objects:
        if item.pixels < min_pixels:
            selection.too_small += 1
        elif item.confidence < min_confidence:
            selection.unsure += 1
        else:
            selection.kept.append(item)
    return selection


def object_class_mask(
    object_map: NDArray[np.int32], kept: Sequence[PredictedObject]
) -> NDArray[np.uint8]:
    """``(H, W)`` uint8 class ids: each kept object's pixels in its class, the rest 0."""
    classes = np.zeros(int(object_map.max()) + 1, dtype=np.uint8)
    for item in kept:
        classes[item.index] = item.class_id
    return classes[object_map]


def describe_object(item: PredictedObject, class_names: Sequence[str]) -> str:
    """``mean probability <class> 0.81, runner-up <class> 0.12; confidence 0.93``, for a
    shape's description."""
    text = f"mean probability {class_names[item.class_id]} {item.probability:.2f}"
    if item.runner_up is not None:
        text += f", runner-up {class_names[item.runner_up]} {item.runner_up_probability:.2f}"
    return f"{text}; confidence {item.confidence:.2f}"


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


def smallest_inner_instance(instance_map: NDArray[np.int32]) -> int | None:
    """Pixels of the smallest instance that does not touch the image border (a cut-off
    instance says nothing about the size of objects), None when there is none."""
    count = int(instance_map.max())
    if count == 0:
        return None
    on_border = np.zeros(count + 1, dtype=bool)
    for edge in (instance_map[0], instance_map[-1], instance_map[:, 0], instance_map[:, -1]):
        on_border[edge] = True
    sizes = np.bincount(instance_map.ravel(), minlength=count + 1)
    inner = [int(sizes[i]) for i in range(1, count + 1) if not on_border[i] and sizes[i] > 0]
    return min(inner) if inner else None


@dataclass(frozen=True)
class ObjectMatch:
    """A predicted object scored against the annotations of its photo."""

    pixels: int
    area_share: float
    """Its area as a share of the photo's pixels."""
    confidence: float
    matched: bool
    """Whether it has IoU >= MATCH_IOU with an annotated instance (of any class)."""
    right_class: bool


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
                area_share=item.pixels / total,
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
    matches: Sequence[ObjectMatch],
    instances: int,
    photos: int,
    min_area_share: float,
    min_confidence: float,
    min_pixels: int = 0,
) -> PrelabelScores:
    """Scores of the objects kept by the thresholds."""
    kept = [
        item
        for item in matches
        if item.area_share >= min_area_share
        and item.pixels >= min_pixels
        and item.confidence >= min_confidence
    ]
    return PrelabelScores(
        photos=photos,
        instances=instances,
        predicted=len(kept),
        matched=sum(item.matched for item in kept),
        right_class=sum(item.right_class for item in kept),
    )


def choose_thresholds(
    matches: Sequence[ObjectMatch], instances: int, photos: int, smallest_share: float | None
) -> tuple[ObjectThresholds, PrelabelScores]:
    """The minimum area (a MIN_AREA_FRACTIONS share of ``smallest_share``, the smallest
    annotated instance as a share of its photo; DEFAULT_MIN_AREA pixels without one) and
    confidence that give the highest F1 among those with recall >= RECALL_FLOOR (among
    all when none reaches it); ties go to the stricter thresholds."""
    if smallest_share is None:
        areas = [ObjectThresholds(min_area=DEFAULT_MIN_AREA)]
    else:
        areas = [
            ObjectThresholds(min_area=None, min_area_share=fraction * smallest_share)
            for fraction in MIN_AREA_FRACTIONS
        ]
    pixels = np.array([item.pixels for item in matches], dtype=np.int64)
    shares = np.array([item.area_share for item in matches], dtype=np.float64)
    # Floored, so that a threshold at an object's confidence keeps that object.
    confidence = np.floor(np.array([item.confidence for item in matches]) * 1e4) / 1e4
    matched = np.array([item.matched for item in matches], dtype=bool)
    right = np.array([item.right_class for item in matches], dtype=bool)
    levels = np.unique(np.concatenate(([0.0], confidence)))
    candidates = []
    for area in areas:
        large = (shares >= (area.min_area_share or 0.0)) & (pixels >= (area.min_area or 0))
        kept = _at_or_above(confidence[large], levels)
        found = _at_or_above(confidence[large & matched], levels)
        right_counts = _at_or_above(confidence[large & right], levels)
        for level, predicted, hits, correct in zip(
            levels.tolist(), kept.tolist(), found.tolist(), right_counts.tolist(), strict=True
        ):
            scores = PrelabelScores(photos, instances, predicted, hits, correct)
            candidates.append((ObjectThresholds(area.min_area, area.min_area_share, level), scores))
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
