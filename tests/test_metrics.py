"""Segmentation metrics against hand-computed confusion matrices, and evaluation of masks."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from numpy.typing import NDArray

from annotool.errors import DatasetError
from annotool.metrics import confusion_matrix, scores_from_confusion

NAN = math.nan


def u8(rows: list[list[int]]) -> NDArray[np.uint8]:
    return np.array(rows, dtype=np.uint8)


@pytest.mark.parametrize(
    ("target", "prediction", "num_classes", "expected"),
    [
        pytest.param(
            u8([[0, 1], [1, 2]]),
            u8([[0, 1], [1, 2]]),
            3,
            [[1, 0, 0], [0, 2, 0], [0, 0, 1]],
            id="perfect",
        ),
        pytest.param(
            u8([[0, 0, 1], [1, 1, 1]]),
            u8([[1, 0, 1], [0, 1, 1]]),
            2,
            [[1, 1], [1, 3]],
            id="rows-are-ground-truth",
        ),
        pytest.param(
            # Predictions under ignore pixels (even out-of-range ones) are not counted.
            u8([[255, 0], [1, 255]]),
            u8([[1, 0], [0, 200]]),
            2,
            [[1, 0], [1, 0]],
            id="ignore-excluded",
        ),
        pytest.param(
            u8([[255, 255]]),
            u8([[0, 1]]),
            2,
            [[0, 0], [0, 0]],
            id="all-ignored",
        ),
        pytest.param(
            np.array([[[0, 1]], [[1, 1]]], dtype=np.int32),
            np.array([[[0, 0]], [[1, 1]]], dtype=np.int64),
            2,
            [[1, 0], [1, 2]],
            id="batch-shape-other-dtypes",
        ),
    ],
)
def test_confusion_matrix_counts_pixel_pairs(
    target: NDArray[np.integer],
    prediction: NDArray[np.integer],
    num_classes: int,
    expected: list[list[int]],
) -> None:
    confusion = confusion_matrix(target, prediction, num_classes)
    assert confusion.dtype == np.int64
    np.testing.assert_array_equal(confusion, expected)


def test_confusion_matrix_matches_pixel_loop() -> None:
    rng = np.random.default_rng(0)
    target = rng.integers(0, 4, size=(13, 17)).astype(np.uint8)
    target[rng.random(target.shape) < 0.1] = 255
    prediction = rng.integers(0, 4, size=(13, 17)).astype(np.uint8)
    expected = np.zeros((4, 4), dtype=np.int64)
    for truth, predicted in zip(target.ravel(), prediction.ravel(), strict=True):
        if truth != 255:
            expected[truth, predicted] += 1
    np.testing.assert_array_equal(confusion_matrix(target, prediction, 4), expected)


def test_confusion_matrix_takes_other_ignore_index() -> None:
    target = np.array([-1, 0, 1], dtype=np.int32)
    prediction = np.array([1, 0, 0], dtype=np.int32)
    np.testing.assert_array_equal(
        confusion_matrix(target, prediction, 2, ignore_index=-1), [[1, 0], [1, 0]]
    )


def test_accumulating_images_equals_one_matrix_over_all_pixels() -> None:
    rng = np.random.default_rng(1)
    targets = [rng.integers(0, 3, size=shape).astype(np.uint8) for shape in [(5, 7), (9, 4)]]
    predictions = [rng.integers(0, 3, size=target.shape).astype(np.uint8) for target in targets]
    targets[1][0, :] = 255
    summed = sum(
        confusion_matrix(target, prediction, 3)
        for target, prediction in zip(targets, predictions, strict=True)
    )
    joined = confusion_matrix(
        np.concatenate([t.ravel() for t in targets]),
        np.concatenate([p.ravel() for p in predictions]),
        3,
    )
    np.testing.assert_array_equal(summed, joined)
    # Scores from the accumulated matrix are not the mean of per-image scores.
    per_image = [
        scores_from_confusion(confusion_matrix(t, p, 3), ["a", "b", "c"]).miou
        for t, p in zip(targets, predictions, strict=True)
    ]
    assert scores_from_confusion(summed, ["a", "b", "c"]).miou != pytest.approx(np.mean(per_image))


@pytest.mark.parametrize(
    ("target", "prediction", "message"),
    [
        pytest.param(u8([[0, 3]]), u8([[0, 0]]), "ground truth has class id 3", id="target-high"),
        pytest.param(u8([[0, 1]]), u8([[0, 7]]), "prediction has class id 7", id="pred-high"),
        pytest.param(
            u8([[0, 1]]), u8([[255, 1]]), "only allowed in the ground truth", id="pred-ignore"
        ),
        pytest.param(
            np.array([0, -2], dtype=np.int32),
            np.array([0, 0], dtype=np.int32),
            "ground truth has class id -2",
            id="target-negative",
        ),
        pytest.param(u8([[0, 1]]), u8([[0], [1]]), r"shape \(1, 2\).*shape \(2, 1\)", id="shape"),
        pytest.param(u8([[0, 1]]), np.array([[0.0, 1.0]]), "integer class ids", id="float"),
    ],
)
def test_confusion_matrix_rejects_invalid_values(
    target: NDArray[np.integer], prediction: NDArray[np.generic], message: str
) -> None:
    with pytest.raises(DatasetError, match=message):
        confusion_matrix(target, prediction, 3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("confusion", "iou", "accuracy", "dice"),
    [
        pytest.param(
            [[1, 1, 0, 0], [0, 3, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]],
            [1 / 3, 3 / 4, 1 / 2, NAN],
            [1 / 2, 1, 1 / 2, NAN],
            [2 / 4, 6 / 7, 2 / 3, NAN],
            id="absent-from-both-is-nan",
        ),
        pytest.param(
            [[4, 2], [0, 0]],
            [4 / 6, 0.0],
            [4 / 6, NAN],
            [8 / 10, 0.0],
            id="predicted-but-absent-from-gt-is-zero",
        ),
        pytest.param(
            [[5, 0, 0], [0, 0, 0], [0, 2, 3]],
            [1.0, 0.0, 3 / 5],
            [1.0, NAN, 3 / 5],
            [1.0, 0.0, 6 / 8],
            id="missed-class",
        ),
        pytest.param([[0, 0], [0, 0]], [NAN, NAN], [NAN, NAN], [NAN, NAN], id="no-pixels"),
    ],
)
def test_scores_from_hand_computed_confusion(
    confusion: list[list[int]], iou: list[float], accuracy: list[float], dice: list[float]
) -> None:
    names = [f"class{i}" for i in range(len(confusion))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" or division warnings
        scores = scores_from_confusion(np.array(confusion), names)
    np.testing.assert_allclose(scores.iou, iou, equal_nan=True)
    np.testing.assert_allclose(scores.accuracy, accuracy, equal_nan=True)
    np.testing.assert_allclose(scores.dice, dice, equal_nan=True)
    matrix = np.array(confusion)
    total = matrix.sum()
    expected_pixel_accuracy = np.trace(matrix) / total if total else NAN
    for value, expected in [
        (scores.miou, np.nanmean(iou) if not np.isnan(iou).all() else NAN),
        (
            scores.miou_without_background,
            np.nanmean(iou[1:]) if not np.isnan(iou[1:]).all() else NAN,
        ),
        (scores.mean_accuracy, np.nanmean(accuracy) if not np.isnan(accuracy).all() else NAN),
        (scores.mean_dice, np.nanmean(dice) if not np.isnan(dice).all() else NAN),
        (scores.pixel_accuracy, expected_pixel_accuracy),
    ]:
        assert value == pytest.approx(expected, nan_ok=True)


def test_summary_scores_by_hand() -> None:
    scores = scores_from_confusion(
        np.array([[1, 1, 0, 0], [0, 3, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]), list("abcd")
    )
    assert scores.miou == pytest.approx((1 / 3 + 3 / 4 + 1 / 2) / 3)
    assert scores.miou_without_background == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert scores.pixel_accuracy == pytest.approx(5 / 7)
    assert scores.mean_accuracy == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert scores.mean_dice == pytest.approx((2 / 4 + 6 / 7 + 2 / 3) / 3)


def test_scores_reject_names_not_matching_matrix() -> None:
    with pytest.raises(DatasetError, match=r"shape \(2, 2\) but there are 3 class names"):
        scores_from_confusion(np.zeros((2, 2), dtype=np.int64), ["a", "b", "c"])


def test_to_dict_is_strict_json_with_null_for_na() -> None:
    scores = scores_from_confusion(np.array([[2, 1, 0], [0, 3, 0], [0, 0, 0]]), ["bg", "a", "b"])
    document = json.loads(json.dumps(scores.to_dict(), allow_nan=False))
    assert document["classes"][2] == {
        "id": 2,
        "name": "b",
        "iou": None,
        "accuracy": None,
        "dice": None,
        "ground_truth_pixels": 0,
        "predicted_pixels": 0,
    }
    assert document["classes"][1]["iou"] == pytest.approx(3 / 4)
    assert document["confusion_matrix"] == [[2, 1, 0], [0, 3, 0], [0, 0, 0]]
    assert document["labelled_pixels"] == 6
    assert document["miou_without_background"] == pytest.approx(3 / 4)
