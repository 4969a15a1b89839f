"""Evaluation of masks against a dataset on disk, and the evaluation reports."""

from __future__ import annotations

import math
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
from annotool.metrics import scores_from_confusion
from annotool.voc import VocLayout, write_label_png


def u8(rows: list[list[int]]) -> NDArray[np.uint8]:
    return np.array(rows, dtype=np.uint8)


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


def test_evaluate_predictions_reads_masks_named_png_in_any_case(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data", {"a": MASK_A, "b": MASK_B})
    predictions = tmp_path / "pred"
    write_label_png(predictions / "a.PNG", MASK_A)
    write_label_png(predictions / "b.Png", MASK_B)
    scores = evaluate_predictions(layout, ["a", "b"], predictions, layout.read_class_names())
    assert np.trace(scores.confusion) == scores.confusion.sum() == MASK_A.size - 1 + MASK_B.size


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


def test_ground_truth_ids_beyond_class_names_are_refused_naming_mask_and_ids(
    tmp_path: Path,
) -> None:
    layout = make_dataset(tmp_path / "data", {"a": MASK_A, "b": u8([[9, 1, 0], [0, 7, 0]])})
    predictions = tmp_path / "pred"
    write_label_png(predictions / "a.png", MASK_A)
    write_label_png(predictions / "b.png", MASK_B)
    expected = (
        r"SegmentationClass/b\.png has class ids 7, 9, but class_names\.txt lists 3 classes "
        r"\(ids 0-2, 255 = ignore\)"
    )
    with pytest.raises(DatasetError, match=expected):
        evaluate_predictions(layout, ["a", "b"], predictions, layout.read_class_names())
    with pytest.raises(DatasetError, match=expected):
        evaluate_model(layout, ["a", "b"], lambda image: image[..., 0] * 0, ("_background_",) * 3)


def test_an_rgb_prediction_is_refused_naming_it(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data", {"b": MASK_B})
    predictions = tmp_path / "pred"
    predictions.mkdir()
    Image.new("RGB", (3, 2), (128, 0, 0)).save(predictions / "b.png")
    with pytest.raises(DatasetError, match=r"pred/b\.png is a RGB image; label masks must be"):
        evaluate_predictions(layout, ["b"], predictions, layout.read_class_names())


def test_evaluate_model_names_an_image_of_another_size_than_its_mask(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "data", {"b": MASK_B})
    Image.new("RGB", (5, 2)).save(layout.images_dir / "b.png")
    with pytest.raises(
        DatasetError,
        match=r"JPEGImages/b\.png is 5x2 but its mask .*SegmentationClass/b\.png is 3x2",
    ):
        evaluate_model(layout, ["b"], lambda image: image[..., 0], ("_background_", "cat", "dog"))
