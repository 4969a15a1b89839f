"""Statistics of a dataset on disk: select the images, tally them in parallel, summarize."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from annotool.errors import DatasetError
from annotool.labels import IGNORE_ID
from annotool.masks import unknown_ids_warning
from annotool.parallel import map_in_order
from annotool.progress import ProgressCallback, no_progress
from annotool.stats.results import (
    ClassStats,
    DatasetStats,
    ImageStats,
    PixelCounts,
    SizeSummary,
)
from annotool.stats.tally import Chunk, Tally, tally_chunk
from annotool.stats.weights import class_weights
from annotool.tables import name_some
from annotool.voc import CLASS_DIR, LEGACY_CLASS_DIR, VocLayout

LOW_IMAGE_COUNT = 2
"""Classes in fewer images than this cannot be in both train and val."""
IMBALANCE_RATIO = 100
"""Largest to smallest foreground class pixel ratio above which a warning is given."""
LISTED_STEMS = 10
"""Most stems named in one warning; the rest are counted."""
CHUNK_SIZE = 32
"""Images per worker task: large enough that merging partial tallies costs nothing."""


def is_labelme_dir(path: Path) -> bool:
    """True when ``path`` is a folder of ``.json`` files and not a VOC-style dataset."""
    path = Path(path)
    return (
        path.is_dir()
        and not _has_class_masks(path)
        and any(entry.suffix.lower() == ".json" for entry in path.iterdir())
    )


def _has_class_masks(path: Path) -> bool:
    return (path / CLASS_DIR).is_dir() or (path / LEGACY_CLASS_DIR).is_dir()


def open_dataset(dataset_dir: Path) -> VocLayout:
    """The layout of ``dataset_dir``, with an error that also mentions labelme folders."""
    dataset_dir = Path(dataset_dir)
    if dataset_dir.is_dir() and not _has_class_masks(dataset_dir):
        raise DatasetError(
            f"{dataset_dir} is neither a segmentation dataset (no {CLASS_DIR}/ or "
            f"{LEGACY_CLASS_DIR}/ folder) nor a folder of labelme .json files; pass a dataset "
            "written by 'annotool convert' or a labelme annotation folder"
        )
    return VocLayout.open(dataset_dir)


def selected_stems(layout: VocLayout, split: str | None) -> tuple[list[str], list[str]]:
    """The sorted stems to analyse, and warnings about split entries without a mask."""
    stems = layout.stems()
    if split is None:
        return stems, []
    available = layout.split_names()
    if split not in available:
        listing = ", ".join(available) if available else "none"
        raise DatasetError(
            f"split {split!r} not found in {layout.image_sets_dir} (available: {listing}); "
            f"run 'annotool split {layout.root}' to create split files"
        )
    wanted = set(layout.read_split(split))
    known = set(stems)
    warnings = _missing_mask_warnings(split, wanted - known)
    return [stem for stem in stems if stem in wanted], warnings


def compute_stats(
    dataset_dir: Path,
    split: str | None = None,
    progress: ProgressCallback | None = None,
    workers: int = 1,
    rgb: bool = True,
) -> DatasetStats:
    """Measure the dataset at ``dataset_dir`` (see :mod:`annotool.stats` for the result).

    ``split`` restricts everything to the stems of ``ImageSets/Segmentation/<split>.txt``;
    the other arguments are those of :func:`dataset_stats`.

    Raises DatasetError when the folder is not a dataset, the split does not exist, no
    mask is selected, or a mask or image cannot be read.
    """
    layout = open_dataset(dataset_dir)
    stems, warnings = selected_stems(layout, split)
    return dataset_stats(
        layout, stems, split=split, progress=progress, workers=workers, rgb=rgb, notes=warnings
    )


def dataset_stats(
    layout: VocLayout,
    stems: Sequence[str],
    *,
    split: str | None = None,
    progress: ProgressCallback | None = None,
    workers: int = 1,
    rgb: bool = True,
    notes: Sequence[str] = (),
) -> DatasetStats:
    """Measure the images ``stems`` of an opened dataset, in the order given.

    ``split`` names the split the stems were taken from; without it the result also
    counts images per class in every split file. ``rgb=False`` skips decoding the images
    (their sizes and modes are still read from the headers) and leaves
    ``rgb_mean``/``rgb_std`` as None. ``progress`` is called with the number of images
    finished. ``notes`` are warnings found while choosing the stems; they come first.
    The result does not depend on ``workers``.

    Raises DatasetError when ``stems`` is empty or a mask or image cannot be read.
    """
    if not stems:
        where = f"split {split!r} of {layout.root}" if split else str(layout.class_dir)
        raise DatasetError(f"no class masks to analyse in {where}")
    warnings = list(notes)
    split_members, split_warnings = (
        _split_memberships(layout, set(stems)) if split is None else ({}, [])
    )
    warnings += split_warnings
    split_names = tuple(split_members)
    class_names = layout.read_class_names()
    chunks = [
        Chunk(
            layout=layout,
            stems=tuple(part),
            memberships=tuple(
                tuple(name for name in split_names if stem in split_members[name]) for stem in part
            ),
            split_names=split_names,
            with_objects=layout.has_objects(),
            with_rgb=rgb,
            num_classes=None if class_names is None else len(class_names),
        )
        for part in _chunked(stems, CHUNK_SIZE)
    ]
    advance = progress or no_progress
    total = Tally(split_names=split_names)
    for chunk, partial in zip(
        chunks, map_in_order(tally_chunk, chunks, workers=workers), strict=True
    ):
        total.merge(partial)
        advance(len(chunk.stems))
    return _summarize(layout, class_names, split, total, layout.has_objects(), rgb, warnings)


def _chunked(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _split_memberships(layout: VocLayout, stems: set[str]) -> tuple[dict[str, set[str]], list[str]]:
    names = layout.ordered_split_names()
    members: dict[str, set[str]] = {}
    warnings: list[str] = []
    for name in names:
        listed = set(layout.read_split(name))
        members[name] = listed & stems
        warnings += _missing_mask_warnings(name, listed - stems)
    return members, warnings


def _missing_mask_warnings(split: str, missing: set[str]) -> list[str]:
    if not missing:
        return []
    return [f"split {split!r} lists stems without a class mask: {stem_list(sorted(missing))}"]


def stem_list(stems: Sequence[str]) -> str:
    """``"3 (a, b, c)"``, naming at most LISTED_STEMS."""
    return f"{len(stems)} ({name_some(stems, LISTED_STEMS)})"


def _class_names(
    layout: VocLayout, class_names: list[str] | None, tally: Tally
) -> tuple[list[str], list[str]]:
    """Names for class ids ``0..K-1``: ``class_names.txt`` extended by ids found in masks."""
    found = np.flatnonzero(tally.class_pixels[:IGNORE_ID])
    highest_found = int(found.max()) if found.size else 0
    if class_names is None:
        return [f"class_{class_id}" for class_id in range(highest_found + 1)], []
    warnings = []
    if tally.unknown_ids:
        warnings.append(
            unknown_ids_warning(tally.unknown_ids, len(class_names), layout.class_names_path)
            + "; they are counted as class_<id>"
        )
    extra = [f"class_{class_id}" for class_id in range(len(class_names), highest_found + 1)]
    return class_names + extra, warnings


def _summarize(
    layout: VocLayout,
    class_names: list[str] | None,
    split: str | None,
    tally: Tally,
    with_objects: bool,
    with_rgb: bool,
    warnings: list[str],
) -> DatasetStats:
    names, name_warnings = _class_names(layout, class_names, tally)
    all_pixels = int(tally.class_pixels.sum())
    classes = tuple(
        _class_stats(class_id, name, tally, all_pixels, with_objects)
        for class_id, name in enumerate(names)
    )
    pixels = [item.pixels for item in classes]
    weights = class_weights(pixels, tally.labelled_pixels_with_class[: len(classes)].tolist())
    splits = {
        name: {item.name: int(counts[item.id]) for item in classes}
        for name, counts in tally.split_class_images.items()
    }
    split_pixels = {
        name: PixelCounts(tally.split_ignore_pixels[name], tally.split_total_pixels[name])
        for name in tally.split_class_images
    }
    ignore_pixels = int(tally.class_pixels[IGNORE_ID])
    images = _image_stats(tally, with_rgb)
    return DatasetStats(
        dataset=str(layout.root),
        split=split,
        images=images,
        classes=classes,
        ignore_pixel_share=_share(ignore_pixels, all_pixels),
        background_pixel_share=classes[0].pixel_share,
        ignore_pixels=ignore_pixels,
        total_pixels=all_pixels,
        splits=splits,
        split_pixels=split_pixels,
        class_weights=weights,
        warnings=tuple(
            warnings
            + name_warnings
            + _file_warnings(layout, tally)
            + _class_warnings(classes, splits)
        ),
    )


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _class_stats(
    class_id: int, name: str, tally: Tally, all_pixels: int, with_objects: bool
) -> ClassStats:
    pixels = int(tally.class_pixels[class_id])
    instances = int(tally.instance_count[class_id]) if with_objects else None
    return ClassStats(
        id=class_id,
        name=name,
        pixels=pixels,
        pixel_share=_share(pixels, all_pixels),
        images=int(tally.class_images[class_id]),
        instances=instances,
        mean_instance_area=(
            int(tally.instance_area_sum[class_id]) / instances if instances else None
        ),
        min_instance_area=int(tally.instance_area_min[class_id]) if instances else None,
    )


def _image_stats(tally: Tally, with_rgb: bool) -> ImageStats:
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    if with_rgb and tally.heights:
        mean, std = _mean_std(tally.rgb_histogram)
    return ImageStats(
        count=len(tally.heights),
        height=SizeSummary.of(tally.heights),
        width=SizeSummary.of(tally.widths),
        modes=dict(sorted(tally.modes.items())),
        rgb_mean=mean,
        rgb_std=std,
    )


def _mean_std(
    histogram: NDArray[np.int64],
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Per-channel mean and population std on a 0-1 scale from ``(3, 256)`` value counts.

    Sums are exact Python integers, so the only rounding is the final division.
    """
    means: list[float] = []
    stds: list[float] = []
    for channel in histogram:
        counts = [int(count) for count in channel]
        n = sum(counts)
        total = sum(value * count for value, count in enumerate(counts))
        squares = sum(value * value * count for value, count in enumerate(counts))
        means.append(total / (n * 255))
        variance = (squares * n - total * total) / (n * n * 255 * 255)
        stds.append(variance**0.5)
    return (means[0], means[1], means[2]), (stds[0], stds[1], stds[2])


