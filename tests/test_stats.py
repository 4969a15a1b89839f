"""Tests of annotool.stats on hand-made masks whose statistics are known exactly."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from annotool.errors import DatasetError
from annotool.stats import (
    class_weights,
    compute_stats,
    count_images,
    format_labelme_table,
    format_table,
    is_labelme_dir,
    labelme_stats,
    plot_stats,
    stats_to_json,
    write_stats_json,
)
from annotool.voc import LEGACY_CLASS_DIR, VocLayout, write_label_png

IGNORE = 255
NAMES = ["_background_", "cat", "dog", "bird"]


def _masks() -> dict[str, tuple[NDArray[np.uint8], NDArray[np.uint8]]]:
    """Three 4x5 (class mask, instance mask) pairs.

    a: cat 4 px as two instances of 2 px, dog 2 px (one instance), ignore 2 px, bg 12.
    b: cat 6 px as one instance that also covers 1 background px (area 7), bg 14.
    c: only background (19 px) and 1 ignore px: no labelled pixels.
    """
    a = np.zeros((4, 5), np.uint8)
    a[0:2, 2:4] = 1
    a[0:2, 4] = IGNORE
    a[3, 0:2] = 2
    a_objects = np.zeros((4, 5), np.uint8)
    a_objects[0, 2:4] = 1
    a_objects[1, 2:4] = 2
    a_objects[3, 0:2] = 3
    b = np.zeros((4, 5), np.uint8)
    b[1:3, 1:4] = 1
    b_objects = np.zeros((4, 5), np.uint8)
    b_objects[1:3, 1:4] = 1
    b_objects[0, 1] = 1
    c = np.zeros((4, 5), np.uint8)
    c[0, 0] = IGNORE
    return {"a": (a, a_objects), "b": (b, b_objects), "c": (c, np.zeros((4, 5), np.uint8))}


def _pictures() -> dict[str, Image.Image]:
    """Lossless images of three modes, 5 wide and 4 high like the masks."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8), mode="RGB")
    grey = Image.fromarray(rng.integers(0, 256, (4, 5), dtype=np.uint8), mode="L")
    rgba = Image.fromarray(rng.integers(0, 256, (4, 5, 4), dtype=np.uint8), mode="RGBA")
    return {"a": rgb, "b": grey, "c": rgba}


def make_dataset(
    root: Path,
    *,
    names: list[str] | None = NAMES,
    objects: bool = True,
    splits: dict[str, list[str]] | None = None,
    class_dir: str = "SegmentationClass",
) -> VocLayout:
    layout = VocLayout(root, class_dir_name=class_dir)
    layout.images_dir.mkdir(parents=True)
    for stem, (classes, instances) in _masks().items():
        write_label_png(layout.class_mask_path(stem), classes)
        if objects:
            write_label_png(layout.object_mask_path(stem), instances)
        _pictures()[stem].save(layout.images_dir / f"{stem}.png")
    if names is not None:
        layout.write_class_names(names)
    for split, stems in (splits or {}).items():
        layout.write_split(split, stems)
    return layout


def test_pixel_counts_shares_and_images(tmp_path: Path) -> None:
    result = compute_stats(make_dataset(tmp_path / "d").root)

    assert [item.name for item in result.classes] == NAMES
    assert [item.pixels for item in result.classes] == [45, 10, 2, 0]
    assert [item.images for item in result.classes] == [3, 2, 1, 0]
    assert [item.pixel_share for item in result.classes] == [45 / 60, 10 / 60, 2 / 60, 0.0]
    assert result.ignore_pixel_share == 3 / 60
    assert result.background_pixel_share == 45 / 60


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
        [np.asarray(image.convert("RGB")).reshape(-1, 3) for image in _pictures().values()]
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


