"""Hand-made datasets and labelme folders whose statistics are known exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from annotool.voc import VocLayout, write_label_png

IGNORE = 255
NAMES = ["_background_", "cat", "dog", "bird"]


def masks() -> dict[str, tuple[NDArray[np.uint8], NDArray[np.uint8]]]:
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


def pictures() -> dict[str, Image.Image]:
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
    for stem, (classes, instances) in masks().items():
        write_label_png(layout.class_mask_path(stem), classes)
        if objects:
            write_label_png(layout.object_mask_path(stem), instances)
        pictures()[stem].save(layout.images_dir / f"{stem}.png")
    if names is not None:
        layout.write_class_names(names)
    for split, stems in (splits or {}).items():
        layout.write_split(split, stems)
    return layout


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
