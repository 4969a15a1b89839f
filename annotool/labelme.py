"""Reading labelme annotation files and their images, checking everything that can be wrong.

annotool reads labelme's JSON format with its own code (labelme itself is a GUI app, not
a library). The semantics follow labelme 7.x: a missing ``shape_type`` means polygon,
``imagePath`` is relative to the JSON file (Windows backslashes accepted), ``imageData``
wins over ``imagePath``, and an image file is shown to the annotator EXIF-oriented, so the
shapes' coordinates live in that oriented frame.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from annotool.errors import AnnotationError, ImageError, Problem
from annotool.images import (
    IMAGE_ERRORS,
    DecodedImage,
    ImageHeader,
    ImageSource,
    decode,
    decode_base64,
    decode_image,
    labelme_image_source,
    open_encoded,
    read_header,
)
from annotool.images import copyable_jpeg as copyable_source_jpeg
from annotool.labelmap import LabelMap
from annotool.labels import LabelSet
from annotool.manifest import FileStamp, read_stamped

SHAPE_TYPES: dict[str, int] = {
    "polygon": 3,
    "rectangle": 2,
    "circle": 2,
    "line": 2,
    "linestrip": 2,
    "point": 1,
    "oriented_rectangle": 4,
    "mask": 2,
}
"""Every shape type labelme writes, with the least number of points it needs."""

EXACT_POINT_COUNTS: dict[str, int] = {
    "rectangle": 2,
    "circle": 2,
    "line": 2,
    "point": 1,
    "oriented_rectangle": 4,
    "mask": 2,
}
"""Shape types whose number of points is fixed; the others take any number from the minimum."""

MAX_COORDINATE = 100_000.0
"""Largest ``|x|`` or ``|y|`` accepted. labelme keeps points on the image; far beyond it
Pillow misdraws shapes (integer overflow) or, for circles, never finishes drawing."""

_JSON_NUMBERS = (int, float)
"""The exact types of JSON numbers as ``json`` parses them (``bool`` is a type of its own)."""

Decoded = TypeVar("Decoded")

_ProblemFactory = Callable[[str], Problem]
"""Makes a Problem located at the shape being parsed."""


@dataclass(frozen=True)
class Shape:
    """One labelme shape.

    ``points`` is ``(N, 2)`` float64 ``x, y`` in image pixels; ``mask`` is the decoded
    ``(h, w)`` patch of a ``mask`` shape (None for other types). ``label`` is the label
    after the label map; ``mapped_from`` the label in the file when the map changed it.
    """

    index: int
    label: str
    shape_type: str
    points: NDArray[np.float64]
    group_id: int | None
    mask: NDArray[np.bool_] | None = None
    mapped_from: str | None = None

    @property
    def source_label(self) -> str:
        """The label as written in the file. Instances are keyed on it, so that two objects
        the annotator kept apart stay apart when a label map merges their labels."""
        return self.label if self.mapped_from is None else self.mapped_from


@dataclass(frozen=True)
class Annotation:
    """One labelme JSON file.

    ``image_height``/``image_width`` are the JSON's ``imageHeight``/``imageWidth`` (None if
    absent); ``image_header`` is what the image's header says (its size in the frame the
    annotator saw, see ``image_size``), when read_annotation could read it (else None).
    ``labels_in_file`` is every text label of the file's shapes as written, before the
    label map, valid shapes, invalid ones and dropped ones alike. ``json_stamp`` is the
    stamp of the JSON as read; ``image`` the image file's bytes and ``image_stamp`` their
    stamp when read_annotation was asked to keep them (see ``keep_image``).
    """

    path: Path
    shapes: tuple[Shape, ...]
    image_height: int | None
    image_width: int | None
    image_path: str | None
    image_data: str | None
    image_header: ImageHeader | None = None
    labels_in_file: frozenset[str] = frozenset()
    json_stamp: FileStamp | None = None
    image: ImageSource | None = None
    image_stamp: FileStamp | None = None

    @property
    def image_size(self) -> tuple[int, int] | None:
        """``(height, width)`` of the image as the annotator saw it; None when unread."""
        if self.image_header is None:
            return None
        return self.image_header.height, self.image_header.width

    def image_source(self) -> ImageSource:
        """Where the image comes from (see :func:`annotool.images.labelme_image_source`):
        its bytes in memory when they were kept."""
        if self.image is not None:
            return self.image
        return labelme_image_source(self.path, self.image_path, self.image_data)


def read_annotation(
    json_path: Path,
    labels: LabelSet | None = None,
    label_map: LabelMap | None = None,
    keep_image: bool = False,
) -> tuple[Annotation | None, list[Problem]]:
    """Parse and check one labelme file, collecting every problem instead of raising.

    Checks the JSON itself, every shape (type, points, group id, mask data, and the
    label against ``labels`` when given) and the image (present, readable, its size
    equal to ``imageHeight``/``imageWidth``). Only the image header is read, unless
    ``keep_image``: then the image file is read whole, once, and kept in the annotation
    for whoever writes it (convert, export). ``label_map`` renames each label before it
    is checked; a shape it drops is skipped unchecked, as if it had never been drawn
    (shape indexes stay those of the file).
    Returns the annotation (None when the file is unusable as a whole; otherwise it
    holds the shapes that are valid) and the problems found.
    """
    json_path = Path(json_path)
    document, json_stamp = _read_document(json_path)
    if isinstance(document, Problem):
        return None, [document]
    raw_shapes = cast(list[object], document["shapes"])  # read_labelme_json checked it
    problems: list[Problem] = []
    shapes: list[Shape] = []
    for index, raw_shape in enumerate(raw_shapes):
        shape, shape_problems = _parse_shape(json_path, index, raw_shape, labels, label_map)
        problems.extend(shape_problems)
        if shape is not None:
            shapes.append(shape)
    image_height = _image_dimension(json_path, document, "imageHeight", problems)
    image_width = _image_dimension(json_path, document, "imageWidth", problems)
    image_path = _optional_string(json_path, document, "imagePath", problems)
    image_data = _optional_string(json_path, document, "imageData", problems)
    annotation = Annotation(
        path=json_path,
        shapes=tuple(shapes),
        image_height=image_height,
        image_width=image_width,
        image_path=image_path,
        image_data=image_data,
        labels_in_file=labels_written(raw_shapes),
        json_stamp=json_stamp,
    )
    if keep_image:
        annotation = _with_image_read(annotation)
    header = _check_image(annotation, problems)
    if header is not None:
        annotation = dataclasses.replace(annotation, image_header=header)
    return annotation, problems


def _with_image_read(annotation: Annotation) -> Annotation:
    """``annotation`` holding its image file's bytes and their stamp (read once: header
    checks and writers use these bytes). An image embedded in the JSON, or one that
    cannot be found or read, is left to :func:`_check_image` to use or report."""
    try:
        source = annotation.image_source()
    except AnnotationError:
        return annotation
    if isinstance(source.data, bytes):
        return annotation
    try:
        data, stamp = read_stamped(source.data)
    except OSError:
        return annotation  # _check_image reads it from its path and says what is wrong
    image = ImageSource(data, source.name, source.oriented)
    return dataclasses.replace(annotation, image=image, image_stamp=stamp)


def load_image(annotation: Annotation) -> DecodedImage:
    """Decode the annotation's image to RGB in the frame the annotator saw.

    Raises AnnotationError naming the file when the image is missing or cannot be decoded.
    """
    return _decoded(annotation, decode)


def load_rgb_image(annotation: Annotation) -> Image.Image:
    """:func:`load_image`'s pixels as an RGB Pillow image (see
    :func:`annotool.images.decode_image`), for writers that only encode them again."""
    return _decoded(annotation, decode_image)


def _decoded(annotation: Annotation, decoder: Callable[[ImageSource], Decoded]) -> Decoded:
    source = annotation.image_source()
    try:
        return decoder(source)
    except ImageError as error:
        raise AnnotationError(
            f"{annotation.path}: {error}; re-save the image or annotate it again"
        ) from None


def copyable_jpeg_bytes(annotation: Annotation) -> bytes | None:
    """The image's bytes when they can be copied as the dataset's JPEG, without decoding.

    See :func:`annotool.images.copyable_jpeg`; the header read_annotation parsed is not
    parsed again. Raises AnnotationError when the image is missing or unreadable.
    """
    source = annotation.image_source()
    if annotation.image_header is not None:
        return source.read_bytes() if annotation.image_header.copyable_jpeg else None
    try:
        return copyable_source_jpeg(source)
    except ImageError as error:
        raise AnnotationError(f"{annotation.path}: {error}") from None


def read_labelme_json(json_path: Path) -> dict[str, object] | Problem:
    """The file's top-level JSON object, holding a ``shapes`` list, or the problem that
    prevents reading it as a labelme annotation. Never raises."""
    return _read_document(json_path)[0]


def _read_document(json_path: Path) -> tuple[dict[str, object] | Problem, FileStamp | None]:
    """:func:`read_labelme_json`, and the stamp of the bytes read (None if unreadable)."""
    try:
        raw, stamp = read_stamped(json_path)
    except OSError as error:
        return Problem(json_path, f"cannot read the file: {error.strerror or error}"), None
    return _parse_document(json_path, raw), stamp


def _parse_document(json_path: Path, raw: bytes) -> dict[str, object] | Problem:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return Problem(
            json_path,
            f"not UTF-8 text ({error.reason} at byte {error.start}); labelme writes UTF-8, "
            "re-save the file from labelme",
        )
    if not text.strip():
        return Problem(json_path, "the file is empty; re-save it from labelme or delete it")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        return Problem(json_path, _json_error_message(error, text))
    except RecursionError:
        return Problem(json_path, "invalid JSON: nested too deeply to be a labelme annotation")
    if not isinstance(document, dict):
        return Problem(
            json_path,
            f"not a labelme annotation: the top level is a JSON {_json_type(document)}, "
            "not an object",
        )
    shapes = document.get("shapes")
    if not isinstance(shapes, list):
        what = "has no 'shapes' list" if shapes is None else "has a 'shapes' that is not a list"
        return Problem(
            json_path, f"not a labelme annotation: it {what}; open and save it in labelme"
        )
    return document


def labels_written(raw_shapes: list[object]) -> frozenset[str]:
    """The text labels of a file's ``shapes`` list as written (before any label map)."""
    labels = (shape.get("label") for shape in raw_shapes if isinstance(shape, dict))
    return frozenset(label for label in labels if isinstance(label, str))


