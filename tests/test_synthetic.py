from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from annotool.labels import IGNORE_LABEL, parse_labels
from annotool.synthetic import (
    CLASS_NAMES,
    MAX_SIDE,
    MIN_SIDE,
    SceneShape,
    labels_text,
    make_labelme_dataset,
    make_scene,
    shape_mask,
)

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
REQUIRED_KEYS = {
    "version",
    "flags",
    "shapes",
    "imagePath",
    "imageData",
    "imageHeight",
    "imageWidth",
}
SHAPE_KEYS = {"label", "points", "group_id", "description", "shape_type", "flags"}


def read_tree(root: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(root.iterdir())}


def load_example_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_example", EXAMPLES_DIR / "make_example.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def painted_labels(shapes: list[SceneShape], height: int, width: int) -> NDArray[np.int16]:
    """``(H, W)`` class ids as labelme's converter paints them: later shapes win, -1 = ignore."""
    class_ids = {name: class_id for class_id, name in enumerate(CLASS_NAMES, start=1)}
    labels = np.zeros((height, width), dtype=np.int16)
    for shape in shapes:
        labels[shape_mask(shape, height, width)] = class_ids.get(shape.label, -1)
    return labels


def colour_class(image: NDArray[np.uint8]) -> NDArray[np.int16]:
    """``(H, W)`` class id that each pixel's colour suggests, 0 when it fits no class."""
    red, green, blue = (image[..., channel].astype(np.int16) for channel in range(3))
    guess = np.zeros(image.shape[:2], dtype=np.int16)
    guess[(red - blue > 80) & (red - green > 40)] = 1
    guess[blue - red > 50] = 2
    guess[green - np.maximum(red, blue) > 25] = 3
    return guess


def test_same_seed_gives_same_bytes(tmp_path: Path) -> None:
    first = make_labelme_dataset(tmp_path / "a", 3, seed=5)
    second = make_labelme_dataset(tmp_path / "b", 3, seed=5)

    assert read_tree(first) == read_tree(second)


def test_different_seed_gives_different_images(tmp_path: Path) -> None:
    first = read_tree(make_labelme_dataset(tmp_path / "a", 2, seed=1))
    second = read_tree(make_labelme_dataset(tmp_path / "b", 2, seed=2))

    assert first["labels.txt"] == second["labels.txt"]
    assert first["shapes_0000.jpg"] != second["shapes_0000.jpg"]
    assert first["shapes_0000.json"] != second["shapes_0000.json"]


def test_more_images_leave_earlier_ones_unchanged(tmp_path: Path) -> None:
    few = read_tree(make_labelme_dataset(tmp_path / "few", 2, seed=3))
    many = read_tree(make_labelme_dataset(tmp_path / "many", 4, seed=3))

    assert {name: many[name] for name in few} == few


def test_files_are_valid_labelme_documents(tmp_path: Path) -> None:
    out_dir = make_labelme_dataset(tmp_path / "data", 6, seed=0)
    labels = parse_labels((out_dir / "labels.txt").read_text(encoding="utf-8"))

    for json_path in sorted(out_dir.glob("*.json")):
        document = json.loads(json_path.read_text(encoding="utf-8"))
        assert set(document) == REQUIRED_KEYS
        assert document["flags"] == {}
        assert document["imageData"] is None
        assert document["imagePath"] == f"{json_path.stem}.jpg"
        with Image.open(out_dir / document["imagePath"]) as image:
            assert image.format == "JPEG"
            assert image.mode == "RGB"
            assert image.size == (document["imageWidth"], document["imageHeight"])
        assert 1 <= len(document["shapes"]) <= 6
        for shape in document["shapes"]:
            assert set(shape) == SHAPE_KEYS
            assert shape["label"] in labels
            assert shape["group_id"] is None
            assert shape["flags"] == {}
            assert shape["description"] == ""
            points = np.asarray(shape["points"], dtype=float)
            allowed_counts = {"circle": (2,), "polygon": (3, 4)}[shape["shape_type"]]
            assert points.shape[0] in allowed_counts
            assert points.shape[1] == 2
            assert np.all(points >= 0)
            assert np.all(points[:, 0] <= document["imageWidth"])
            assert np.all(points[:, 1] <= document["imageHeight"])


