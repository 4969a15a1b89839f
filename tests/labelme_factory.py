"""Tiny labelme annotation folders for tests: JSON documents and their images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

LABELS_TEXT = "__ignore__\n_background_\ncat\ndog\n"


def shape(
    label: str,
    points: list[list[float]],
    shape_type: str | None = "polygon",
    group_id: int | None = None,
) -> dict[str, Any]:
    """A labelme shape dict."""
    return {
        "label": label,
        "points": points,
        "group_id": group_id,
        "shape_type": shape_type,
        "flags": {},
        "description": "",
    }


def rectangle(label: str, x0: float, y0: float, x1: float, y1: float, **kwargs: Any) -> dict:
    return shape(label, [[x0, y0], [x1, y1]], "rectangle", **kwargs)


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A ``(H, W, 3)`` uint8 noise image, different for each seed."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def write_annotation(
    folder: Path,
    stem: str,
    shapes: list[dict[str, Any]],
    height: int = 30,
    width: int = 40,
    image: Image.Image | None = None,
    image_suffix: str = ".jpg",
    **document_fields: Any,
) -> Path:
    """Write ``<stem>.json`` and its image (a noise JPEG unless ``image`` is given)."""
    folder.mkdir(parents=True, exist_ok=True)
    if image is None:
        image = Image.fromarray(photo(height, width, seed=len(stem)))
    image_name = f"{stem}{image_suffix}"
    save_options = {"quality": 90} if image_suffix == ".jpg" else {}
    image.save(folder / image_name, **save_options)
    document = {
        "version": "5.7.0",
        "flags": {},
        "shapes": shapes,
        "imagePath": image_name,
        "imageData": None,
        "imageHeight": height,
        "imageWidth": width,
    }
    document.update(document_fields)
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(document))
    return path


def write_labels(path: Path, text: str = LABELS_TEXT) -> Path:
    path.write_text(text)
    return path


def make_dataset(folder: Path, count: int = 3) -> Path:
    """A valid annotation folder of ``count`` images with cats and dogs, plus labels.txt."""
    for index in range(count):
        write_annotation(
            folder,
            f"image{index:03d}",
            [
                rectangle("cat", 2, 3, 15 + index, 20),
                shape("dog", [[20, 5], [35, 8], [28, 25]]),
                rectangle("__ignore__", 30, 20, 38, 28),
            ],
        )
    write_labels(folder / "labels.txt")
    return folder