def _json_error_message(error: json.JSONDecodeError, text: str) -> str:
    where = f"line {error.lineno} column {error.colno}"
    if not text[error.pos :].strip():
        return (
            f"invalid JSON: the file ends unexpectedly at {where} (truncated?); "
            "re-save it from labelme or restore it from a backup"
        )
    return f"invalid JSON at {where}: {error.msg}; fix the file or re-save it from labelme"


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else type(value).__name__


def _parse_shape(
    json_path: Path,
    index: int,
    raw: object,
    labels: LabelSet | None,
    label_map: LabelMap | None,
) -> tuple[Shape | None, list[Problem]]:
    def problem(message: str) -> Problem:
        return Problem(json_path, message, shape_index=index)

    if not isinstance(raw, dict):
        return None, [problem(f"the shape is a JSON {_json_type(raw)}, not an object")]
    problems: list[Problem] = []
    label = raw.get("label")
    mapped_from = None
    if isinstance(label, str) and label_map is not None:
        new_label = label_map.apply(label)
        if new_label is None:
            return None, []
        if new_label != label:
            label, mapped_from = new_label, label
    if not isinstance(label, str):
        problems.append(
            problem(
                "the shape has no label"
                if label is None
                else f"label must be text, not {_json_type(label)}"
            )
        )
        label = None
    elif labels is not None and label not in labels:
        problems.append(problem(_unknown_label_message(label, labels, mapped_from)))
    shape_type = raw.get("shape_type")
    if shape_type is None:
        shape_type = "polygon"
    elif not isinstance(shape_type, str) or shape_type not in SHAPE_TYPES:
        known = ", ".join(SHAPE_TYPES)
        problems.append(problem(f"unknown shape_type {shape_type!r} (known: {known})"))
        shape_type = None
    points = _parse_points(raw.get("points"), shape_type, problems, problem)
    group_id = raw.get("group_id")
    if group_id is not None and (isinstance(group_id, bool) or not isinstance(group_id, int)):
        problems.append(problem(f"group_id must be an integer or null, not {group_id!r}"))
        group_id = None
    mask = None
    if shape_type == "mask":
        mask = _parse_mask(raw.get("mask"), problems, problem)
    if problems or label is None or shape_type is None or points is None:
        return None, problems
    if shape_type == "mask" and mask is None:
        return None, problems
    return Shape(index, label, shape_type, points, group_id, mask, mapped_from), problems


