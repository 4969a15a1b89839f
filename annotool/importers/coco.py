"""Importing a COCO instance-segmentation file into labelme JSON, one document per image.

Reads what others write: labelme's own ``labelme2coco.py`` example (category 0
``_background_``, ``file_name`` like ``JPEGImages/x.jpg``), pycocotools, Detectron2, CVAT
and ``annotool export coco``. Every annotation becomes shapes labelled with its
category's name, in the file's order (labelme paints later shapes over earlier ones):

- polygons as they are, one shape each; the parts of one annotation share a
  ``group_id``, so ``annotool convert`` counts them as one instance;
- RLE (``iscrowd`` regions, masks) traced into polygons with the mask-to-polygon code of
  ``masks-to-labelme``, holes as later ``_background_`` polygons, or one lossless
  ``mask`` shape per annotation with ``shape_type="mask"`` (also where a hole would erase
  an earlier annotation's pixels);
- an annotation without segmentation (detection) as a rectangle from its ``bbox``.

Crowd regions keep their category (COCO's meaning: many objects of that category), or
become ``__ignore__`` (what ``export coco`` writes them for: one region repeated for each
category is imported once), or are left out; by default they are ``__ignore__`` in a file
``annotool export coco`` wrote and keep their category in any other.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal

import numpy as np

from annotool.errors import AnnotoolError, ForeignFormatError, Problem
from annotool.export.coco import DESCRIPTION as EXPORT_DESCRIPTION
from annotool.fileio import read_utf8
from annotool.images import ImageSource, read_header
from annotool.importers.documents import (
    ImportedImage,
    ImportResult,
    WriteOptions,
    class_list,
    finish_import,
)
from annotool.importers.rle import PaintedPixels, decode_rle, rle_shapes
from annotool.labelme_write import ShapeOptions, new_shape
from annotool.labels import IGNORE_LABEL
from annotool.progress import ProgressCallback

CrowdMode = Literal["auto", "keep", "ignore", "drop"]
CROWD_MODES: tuple[CrowdMode, ...] = ("auto", "keep", "ignore", "drop")
_ROOT_SAMPLE = 50
"""Images whose files are looked up in each candidate image folder to pick one."""


@dataclass(frozen=True)
class CocoImportOptions:
    """``images``: the folder ``file_name`` is relative to (None: the annotation file's
    folder, its parent, or ``images/`` in either, whichever holds the images); ``crowd``:
    what crowd regions become (``auto``: ``ignore`` in a file ``annotool export coco``
    wrote, whose crowd regions are ignored pixels, else ``keep``); ``shapes``: how RLE
    masks become shapes."""

    images: Path | None = None
    crowd: CrowdMode = "auto"
    shapes: ShapeOptions = field(default_factory=ShapeOptions)


@dataclass(frozen=True)
class CocoImage:
    """One entry of ``images``: the size is None where the file leaves it out."""

    image_id: int
    file_name: str
    height: int | None
    width: int | None

    @property
    def entry(self) -> str:
        return f"image id {self.image_id} ({self.file_name})"


class _Invalid(Exception):
    """Entries of the file are invalid; each of ``messages`` says which and why."""

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class CocoFile:
    """A COCO file read and checked as a whole: categories (id -> name, by id), images
    (by id, in file order), each image's annotations (in file order, with the name
    messages give them), and the problems of entries no image can be blamed for."""

    path: Path
    categories: dict[int, str]
    images: dict[int, CocoImage]
    annotations: dict[int, list[tuple[str, dict[str, Any]]]]
    problems: tuple[Problem, ...]
    exported_by_annotool: bool = False


def read_coco(annotations_path: Path) -> CocoFile:
    """Read the COCO file at ``annotations_path`` once (a large file takes seconds).

    Raises ForeignFormatError when it cannot be read as COCO at all: not JSON, no
    ``images`` list, duplicate image or category ids, a category without a name.
    """
    path = Path(annotations_path)
    document = _load(path)
    categories = _categories(path, document)
    images, problems = _images(path, document)
    annotations, annotation_problems = _annotations_by_image(path, document, images)
    info = document.get("info")
    exported = isinstance(info, dict) and info.get("description") == EXPORT_DESCRIPTION
    problems += annotation_problems
    return CocoFile(path, categories, images, annotations, tuple(problems), exported)


def import_coco(
    source: CocoFile | Path,
    out_dir: Path,
    options: CocoImportOptions = CocoImportOptions(),
    write: WriteOptions | None = None,
    progress: ProgressCallback | None = None,
) -> ImportResult:
    """Write one labelme JSON per image of the COCO file ``source`` (read, or a path to
    read) into ``out_dir`` (see :func:`~annotool.importers.documents.finish_import`).

    Raises ForeignFormatError when the file cannot be read as COCO at all, and
    InvalidInputError listing every invalid image or annotation (by id) otherwise.
    """
    coco = source if isinstance(source, CocoFile) else read_coco(source)
    if options.crowd == "auto":
        crowd: CrowdMode = "ignore" if coco.exported_by_annotool else "keep"
        options = dataclasses.replace(options, crowd=crowd)
    problems = list(coco.problems)
    root = options.images or _image_root(coco.path, coco.images.values())
    imported = []
    for image_id, image in coco.images.items():
        try:
            annotations = coco.annotations.get(image_id, [])
            imported.append(_import_image(image, annotations, coco.categories, root, options))
        except _Invalid as error:
            problems += [
                Problem(coco.path, f"{image.entry}: {message}") for message in error.messages
            ]
        if progress is not None:
            progress(1)
    class_names = class_list(list(coco.categories.values()), str(coco.path))
    result = finish_import(
        imported, problems, class_names, coco.path, out_dir, write or WriteOptions()
    )
    if options.shapes.shape_type == "polygon":
        masks = sum(shape["shape_type"] == "mask" for image in imported for shape in image.shapes)
        if masks:
            result.warnings.append(
                f"{masks} RLE regions were written as mask shapes, not polygons: a hole of "
                "theirs would have erased an earlier annotation lying in it"
            )
    return result


def _load(path: Path) -> dict[str, Any]:
    text = read_utf8(path, ForeignFormatError)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ForeignFormatError(
            f"{path} is not valid JSON: {error.msg} at line {error.lineno} column "
            f"{error.colno}; is it a COCO annotation file?"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise ForeignFormatError(
            f"{path} is not a COCO annotation file: it has no 'images' list "
            "(a COCO file is an object with 'images', 'annotations' and 'categories')"
        )
    return document


def _categories(path: Path, document: dict[str, Any]) -> dict[int, str]:
    """Category id -> name, in the file's order of ids."""
    raw = document.get("categories", [])
    if not isinstance(raw, list):
        raise ForeignFormatError(f"{path}: 'categories' must be a list")
    categories: dict[int, str] = {}
    for index, category in enumerate(raw):
        where = f"{path}: categories[{index}]"
        if not isinstance(category, dict) or not _is_int(category.get("id")):
            raise ForeignFormatError(f"{where} has no integer 'id'")
        name = category.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ForeignFormatError(f"{where} (id {category['id']}) has no 'name'")
        if category["id"] in categories:
            raise ForeignFormatError(
                f"{where}: category id {category['id']} is used twice "
                f"({categories[category['id']]!r} and {name!r}); ids must be unique"
            )
        categories[category["id"]] = name.strip()
    return dict(sorted(categories.items()))


