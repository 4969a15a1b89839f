"""Evaluation of masks against a dataset's ground truth, and its reports.

Predicted masks on disk or a model's output are scored with :mod:`annotool.metrics`
over a whole split. This module needs numpy and Pillow only (matplotlib for plots,
imported when plotting); it never imports torch, so ``annotool evaluate --pred`` works
without the ``train`` extra.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from annotool.errors import DatasetError
from annotool.fileio import atomic_write_bytes, atomic_write_text
from annotool.images import read_rgb
from annotool.labels import IGNORE_ID
from annotool.masks import check_class_ids, check_mask_size, read_label_png
from annotool.metrics import SegmentationScores, confusion_matrix, scores_from_confusion
from annotool.plots import confusion_heatmap_png
from annotool.progress import ProgressCallback
from annotool.tables import name_some, text_table
from annotool.voc import CLASS_NAMES_FILE, MASK_SUFFIX, VocLayout, existing_file

ALL_SPLIT = "all"
"""Split name meaning every stem with a class mask, whether or not split files exist."""
MAX_LISTED_PROBLEMS = 10
"""How many missing files an error message names before it only counts the rest."""

Predict = Callable[[NDArray[np.uint8]], NDArray[np.uint8]]
"""A model as evaluation sees it: ``(H, W, 3)`` RGB uint8 in, ``(H, W)`` class ids out."""


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
    prediction_paths = {stem: existing_file(prediction_dir, stem, (MASK_SUFFIX,)) for stem in stems}
    missing = [path for path in prediction_paths.values() if not path.is_file()]
    if missing:
        listed = name_some([str(path) for path in missing], MAX_LISTED_PROBLEMS, "\n  ")
        raise DatasetError(
            f"{len(missing)} of {len(stems)} predicted masks are missing from {prediction_dir} "
            f"(expected <stem>.png for every image of the split):\n  {listed}"
        )
    num_classes = len(class_names) if class_names is not None else IGNORE_ID
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for stem in stems:
        target_path = layout.class_mask_path(stem)
        target = _read_ground_truth(target_path, class_names, CLASS_NAMES_FILE)
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
    source = CLASS_NAMES_FILE if layout.class_names_path.is_file() else "the model"
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for stem in stems:
        target_path = layout.class_mask_path(stem)
        target = _read_ground_truth(target_path, class_names, source)
        image_path = layout.image_path(stem)
        image = read_rgb(image_path, oriented=False, error=DatasetError)
        check_mask_size(target.shape, target_path, image.shape, image_path)
        prediction = np.asarray(predict(image))
        confusion += _image_confusion(
            target, prediction, num_classes, target_path, f"the model's mask for {image_path}"
        )
        if progress is not None:
            progress(1)
    return _scores(confusion, class_names)


def _read_ground_truth(
    path: Path, class_names: Sequence[str] | None, source: str
) -> NDArray[np.uint8]:
    """The class mask at ``path``, refused when it holds ids beyond ``class_names`` (which
    ``source`` lists): a score against unnamed classes would mean nothing."""
    target = read_label_png(path)
    if class_names is not None:
        check_class_ids(target, path, len(class_names), source)
    return target


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
    """The JSON document of ``annotool evaluate --json`` (schema in docs/dataset.md)."""
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
    """Write a PNG heatmap of the row-normalized confusion matrix (rows = ground truth),
    atomically; see :func:`annotool.plots.confusion_heatmap_png`."""
    title = title or f"Confusion matrix (mIoU {_format_score(scores.miou)})"
    atomic_write_bytes(path, confusion_heatmap_png(scores.confusion, scores.class_names, title))
