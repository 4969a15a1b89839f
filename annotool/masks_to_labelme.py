"""Existing class masks (from another tool or an older project) to labelme JSON documents.

Masks are ``<stem>.png`` files holding class ids: palettized or greyscale PNGs, or RGB
colour masks in the VOC colour map (the colours ``annotool convert`` and labelme write),
which are mapped back to class ids. Each mask is paired with the image of the same stem
and becomes ``OUT_DIR/<stem>.json`` whose ``imagePath`` points at that image.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from annotool.errors import AnnotationError, AnnotoolError, DatasetError
from annotool.images import ImageSource, read_header
from annotool.labelme_write import (
    ShapeOptions,
    WriteReport,
    new_document,
    shapes_from_mask,
    shapes_from_objects,
    write_document,
)
from annotool.labels import LabelSet, voc_colormap
from annotool.masks import check_class_ids, check_mask_size
from annotool.parallel import map_in_order
from annotool.progress import ProgressCallback
from annotool.voc import IMAGE_SUFFIXES, read_label_png

_COLOUR_MODES = ("RGB", "RGBA", "RGBX")
_SHOWN_COLOURS = 5


@dataclass(frozen=True)
class MaskPair:
    """A mask and the image it belongs to (None when no image has the mask's stem), and
    the instance mask of the same image (``SegmentationObject``) when objects are wanted."""

    mask: Path
    image: Path | None
    objects: Path | None = None


def find_mask_pairs(mask_dir: Path, image_dir: Path) -> list[MaskPair]:
    """Every ``*.png`` in ``mask_dir`` (sorted) with the image of the same stem in
    ``image_dir`` (any image suffix, any case). Raises DatasetError when there is no mask."""
    mask_dir, image_dir = Path(mask_dir), Path(image_dir)
    masks = sorted(
        path for path in mask_dir.iterdir() if path.is_file() and path.suffix.lower() == ".png"
    )
    if not masks:
        raise DatasetError(f"{mask_dir} holds no .png masks")
    images: dict[str, Path] = {}
    for path in sorted(image_dir.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            images.setdefault(path.stem, path)
    return [MaskPair(mask, images.get(mask.stem)) for mask in masks]


def read_class_mask(path: Path) -> NDArray[np.uint8]:
    """The class ids of a mask as ``(H, W)`` uint8 (255 = ignore).

    Palettized and greyscale masks hold the ids; an RGB colour mask is mapped through the
    VOC colour map. Raises DatasetError naming the file, and any colour not in the map.
    """
    try:
        with Image.open(path) as image:
            mode = image.mode
            colours = np.asarray(image.convert("RGB")) if mode in _COLOUR_MODES else None
    except OSError as error:
        raise DatasetError(f"cannot read mask {path}: {error}") from None
    if colours is None:
        return read_label_png(path)
    return _colours_to_ids(path, colours)


def _colours_to_ids(path: Path, colours: NDArray[np.uint8]) -> NDArray[np.uint8]:
    packed = _pack(colours.reshape(-1, 3)).reshape(colours.shape[:2])
    palette = _pack(voc_colormap())
    order = np.argsort(palette)
    found = np.searchsorted(palette[order], packed).clip(0, len(palette) - 1)
    ids = order[found]
    unknown = palette[ids] != packed
    if unknown.any():
        values = np.unique(packed[unknown])
        shown = ", ".join(
            f"({value >> 16}, {(value >> 8) & 255}, {value & 255})"
            for value in values[:_SHOWN_COLOURS].tolist()
        )
        more = f" and {len(values) - _SHOWN_COLOURS} more" if len(values) > _SHOWN_COLOURS else ""
        raise DatasetError(
            f"{path} is an RGB mask with colours that are not in the VOC colour map: "
            f"{shown}{more}; save the mask with class ids (palettized or greyscale PNG)"
        )
    return ids.astype(np.uint8)


def _pack(colours: NDArray[np.uint8]) -> NDArray[np.int64]:
    rgb = colours.astype(np.int64)
    return (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]


def convert_mask(
    pair: MaskPair, json_path: Path, class_names: Sequence[str], options: ShapeOptions
) -> Path:
    """Write the labelme document of one mask to ``json_path``; return ``json_path``.

    Raises an AnnotoolError naming the file for a missing or unreadable image or mask,
    a size that differs from the image's, or class ids beyond ``class_names``.
    """
    if pair.image is None:
        raise DatasetError(
            f"{pair.mask}: no image named {pair.mask.stem} with a suffix of "
            f"{', '.join(IMAGE_SUFFIXES)} in the image folder"
        )
    mask = read_class_mask(pair.mask)
    check_class_ids(mask, pair.mask, len(class_names), source="--labels")
    header = read_header(ImageSource.file(pair.image))
    height, width = header.height, header.width
    check_mask_size(mask.shape, pair.mask, (height, width), pair.image)
    if pair.objects is None:
        shapes = shapes_from_mask(mask, class_names, options)
    else:
        objects = read_label_png(pair.objects)
        check_mask_size(objects.shape, pair.objects, (height, width), pair.image)
        try:
            shapes = shapes_from_objects(mask, objects, class_names, options)
        except AnnotationError as error:
            raise AnnotationError(f"{pair.objects}: {error}") from None
    write_document(json_path, new_document(shapes, json_path, pair.image, height, width))
    return json_path


def masks_to_labelme(
    pairs: Sequence[MaskPair],
    out_dir: Path,
    labels: LabelSet,
    options: ShapeOptions,
    overwrite: bool = False,
    workers: int = 1,
    progress: ProgressCallback | None = None,
) -> WriteReport:
    """Convert each mask to ``out_dir/<stem>.json``; one that fails does not stop the rest.

    An existing JSON is left alone (listed in ``skipped``) unless ``overwrite``.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DatasetError(f"{out_dir} exists and is not a directory; choose another OUT_DIR")
    report = WriteReport()
    todo = []
    for pair in pairs:
        json_path = out_dir / f"{pair.mask.stem}.json"
        if json_path.exists() and not overwrite:
            report.skipped.append(pair.mask)
        else:
            todo.append((pair, json_path))
    if progress is not None and report.skipped:
        progress(len(report.skipped))
    convert = functools.partial(_convert_one, class_names=labels.class_names, options=options)
    for (pair, _), (written, failure) in zip(
        todo, map_in_order(convert, todo, workers=workers, progress=progress), strict=True
    ):
        if failure is None:
            report.written.append(written)
        else:
            report.failed.append((pair.mask, failure))
    return report


def _convert_one(
    item: tuple[MaskPair, Path], class_names: Sequence[str], options: ShapeOptions
) -> tuple[Path, str | None]:
    pair, json_path = item
    try:
        return convert_mask(pair, json_path, class_names, options), None
    except AnnotoolError as error:
        return json_path, str(error)