def _images(path: Path, document: dict[str, Any]) -> tuple[dict[int, CocoImage], list[Problem]]:
    images: dict[int, CocoImage] = {}
    problems = []
    for index, raw in enumerate(document["images"]):
        if not isinstance(raw, dict) or not _is_int(raw.get("id")):
            problems.append(Problem(path, f"images[{index}] has no integer 'id'"))
            continue
        image_id = raw["id"]
        file_name = raw.get("file_name")
        if not isinstance(file_name, str) or not file_name:
            problems.append(Problem(path, f"image id {image_id} has no 'file_name'"))
            continue
        if image_id in images:
            raise ForeignFormatError(
                f"{path}: image id {image_id} is used twice ({images[image_id].file_name} "
                f"and {file_name}); image ids must be unique"
            )
        sizes = [raw.get(key) for key in ("height", "width")]
        if any(size is not None and (not _is_int(size) or size <= 0) for size in sizes):
            problems.append(
                Problem(
                    path,
                    f"image id {image_id} ({file_name}): height and width must be "
                    f"positive integers, not {sizes[0]!r} and {sizes[1]!r}",
                )
            )
            continue
        images[image_id] = CocoImage(image_id, file_name, sizes[0], sizes[1])
    return images, problems


def _annotations_by_image(
    path: Path, document: dict[str, Any], images: dict[int, CocoImage]
) -> tuple[dict[int, list[tuple[str, dict[str, Any]]]], list[Problem]]:
    """Each image's annotations in file order, with the name messages give them."""
    raw = document.get("annotations", [])
    if not isinstance(raw, list):
        raise ForeignFormatError(f"{path}: 'annotations' must be a list")
    by_image: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    problems = []
    for index, annotation in enumerate(raw):
        if not isinstance(annotation, dict):
            problems.append(Problem(path, f"annotations[{index}] is not an object"))
            continue
        name = (
            f"annotation id {annotation['id']}"
            if _is_int(annotation.get("id"))
            else f"annotations[{index}]"
        )
        image_id = annotation.get("image_id")
        if image_id not in images or not _is_int(image_id):
            problems.append(
                Problem(
                    path,
                    f"{name}: image_id {image_id!r} is not the id of an image in "
                    "'images'; fix the image_id or add the image",
                )
            )
            continue
        by_image.setdefault(image_id, []).append((name, annotation))
    return by_image, problems


