"""Tiny datasets for the split tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from annotool.voc import VocLayout, write_label_png


def label_mask(class_ids: Sequence[int], size: int = 8) -> NDArray[np.uint8]:
    """A ``(size, size)`` mask of background with one row of pixels per class id."""
    mask = np.zeros((size, size), dtype=np.uint8)
    for row, class_id in enumerate(class_ids):
        mask[row] = class_id
    return mask


def make_dataset(
    root: Path,
    classes_by_stem: dict[str, Sequence[int]],
    class_names: Sequence[str] | None = None,
    class_dir: str = "SegmentationClass",
) -> VocLayout:
    """A tiny VOC dataset: one small JPEG and one mask holding the given class ids per stem."""
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    for stem, class_ids in classes_by_stem.items():
        Image.new("RGB", (8, 8), (90, 120, 150)).save(root / "JPEGImages" / f"{stem}.jpg")
        write_label_png(root / class_dir / f"{stem}.png", label_mask(class_ids))
    layout = VocLayout.open(root)
    if class_names is not None:
        layout.write_class_names(list(class_names))
    return layout
