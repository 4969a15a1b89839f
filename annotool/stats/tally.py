"""The streaming tally: fixed-size counters over a set of images that merge by adding."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from annotool.errors import DatasetError
from annotool.images import open_encoded
from annotool.labels import IGNORE_ID
from annotool.masks import (
    VALUES,
    distinct_counts,
    read_label_png,
    unknown_class_ids,
    value_counts,
)
from annotool.voc import VocLayout


def _zeros() -> NDArray[np.int64]:
    return np.zeros(VALUES, dtype=np.int64)


@dataclass
class Tally:
    """Counters over a set of images; two tallies merge by adding (see :meth:`merge`)."""

    split_names: tuple[str, ...] = ()
    class_pixels: NDArray[np.int64] = field(default_factory=_zeros)
    class_images: NDArray[np.int64] = field(default_factory=_zeros)
    # Non-ignore pixels of the images containing each class: the denominator of
    # median-frequency balancing.
    labelled_pixels_with_class: NDArray[np.int64] = field(default_factory=_zeros)
    instance_count: NDArray[np.int64] = field(default_factory=_zeros)
    instance_area_sum: NDArray[np.int64] = field(default_factory=_zeros)
    instance_area_min: NDArray[np.int64] = field(
        default_factory=lambda: np.full(VALUES, np.iinfo(np.int64).max, dtype=np.int64)
    )
    rgb_histogram: NDArray[np.int64] = field(
        default_factory=lambda: np.zeros((3, VALUES), dtype=np.int64)
    )
    split_class_images: dict[str, NDArray[np.int64]] = field(default_factory=dict)
    split_ignore_pixels: Counter[str] = field(default_factory=Counter)
    split_total_pixels: Counter[str] = field(default_factory=Counter)
    heights: list[int] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)
    modes: Counter[str] = field(default_factory=Counter)
    unlabelled: list[str] = field(default_factory=list)
    missing_images: list[str] = field(default_factory=list)
    missing_objects: list[str] = field(default_factory=list)
    size_mismatches: list[str] = field(default_factory=list)
    unknown_ids: list[tuple[Path, list[int]]] = field(default_factory=list)
    """Masks holding class ids beyond ``class_names.txt``, with those ids."""

    def __post_init__(self) -> None:
        for name in self.split_names:
            self.split_class_images.setdefault(name, _zeros())

    def merge(self, other: Tally) -> None:
        """Add ``other``'s counts to this tally; lists are appended in order."""
        self.class_pixels += other.class_pixels
        self.class_images += other.class_images
        self.labelled_pixels_with_class += other.labelled_pixels_with_class
        self.instance_count += other.instance_count
        self.instance_area_sum += other.instance_area_sum
        np.minimum(self.instance_area_min, other.instance_area_min, out=self.instance_area_min)
        self.rgb_histogram += other.rgb_histogram
        for name, counts in other.split_class_images.items():
            self.split_class_images[name] += counts
        self.split_ignore_pixels += other.split_ignore_pixels
        self.split_total_pixels += other.split_total_pixels
        self.heights += other.heights
        self.widths += other.widths
        self.modes += other.modes
        self.unlabelled += other.unlabelled
        self.missing_images += other.missing_images
        self.missing_objects += other.missing_objects
        self.size_mismatches += other.size_mismatches
        self.unknown_ids += other.unknown_ids


@dataclass(frozen=True)
class Chunk:
    """One worker task: images to tally and the splits each belongs to."""

    layout: VocLayout
    stems: tuple[str, ...]
    memberships: tuple[tuple[str, ...], ...]
    split_names: tuple[str, ...]
    with_objects: bool
    with_rgb: bool
    num_classes: int | None
    """The classes of ``class_names.txt``; None without that file (every id is named)."""


def tally_chunk(chunk: Chunk) -> Tally:
    """The tally of one chunk's images: one worker task."""
    tally = Tally(split_names=chunk.split_names)
    for stem, memberships in zip(chunk.stems, chunk.memberships, strict=True):
        _tally_image(chunk, stem, memberships, tally)
    return tally


