"""Segmentation metrics against hand-computed confusion matrices, and evaluation of masks."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from annotool.errors import DatasetError
from annotool.evaluate import (
    check_model_classes,
    evaluate_model,
    evaluate_predictions,
    format_confusion,
    format_scores,
    split_stems,
)
from annotool.metrics import confusion_matrix, scores_from_confusion
from annotool.voc import VocLayout, write_label_png

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


def test_format_scores_labels_summary_and_na() -> None:
    scores = scores_from_confusion(
        np.array([[2, 1, 0], [0, 3, 0], [0, 0, 0]]), ["_background_", "cat", "dog"]
    )
    text = format_scores(scores)
    dog_row = next(line for line in text.splitlines() if " dog " in line)
    assert dog_row.split()[2:5] == ["n/a", "n/a", "n/a"]
    assert "mIoU (with background)     0.7083" in text  # (2/3 + 3/4) / 2
    assert "mIoU (without background)  0.7500" in text
    assert "pixel accuracy             0.8333" in text


def test_format_confusion_rows_are_ground_truth() -> None:
    scores = scores_from_confusion(np.array([[20, 1], [300, 4]]), ["bg", "cat"])
    assert format_confusion(scores).splitlines() == [
        "GT \\ predicted    0    1",
        "0 bg             20    1",
        "1 cat           300    4",
    ]


# --- evaluation of masks against a dataset on disk ---


def make_dataset(
    root: Path,
    masks: dict[str, NDArray[np.uint8]],
    class_names: list[str] | None = ("_background_", "cat", "dog"),  # type: ignore[assignment]
) -> VocLayout:
    layout = VocLayout(root)
    for stem, mask in masks.items():
        write_label_png(layout.class_mask_path(stem), mask)
        layout.images_dir.mkdir(parents=True, exist_ok=True)
        pixels = np.zeros((*mask.shape, 3), dtype=np.uint8)
        pixels[..., 0] = np.where(mask == 1, 250, 0)
        # PNG keeps the red exactly where the mask says cat, for the fake model below.
        Image.fromarray(pixels).save(layout.images_dir / f"{stem}.png")
    if class_names is not None:
        layout.write_class_names(list(class_names))
    return VocLayout.open(root)


MASK_A = u8([[0, 0, 1, 1], [0, 255, 1, 1], [2, 2, 0, 0]])
MASK_B = u8([[1, 1, 0], [0, 0, 0]])


def test_evaluate_predictions_accumulates_over_split(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data", {"a": MASK_A, "b": MASK_B})
    predictions = tmp_path / "pred"
    write_label_png(predictions / "a.png", u8([[0, 1, 1, 1], [0, 2, 1, 0], [2, 0, 0, 0]]))
    write_label_png(predictions / "b.png", u8([[1, 0, 0], [0, 0, 0]]))
    advanced: list[int] = []
    scores = evaluate_predictions(
        layout, ["a", "b"], predictions, layout.read_class_names(), advanced.append
    )
    # a: bg 5 -> 4 bg + 1 cat; cat 4 -> 3 cat + 1 bg; dog 2 -> 1 dog + 1 bg; ignore skipped.
    # b: cat 2 -> 1 cat + 1 bg; bg 4 -> 4 bg.
    np.testing.assert_array_equal(scores.confusion, [[8, 1, 0], [2, 4, 0], [1, 0, 1]])
    assert scores.class_names == ("_background_", "cat", "dog")
    assert advanced == [1, 1]


def test_evaluate_predictions_names_classes_by_id_without_class_names(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data", {"b": MASK_B}, class_names=None)
    write_label_png(tmp_path / "pred" / "b.png", u8([[1, 3, 0], [0, 0, 0]]))
    scores = evaluate_predictions(layout, ["b"], tmp_path / "pred", None)
    assert scores.class_names == ("0", "1", "2", "3")
    assert scores.iou[3] == 0.0
    assert math.isnan(scores.iou[2])


def test_evaluate_predictions_lists_every_missing_file(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data", {"a": MASK_A, "b": MASK_B})
    (tmp_path / "pred").mkdir()
    with pytest.raises(DatasetError, match=r"2 of 2 predicted masks are missing") as raised:
        evaluate_predictions(layout, ["a", "b"], tmp_path / "pred", None)
    assert str(tmp_path / "pred" / "a.png") in str(raised.value)
    assert str(tmp_path / "pred" / "b.png") in str(raised.value)


def test_evaluate_predictions_rejects_size_mismatch(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data", {"b": MASK_B})
    write_label_png(tmp_path / "pred" / "b.png", np.zeros((3, 2), dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"b\.png is 2x3 \(width x height\).* is 3x2"):
        evaluate_predictions(layout, ["b"], tmp_path / "pred", layout.read_class_names())


def test_evaluate_predictions_names_files_of_out_of_range_ids(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data", {"b": MASK_B})
    write_label_png(tmp_path / "pred" / "b.png", u8([[1, 9, 0], [0, 0, 0]]))
    with pytest.raises(DatasetError, match=r"prediction has class id 9.*pred/b\.png"):
        evaluate_predictions(layout, ["b"], tmp_path / "pred", layout.read_class_names())


def test_evaluate_model_feeds_rgb_images_and_scores_masks(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data", {"a": MASK_A, "b": MASK_B})
    seen_shapes: list[tuple[int, ...]] = []

    def red_is_cat(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        assert image.dtype == np.uint8  # the test's own fake model checks its input
        seen_shapes.append(image.shape)
        return (image[..., 0] > 128).astype(np.uint8)

    scores = evaluate_model(layout, ["a", "b"], red_is_cat, ("_background_", "cat", "dog"))
    assert seen_shapes == [(3, 4, 3), (2, 3, 3)]
    # The images are red exactly where the masks say cat; dog is never predicted.
    np.testing.assert_array_equal(scores.confusion, [[9, 0, 0], [0, 6, 0], [2, 0, 0]])
    assert scores.iou[1] == 1.0
    assert scores.iou[2] == 0.0


def test_evaluate_model_rejects_wrongly_sized_prediction(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data", {"b": MASK_B})
    with pytest.raises(DatasetError, match=r"the model's mask for .*b\.png is 2x2"):
        evaluate_model(layout, ["b"], lambda image: np.zeros((2, 2), np.uint8), ("a", "b", "c"))


def test_split_stems_reads_split_or_all(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data", {"a": MASK_A, "b": MASK_B})
    assert split_stems(layout, "all") == ["a", "b"]
    with pytest.raises(DatasetError, match="run 'annotool split"):
        split_stems(layout, "val")
    layout.write_split("val", ["b"])
    assert split_stems(layout, "val") == ["b"]
    layout.write_split("test", [])
    with pytest.raises(DatasetError, match=r"test\.txt lists no masks"):
        split_stems(layout, "test")


def test_check_model_classes_refuses_other_classes(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data", {"b": MASK_B})
    assert check_model_classes(layout, ["_background_", "cat", "dog"]) == (
        "_background_",
        "cat",
        "dog",
    )
    with pytest.raises(DatasetError, match="trained on classes _background_, cat but"):
        check_model_classes(layout, ["_background_", "cat"])
