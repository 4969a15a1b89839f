"""Segmentation metrics from one confusion matrix, and evaluation of masks against a dataset.

Every score comes from a single confusion matrix accumulated over all pixels of a split
(not averaged per image or per batch), with ignored pixels (255) left out. A class that
appears neither in the ground truth nor in the prediction has no defined IoU or Dice: it
is reported as NaN here and as ``n/a`` (JSON ``null``) to the user, never as 0 or 1.

This module needs numpy and Pillow only (matplotlib for plots, imported when plotting);
it never imports torch, so ``annotool evaluate --pred`` works without the ``train`` extra.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from annotool.errors import DatasetError
from annotool.fileio import atomic_write_bytes, atomic_write_text
from annotool.images import read_rgb
from annotool.labels import IGNORE_ID
from annotool.progress import ProgressCallback
from annotool.tables import text_table
from annotool.voc import VocLayout, read_label_png

ALL_SPLIT = "all"
"""Split name meaning every stem with a class mask, whether or not split files exist."""
MAX_ANNOTATED_CLASSES = 12
"""Up to this many classes, the confusion plot writes counts and percentages in its cells."""
MAX_LISTED_PROBLEMS = 10
"""How many missing files an error message names before it only counts the rest."""

Predict = Callable[[NDArray[np.uint8]], NDArray[np.uint8]]
"""A model as evaluation sees it: ``(H, W, 3)`` RGB uint8 in, ``(H, W)`` class ids out."""


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
        """JSON-ready scores: NaN becomes None (``n/a``); see the README for the schema."""
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


def _format_score(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4f}"


def format_scores(scores: SegmentationScores) -> str:
    """A readable table: per-class IoU, accuracy and Dice, then the labelled summary lines."""
    ground_truth = scores.confusion.sum(axis=1)
    predicted = scores.confusion.sum(axis=0)
    rows = [
        [
            str(class_id),
            name,
            _format_score(scores.iou[class_id]),
            _format_score(scores.accuracy[class_id]),
            _format_score(scores.dice[class_id]),
            str(int(ground_truth[class_id])),
            str(int(predicted[class_id])),
        ]
        for class_id, name in enumerate(scores.class_names)
    ]
    headers = ["id", "class", "IoU", "acc", "Dice", "GT px", "predicted px"]
    lines = [text_table(headers, rows, left=(1,))]
    summary = [
        ("mIoU (with background)", scores.miou),
        ("mIoU (without background)", scores.miou_without_background),
        ("pixel accuracy", scores.pixel_accuracy),
        ("mean accuracy (per class)", scores.mean_accuracy),
        ("mean Dice", scores.mean_dice),
    ]
    label_width = max(len(label) for label, _ in summary)
    lines.append("")
    lines.extend(f"{label:<{label_width}}  {_format_score(value)}" for label, value in summary)
    lines.append(f"{'labelled pixels':<{label_width}}  {scores.labelled_pixels}")
    lines.append(
        "n/a: the class is in neither ground truth nor prediction (acc: not in ground truth)"
    )
    return "\n".join(lines)


def format_confusion(scores: SegmentationScores) -> str:
    """The confusion matrix as pixel counts; rows = ground truth, columns = predicted (by id)."""
    corner = "GT \\ predicted"
    row_labels = [f"{class_id} {name}" for class_id, name in enumerate(scores.class_names)]
    label_width = max(len(corner), *(len(label) for label in row_labels))
    cell_width = max(
        len(str(int(scores.confusion.max(initial=0)))), len(str(scores.num_classes - 1))
    )
    header = f"{corner:<{label_width}}" + "".join(
        f"  {class_id:>{cell_width}}" for class_id in range(scores.num_classes)
    )
    lines = [header]
    for label, counts in zip(row_labels, scores.confusion, strict=True):
        lines.append(
            f"{label:<{label_width}}" + "".join(f"  {int(c):>{cell_width}}" for c in counts)
        )
    return "\n".join(lines)


def split_stems(layout: VocLayout, split: str) -> list[str]:
    """The stems of ``split`` (from its ImageSets file), or of every class mask for ``all``.

    Raises DatasetError when the split file is missing (naming ``annotool split``) or empty.
    """
    if split == ALL_SPLIT:
        stems = layout.stems()
        where = f"{layout.class_dir}/"
    else:
        stems = layout.read_split(split)
        where = str(layout.split_path(split))
    if not stems:
        raise DatasetError(f"no images to evaluate: {where} lists no masks")
    return stems


def check_model_classes(layout: VocLayout, model_class_names: Sequence[str]) -> tuple[str, ...]:
    """The model's class names, after checking they match the dataset's ``class_names.txt``.

    A model trained on other classes would be scored on mismatched ids, so a difference is
    a DatasetError; a dataset without ``class_names.txt`` is taken to use the model's ids.
    """
    dataset_names = layout.read_class_names()
    model_names = tuple(model_class_names)
    if dataset_names is not None and tuple(dataset_names) != model_names:
        raise DatasetError(
            f"the model was trained on classes {', '.join(model_names)} but "
            f"{layout.class_names_path} lists {', '.join(dataset_names)}; evaluate on a dataset "
            "converted with the same labels file"
        )
    return model_names


def evaluate_predictions(
    layout: VocLayout,
    stems: Sequence[str],
    prediction_dir: Path,
    class_names: Sequence[str] | None,
    progress: ProgressCallback | None = None,
) -> SegmentationScores:
    """Score the masks ``prediction_dir/<stem>.png`` against the dataset's class masks.

    Predictions are palettized or greyscale PNGs whose values are class ids, at the size of
    the ground truth. Without ``class_names`` (no ``class_names.txt``), classes are named by
    id, up to the largest id seen. Every missing prediction is reported before any scoring.
    """
    prediction_dir = Path(prediction_dir)
    if not prediction_dir.is_dir():
        raise DatasetError(f"prediction directory {prediction_dir} does not exist")
    prediction_paths = {stem: prediction_dir / f"{stem}.png" for stem in stems}
    missing = [path for path in prediction_paths.values() if not path.is_file()]
    if missing:
        listed = "\n".join(f"  {path}" for path in missing[:MAX_LISTED_PROBLEMS])
        more = len(missing) - MAX_LISTED_PROBLEMS
        raise DatasetError(
            f"{len(missing)} of {len(stems)} predicted masks are missing from {prediction_dir} "
            f"(expected <stem>.png for every image of the split):\n{listed}"
            + (f"\n  ... and {more} more" if more > 0 else "")
        )
    num_classes = len(class_names) if class_names is not None else IGNORE_ID
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for stem in stems:
        target_path = layout.class_mask_path(stem)
        target = read_label_png(target_path)
        prediction = read_label_png(prediction_paths[stem])
        confusion += _image_confusion(
            target, prediction, num_classes, target_path, prediction_paths[stem]
        )
        if progress is not None:
            progress(1)
    return _scores(confusion, class_names)


def evaluate_model(
    layout: VocLayout,
    stems: Sequence[str],
    predict: Predict,
    class_names: Sequence[str],
    progress: ProgressCallback | None = None,
) -> SegmentationScores:
    """Run ``predict`` on each stem's image and score its mask against the class mask.

    ``predict`` takes an ``(H, W, 3)`` RGB uint8 image and returns ``(H, W)`` class ids.
    Dataset images are read as stored: convert already wrote them in the annotated frame.
    """
    num_classes = len(class_names)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for stem in stems:
        target_path = layout.class_mask_path(stem)
        target = read_label_png(target_path)
        image_path = layout.image_path(stem)
        image = read_rgb(image_path, oriented=False, error=DatasetError)
        if image.shape[:2] != target.shape:
            raise DatasetError(
                f"{image_path} is {_size(image.shape)} but its mask {target_path} is "
                f"{_size(target.shape)}; image and mask must have the same size"
            )
        prediction = np.asarray(predict(image))
        confusion += _image_confusion(
            target, prediction, num_classes, target_path, f"the model's mask for {image_path}"
        )
        if progress is not None:
            progress(1)
    return _scores(confusion, class_names)


def _image_confusion(
    target: NDArray[np.uint8],
    prediction: NDArray[np.integer],
    num_classes: int,
    target_path: Path,
    prediction_source: Path | str,
) -> NDArray[np.int64]:
    if prediction.shape != target.shape:
        raise DatasetError(
            f"{prediction_source} is {_size(prediction.shape)} but the ground truth "
            f"{target_path} is {_size(target.shape)}; predictions must have the size of the mask"
        )
    try:
        return confusion_matrix(target, prediction, num_classes)
    except DatasetError as error:
        raise DatasetError(
            f"{error} (ground truth {target_path}, prediction {prediction_source})"
        ) from None


def _size(shape: tuple[int, ...]) -> str:
    """``W x H`` as image tools print it, for a ``(H, W, ...)`` shape."""
    if len(shape) < 2:
        return f"of shape {shape}"
    return f"{shape[1]}x{shape[0]} (width x height)"


def _scores(confusion: NDArray[np.int64], class_names: Sequence[str] | None) -> SegmentationScores:
    if class_names is None:
        # Without class_names.txt, name classes by id up to the largest id seen anywhere.
        seen = np.flatnonzero(confusion.sum(axis=0) + confusion.sum(axis=1))
        num_classes = int(seen.max()) + 1 if seen.size else 1
        confusion = confusion[:num_classes, :num_classes]
        class_names = [str(class_id) for class_id in range(num_classes)]
    return scores_from_confusion(confusion, class_names)


def evaluation_report(
    scores: SegmentationScores,
    *,
    dataset: Path,
    split: str,
    images: int,
    source: dict[str, str],
) -> dict[str, Any]:
    """The JSON document of ``annotool evaluate --json`` (schema in the README)."""
    return {
        "dataset": str(dataset),
        "split": split,
        "images": images,
        "source": source,
        **scores.to_dict(),
    }


def write_report_json(path: Path, report: dict[str, Any]) -> None:
    """Write ``report`` as strict JSON (no NaN), atomically."""
    atomic_write_text(path, json.dumps(report, indent=2, allow_nan=False) + "\n")


def plot_confusion(scores: SegmentationScores, path: Path, title: str = "") -> None:
    """Write a PNG heatmap of the row-normalized confusion matrix (rows = ground truth).

    Each cell shows the share of the row's ground-truth pixels; with few classes the cells
    also give that percentage and the pixel count. Rows without ground truth are grey, n/a.
    """
    # Lazy: matplotlib is slow to import and only plots need it.
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    num_classes = scores.num_classes
    row_totals = scores.confusion.sum(axis=1, keepdims=True)
    shares = np.full(scores.confusion.shape, np.nan)
    np.divide(scores.confusion, row_totals, out=shares, where=row_totals > 0)

    side = min(4.0 + 0.6 * num_classes, 24.0)
    figure = Figure(figsize=(side + 1.5, side), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    colormap = colormaps["Blues"].with_extremes(bad="0.85")
    heatmap = axes.imshow(shares, cmap=colormap, vmin=0.0, vmax=1.0, interpolation="nearest")
    figure.colorbar(heatmap, ax=axes, label="share of ground-truth pixels (row)")
    ticks = np.arange(num_classes)
    axes.set_xticks(ticks, labels=scores.class_names, rotation=45, ha="right")
    axes.set_yticks(ticks, labels=scores.class_names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("ground-truth class")
    axes.set_title(title or f"Confusion matrix (mIoU {_format_score(scores.miou)})")
    if num_classes <= MAX_ANNOTATED_CLASSES:
        for row in range(num_classes):
            for column in range(num_classes):
                share = shares[row, column]
                text = (
                    "n/a"
                    if math.isnan(share)
                    else f"{share:.1%}\n{int(scores.confusion[row, column])}"
                )
                axes.text(
                    column,
                    row,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if share > 0.5 else "black",
                )
    buffer = io.BytesIO()
    # No metadata: the same scores give the same PNG bytes.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    atomic_write_bytes(path, buffer.getvalue())
