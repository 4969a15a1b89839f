"""Tests of annotool.stats.dataset and its tally, on masks whose statistics are known exactly."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from stats_fixtures import NAMES, make_dataset, pictures

from annotool.errors import DatasetError
from annotool.stats import (
    PixelCounts,
    compute_stats,
    dataset_stats,
    format_table,
    selected_stems,
    stats_to_json,
)
from annotool.voc import LEGACY_CLASS_DIR, VocLayout, write_label_png


def test_pixel_counts_shares_and_images(tmp_path: Path) -> None:
    result = compute_stats(make_dataset(tmp_path / "d").root)

    assert [item.name for item in result.classes] == NAMES
    assert [item.pixels for item in result.classes] == [45, 10, 2, 0]
    assert [item.images for item in result.classes] == [3, 2, 1, 0]
    assert [item.pixel_share for item in result.classes] == [45 / 60, 10 / 60, 2 / 60, 0.0]
    assert result.ignore_pixel_share == 3 / 60
    assert result.background_pixel_share == 45 / 60
    assert (result.ignore_pixels, result.total_pixels) == (3, 60)
    assert result.split_pixels == {}


def test_instances_by_majority_class(tmp_path: Path) -> None:
    result = compute_stats(make_dataset(tmp_path / "d").root)

    background, cat, dog, bird = result.classes
    assert (cat.instances, cat.mean_instance_area, cat.min_instance_area) == (3, 11 / 3, 2)
    assert (dog.instances, dog.mean_instance_area, dog.min_instance_area) == (1, 2.0, 2)
    assert (background.instances, background.mean_instance_area) == (0, None)
    assert (bird.instances, bird.min_instance_area) == (0, None)


def test_instances_are_null_without_object_masks(tmp_path: Path) -> None:
    result = compute_stats(make_dataset(tmp_path / "d", objects=False).root)

    assert {item.instances for item in result.classes} == {None}
    assert {item.mean_instance_area for item in result.classes} == {None}


def test_image_sizes_modes_and_exact_rgb_mean_std(tmp_path: Path) -> None:
    result = compute_stats(make_dataset(tmp_path / "d").root)

    pixels = np.concatenate(
        [np.asarray(image.convert("RGB")).reshape(-1, 3) for image in pictures().values()]
    ).astype(np.float64)
    assert result.images.count == 3
    assert result.images.modes == {"L": 1, "RGB": 1, "RGBA": 1}
    assert result.images.height.to_dict() == {"min": 4, "median": 4, "max": 4}
    assert result.images.width.to_dict() == {"min": 5, "median": 5, "max": 5}
    assert result.images.rgb_mean == pytest.approx(tuple(pixels.mean(axis=0) / 255), abs=1e-12)
    assert result.images.rgb_std == pytest.approx(tuple(pixels.std(axis=0) / 255), abs=1e-12)


def test_sizes_median_is_an_actual_size(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "d", objects=False)
    for stem, (width, height) in {"a": (7, 3), "b": (9, 6), "e": (6, 8)}.items():
        Image.new("RGB", (width, height)).save(layout.images_dir / f"{stem}.png")
        write_label_png(layout.class_mask_path(stem), np.ones((height, width), np.uint8))

    result = compute_stats(layout.root)

    # Heights 3, 4, 6, 8 and widths 5, 6, 7, 9: the lower middle value of each.
    assert result.images.height.to_dict() == {"min": 3, "median": 4, "max": 8}
    assert result.images.width.to_dict() == {"min": 5, "median": 6, "max": 9}


def test_rgb_false_reads_sizes_but_not_pixels(tmp_path: Path) -> None:
    result = compute_stats(make_dataset(tmp_path / "d").root, rgb=False)

    assert result.images.count == 3
    assert (result.images.rgb_mean, result.images.rgb_std) == (None, None)
    assert result.to_dict()["images"]["rgb_mean"] is None


def test_class_weights_hand_computed(tmp_path: Path) -> None:
    result = compute_stats(make_dataset(tmp_path / "d").root)

    # 57 labelled pixels, 3 classes with pixels.
    assert result.class_weights.inverse_frequency == pytest.approx(
        [57 / (3 * 45), 57 / (3 * 10), 57 / (3 * 2), 0.0]
    )
    # Labelled pixels of the images holding each class: bg a+b+c = 18+20+19, cat a+b, dog a.
    frequencies = [45 / 57, 10 / 38, 2 / 18]
    median = statistics.median(frequencies)
    assert result.class_weights.median_frequency == pytest.approx(
        [median / frequency for frequency in frequencies] + [0.0]
    )


def test_split_table_and_absent_class_warning(tmp_path: Path) -> None:
    splits = {"train": ["a", "c"], "val": ["b"], "test": ["zzz"]}
    result = compute_stats(make_dataset(tmp_path / "d", splits=splits).root)

    assert list(result.splits) == ["train", "val", "test"]
    assert result.splits["train"] == {"_background_": 2, "cat": 1, "dog": 1, "bird": 0}
    assert result.splits["val"] == {"_background_": 1, "cat": 1, "dog": 0, "bird": 0}
    assert result.split_pixels == {
        "train": PixelCounts(ignore_pixels=3, total_pixels=40),
        "val": PixelCounts(ignore_pixels=0, total_pixels=20),
        "test": PixelCounts(ignore_pixels=0, total_pixels=0),
    }
    assert "split 'val' has no image of dog" in result.warnings
    assert "split 'test' has no image of _background_, cat, dog" in result.warnings
    assert "split 'test' lists stems without a class mask: 1 (zzz)" in result.warnings
    table = format_table(result)
    assert "Images per split" in table
    assert any(line.startswith("dog") and line.endswith("0 *") for line in table.splitlines())


def test_split_restricts_every_statistic(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", splits={"train": ["a", "c"], "val": ["b"]}).root

    result = compute_stats(root, split="val")

    assert result.split == "val"
    assert result.images.count == 1
    assert [item.pixels for item in result.classes] == [14, 6, 0, 0]
    assert result.splits == {}
    assert selected_stems(VocLayout.open(root), "train") == (["a", "c"], [])


def test_dataset_stats_of_an_opened_layout_equals_compute_stats(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", splits={"train": ["a", "c", "gone"], "val": ["b"]}).root
    layout = VocLayout.open(root)
    stems, notes = selected_stems(layout, "train")

    assert dataset_stats(layout, stems, split="train", notes=notes) == compute_stats(
        root, split="train"
    )
    assert notes == ["split 'train' lists stems without a class mask: 1 (gone)"]
    with pytest.raises(DatasetError, match=r"no class masks to analyse in split 'val'"):
        dataset_stats(layout, [], split="val")


def test_unknown_split_is_an_error_listing_the_splits(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", splits={"train": ["a"], "val": ["b"]}).root

    with pytest.raises(DatasetError, match=r"split 'tran' not found .*available: train, val"):
        compute_stats(root, split="tran")


def test_warnings(tmp_path: Path) -> None:
    result = compute_stats(make_dataset(tmp_path / "d").root)

    assert result.warnings == (
        "images with no labelled pixels (only background and ignore): 1 (c)",
        "classes with no pixels: 3 bird",
        "classes in fewer than 2 images (they cannot be in both train and val): 2 dog",
    )


def test_extreme_imbalance_warning_ignores_background(tmp_path: Path) -> None:
    layout = VocLayout(tmp_path / "d")
    layout.images_dir.mkdir(parents=True)
    mask = np.zeros((20, 20), np.uint8)
    mask[:, :] = 1  # 400 px of class 1
    mask[0, 0] = 2  # 1 px of class 2
    mask[0, 1] = 0
    for stem in ("x", "y"):
        write_label_png(layout.class_mask_path(stem), mask)
        Image.new("RGB", (20, 20)).save(layout.images_dir / f"{stem}.jpg")

    result = compute_stats(layout.root)

    assert any(
        warning.startswith(
            "extreme class imbalance: 'class_1' has 398 times the pixels of 'class_2'"
        )
        for warning in result.warnings
    )


def test_file_problems_become_warnings(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "d")
    (layout.images_dir / "a.png").unlink()
    Image.new("RGB", (6, 4)).save(layout.images_dir / "b.png")
    layout.object_mask_path("c").unlink()

    result = compute_stats(layout.root)

    assert result.images.count == 2
    assert any(
        w.startswith("class masks without an image") and w.endswith("1 (a)")
        for w in result.warnings
    )
    assert "images whose size differs from their class mask: 1 (b)" in result.warnings
    assert any("without an instance mask" in w and w.endswith("1 (c)") for w in result.warnings)


def test_foreign_voc_dataset_without_class_names(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", names=None, objects=False, class_dir=LEGACY_CLASS_DIR).root

    result = compute_stats(root)

    assert [item.name for item in result.classes] == ["class_0", "class_1", "class_2"]
    assert [item.pixels for item in result.classes] == [45, 10, 2]


def test_ids_beyond_class_names_are_named_and_warned(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", names=["_background_", "cat"]).root

    result = compute_stats(root)

    assert [item.name for item in result.classes] == ["_background_", "cat", "class_2"]
    assert (
        f"1 mask(s) hold class ids beyond the 2 classes of {root / 'class_names.txt'} "
        f"(ids 0-1, 255 = ignore): {root / 'SegmentationClass' / 'a.png'} (class id 2); "
        "they are counted as class_<id>"
    ) in result.warnings


def test_a_mask_with_an_unknown_id_is_still_described_and_named(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "d", names=["_background_", "cat", "dog"])
    mask = np.zeros((4, 5), np.uint8)
    mask[0, 0:3] = 9
    mask[1, 0] = 7
    write_label_png(layout.class_mask_path("c"), mask)

    result = compute_stats(layout.root, workers=2)

    assert [item.name for item in result.classes][-3:] == ["class_7", "class_8", "class_9"]
    assert [item.pixels for item in result.classes][-3:] == [1, 0, 3]
    (warning,) = [warning for warning in result.warnings if "beyond" in warning]
    assert f"{layout.class_mask_path('c')} (class ids 7, 9)" in warning
    assert "beyond the 3 classes of" in warning


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda path: None, "does not exist"),
        (lambda path: path.mkdir(), "neither a segmentation dataset"),
        (lambda path: (path / "SegmentationClass").mkdir(parents=True), "no JPEGImages"),
        (
            lambda path: (
                (path / "SegmentationClass").mkdir(parents=True) or (path / "JPEGImages").mkdir()
            ),
            "no class masks to analyse",
        ),
    ],
    ids=["missing", "not-a-dataset", "no-images-folder", "no-masks"],
)
def test_not_a_dataset_is_an_error(tmp_path: Path, setup, message: str) -> None:
    root = tmp_path / "d"
    setup(root)

    with pytest.raises(DatasetError, match=message):
        compute_stats(root)


def test_rgb_mask_is_an_error_naming_the_file(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "d")
    Image.new("RGB", (5, 4)).save(layout.class_mask_path("b"))

    with pytest.raises(DatasetError, match=r"b\.png is a RGB image"):
        compute_stats(layout.root)


def test_progress_counts_every_image(tmp_path: Path) -> None:
    calls: list[int] = []

    compute_stats(make_dataset(tmp_path / "d").root, progress=calls.append)

    assert sum(calls) == 3


def test_workers_do_not_change_the_result(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "d", splits={"train": ["a", "b"], "val": ["c"]})
    for index in range(70):  # more than two chunks
        stem = f"extra{index:02d}"
        write_label_png(layout.class_mask_path(stem), np.full((4, 5), index % 3, np.uint8))
        Image.new("RGB", (5, 4), (index, 2 * index, 3)).save(layout.images_dir / f"{stem}.png")

    serial = stats_to_json(compute_stats(layout.root, workers=1))
    parallel = stats_to_json(compute_stats(layout.root, workers=2))

    assert serial == parallel


def test_instance_on_ignore_only_is_not_counted_and_ties_go_to_the_lower_id(
    tmp_path: Path,
) -> None:
    layout = VocLayout(tmp_path / "d")
    layout.images_dir.mkdir(parents=True)
    classes = np.array([[255, 255, 1, 2, 0, 0]], np.uint8)
    objects = np.array([[1, 1, 2, 2, 255, 0]], np.uint8)
    write_label_png(layout.class_mask_path("x"), classes)
    write_label_png(layout.object_mask_path("x"), objects)
    Image.new("RGB", (6, 1)).save(layout.images_dir / "x.png")

    result = compute_stats(layout.root)

    assert [item.instances for item in result.classes] == [0, 1, 0]
    assert result.classes[1].min_instance_area == 2


def test_instance_mask_of_another_size_is_an_error(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "d")
    write_label_png(layout.object_mask_path("b"), np.zeros((3, 3), np.uint8))

    with pytest.raises(DatasetError, match=r"b\.png is 3x3 but its class mask is 5x4"):
        compute_stats(layout.root)
