"""Statistics of a segmentation dataset: image sizes and colours, class frequencies,
instances, splits, and class weights for the training loss.

:func:`compute_stats` reads every class mask (and instance mask and image) once,
streaming: it keeps fixed-size per-class counters and the list of image sizes, never the
masks, so memory does not grow with the number of images beyond a few integers each.
Given a folder of labelme JSON files instead, :func:`labelme_stats` reports
annotation-level counts without converting.

JSON schema (``schema_version`` 1), as written by :func:`stats_to_json` and
``annotool stats --json``. Keys are never removed or renamed within a schema version;
new keys may be added.

``kind`` (str)
    ``"dataset"``.
``dataset`` (str)
    The dataset directory as given.
``split`` (str or null)
    The split the statistics are restricted to, null for the whole dataset.
``images`` (object)
    ``count``: images read (masks without an image are listed in ``warnings``);
    ``height``, ``width``: ``{"min", "median", "max"}`` integers in pixels, the median
    being the lower middle value for an even count (so it is an actual size);
    ``modes``: ``{PIL mode: image count}``; ``rgb_mean``, ``rgb_std``: ``[r, g, b]``
    floats on a 0-1 scale over every pixel of every image (exact, from the full decoded
    images; greyscale images count as grey RGB, alpha is dropped), or null when image
    pixels were not read (``rgb=False``, ``--no-rgb``).
``classes`` (list, index = class id, ids ``0..K-1`` with no gaps)
    ``id`` (int), ``name`` (str), ``pixels`` (int: mask pixels with this id),
    ``pixel_share`` (float: pixels / every mask pixel, ignore included), ``images``
    (int: masks containing the class), ``instances`` (int: instances whose majority
    class this is, from ``SegmentationObject``; null without that folder),
    ``mean_instance_area``, ``min_instance_area`` (pixels; null when there are no
    instances).
``ignore_pixel_share``, ``background_pixel_share`` (float)
    Shares of every mask pixel that are 255 (ignore) and class 0.
``splits`` (object)
    ``{split name: {class name: images containing the class}}`` for every
    ``ImageSets/Segmentation/*.txt`` (train, val, test, trainval first); ``{}`` when there
    are no split files or the statistics are restricted to one split.
``class_weights`` (object)
    ``inverse_frequency`` and ``median_frequency``: lists of floats, one per class id,
    ready for a cross-entropy ``weight`` (see :func:`class_weights`). A class with no
    pixels gets weight 0: it cannot occur in the loss targets, and 0 keeps the list
    finite.
``warnings`` (list of str)
    Human-readable findings: classes without pixels or in fewer than 2 images, images
    with no labelled pixels, extreme imbalance, classes missing from a split, missing
    or mismatched files.

The labelme folder statistics have ``kind`` ``"labelme"``; see :meth:`LabelmeStats.to_dict`.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from annotool.check import AnnotationFiles, find_annotation_files, read_checked
from annotool.errors import DatasetError
from annotool.fileio import atomic_write, atomic_write_text
from annotool.labels import BACKGROUND_LABEL, IGNORE_ID, IGNORE_LABEL, voc_colormap
from annotool.parallel import map_in_order
from annotool.progress import ProgressCallback, no_progress
from annotool.tables import text_table
from annotool.voc import CLASS_DIR, LEGACY_CLASS_DIR, VocLayout, read_label_png

SCHEMA_VERSION = 1
VALUES = 256
"""Distinct values of a uint8 mask; counters are indexed by mask value."""
LOW_IMAGE_COUNT = 2
"""Classes in fewer images than this cannot be in both train and val."""
IMBALANCE_RATIO = 100
"""Largest to smallest foreground class pixel ratio above which a warning is given."""
SPLIT_ORDER = ("train", "val", "test", "trainval")
LISTED_STEMS = 10
"""Most stems named in one warning; the rest are counted."""
RUN_LENGTH_LIMIT = 8
"""Counting runs pays off while runs are at least this long on average."""
CHUNK_SIZE = 32
"""Images per worker task: large enough that merging partial tallies costs nothing."""


# --- the streaming tally -------------------------------------------------------------


def _zeros() -> NDArray[np.int64]:
    return np.zeros(VALUES, dtype=np.int64)


@dataclass
class _Tally:
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
    heights: list[int] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)
    modes: Counter[str] = field(default_factory=Counter)
    unlabelled: list[str] = field(default_factory=list)
    missing_images: list[str] = field(default_factory=list)
    missing_objects: list[str] = field(default_factory=list)
    size_mismatches: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in self.split_names:
            self.split_class_images.setdefault(name, _zeros())

    def merge(self, other: _Tally) -> None:
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
        self.heights += other.heights
        self.widths += other.widths
        self.modes += other.modes
        self.unlabelled += other.unlabelled
        self.missing_images += other.missing_images
        self.missing_objects += other.missing_objects
        self.size_mismatches += other.size_mismatches


@dataclass(frozen=True)
class _Chunk:
    """One worker task: images to tally and the splits each belongs to."""

    layout: VocLayout
    stems: tuple[str, ...]
    memberships: tuple[tuple[str, ...], ...]
    split_names: tuple[str, ...]
    with_objects: bool
    with_rgb: bool


def _tally_chunk(chunk: _Chunk) -> _Tally:
    tally = _Tally(split_names=chunk.split_names)
    for stem, memberships in zip(chunk.stems, chunk.memberships, strict=True):
        _tally_image(chunk, stem, memberships, tally)
    return tally


def _tally_image(chunk: _Chunk, stem: str, memberships: tuple[str, ...], tally: _Tally) -> None:
    layout = chunk.layout
    mask = read_label_png(layout.class_mask_path(stem))
    counts = _value_counts(mask.ravel(), VALUES)
    present = counts > 0
    present[IGNORE_ID] = False
    tally.class_pixels += counts
    tally.class_images += present
    tally.labelled_pixels_with_class[present] += mask.size - counts[IGNORE_ID]
    for name in memberships:
        tally.split_class_images[name] += present
    if not present[1:].any():
        tally.unlabelled.append(stem)
    if chunk.with_objects:
        _tally_instances(layout, stem, mask, tally)
    _tally_picture(layout, stem, mask.shape, chunk.with_rgb, tally)


def _runs(
    flat: NDArray[np.unsignedinteger],
) -> tuple[NDArray[np.unsignedinteger], NDArray[np.intp]]:
    """The value and length of each run of equal values in the 1-D array ``flat``."""
    run_starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))
    return flat[run_starts], np.diff(run_starts, append=flat.size)


def _value_counts(flat: NDArray[np.unsignedinteger], bins: int) -> NDArray[np.int64]:
    """How often each value ``0..bins-1`` occurs in the 1-D array ``flat``.

    Masks are long runs of one value, and a plain ``np.bincount`` then stalls on
    incrementing the same counter again and again (about 7 ns a pixel); counting runs
    instead is some 30 times faster. Noisy inputs with many short runs use bincount.
    """
    values, lengths = _runs(flat)
    if values.size > flat.size // RUN_LENGTH_LIMIT:
        return np.bincount(flat, minlength=bins).astype(np.int64, copy=False)
    # float64 weights are exact for counts below 2**53, far above any image size.
    return np.bincount(values, weights=lengths, minlength=bins).astype(np.int64)


def _distinct_counts(
    flat: NDArray[np.unsignedinteger],
) -> tuple[NDArray[np.unsignedinteger], NDArray[np.int64]]:
    """The distinct values of the 1-D array ``flat``, sorted, and how often each occurs."""
    values, lengths = _runs(flat)
    distinct, which = np.unique(values, return_inverse=True)
    return distinct, np.bincount(which, weights=lengths).astype(np.int64)


def _tally_instances(
    layout: VocLayout, stem: str, class_mask: NDArray[np.uint8], tally: _Tally
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
    pairs, pair_pixels = _distinct_counts(((objects.astype(np.uint16) << 8) | class_mask).ravel())
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
    layout: VocLayout, stem: str, mask_shape: tuple[int, ...], with_rgb: bool, tally: _Tally
) -> None:
    path = layout.image_path(stem)
    if not path.is_file():
        tally.missing_images.append(stem)
        return
    try:
        with Image.open(path) as image:
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


# --- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class SizeSummary:
    """Smallest, median (lower middle for an even count) and largest of a size, in pixels."""

    min: int
    median: int
    max: int

    @classmethod
    def of(cls, values: Sequence[int]) -> SizeSummary:
        if not values:
            return cls(0, 0, 0)
        return cls(min(values), statistics.median_low(values), max(values))

    def to_dict(self) -> dict[str, int]:
        return {"min": self.min, "median": self.median, "max": self.max}


@dataclass(frozen=True)
class ImageStats:
    """Sizes, colour modes and per-channel mean and std (0-1 scale) of the images read."""

    count: int
    height: SizeSummary
    width: SizeSummary
    modes: dict[str, int]
    rgb_mean: tuple[float, float, float] | None
    rgb_std: tuple[float, float, float] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "height": self.height.to_dict(),
            "width": self.width.to_dict(),
            "modes": dict(self.modes),
            "rgb_mean": None if self.rgb_mean is None else list(self.rgb_mean),
            "rgb_std": None if self.rgb_std is None else list(self.rgb_std),
        }


@dataclass(frozen=True)
class ClassStats:
    """Frequency of one class id in the masks (and its instances when known)."""

    id: int
    name: str
    pixels: int
    pixel_share: float
    images: int
    instances: int | None
    mean_instance_area: float | None
    min_instance_area: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "pixels": self.pixels,
            "pixel_share": self.pixel_share,
            "images": self.images,
            "instances": self.instances,
            "mean_instance_area": self.mean_instance_area,
            "min_instance_area": self.min_instance_area,
        }


@dataclass(frozen=True)
class DatasetStats:
    """Everything :func:`compute_stats` measured; :meth:`to_dict` gives the JSON schema."""

    dataset: str
    split: str | None
    images: ImageStats
    classes: tuple[ClassStats, ...]
    ignore_pixel_share: float
    background_pixel_share: float
    splits: dict[str, dict[str, int]]
    class_weights: dict[str, list[float]]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "dataset",
            "dataset": self.dataset,
            "split": self.split,
            "images": self.images.to_dict(),
            "classes": [item.to_dict() for item in self.classes],
            "ignore_pixel_share": self.ignore_pixel_share,
            "background_pixel_share": self.background_pixel_share,
            "splits": {name: dict(counts) for name, counts in self.splits.items()},
            "class_weights": {name: list(values) for name, values in self.class_weights.items()},
            "warnings": list(self.warnings),
        }


# --- computing -----------------------------------------------------------------------


def is_labelme_dir(path: Path) -> bool:
    """True when ``path`` is a folder of ``.json`` files and not a VOC-style dataset."""
    path = Path(path)
    return path.is_dir() and not _has_class_masks(path) and any(path.glob("*.json"))


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


def count_images(dataset_dir: Path, split: str | None = None) -> int:
    """How many masks :func:`compute_stats` will read (for sizing a progress bar)."""
    stems, _ = selected_stems(open_dataset(dataset_dir), split)
    return len(stems)


def compute_stats(
    dataset_dir: Path,
    split: str | None = None,
    progress: ProgressCallback | None = None,
    workers: int = 1,
    rgb: bool = True,
) -> DatasetStats:
    """Measure the dataset at ``dataset_dir`` (see the module docstring for the result).

    ``split`` restricts everything to the stems of ``ImageSets/Segmentation/<split>.txt``.
    ``rgb=False`` skips decoding the images (their sizes and modes are still read from
    the headers) and leaves ``rgb_mean``/``rgb_std`` as None. ``progress`` is called with
    the number of images finished. The result does not depend on ``workers``.

    Raises DatasetError when the folder is not a dataset, the split does not exist, no
    mask is selected, or a mask or image cannot be read.
    """
    layout = open_dataset(dataset_dir)
    stems, warnings = selected_stems(layout, split)
    if not stems:
        where = f"split {split!r} of {layout.root}" if split else str(layout.class_dir)
        raise DatasetError(f"no class masks to analyse in {where}")
    split_members, split_warnings = (
        _split_memberships(layout, set(stems)) if split is None else ({}, [])
    )
    warnings += split_warnings
    split_names = tuple(split_members)
    chunks = [
        _Chunk(
            layout=layout,
            stems=tuple(part),
            memberships=tuple(
                tuple(name for name in split_names if stem in split_members[name]) for stem in part
            ),
            split_names=split_names,
            with_objects=layout.has_objects(),
            with_rgb=rgb,
        )
        for part in _chunked(stems, CHUNK_SIZE)
    ]
    advance = progress or no_progress
    total = _Tally(split_names=split_names)
    for chunk, partial in zip(
        chunks, map_in_order(_tally_chunk, chunks, workers=workers), strict=True
    ):
        total.merge(partial)
        advance(len(chunk.stems))
    return _summarize(layout, split, total, layout.has_objects(), rgb, warnings)


def _chunked(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _split_memberships(layout: VocLayout, stems: set[str]) -> tuple[dict[str, set[str]], list[str]]:
    names = sorted(
        layout.split_names(),
        key=lambda name: (
            SPLIT_ORDER.index(name) if name in SPLIT_ORDER else len(SPLIT_ORDER),
            name,
        ),
    )
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
    return [f"split {split!r} lists stems without a class mask: {_stem_list(sorted(missing))}"]


def _stem_list(stems: Sequence[str]) -> str:
    """``"3 (a, b, c)"``, naming at most LISTED_STEMS."""
    shown = ", ".join(stems[:LISTED_STEMS])
    more = f" and {len(stems) - LISTED_STEMS} more" if len(stems) > LISTED_STEMS else ""
    return f"{len(stems)} ({shown}{more})"


def _class_names(layout: VocLayout, class_pixels: NDArray[np.int64]) -> tuple[list[str], list[str]]:
    """Names for class ids ``0..K-1``: ``class_names.txt`` extended by ids found in masks."""
    found = np.flatnonzero(class_pixels[:IGNORE_ID])
    highest_found = int(found.max()) if found.size else 0
    names = layout.read_class_names()
    warnings: list[str] = []
    if names is None:
        return [f"class_{class_id}" for class_id in range(highest_found + 1)], warnings
    unnamed = [int(class_id) for class_id in found if class_id >= len(names)]
    if unnamed:
        warnings.append(
            f"masks hold class ids {', '.join(map(str, unnamed))} beyond the "
            f"{len(names)} names of {layout.class_names_path}; they are named class_<id>"
        )
    names = names + [f"class_{class_id}" for class_id in range(len(names), highest_found + 1)]
    return names, warnings


def _summarize(
    layout: VocLayout,
    split: str | None,
    tally: _Tally,
    with_objects: bool,
    with_rgb: bool,
    warnings: list[str],
) -> DatasetStats:
    names, name_warnings = _class_names(layout, tally.class_pixels)
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
    images = _image_stats(tally, with_rgb)
    return DatasetStats(
        dataset=str(layout.root),
        split=split,
        images=images,
        classes=classes,
        ignore_pixel_share=_share(int(tally.class_pixels[IGNORE_ID]), all_pixels),
        background_pixel_share=classes[0].pixel_share,
        splits=splits,
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
    class_id: int, name: str, tally: _Tally, all_pixels: int, with_objects: bool
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


def _image_stats(tally: _Tally, with_rgb: bool) -> ImageStats:
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


def class_weights(
    pixels: Sequence[int], labelled_pixels_with_class: Sequence[int]
) -> dict[str, list[float]]:
    """Loss weights per class id from pixel counts; classes without pixels get 0.

    ``inverse_frequency``: ``n / (k * pixels[c])``, ``n`` the labelled (non-ignore)
    pixels and ``k`` the classes with pixels, so a perfectly balanced dataset gets 1
    everywhere (scikit-learn's "balanced" weighting).

    ``median_frequency`` (Eigen & Fergus, 2015): ``median(freq) / freq[c]`` with
    ``freq[c] = pixels[c] / labelled_pixels_with_class[c]``, the labelled pixels of the
    images that contain class ``c``; the median is over classes with pixels.
    """
    present = [count > 0 for count in pixels]
    labelled = sum(pixels)
    k = sum(present)
    inverse = [labelled / (k * count) if count else 0.0 for count in pixels]
    frequencies = [
        count / denominator if count else 0.0
        for count, denominator in zip(pixels, labelled_pixels_with_class, strict=True)
    ]
    positive = [frequency for frequency in frequencies if frequency > 0]
    median = statistics.median(positive) if positive else 0.0
    median_weights = [median / frequency if frequency else 0.0 for frequency in frequencies]
    return {"inverse_frequency": inverse, "median_frequency": median_weights}


def _file_warnings(layout: VocLayout, tally: _Tally) -> list[str]:
    warnings = []
    if tally.missing_images:
        warnings.append(
            f"class masks without an image in {layout.images_dir} (left out of the image "
            f"statistics): {_stem_list(tally.missing_images)}"
        )
    if tally.size_mismatches:
        warnings.append(
            f"images whose size differs from their class mask: {_stem_list(tally.size_mismatches)}"
        )
    if tally.missing_objects:
        warnings.append(
            f"class masks without an instance mask in {layout.object_dir} (left out of the "
            f"instance statistics): {_stem_list(tally.missing_objects)}"
        )
    if tally.unlabelled:
        warnings.append(
            "images with no labelled pixels (only background and ignore): "
            f"{_stem_list(tally.unlabelled)}"
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


# --- output --------------------------------------------------------------------------


def stats_to_json(stats: DatasetStats | LabelmeStats) -> str:
    """The statistics as JSON text (indented, keys in schema order, newline at the end)."""
    return json.dumps(stats.to_dict(), indent=2, ensure_ascii=False) + "\n"


def write_stats_json(stats: DatasetStats | LabelmeStats, path: Path) -> None:
    """Write :func:`stats_to_json` to ``path`` atomically."""
    atomic_write_text(Path(path), stats_to_json(stats))


def _percent(share: float) -> str:
    return f"{share * 100:.2f}%"


def _optional(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(stats: DatasetStats) -> str:
    """A plain-text report: images, the per-class table, splits and warnings."""
    images = stats.images
    scope = f"split {stats.split}" if stats.split else "all images"
    lines = [
        f"Dataset {stats.dataset} ({scope})",
        f"Images: {images.count}   height {_size(images.height)}   width {_size(images.width)}"
        f"   (min/median/max)",
        "Modes: " + ", ".join(f"{mode} {count}" for mode, count in images.modes.items()),
    ]
    if images.rgb_mean is not None and images.rgb_std is not None:
        lines.append(
            "RGB mean "
            + " ".join(f"{value:.4f}" for value in images.rgb_mean)
            + "   std "
            + " ".join(f"{value:.4f}" for value in images.rgb_std)
        )
    lines += ["", _class_table(stats)]
    lines.append(
        f"ignore: {_percent(stats.ignore_pixel_share)} of pixels   "
        f"background: {_percent(stats.background_pixel_share)}"
    )
    if stats.splits:
        lines += ["", "Images per split (* = class absent from the split)", _split_table(stats)]
    if stats.warnings:
        lines += ["", "Warnings:"] + [f"  - {warning}" for warning in stats.warnings]
    return "\n".join(lines)


def _size(summary: SizeSummary) -> str:
    return f"{summary.min}/{summary.median}/{summary.max}"


def _class_table(stats: DatasetStats) -> str:
    weights = stats.class_weights
    headers = ["id", "class", "pixels", "share", "images", "instances", "mean area",
               "min area", "w inv", "w median"]  # fmt: skip
    rows = [
        [
            str(item.id),
            item.name,
            str(item.pixels),
            _percent(item.pixel_share),
            str(item.images),
            "-" if item.instances is None else str(item.instances),
            _optional(item.mean_instance_area),
            "-" if item.min_instance_area is None else str(item.min_instance_area),
            f"{weights['inverse_frequency'][item.id]:.3f}",
            f"{weights['median_frequency'][item.id]:.3f}",
        ]
        for item in stats.classes
    ]
    return text_table(headers, rows, left=(1,))


def _split_table(stats: DatasetStats) -> str:
    names = list(stats.splits)
    rows = []
    for item in stats.classes:
        cells = [item.name]
        for name in names:
            count = stats.splits[name][item.name]
            cells.append(f"{count} *" if item.images and not count else f"{count}  ")
        rows.append(cells)
    return text_table(["class", *(f"{name}  " for name in names)], rows)


# --- plots ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Panel:
    """One bar panel: axis label, one value per bar, and the text printed at each bar."""

    axis_label: str
    values: list[float]
    bar_labels: list[str]
    integer_axis: bool


def plot_stats(stats: DatasetStats | LabelmeStats, path: Path) -> None:
    """Write a PNG with two bar panels, atomically.

    For a dataset: per-class pixel share and images per class, in VOC class colours.
    For a labelme folder: shapes and images per label (``_background_`` and
    ``__ignore__`` in their VOC colours, the other labels in alphabetical order).
    """
    if isinstance(stats, DatasetStats):
        names = [item.name for item in stats.classes]
        colour_ids = [item.id for item in stats.classes]
        shares = [item.pixel_share * 100 for item in stats.classes]
        left = _Panel("Pixel share (%)", shares, [_share_label(share) for share in shares], False)
        right = _count_panel("Images containing the class", [c.images for c in stats.classes])
        title = stats.dataset + (f" (split {stats.split})" if stats.split else "")
    else:
        names = [item.label for item in stats.labels]
        colour_ids = _label_colour_ids(names)
        left = _count_panel("Shapes", [item.shapes for item in stats.labels])
        right = _count_panel("Images with the label", [item.images for item in stats.labels])
        title = f"{stats.folder} (labelme annotations)"
    png = _bar_panels_png(title, names, colour_ids, (left, right))
    atomic_write(Path(path), lambda stream: stream.write(png))


def _share_label(percent: float) -> str:
    if percent == 0:
        return "0"
    return "<0.01" if percent < 0.01 else f"{percent:.2f}"


def _count_panel(axis_label: str, counts: Sequence[int]) -> _Panel:
    return _Panel(axis_label, [float(count) for count in counts], [str(c) for c in counts], True)


def _label_colour_ids(labels: Sequence[str]) -> list[int]:
    special = {BACKGROUND_LABEL: 0, IGNORE_LABEL: IGNORE_ID}
    others = iter(range(1, IGNORE_ID))
    return [special[label] if label in special else next(others) for label in labels]


def _bar_panels_png(
    title: str, names: Sequence[str], colour_ids: Sequence[int], panels: Sequence[_Panel]
) -> bytes:
    """Horizontal bar panels sharing the ``names`` axis, as PNG bytes."""
    import io

    # The Figure API with an explicit Agg canvas: no pyplot, no global state, no display.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    palette = voc_colormap()
    colours = [tuple(float(channel) / 255 for channel in palette[index]) for index in colour_ids]
    figure = Figure(figsize=(11, 1.5 + 0.32 * max(len(names), 1)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title)
    axes = figure.subplots(1, len(panels), sharey=True)
    positions = list(range(len(names)))
    for ax, panel in zip(axes, panels, strict=True):
        bars = ax.barh(positions, panel.values, color=colours, edgecolor="0.25", linewidth=0.6)
        ax.bar_label(bars, labels=panel.bar_labels, padding=3, fontsize=8)
        ax.set_xlabel(panel.axis_label)
        if panel.integer_axis:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.margins(x=0.15)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0].set_yticks(positions, labels=list(names))
    axes[0].invert_yaxis()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


# --- labelme folders -----------------------------------------------------------------


@dataclass(frozen=True)
class LabelCount:
    """How one label is used across a labelme folder."""

    label: str
    shapes: int
    images: int
    instances: int
    shape_types: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "shapes": self.shapes,
            "images": self.images,
            "instances": self.instances,
            "shape_types": dict(self.shape_types),
        }


@dataclass(frozen=True)
class LabelmeStats:
    """Annotation-level counts of a folder of labelme JSON files (see :meth:`to_dict`)."""

    folder: str
    files: int
    labels: tuple[LabelCount, ...]
    shape_types: dict[str, int]
    files_without_shapes: tuple[str, ...]
    problems: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{"schema_version": 1, "kind": "labelme", "folder", "files", "shapes",
        "labels": [{"label", "shapes", "images", "instances", "shape_types": {type: n}}],
        "shape_types": {type: n}, "files_without_shapes": [name], "problems": [message]}``.
        """
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "labelme",
            "folder": self.folder,
            "files": self.files,
            "shapes": sum(self.shape_types.values()),
            "labels": [item.to_dict() for item in self.labels],
            "shape_types": dict(self.shape_types),
            "files_without_shapes": list(self.files_without_shapes),
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class _FileShapes:
    """The valid shapes of one labelme file as ``(label, shape_type, instance key)``."""

    name: str
    shapes: tuple[tuple[str, str, tuple[str, int]], ...]
    problems: tuple[str, ...]
    readable: bool


def _read_file_shapes(path: Path) -> _FileShapes:
    annotation, check = read_checked(path, labels=None)
    messages = tuple(str(problem) for problem in check.problems)
    if annotation is None:
        return _FileShapes(path.name, (), messages, readable=False)
    shapes = tuple(
        (
            shape.label,
            shape.shape_type,
            # An instance is a (label, group_id) pair; without a group id, each shape is one.
            ("shape", shape.index) if shape.group_id is None else ("group", shape.group_id),
        )
        for shape in annotation.shapes
    )
    return _FileShapes(path.name, shapes, messages, readable=True)


def labelme_stats(
    json_dir: Path,
    progress: ProgressCallback | None = None,
    workers: int = 1,
    files: AnnotationFiles | None = None,
) -> LabelmeStats:
    """Count shapes per label and shape type, images per label, and files without shapes.

    Reads the ``*.json`` files directly in ``json_dir`` in sorted order with the same
    parser as ``annotool convert``; every problem it finds is listed in ``problems``, and
    invalid shapes and unreadable files are left out of the counts. An instance is a
    (label, group_id) pair per file, a null group_id making each shape its own instance,
    as ``annotool convert`` numbers them. ``progress`` is called per file. ``files``: the
    folder's files when the caller has already listed them with find_annotation_files.
    """
    json_dir = Path(json_dir)
    files = find_annotation_files(json_dir if files is None else files)
    shapes: Counter[str] = Counter()
    images: Counter[str] = Counter()
    instances: Counter[str] = Counter()
    types_per_label: dict[str, Counter[str]] = {}
    shape_types: Counter[str] = Counter()
    without_shapes: list[str] = []
    problems: list[str] = []
    for summary in map_in_order(_read_file_shapes, files.files, workers=workers, progress=progress):
        problems += summary.problems
        if not summary.readable:
            continue
        if not summary.shapes:
            without_shapes.append(summary.name)
        for label, shape_type, _ in summary.shapes:
            shapes[label] += 1
            shape_types[shape_type] += 1
            types_per_label.setdefault(label, Counter())[shape_type] += 1
        images.update({label for label, _, _ in summary.shapes})
        instances.update(label for label, _ in {(label, key) for label, _, key in summary.shapes})
    labels = tuple(
        LabelCount(
            label=label,
            shapes=shapes[label],
            images=images[label],
            instances=instances[label],
            shape_types=dict(sorted(types_per_label[label].items())),
        )
        for label in sorted(shapes)
    )
    return LabelmeStats(
        folder=str(json_dir),
        files=len(files.files),
        labels=labels,
        shape_types=dict(sorted(shape_types.items())),
        files_without_shapes=tuple(without_shapes),
        problems=tuple(problems),
    )


def format_labelme_table(stats: LabelmeStats) -> str:
    """A plain-text report of :func:`labelme_stats`."""
    types = list(stats.shape_types)
    headers = ["label", "shapes", "images", "instances", *types]
    rows = [
        [
            item.label,
            str(item.shapes),
            str(item.images),
            str(item.instances),
            *(str(item.shape_types.get(name, 0)) for name in types),
        ]
        for item in stats.labels
    ]
    total = sum(stats.shape_types.values())
    lines = [
        f"labelme folder {stats.folder}: {stats.files} files, {total} shapes "
        "(annotations only; convert the folder for pixel statistics)",
        "",
        text_table(headers, rows) if rows else "No shapes.",
    ]
    if stats.files_without_shapes:
        lines += ["", f"Files without shapes: {_stem_list(stats.files_without_shapes)}"]
    if stats.problems:
        lines += ["", "Problems (invalid shapes and files are not counted):"]
        lines += [f"  - {message}" for message in stats.problems]
    return "\n".join(lines)