def _image_root(path: Path, images: Any) -> Path:
    """The folder, of those a COCO file's images are usually kept in, that holds most of
    a sample of its images (the annotation file's folder when none holds any)."""
    folder = path.absolute().parent
    candidates = list(
        dict.fromkeys([folder, folder.parent, folder / "images", folder.parent / "images"])
    )
    listed = list(images)
    sample = listed[:: max(1, len(listed) // _ROOT_SAMPLE)]
    found = [sum(_image_file(root, image).is_file() for image in sample) for root in candidates]
    return candidates[int(np.argmax(found))] if max(found, default=0) > 0 else candidates[0]


def _image_file(root: Path, image: CocoImage) -> Path:
    relative = PureWindowsPath(image.file_name).as_posix()
    return Path(relative) if PurePosixPath(relative).is_absolute() else root / relative


def _import_image(
    image: CocoImage,
    annotations: Sequence[tuple[str, dict[str, Any]]],
    categories: dict[int, str],
    root: Path,
    options: CocoImportOptions,
) -> ImportedImage:
    """The document of one image; _Invalid with every problem of the image and of each
    of its annotations (those are checked against the file's size when the image is
    missing)."""
    messages = []
    file = _image_file(root, image)
    try:
        height, width = _image_size(file, image)
    except _Invalid as error:
        messages.append(str(error))
        if image.height is None or image.width is None:
            raise _Invalid(*messages) from None
        height, width = image.height, image.width
    canvas = PaintedPixels(height, width)
    shapes: list[dict[str, Any]] = []
    groups = 0
    ignored: set[str] = set()
    for name, annotation in annotations:
        if annotation.get("iscrowd") and options.crowd == "ignore":
            # One region ignored for several categories (as export coco writes it) once.
            key = json.dumps(annotation.get("segmentation"), sort_keys=True)
            if key in ignored:
                continue
            ignored.add(key)
        try:
            added = _annotation_shapes(annotation, categories, canvas, groups + 1, options)
        except _Invalid as error:
            messages.append(f"{name}: {error}")
            continue
        groups += any(shape["group_id"] is not None for shape in added)
        shapes += added
    if messages:
        raise _Invalid(*messages)
    return ImportedImage(image.entry, file, height, width, tuple(shapes))


def _image_size(file: Path, image: CocoImage) -> tuple[int, int]:
    """``(height, width)`` of the image file as labelme shows it, checked against the
    file's ``height`` and ``width``."""
    if not file.is_file():
        raise _Invalid(
            f"the image {file} does not exist; pass --images with the folder that "
            f"file_name {image.file_name!r} is relative to"
        )
    try:
        header = read_header(ImageSource.file(file))
    except AnnotoolError as error:
        raise _Invalid(str(error)) from None
    height, width = header.height, header.width
    if (image.height, image.width) not in ((height, width), (None, None)):
        turned = header.orientation != 1 and (image.height, image.width) == (width, height)
        why = (
            f" (its EXIF orientation {header.orientation} turns it: the annotations were "
            "made on the image as stored, which labelme does not show)"
            if turned
            else ""
        )
        raise _Invalid(
            f"the file says {image.width}x{image.height}, but the image {file} is "
            f"{width}x{height} as labelme shows it{why}; fix height and width in the file"
        )
    return height, width


def _annotation_shapes(
    annotation: dict[str, Any],
    categories: dict[int, str],
    canvas: PaintedPixels,
    group_id: int,
    options: CocoImportOptions,
) -> list[dict[str, Any]]:
    category_id = annotation.get("category_id")
    if category_id not in categories or not _is_int(category_id):
        raise _Invalid(f"category_id {category_id!r} is not the id of a category in 'categories'")
    label = categories[category_id]
    if annotation.get("iscrowd"):
        if options.crowd == "drop":
            return []
        if options.crowd == "ignore":
            label = IGNORE_LABEL
    segmentation = annotation.get("segmentation")
    if isinstance(segmentation, dict):
        try:
            pixels = decode_rle(segmentation, canvas.height, canvas.width)
        except ValueError as error:
            raise _Invalid(str(error)) from None
        shapes = rle_shapes(label, pixels, canvas, group_id, options.shapes)
        return canvas.add_pixels(shapes, pixels)
    if isinstance(segmentation, list) and segmentation:
        polygons = [segmentation] if _is_number(segmentation[0]) else segmentation
        shared = group_id if len(polygons) > 1 else None
        shapes = [
            new_shape(label, _polygon_points(polygon, index), "polygon", shared)
            for index, polygon in enumerate(polygons)
        ]
        return canvas.add(shapes)
    if segmentation not in (None, []):
        raise _Invalid(
            "segmentation must be a list of polygons or an RLE object "
            f"{{'size', 'counts'}}, not {json.dumps(segmentation)[:40]}"
        )
    return canvas.add([_bbox_rectangle(annotation.get("bbox"), label)])


def _polygon_points(polygon: object, index: int) -> list[list[float]]:
    if not isinstance(polygon, list) or not all(_is_number(value) for value in polygon):
        raise _Invalid(f"segmentation polygon {index} is not a list of numbers")
    if len(polygon) % 2:
        raise _Invalid(f"segmentation polygon {index} has an odd number of coordinates")
    if len(polygon) < 6:
        raise _Invalid(
            f"segmentation polygon {index} has {len(polygon) // 2} points; a polygon needs "
            "at least 3 (fix or delete the annotation)"
        )
    if not all(math.isfinite(value) for value in polygon):
        raise _Invalid(f"segmentation polygon {index} has coordinates that are not finite")
    return [[float(x), float(y)] for x, y in zip(polygon[::2], polygon[1::2], strict=True)]


def _bbox_rectangle(bbox: object, label: str) -> dict[str, Any]:
    if (
        not isinstance(bbox, list)
        or len(bbox) != 4
        or not all(_is_number(value) and math.isfinite(value) for value in bbox)
        or bbox[2] <= 0
        or bbox[3] <= 0
    ):
        raise _Invalid(
            "no segmentation and no bbox [x, y, width, height] with a positive width "
            f"and height (bbox is {json.dumps(bbox)[:40]})"
        )
    x, y, width, height = (float(value) for value in bbox)
    return new_shape(label, [[x, y], [x + width, y + height]], "rectangle")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