@pytest.mark.parametrize(
    ("pixels", "denominators", "inverse", "median"),
    [
        ([10, 10], [20, 20], [1.0, 1.0], [1.0, 1.0]),
        ([30, 10, 0], [40, 40, 0], [40 / 60, 2.0, 0.0], [0.5 / 0.75, 0.5 / 0.25, 0.0]),
        ([0, 0], [0, 0], [0.0, 0.0], [0.0, 0.0]),
    ],
    ids=["balanced", "three-to-one-and-empty", "no-pixels"],
)
def test_class_weights_function(
    pixels: list[int], denominators: list[int], inverse: list[float], median: list[float]
) -> None:
    weights = class_weights(pixels, denominators)

    assert weights.inverse_frequency == pytest.approx(inverse)
    assert weights.median_frequency == pytest.approx(median)


def test_split_table_and_absent_class_warning(tmp_path: Path) -> None:
    splits = {"train": ["a", "c"], "val": ["b"], "test": ["zzz"]}
    result = compute_stats(make_dataset(tmp_path / "d", splits=splits).root)

    assert list(result.splits) == ["train", "val", "test"]
    assert result.splits["train"] == {"_background_": 2, "cat": 1, "dog": 1, "bird": 0}
    assert result.splits["val"] == {"_background_": 1, "cat": 1, "dog": 0, "bird": 0}
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
    assert count_images(root, split="train") == 2


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
    assert any("class ids 2 beyond the 2 names" in warning for warning in result.warnings)


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


# --- JSON schema -----------------------------------------------------------------


NUMBER = (int, float)
SIZE = {"min": int, "median": int, "max": int}
SCHEMA: dict[str, object] = {
    "schema_version": int,
    "kind": str,
    "dataset": str,
    "split": (str, type(None)),
    "images": {
        "count": int,
        "height": SIZE,
        "width": SIZE,
        "modes": dict,
        "rgb_mean": (list, type(None)),
        "rgb_std": (list, type(None)),
    },
    "classes": list,
    "ignore_pixel_share": NUMBER,
    "background_pixel_share": NUMBER,
    "splits": dict,
    "class_weights": {"inverse_frequency": list, "median_frequency": list},
    "warnings": list,
}
CLASS_SCHEMA: dict[str, object] = {
    "id": int,
    "name": str,
    "pixels": int,
    "pixel_share": NUMBER,
    "images": int,
    "instances": (int, type(None)),
    "mean_instance_area": (*NUMBER, type(None)),
    "min_instance_area": (int, type(None)),
}


def check_schema(value: object, schema: object, where: str = "$") -> None:
    """Fail naming the path when ``value`` lacks a key of ``schema`` or has the wrong type."""
    if isinstance(schema, dict):
        assert isinstance(value, dict), f"{where} is not an object"
        missing = set(schema) - set(value)
        assert not missing, f"{where} lacks {sorted(missing)}"
        for key, subschema in schema.items():
            check_schema(value[key], subschema, f"{where}.{key}")
    else:
        assert isinstance(value, schema), f"{where} = {value!r} is not {schema}"  # type: ignore[arg-type]


def check_dataset_document(document: dict[str, object]) -> None:
    check_schema(document, SCHEMA)
    assert document["schema_version"] == 1
    classes = document["classes"]
    assert isinstance(classes, list)
    for index, item in enumerate(classes):
        check_schema(item, CLASS_SCHEMA, f"$.classes[{index}]")
        assert item["id"] == index
    images = document["images"]
    assert isinstance(images, dict)
    for key in ("rgb_mean", "rgb_std"):
        assert images[key] is None or (
            len(images[key]) == 3 and all(isinstance(v, float) for v in images[key])
        )
    assert all(isinstance(count, int) for count in images["modes"].values())
    weights = document["class_weights"]
    assert isinstance(weights, dict)
    for values in weights.values():
        assert len(values) == len(classes)
        assert all(isinstance(value, float) for value in values)
    splits = document["splits"]
    assert isinstance(splits, dict)
    for counts in splits.values():
        assert list(counts) == [item["name"] for item in classes]
        assert all(isinstance(count, int) for count in counts.values())
    assert all(isinstance(warning, str) for warning in document["warnings"])  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("objects", "splits", "rgb"),
    [(True, {"train": ["a", "b"], "val": ["c"]}, True), (False, None, False)],
    ids=["full", "minimal"],
)
def test_json_follows_the_schema(
    tmp_path: Path, objects: bool, splits: dict[str, list[str]] | None, rgb: bool
) -> None:
    root = make_dataset(tmp_path / "d", objects=objects, splits=splits).root
    path = tmp_path / "out" / "stats.json"

    write_stats_json(compute_stats(root, rgb=rgb), path)

    document = json.loads(path.read_text(encoding="utf-8"))
    check_dataset_document(document)
    assert document["kind"] == "dataset"
    assert document["dataset"] == str(root)