def _unknown_label_message(label: str, labels: LabelSet, mapped_from: str | None) -> str:
    known_names = list(labels.class_names)
    shown = ", ".join(known_names[:20]) + (", ..." if len(known_names) > 20 else "")
    if mapped_from is not None:
        return (
            f"label {label!r} (the label map's name for {mapped_from!r}) is not in "
            f"{labels.source} (known: {shown}); add it there or change the map entry"
        )
    close = difflib.get_close_matches(label, known_names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; add it to {labels.source} or relabel"
    return f"label {label!r} is not in {labels.source} (known: {shown}){hint}"


def _parse_points(
    raw_points: object,
    shape_type: str | None,
    problems: list[Problem],
    problem: _ProblemFactory,
) -> NDArray[np.float64] | None:
    if not isinstance(raw_points, list):
        what = "has no points" if raw_points is None else "has 'points' that is not a list"
        problems.append(problem(f"the shape {what}"))
        return None
    points = _well_formed_points(raw_points)
    if points is None:
        points = _points_or_problem(raw_points, problems, problem)
        if points is None:
            return None
    if shape_type is not None:
        needed = EXACT_POINT_COUNTS.get(shape_type)
        count = len(points)
        if needed is not None and count != needed:
            problems.append(
                problem(
                    f"shape_type {shape_type} needs exactly {needed} point"
                    f"{'s' if needed > 1 else ''}, but the shape has {count}; redraw it"
                )
            )
            return None
        if count < SHAPE_TYPES[shape_type]:
            problems.append(
                problem(
                    f"shape_type {shape_type} needs at least {SHAPE_TYPES[shape_type]} "
                    f"points, but the shape has {count}; redraw it or delete it"
                )
            )
            return None
    return points


def _well_formed_points(raw_points: list[object]) -> NDArray[np.float64] | None:
    """``(N, 2)`` float64 points when every point is ``[x, y]`` of JSON numbers within
    ``MAX_COORDINATE``; None otherwise (then :func:`_points_or_problem` says what is wrong).

    The common case, checked with exact types (JSON numbers are exactly int or float, and
    ``bool`` is a type of its own): several times faster than checking each value.
    """
    for point in raw_points:
        if type(point) is not list or len(point) != 2:
            return None
        if type(point[0]) not in _JSON_NUMBERS or type(point[1]) not in _JSON_NUMBERS:
            return None
    try:
        points = np.array(raw_points, dtype=np.float64).reshape(-1, 2)
    except OverflowError:  # an integer too large for a float
        return None
    if not np.abs(points).max(initial=0.0) <= MAX_COORDINATE:  # NaN fails too
        return None
    return points


def _points_or_problem(
    raw_points: list[object], problems: list[Problem], problem: _ProblemFactory
) -> NDArray[np.float64] | None:
    """The points, or None with a problem naming the first point that is not ``[x, y]``
    of finite numbers within ``MAX_COORDINATE``."""
    coordinates: list[tuple[float, float]] = []
    for point_index, point in enumerate(raw_points):
        if (
            not isinstance(point, list)
            or len(point) != 2
            or any(isinstance(value, bool) or not isinstance(value, int | float) for value in point)
        ):
            problems.append(
                problem(
                    f"point {point_index} is {json.dumps(point)[:40]}, not a pair of numbers [x, y]"
                )
            )
            return None
        try:
            x, y = float(point[0]), float(point[1])
        except OverflowError:  # an integer too large for a float
            x = y = math.inf
        if not (abs(x) <= MAX_COORDINATE and abs(y) <= MAX_COORDINATE):
            problems.append(
                problem(
                    f"point {point_index} is {json.dumps(point)[:40]}, but coordinates must be "
                    f"finite numbers within ±{MAX_COORDINATE:.0f} pixels; move or redraw the shape"
                )
            )
            return None
        coordinates.append((x, y))
    return np.array(coordinates, dtype=np.float64).reshape(-1, 2)


def _parse_mask(
    raw_mask: object, problems: list[Problem], problem: _ProblemFactory
) -> NDArray[np.bool_] | None:
    if not isinstance(raw_mask, str):
        what = "has no mask data" if raw_mask is None else "has mask data that is not text"
        problems.append(problem(f"the mask shape {what}; redraw it in labelme"))
        return None
    try:
        with open_encoded(decode_base64(raw_mask)) as patch:
            values = np.array(patch)
    except IMAGE_ERRORS as error:
        problems.append(
            problem(
                f"the mask data is not a base64-encoded image ({error}); redraw the mask in labelme"
            )
        )
        return None
    if values.ndim != 2 or values.size == 0:
        problems.append(
            problem(
                f"the mask image has shape {values.shape}, but it must be a "
                "non-empty single-channel image; redraw the mask in labelme"
            )
        )
        return None
    return values.astype(bool)


def _image_dimension(
    json_path: Path, document: dict[str, object], key: str, problems: list[Problem]
) -> int | None:
    value = document.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        problems.append(Problem(json_path, f"{key} must be a positive integer, not {value!r}"))
        return None
    return value


def _optional_string(
    json_path: Path, document: dict[str, object], key: str, problems: list[Problem]
) -> str | None:
    value = document.get(key)
    if value is None or isinstance(value, str):
        return value or None
    problems.append(Problem(json_path, f"{key} must be text or null, not {_json_type(value)}"))
    return None


def _check_image(annotation: Annotation, problems: list[Problem]) -> ImageHeader | None:
    """Check that the image exists and is readable; return its header (its size as
    annotated)."""
    path = annotation.path
    try:
        source = annotation.image_source()
    except AnnotationError as error:
        problems.append(Problem(path, str(error).removeprefix(f"{path}: ")))
        return None
    try:
        header = read_header(source)
    except ImageError as error:
        problems.append(Problem(path, f"{error}; re-save the image"))
        return None
    if not header.convertible:
        problems.append(
            Problem(
                path,
                f"the image from {source.name} has pixel mode {header.mode}, which annotool "
                "cannot turn into RGB; save it as an 8-bit RGB or greyscale image",
            )
        )
    height, width = header.height, header.width
    if annotation.image_height not in (None, height) or annotation.image_width not in (None, width):
        oriented = " after EXIF orientation" if header.orientation != 1 else ""
        problems.append(
            Problem(
                path,
                f"the image from {source.name} is {width}x{height}{oriented}, but the file says "
                f"imageWidth={annotation.image_width} imageHeight={annotation.image_height}; "
                "the annotation belongs to another image or the image was resized; "
                "open it in labelme to check",
            )
        )
    return header
