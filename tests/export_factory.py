"""Labelme folders for the export tests: every shape type, groups, ignore, random documents."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
from labelme_factory import rectangle, shape, write_annotation, write_labels
from PIL import Image

from annotool.convert import ConvertOptions, convert_dataset
from annotool.labels import load_labels

SHAPE_TYPES = ("polygon", "rectangle", "circle", "line", "linestrip", "point", "mask")


def mask_shape(label: str, x: int, y: int, patch: np.ndarray, **kwargs: Any) -> dict[str, Any]:
    """A labelme ``mask`` shape: ``patch`` (bool ``(h, w)``) placed with its corner at x, y."""
    buffer = io.BytesIO()
    Image.fromarray(patch.astype(np.uint8) * 255).save(buffer, format="PNG")
    height, width = patch.shape
    document = shape(label, [[x, y], [x + width - 1, y + height - 1]], "mask", **kwargs)
    document["mask"] = base64.b64encode(buffer.getvalue()).decode("ascii")
    return document


def every_shape_type(folder: Path) -> Path:
    """One 60x80 image with each shape type, a group of two polygons, an overlap and ignore."""
    ring = np.ones((9, 12), dtype=bool)
    ring[3:6, 4:8] = False
    write_annotation(
        folder,
        "every",
        [
            shape("cat", [[2, 2], [20, 3], [12, 18]]),
            rectangle("dog", 25, 2, 40, 15),
            shape("cat", [[50, 10], [58, 10]], "circle"),
            shape("dog", [[2, 30], [30, 35]], "line"),
            shape("cat", [[35, 30], [45, 40], [55, 30]], "linestrip"),
            shape("dog", [[70, 8]], "point"),
            mask_shape("cat", 62, 40, ring),
            shape("dog", [[2, 45], [14, 45], [8, 57]], group_id=7),
            shape("dog", [[20, 45], [32, 45], [26, 57]], group_id=7),
            rectangle("cat", 36, 44, 52, 58),
            rectangle("dog", 46, 50, 58, 59),  # paints over the cat rectangle
            rectangle("__ignore__", 64, 0, 79, 4),
        ],
        height=60,
        width=80,
    )
    write_labels(folder / "labels.txt")
    return folder


def random_shape(rng: np.random.Generator, height: int, width: int) -> dict[str, Any]:
    """A random labelme shape of any type, label and group within a ``height`` x ``width`` image."""
    label = str(rng.choice(["cat", "dog", "cat", "dog", "__ignore__", "_background_"]))
    group_id = int(rng.integers(0, 3)) if rng.random() < 0.4 else None
    kind = str(rng.choice(SHAPE_TYPES))
    corner = [float(rng.uniform(0, width - 1)), float(rng.uniform(0, height - 1))]

    def point() -> list[float]:
        return [float(rng.uniform(-3, width + 3)), float(rng.uniform(-3, height + 3))]

    if kind == "polygon":
        return shape(label, [point() for _ in range(int(rng.integers(3, 8)))], group_id=group_id)
    if kind == "circle":
        rim = [corner[0] + float(rng.uniform(1, 15)), corner[1]]
        return shape(label, [corner, rim], "circle", group_id=group_id)
    if kind == "linestrip":
        points = [point() for _ in range(int(rng.integers(2, 5)))]
        return shape(label, points, "linestrip", group_id=group_id)
    if kind == "point":
        return shape(label, [corner], "point", group_id=group_id)
    if kind == "mask":
        patch = rng.random((int(rng.integers(2, 15)), int(rng.integers(2, 15)))) < 0.6
        x, y = int(corner[0]), int(corner[1])
        return mask_shape(label, x, y, patch, group_id=group_id)
    return shape(label, [point(), point()], kind, group_id=group_id)


def random_documents(folder: Path, count: int, seed: int) -> Path:
    """``count`` random labelme files (and labels.txt) of 2-12 shapes each."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        height, width = int(rng.integers(20, 70)), int(rng.integers(20, 70))
        shapes = [random_shape(rng, height, width) for _ in range(int(rng.integers(2, 13)))]
        write_annotation(folder, f"random{index:03d}", shapes, height=height, width=width)
    write_labels(folder / "labels.txt")
    return folder


def converted(json_dir: Path, out_dir: Path, labels_file: Path | None = None) -> Path:
    """``json_dir`` converted with ``annotool convert`` (no visualizations) into ``out_dir``."""
    labels = load_labels(labels_file or json_dir / "labels.txt")
    convert_dataset(json_dir, out_dir, labels, ConvertOptions(visualizations=False))
    return out_dir