def test_schema_check_catches_a_wrong_type() -> None:
    with pytest.raises(AssertionError, match=r"\$\.images\.count"):
        check_schema({"images": {"count": "3"}}, {"images": {"count": int}})


# --- output ------------------------------------------------------------------------


def test_table_has_aligned_columns(tmp_path: Path) -> None:
    table = format_table(compute_stats(make_dataset(tmp_path / "d").root))

    lines = table.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("id"))
    rows = lines[header : header + 2 + len(NAMES)]
    assert rows[1].replace(" ", "").strip("-") == ""
    assert len({len(line) for line in rows}) == 1  # the last column is right-aligned
    assert "RGB mean" in table
    assert "classes with no pixels: 3 bird" in table


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "plots" / "stats.png"

    plot_stats(compute_stats(make_dataset(tmp_path / "d").root), path)

    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 500
    assert [p.name for p in path.parent.iterdir()] == ["stats.png"]


# --- labelme folders -----------------------------------------------------------------


def _shape(label: str, shape_type: str | None = "polygon", group_id: int | None = None) -> dict:
    points = {
        "polygon": [[0, 0], [3, 0], [3, 3]],
        "rectangle": [[0, 0], [2, 2]],
        "point": [[1, 1]],
        None: [[0, 0], [3, 0], [3, 3]],
    }[shape_type]
    shape: dict[str, object] = {"label": label, "points": points, "group_id": group_id}
    if shape_type is not None:
        shape["shape_type"] = shape_type
    return shape


def make_labelme_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    documents = {
        "one": [_shape("cat"), _shape("cat", "rectangle"), _shape("dog", "point")],
        "two": [_shape("cat", None, 1), _shape("cat", "polygon", 1), _shape("__ignore__")],
        "three": [],
    }
    for stem, shapes in documents.items():
        Image.new("RGB", (8, 6)).save(folder / f"{stem}.jpg")
        document = {
            "version": "5.4.1",
            "shapes": shapes,
            "imagePath": f"{stem}.jpg",
            "imageData": None,
            "imageHeight": 6,
            "imageWidth": 8,
        }
        (folder / f"{stem}.json").write_text(json.dumps(document), encoding="utf-8")
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    return folder


def test_labelme_folder_counts(tmp_path: Path) -> None:
    folder = make_labelme_folder(tmp_path / "ann")

    result = labelme_stats(folder)

    by_label = {item.label: item for item in result.labels}
    assert list(by_label) == ["__ignore__", "cat", "dog"]
    cat = by_label["cat"]
    assert (cat.shapes, cat.images, cat.instances) == (4, 2, 3)
    assert cat.shape_types == {"polygon": 3, "rectangle": 1}
    assert by_label["dog"].shape_types == {"point": 1}
    assert result.shape_types == {"point": 1, "polygon": 4, "rectangle": 1}
    assert result.files == 4
    assert result.files_without_shapes == ("three.json",)
    assert len(result.problems) == 1 and "broken.json" in result.problems[0]
    document = result.to_dict()
    assert document["kind"] == "labelme" and document["shapes"] == 6
    assert "Files without shapes: 1 (three.json)" in format_labelme_table(result)


def test_labelme_folder_detection(tmp_path: Path) -> None:
    assert is_labelme_dir(make_labelme_folder(tmp_path / "ann"))
    assert not is_labelme_dir(make_dataset(tmp_path / "d").root)
    assert not is_labelme_dir(tmp_path / "missing")


def test_labelme_plot(tmp_path: Path) -> None:
    path = tmp_path / "labels.png"

    plot_stats(labelme_stats(make_labelme_folder(tmp_path / "ann")), path)

    with Image.open(path) as image:
        assert image.format == "PNG"


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