def _tally_image(chunk: Chunk, stem: str, memberships: tuple[str, ...], tally: Tally) -> None:
    layout = chunk.layout
    mask_path = layout.class_mask_path(stem)
    mask = read_label_png(mask_path)
    counts = value_counts(mask.ravel())
    present = counts > 0
    present[IGNORE_ID] = False
    if chunk.num_classes is not None:
        unknown = unknown_class_ids(present, chunk.num_classes)
        if unknown:
            tally.unknown_ids.append((mask_path, unknown))
    tally.class_pixels += counts
    tally.class_images += present
    tally.labelled_pixels_with_class[present] += mask.size - counts[IGNORE_ID]
    for name in memberships:
        tally.split_class_images[name] += present
        tally.split_ignore_pixels[name] += int(counts[IGNORE_ID])
        tally.split_total_pixels[name] += mask.size
    if not present[1:].any():
        tally.unlabelled.append(stem)
    if chunk.with_objects:
        _tally_instances(layout, stem, mask, tally)
    _tally_picture(layout, stem, mask.shape, chunk.with_rgb, tally)


def _tally_instances(
    layout: VocLayout, stem: str, class_mask: NDArray[np.uint8], tally: Tally
) -> None:
    """Count the instances of one ``(H, W)`` class mask's image by their majority class.

    Instance ids 1-254 are instances; 0 is no instance and 255 is VOC's void border.
    An instance's class is the most frequent non-ignore class under it (the lowest
    class id on a tie); an instance lying only on ignore pixels is not counted.
    """
    path = layout.object_mask_path(stem)
    if not path.is_file():
        tally.missing_objects.append(stem)
        return
    objects = read_label_png(path)
    if objects.shape != class_mask.shape:
        raise DatasetError(
            f"{path} is {objects.shape[1]}x{objects.shape[0]} but its class mask is "
            f"{class_mask.shape[1]}x{class_mask.shape[0]}; the two masks must be the same size"
        )
    pairs, pair_pixels = distinct_counts(((objects.astype(np.uint16) << 8) | class_mask).ravel())
    instance_ids = (pairs >> 8).astype(np.intp)
    class_ids = (pairs & 0xFF).astype(np.intp)
    real = (instance_ids > 0) & (instance_ids < IGNORE_ID)
    if not real.any():
        return
    instances, rows = np.unique(instance_ids[real], return_inverse=True)
    # Rows: the image's instances; columns: class ids; cells: pixels of both.
    joint = np.zeros((instances.size, VALUES), dtype=np.int64)
    joint[rows, class_ids[real]] = pair_pixels[real]
    areas = joint.sum(axis=1)
    joint[:, IGNORE_ID] = 0
    labelled = joint.any(axis=1)
    classes = joint[labelled].argmax(axis=1)
    instance_areas = areas[labelled]
    np.add.at(tally.instance_count, classes, 1)
    np.add.at(tally.instance_area_sum, classes, instance_areas)
    np.minimum.at(tally.instance_area_min, classes, instance_areas)


def _tally_picture(
    layout: VocLayout, stem: str, mask_shape: tuple[int, ...], with_rgb: bool, tally: Tally
) -> None:
    path = layout.image_path(stem)
    if not path.is_file():
        tally.missing_images.append(stem)
        return
    try:
        with open_encoded(path) as image:
            width, height = image.size
            tally.modes[image.mode] += 1
            if with_rgb:
                rgb = image if image.mode == "RGB" else image.convert("RGB")
                # Pillow's histogram is exact and counted in C in one pass over the decoded
                # pixels; sums and squares follow from it without overflow or rounding.
                tally.rgb_histogram += np.asarray(rgb.histogram(), dtype=np.int64).reshape(
                    3, VALUES
                )
    except OSError as error:
        raise DatasetError(f"cannot read image {path}: {error}") from None
    tally.heights.append(height)
    tally.widths.append(width)
    if mask_shape != (height, width):
        tally.size_mismatches.append(stem)
