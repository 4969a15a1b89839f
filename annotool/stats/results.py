"""The results of dataset statistics: image sizes and colours, class frequencies,
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
``ignore_pixels``, ``total_pixels`` (int)
    Mask pixels that are 255 (ignore), and every mask pixel: the counts behind the shares,
    which can be checked and summed across datasets.
``splits`` (object)
    ``{split name: {class name: images containing the class}}`` for every
    ``ImageSets/Segmentation/*.txt`` (train, val, test, trainval first); ``{}`` when there
    are no split files or the statistics are restricted to one split.
``split_pixels`` (object)
    ``{split name: {"ignore_pixels": int, "total_pixels": int}}`` for the same splits as
    ``splits`` (``{}`` where that is ``{}``).
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from annotool.errors import DatasetError
from annotool.fileio import atomic_write_text, read_utf8
from annotool.stats.weights import ClassWeights, weight_list

if TYPE_CHECKING:
    from annotool.stats.labelme import LabelmeStats

SCHEMA_VERSION = 1


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

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> SizeSummary:
        return cls(int(document["min"]), int(document["median"]), int(document["max"]))


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

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> ImageStats:
        return cls(
            count=int(document["count"]),
            height=SizeSummary.from_dict(document["height"]),
            width=SizeSummary.from_dict(document["width"]),
            modes={str(mode): int(count) for mode, count in document["modes"].items()},
            rgb_mean=_channels(document["rgb_mean"]),
            rgb_std=_channels(document["rgb_std"]),
        )


def _channels(values: list[float] | None) -> tuple[float, float, float] | None:
    if values is None:
        return None
    red, green, blue = (float(value) for value in values)
    return red, green, blue


def _optional_int(value: int | None) -> int | None:
    return None if value is None else int(value)


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


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

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> ClassStats:
        return cls(
            id=int(document["id"]),
            name=str(document["name"]),
            pixels=int(document["pixels"]),
            pixel_share=float(document["pixel_share"]),
            images=int(document["images"]),
            instances=_optional_int(document["instances"]),
            mean_instance_area=_optional_float(document["mean_instance_area"]),
            min_instance_area=_optional_int(document["min_instance_area"]),
        )


@dataclass(frozen=True)
class PixelCounts:
    """Mask pixels of a set of images: those that are 255 (ignore), and all of them."""

    ignore_pixels: int
    total_pixels: int

    def to_dict(self) -> dict[str, int]:
        return {"ignore_pixels": self.ignore_pixels, "total_pixels": self.total_pixels}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> PixelCounts:
        return cls(int(document["ignore_pixels"]), int(document["total_pixels"]))


@dataclass(frozen=True)
class DatasetStats:
    """Everything :func:`compute_stats` measured; :meth:`to_dict` gives the JSON schema and
    :meth:`from_dict` reads it back."""

    dataset: str
    split: str | None
    images: ImageStats
    classes: tuple[ClassStats, ...]
    ignore_pixel_share: float
    background_pixel_share: float
    ignore_pixels: int
    total_pixels: int
    splits: dict[str, dict[str, int]]
    split_pixels: dict[str, PixelCounts]
    class_weights: ClassWeights
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
            "ignore_pixels": self.ignore_pixels,
            "total_pixels": self.total_pixels,
            "splits": {name: dict(counts) for name, counts in self.splits.items()},
            "split_pixels": {name: counts.to_dict() for name, counts in self.split_pixels.items()},
            "class_weights": self.class_weights.to_dict(),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> DatasetStats:
        """The statistics of a :meth:`to_dict` document (from this or a later annotool of
        the same schema version); raises KeyError, TypeError or ValueError for others."""
        if document.get("kind") != "dataset" or document.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(
                f'expected "kind": "dataset" and "schema_version": {SCHEMA_VERSION}, got '
                f"{document.get('kind')!r} and {document.get('schema_version')!r}"
            )
        split = document["split"]
        return cls(
            dataset=str(document["dataset"]),
            split=None if split is None else str(split),
            images=ImageStats.from_dict(document["images"]),
            classes=tuple(ClassStats.from_dict(item) for item in document["classes"]),
            ignore_pixel_share=float(document["ignore_pixel_share"]),
            background_pixel_share=float(document["background_pixel_share"]),
            ignore_pixels=int(document["ignore_pixels"]),
            total_pixels=int(document["total_pixels"]),
            splits={
                str(name): {str(label): int(count) for label, count in counts.items()}
                for name, counts in document["splits"].items()
            },
            split_pixels={
                str(name): PixelCounts.from_dict(counts)
                for name, counts in document["split_pixels"].items()
            },
            class_weights=ClassWeights.from_dict(document["class_weights"]),
            warnings=tuple(str(warning) for warning in document["warnings"]),
        )


def stats_to_json(stats: DatasetStats | LabelmeStats) -> str:
    """The statistics as JSON text (indented, keys in schema order, newline at the end)."""
    return json.dumps(stats.to_dict(), indent=2, ensure_ascii=False) + "\n"


def write_stats_json(stats: DatasetStats | LabelmeStats, path: Path) -> None:
    """Write :func:`stats_to_json` to ``path`` atomically."""
    atomic_write_text(Path(path), stats_to_json(stats))


def _read_json(path: Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path} does not exist; write it with 'annotool stats --json'")
    try:
        return json.loads(read_utf8(path, DatasetError))
    except ValueError as error:
        raise DatasetError(f"{path} is not JSON: {error}") from None


def read_stats_json(path: Path) -> DatasetStats:
    """The statistics in a file written by ``annotool stats --json`` on a dataset.

    Raises DatasetError naming the file when it is missing, not JSON, or not such a file.
    """
    document = _read_json(path)
    try:
        return DatasetStats.from_dict(document)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise DatasetError(
            f"{path} is not the 'annotool stats --json' file of a dataset "
            f"({type(error).__name__}: {error})"
        ) from None


def read_class_weights(path: Path, method: str = "median_frequency") -> tuple[float, ...]:
    """One list of ``class_weights`` (``median_frequency`` or ``inverse_frequency``) from a
    file written by ``annotool stats --json``.

    Only that list is read, so a file trimmed to it serves too. Raises DatasetError naming
    the file when it is missing or holds no such list.
    """
    document = _read_json(path)
    try:
        return weight_list(document["class_weights"], method)
    except (KeyError, TypeError, ValueError) as error:
        raise DatasetError(
            f"{path} is not an 'annotool stats --json' file with class_weights.{method} "
            f"({type(error).__name__}: {error})"
        ) from None
