"""Segmentation metrics from one confusion matrix: pure numpy maths, no files.

Every score comes from a single confusion matrix accumulated over all pixels of a split
(not averaged per image or per batch), with ignored pixels (255) left out. A class that
appears neither in the ground truth nor in the prediction has no defined IoU or Dice: it
is reported as NaN here and as ``n/a`` (JSON ``null``) to the user, never as 0 or 1.
Evaluating masks on disk and the reports are in :mod:`annotool.evaluate`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from annotool.errors import DatasetError
from annotool.labels import IGNORE_ID


def confusion_matrix(
    target: NDArray[np.integer],
    prediction: NDArray[np.integer],
    num_classes: int,
    ignore_index: int = IGNORE_ID,
) -> NDArray[np.int64]:
    """Pixel counts ``(C, C)``: row = ground-truth class, column = predicted class.

    ``target`` and ``prediction`` hold class ids in any (equal) shape. Pixels whose target
    is ``ignore_index`` are left out, whatever was predicted there. Any other target or
    prediction value outside ``0..num_classes-1`` raises DatasetError.
    """
    if target.shape != prediction.shape:
        raise DatasetError(
            f"ground truth has shape {target.shape} but the prediction has shape "
            f"{prediction.shape}; they must cover the same pixels"
        )
    for role, values in (("ground truth", target), ("prediction", prediction)):
        if not np.issubdtype(values.dtype, np.integer):
            raise DatasetError(f"{role} must hold integer class ids, not {values.dtype} values")
    labelled = target != ignore_index
    if not labelled.all():
        target, prediction = target[labelled], prediction[labelled]
    _check_class_ids(target, num_classes, "ground truth", ignore_index)
    _check_class_ids(prediction, num_classes, "prediction", ignore_index)
    # One bincount over (target, prediction) pairs is far faster than looping over classes.
    pairs = target.astype(np.intp).ravel() * num_classes + prediction.astype(np.intp).ravel()
    counts = np.bincount(pairs, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64, copy=False)


def _check_class_ids(
    values: NDArray[np.integer], num_classes: int, role: str, ignore_index: int
) -> None:
    if values.size == 0:
        return
    low, high = int(values.min()), int(values.max())
    if low >= 0 and high < num_classes:
        return
    bad = high if high >= num_classes else low
    hint = (
        f"; {ignore_index} (ignore) is only allowed in the ground truth"
        if role == "prediction" and bad == ignore_index
        else ""
    )
    raise DatasetError(
        f"{role} has class id {bad}, but there are {num_classes} classes "
        f"(ids 0-{num_classes - 1}, {ignore_index} = ignore){hint}"
    )


@dataclass(frozen=True)
class SegmentationScores:
    """Per-class and summary scores of one confusion matrix.

    Per-class arrays have shape ``(C,)`` and hold NaN where the score is undefined: IoU
    and Dice when the class is absent from both ground truth and prediction, accuracy
    (recall) when it is absent from the ground truth. Means skip NaN.
    """

    class_names: tuple[str, ...]
    confusion: NDArray[np.int64]
    iou: NDArray[np.float64]
    accuracy: NDArray[np.float64]
    dice: NDArray[np.float64]
    miou: float
    miou_without_background: float
    pixel_accuracy: float
    mean_accuracy: float
    mean_dice: float

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def labelled_pixels(self) -> int:
        return int(self.confusion.sum())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready scores: NaN becomes None (``n/a``); see docs/dataset.md for the schema."""
        ground_truth = self.confusion.sum(axis=1)
        predicted = self.confusion.sum(axis=0)
        return {
            "miou": _json_float(self.miou),
            "miou_without_background": _json_float(self.miou_without_background),
            "pixel_accuracy": _json_float(self.pixel_accuracy),
            "mean_accuracy": _json_float(self.mean_accuracy),
            "mean_dice": _json_float(self.mean_dice),
            "labelled_pixels": self.labelled_pixels,
            "classes": [
                {
                    "id": class_id,
                    "name": name,
                    "iou": _json_float(self.iou[class_id]),
                    "accuracy": _json_float(self.accuracy[class_id]),
                    "dice": _json_float(self.dice[class_id]),
                    "ground_truth_pixels": int(ground_truth[class_id]),
                    "predicted_pixels": int(predicted[class_id]),
                }
                for class_id, name in enumerate(self.class_names)
            ],
            "confusion_matrix": self.confusion.tolist(),
        }


def _json_float(value: float | np.floating) -> float | None:
    return None if math.isnan(value) else float(value)


def scores_from_confusion(
    confusion: NDArray[np.int64], class_names: Sequence[str]
) -> SegmentationScores:
    """Scores of a ``(C, C)`` confusion matrix (rows = ground truth) for ``C`` named classes."""
    confusion = np.asarray(confusion, dtype=np.int64)
    num_classes = len(class_names)
    if confusion.shape != (num_classes, num_classes):
        raise DatasetError(
            f"confusion matrix has shape {confusion.shape} but there are {num_classes} class "
            f"names; expected ({num_classes}, {num_classes})"
        )
    true_positives = np.diag(confusion).astype(np.float64)
    ground_truth = confusion.sum(axis=1).astype(np.float64)
    predicted = confusion.sum(axis=0).astype(np.float64)
    iou = _ratio(true_positives, ground_truth + predicted - true_positives)
    accuracy = _ratio(true_positives, ground_truth)
    dice = _ratio(2 * true_positives, ground_truth + predicted)
    total = float(ground_truth.sum())
    return SegmentationScores(
        class_names=tuple(class_names),
        confusion=confusion,
        iou=iou,
        accuracy=accuracy,
        dice=dice,
        miou=_nanmean(iou),
        miou_without_background=_nanmean(iou[1:]),
        pixel_accuracy=float(true_positives.sum() / total) if total else math.nan,
        mean_accuracy=_nanmean(accuracy),
        mean_dice=_nanmean(dice),
    )


def _ratio(numerator: NDArray[np.float64], denominator: NDArray[np.float64]) -> NDArray[np.float64]:
    """``numerator / denominator`` with NaN where the denominator is 0 (undefined, not 0)."""
    result = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=result, where=denominator > 0)
    return result


def _nanmean(values: NDArray[np.float64]) -> float:
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else math.nan
