"""Predicted objects: what a person correcting pre-labels sees as one shape each.

A model's per-pixel classes are not what a person draws. A board whose pixels the model
splits between two classes is still one board, and a few pixels of clutter that look like
a board are not one. So :func:`find_objects` groups the pixels of every non-background
class into connected regions (4-connected, holes filled: a person draws the outline), and
gives each region the class with the highest summed probability over it, with the
runner-up for the shape's description. :func:`select_objects` then drops regions too
small or too large to be an object of the training data, or on which the model is unsure
(the mean probability of "not background" over the region), counting each reason. How
the thresholds are chosen is in :mod:`annotool.object_scores`. All arrays are at the
photo's own size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

BACKGROUND_ID = 0
DEFAULT_MIN_AREA = 20
"""Minimum area (pixels) of checkpoints that predate measured thresholds: smaller specks
are noise a person would delete one by one."""
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
    (``min_area_share`` of the photo's pixels where that is None), at most ``max_area``
    pixels (``max_area_share`` of the photo where that is None; no limit when both are
    None or ``max_area`` is 0), and a confidence of at least ``min_confidence``."""

    min_area: int | None = DEFAULT_MIN_AREA
    min_area_share: float | None = None
    min_confidence: float = 0.0
    max_area: int | None = None
    max_area_share: float | None = None

    def min_pixels(self, photo_pixels: int) -> int:
        """The minimum area in pixels on a photo of ``photo_pixels`` pixels."""
        if self.min_area is not None or self.min_area_share is None:
            return self.min_area if self.min_area is not None else DEFAULT_MIN_AREA
        return max(1, round(self.min_area_share * photo_pixels))

    def max_pixels(self, photo_pixels: int) -> int | None:
        """The maximum area in pixels on a photo of ``photo_pixels`` pixels (None: none)."""
        if self.max_area is not None:
            return self.max_area or None
        if self.max_area_share is None:
            return None
        return round(self.max_area_share * photo_pixels)

    def area_problem(self, pixels: int, photo_pixels: int) -> str | None:
        """``"too small"`` or ``"too large"`` for an object of ``pixels``, else None."""
        if pixels < self.min_pixels(photo_pixels):
            return "too small"
        largest = self.max_pixels(photo_pixels)
        if largest is not None and pixels > largest:
            return "too large"
        return None

    def describe(self, photo_pixels: int | None = None) -> str:
        """The thresholds in words (areas in pixels too, given the photo's size)."""
        text = "minimum area " + _area(self.min_area, self.min_area_share, photo_pixels)
        if self.max_area != 0 and (self.max_area is not None or self.max_area_share is not None):
            text += ", maximum area " + _area(self.max_area, self.max_area_share, photo_pixels)
        return f"{text}, minimum confidence {self.min_confidence:.2f}"


def _area(pixels: int | None, share: float | None, photo_pixels: int | None) -> str:
    if pixels is not None or share is None:
        return f"{pixels if pixels is not None else DEFAULT_MIN_AREA} px"
    text = f"{share:.3%} of the photo"
    if photo_pixels is not None:
        text += f" ({round(share * photo_pixels)} px)"
    return text


@dataclass
class Selection:
    """The objects kept, and how many were dropped for each reason."""

    kept: list[PredictedObject]
    too_small: int = 0
    too_large: int = 0
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
    objects: Sequence[PredictedObject], thresholds: ObjectThresholds, photo_pixels: int
) -> Selection:
    """The objects of a photo of ``photo_pixels`` pixels that ``thresholds`` keep; an
    object of the wrong size is counted as such even when it is unsure too."""
    selection = Selection(kept=[])
    for item in objects:
        problem = thresholds.area_problem(item.pixels, photo_pixels)
        if problem == "too small":
            selection.too_small += 1
        elif problem == "too large":
            selection.too_large += 1
        elif item.confidence < thresholds.min_confidence:
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