def _file_warnings(layout: VocLayout, tally: Tally) -> list[str]:
    warnings = []
    if tally.missing_images:
        warnings.append(
            f"class masks without an image in {layout.images_dir} (left out of the image "
            f"statistics): {stem_list(tally.missing_images)}"
        )
    if tally.size_mismatches:
        warnings.append(
            f"images whose size differs from their class mask: {stem_list(tally.size_mismatches)}"
        )
    if tally.missing_objects:
        warnings.append(
            f"class masks without an instance mask in {layout.object_dir} (left out of the "
            f"instance statistics): {stem_list(tally.missing_objects)}"
        )
    if tally.unlabelled:
        warnings.append(
            "images with no labelled pixels (only background and ignore): "
            f"{stem_list(tally.unlabelled)}"
        )
    return warnings


def _class_label(item: ClassStats) -> str:
    return f"{item.id} {item.name}"


def _class_warnings(classes: Sequence[ClassStats], splits: dict[str, dict[str, int]]) -> list[str]:
    warnings = []
    empty = [_class_label(item) for item in classes if item.pixels == 0]
    if empty:
        warnings.append(f"classes with no pixels: {', '.join(empty)}")
    rare = [_class_label(item) for item in classes if 0 < item.images < LOW_IMAGE_COUNT]
    if rare:
        warnings.append(
            f"classes in fewer than {LOW_IMAGE_COUNT} images (they cannot be in both train "
            f"and val): {', '.join(rare)}"
        )
    for split, counts in splits.items():
        absent = [item.name for item in classes if item.images and not counts[item.name]]
        if absent:
            warnings.append(f"split {split!r} has no image of {', '.join(absent)}")
    foreground = [item for item in classes[1:] if item.pixels]
    if len(foreground) >= 2:
        largest = max(foreground, key=lambda item: item.pixels)
        smallest = min(foreground, key=lambda item: item.pixels)
        ratio = largest.pixels / smallest.pixels
        if ratio > IMBALANCE_RATIO:
            warnings.append(
                f"extreme class imbalance: {largest.name!r} has {ratio:.0f} times the pixels "
                f"of {smallest.name!r} (background not counted); consider class weights"
            )
    return warnings