def test_each_class_has_its_own_shape_type() -> None:
    shapes = [shape for index in range(20) for shape in make_scene(0, index)[1]]
    point_counts = {
        (shape.label, shape.shape_type, len(shape.points))
        for shape in shapes
        if shape.label != IGNORE_LABEL
    }

    assert point_counts == {
        ("disc", "circle", 2),
        ("square", "polygon", 4),
        ("triangle", "polygon", 3),
    }


def test_labels_file_lists_ignore_background_and_classes() -> None:
    labels = parse_labels(labels_text())

    assert labels.class_names == ("_background_", *CLASS_NAMES)
    assert labels_text().startswith(f"{IGNORE_LABEL}\n")


def test_image_sides_vary_within_bounds_unless_size_is_given() -> None:
    default_sizes = {make_scene(0, index)[0].shape[:2] for index in range(10)}
    fixed_sizes = {make_scene(0, index, size=(200, 150))[0].shape[:2] for index in range(3)}

    assert len(default_sizes) > 1
    assert all(MIN_SIDE <= side <= MAX_SIDE for size in default_sizes for side in size)
    assert fixed_sizes == {(150, 200)}


@pytest.mark.parametrize(
    ("num_images", "size", "match"),
    [(-1, None, "num_images"), (1, (40, 200), "size")],
    ids=["negative-count", "too-small"],
)
def test_rejects_impossible_requests(
    tmp_path: Path, num_images: int, size: tuple[int, int] | None, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        make_labelme_dataset(tmp_path, num_images, size=size)


@pytest.mark.parametrize("index", range(8), ids=lambda index: f"image-{index}")
def test_annotations_describe_the_drawn_objects(index: int) -> None:
    image, shapes = make_scene(11, index)
    labels = painted_labels(shapes, *image.shape[:2])
    guess = colour_class(image)

    for class_id, name in enumerate(CLASS_NAMES, start=1):
        inside = labels == class_id
        if inside.any():
            assert np.mean(guess[inside] == class_id) > 0.85, name
    assert np.mean(guess[labels == 0] != 0) < 0.1


def test_objects_survive_jpeg_encoding(tmp_path: Path) -> None:
    out_dir = make_labelme_dataset(tmp_path / "data", 4, seed=4)
    for index in range(4):
        _, shapes = make_scene(4, index)
        with Image.open(out_dir / f"shapes_{index:04d}.jpg") as jpeg:
            image = np.asarray(jpeg.convert("RGB"))
        labels = painted_labels(shapes, *image.shape[:2])
        object_pixels = labels > 0

        assert np.mean(colour_class(image)[object_pixels] == labels[object_pixels]) > 0.8


def test_committed_example_is_reproduced(tmp_path: Path) -> None:
    committed = EXAMPLES_DIR / "shapes"
    fresh = load_example_script().make_example(tmp_path / "shapes")
    committed_files, fresh_files = read_tree(committed), read_tree(fresh)

    assert sorted(fresh_files) == sorted(committed_files)
    for name, data in fresh_files.items():
        if name.endswith(".jpg"):
            # Another libjpeg build may round a few coefficients differently.
            with Image.open(committed / name) as old, Image.open(fresh / name) as new:
                difference = np.abs(np.asarray(old, np.int16) - np.asarray(new, np.int16))
            assert difference.max() <= 3, name
        else:
            assert data == committed_files[name], name


def test_committed_example_is_small_and_uses_every_class() -> None:
    committed = EXAMPLES_DIR / "shapes"
    used = {
        shape["label"]
        for path in committed.glob("*.json")
        for shape in json.loads(path.read_text(encoding="utf-8"))["shapes"]
    }

    assert sum(path.stat().st_size for path in committed.iterdir()) < 1_000_000
    assert set(CLASS_NAMES) <= used <= {IGNORE_LABEL, *CLASS_NAMES}


def test_import_pulls_in_neither_click_nor_torch() -> None:
    code = "import sys, annotool.synthetic; print(sorted({'click', 'torch'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
