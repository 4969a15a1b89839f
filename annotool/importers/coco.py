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

Crowd regions keep their category by default (COCO's meaning: many objects of that
category), or become ``__ignore__`` (``crowd="ignore"``, what ``export coco`` writes for
ignored pixels) or are left out (``crowd="drop"``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pycocotools import mask as coco_mask

from annotool.errors import AnnotoolError, ForeignFormatError, Problem
from annotool.fileio import read_utf8
from annotool.images import ImageSource, read_header
from annotool.importers.documents import (
    ImportedImage,
    ImportResult,
    WriteOptions,
    class_list,
    finish_import,
)
from annotool.labelme import Shape
from annotool.labelme_write import ShapeOptions, mask_shape, new_shape
from annotool.labels import BACKGROUND_LABEL, IGNORE_LABEL
from annotool.polygons import BACKGROUND_ID, trace_regions
from annotool.progress import ProgressCallback
from annotool.rasterize import shape_mask

CrowdMode = Literal["keep", "ignore", "drop"]
CROWD_MODES: tuple[CrowdMode, ...] = ("keep", "ignore", "drop")
_ROOT_SAMPLE = 50
"""Images whose files are looked up in each candidate image folder to pick one."""


@dataclass(frozen=True)
class CocoImportOptions:
    """``images``: the folder ``file_name`` is relative to (None: the annotation file's
    folder, its parent, or ``images/`` in either, whichever holds the images); ``crowd``:
    what crowd regions become; ``shapes``: how RLE masks become shapes."""

    images: Path | None = None
    crowd: CrowdMode = "keep"
    shapes: ShapeOptions = field(default_factory=ShapeOptions)


@dataclass(frozen=True)
class _CocoImage:
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
    images: dict[int, _CocoImage]
    annotations: dict[int, list[tuple[str, dict[str, Any]]]]
    problems: tuple[Problem, ...]


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
    return CocoFile(path, categories, images, annotations, (*problems, *annotation_problems))


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


def _images(path: Path, document: dict[str, Any]) -> tuple[dict[int, _CocoImage], list[Problem]]:
    images: dict[int, _CocoImage] = {}
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
        images[image_id] = _CocoImage(image_id, file_name, sizes[0], sizes[1])
    return images, problems


def _annotations_by_image(
    path: Path, document: dict[str, Any], images: dict[int, _CocoImage]
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


def _image_file(root: Path, image: _CocoImage) -> Path:
    relative = PureWindowsPath(image.file_name).as_posix()
    return Path(relative) if PurePosixPath(relative).is_absolute() else root / relative


def _import_image(
    image: _CocoImage,
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
    canvas = _Canvas(height, width)
    shapes: list[dict[str, Any]] = []
    groups = 0
    for name, annotation in annotations:
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


def _image_size(file: Path, image: _CocoImage) -> tuple[int, int]:
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
    canvas: _Canvas,
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
        pixels = _decode_rle(segmentation, canvas.height, canvas.width)
        shapes = _mask_shapes(label, pixels, canvas, group_id, options.shapes)
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


def _decode_rle(rle: dict[str, Any], height: int, width: int) -> NDArray[np.bool_]:
    """The ``(H, W)`` bool pixels of a COCO RLE, compressed (``counts`` text) or not (a
    list of run lengths). The run lengths are checked first: pycocotools decodes counts
    that do not add up to the image without complaint, into garbage."""
    size, counts = rle.get("size"), rle.get("counts")
    if not isinstance(size, list) or len(size) != 2 or not isinstance(counts, str | list):
        raise _Invalid("the RLE segmentation needs 'size' [height, width] and 'counts'")
    if size != [height, width]:
        raise _Invalid(f"the RLE segmentation's size is {size}, but the image is {[height, width]}")
    runs = run_lengths(counts) if isinstance(counts, str) else counts
    if (
        runs is None
        or not all(_is_int(run) and run >= 0 for run in runs)
        or sum(runs) != height * width
    ):
        raise _Invalid(
            f"the RLE segmentation's counts do not describe the {width}x{height} pixels of "
            "the image (their run lengths must add up to height x width)"
        )
    encoded = coco_mask.frPyObjects({"size": size, "counts": list(runs)}, height, width)
    return coco_mask.decode(encoded).astype(bool)


def run_lengths(counts: str) -> list[int] | None:
    """The run lengths of COCO's compressed RLE text (None when it is malformed): each
    number in 5-bit groups, a character ``48 + group`` with 0x20 meaning "more follows",
    the last group's 0x10 the sign; from the third number on, a difference to the number
    two before."""
    runs: list[int] = []
    position = 0
    while position < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(counts):
                return None
            group = ord(counts[position]) - 48
            if not 0 <= group < 64:
                return None
            value |= (group & 0x1F) << shift
            more = bool(group & 0x20)
            position += 1
            shift += 5
            if not more and group & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def _mask_shapes(
    label: str, pixels: NDArray[np.bool_], canvas: _Canvas, group_id: int, options: ShapeOptions
) -> list[dict[str, Any]]:
    """The shapes of one RLE annotation's ``(H, W)`` bool pixels: traced polygons (holes
    as later ``_background_`` polygons, the parts sharing ``group_id``), or one mask shape
    when asked for, or when a hole would erase pixels of an earlier annotation."""
    if not pixels.any():
        return []
    if options.shape_type == "polygon":
        regions = trace_regions(pixels.astype(np.uint8), options.trace)
        parts = [region for region in regions if region.class_id != BACKGROUND_ID]
        holes = np.zeros_like(pixels)
        for region in regions:
            if region.class_id == BACKGROUND_ID:
                top, bottom, left, right = region.box
                holes[top:bottom, left:right] |= region.filled
        if not (holes & canvas.covered()).any():
            shared = group_id if len(parts) > 1 else None
            return [
                new_shape(
                    label if region.class_id != BACKGROUND_ID else BACKGROUND_LABEL,
                    region.points.tolist(),
                    "polygon",
                    shared if region.class_id != BACKGROUND_ID else None,
                )
                for region in regions
            ]
    rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
    patch = pixels[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return [mask_shape(label, patch, (int(rows[0]), int(cols[0])))]


class _Canvas:
    """The pixels the shapes of one image paint so far (whatever their label), drawn only
    when asked for: most images never need them."""

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width
        self._items: list[dict[str, Any] | NDArray[np.bool_]] = []
        self._covered = np.zeros((height, width), dtype=bool)
        self._drawn = 0

    def add(self, shapes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Remember polygon and rectangle ``shapes``, in paint order; return them."""
        self._items += shapes
        return shapes

    def add_pixels(
        self, shapes: list[dict[str, Any]], pixels: NDArray[np.bool_]
    ) -> list[dict[str, Any]]:
        """Remember the ``(H, W)`` bool pixels of an RLE annotation; return its ``shapes``."""
        if shapes:
            self._items.append(pixels)
        return shapes

    def covered(self) -> NDArray[np.bool_]:
        """``(H, W)`` bool: the pixels painted so far."""
        for item in self._items[self._drawn :]:
            if isinstance(item, np.ndarray):
                self._covered |= item
                continue
            points = np.array(item["points"], dtype=np.float64)
            shape = Shape(0, item["label"], item["shape_type"], points, None)
            drawn = shape_mask(shape, self.height, self.width)
            if item["label"] == BACKGROUND_LABEL:  # a hole: it erases what lies under it
                self._covered &= ~drawn
            else:
                self._covered |= drawn
        self._drawn = len(self._items)
        return self._covered


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
