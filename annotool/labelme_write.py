"""Writing labelme JSON documents: shapes from a class mask, new documents, merging into a
person's document.

A document has what labelme itself writes (``version``, ``flags``, ``shapes``,
``imagePath`` relative to the JSON file, ``imageData`` null, ``imageHeight``,
``imageWidth``), so ``labelme`` opens it and ``annotool convert`` reads it back to the
same mask (see :mod:`annotool.polygons` for why the outlines reproduce it).
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from annotool.errors import AnnotationError, Problem
from annotool.fileio import atomic_write_text
from annotool.labelme import read_annotation, read_labelme_json
from annotool.labels import IGNORE_ID, IGNORE_LABEL
from annotool.polygons import BACKGROUND_ID, Region, TraceOptions, trace_regions
from annotool.rasterize import shape_mask
from annotool.voc import mask_values

LABELME_FORMAT_VERSION = "5.3.0"
"""The ``version`` written: the first labelme release that reads every shape annotool
writes (``mask`` shapes arrived in 5.3); later releases read it too."""

ShapeType = Literal["polygon", "mask"]
SHAPE_TYPES: tuple[ShapeType, ...] = ("polygon", "mask")

ExistingPolicy = Literal["skip", "merge", "overwrite"]
"""What to do where a labelme JSON already exists: leave it alone (the default, human
work is never lost), add predicted regions that do not overlap its shapes, or replace it."""

PREDICTED_PREFIX = "annotool: predicted"


@dataclass(frozen=True)
class ShapeOptions:
    """How masks become shapes: tracing options and ``polygon`` or ``mask`` shapes."""

    trace: TraceOptions = field(default_factory=TraceOptions)
    shape_type: ShapeType = "polygon"


@dataclass
class WriteReport:
    """What a command that writes one file per input did: files ``written``, inputs
    ``skipped`` because their output exists, and inputs that ``failed`` with the reason
    (``predict``, ``masks-to-labelme``)."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    too_small: int = 0
    """Predicted regions left out as smaller than the minimum area (``predict --labelme``)."""
    too_large: int = 0
    """Predicted regions left out as larger than the maximum area."""
    unsure: int = 0
    """Predicted regions left out for a confidence under the minimum."""


@dataclass(frozen=True)
class LabelmeOutput:
    """Write labelme JSON instead of masks: how to make shapes, and what to do where a
    JSON already exists (``skip`` by default: what a person drew is never lost)."""

    shapes: ShapeOptions = field(default_factory=ShapeOptions)
    existing: ExistingPolicy = "skip"
    min_area: int | None = None
    """Pixels a predicted object needs at least; None: what the checkpoint says."""
    min_confidence: float | None = None
    """Confidence a predicted object needs at least; None: what the checkpoint says."""
    max_area: int | None = None
    """Pixels a predicted object may have at most (0: no limit); None: what the
    checkpoint says."""


def shapes_from_mask(
    class_mask: NDArray[np.integer],
    class_names: Sequence[str],
    options: ShapeOptions = ShapeOptions(),
    avoid: NDArray[np.bool_] | None = None,
    describe: Callable[[Region], str] | None = None,
) -> list[dict[str, Any]]:
    """labelme shapes (JSON objects, in paint order) that reproduce an ``(H, W)`` class mask.

    ``class_names[i]`` names class id ``i``; 255 (ignore) becomes ``__ignore__``.
    ``describe`` gives each region's description (``predict`` says a shape was predicted,
    its class, the runner-up and the confidence there); without it, it is empty. See
    trace_regions for ``avoid``. Raises AnnotationError for a class id that has no name.
    """
    regions = trace_regions(class_mask, options.trace, avoid=avoid)
    return [
        _shape(
            region,
            _label(region.class_id, class_names),
            options.shape_type,
            describe(region) if describe is not None else "",
        )
        for region in regions
    ]


MAX_OBJECTS = IGNORE_ID - 1
"""Most (object, class) pairs one image's instance mask may hold for
:func:`shapes_from_objects` (each is traced as one value of a uint8 mask)."""


def shapes_from_objects(
    class_mask: NDArray[np.integer],
    object_mask: NDArray[np.integer],
    class_names: Sequence[str],
    options: ShapeOptions = ShapeOptions(),
) -> list[dict[str, Any]]:
    """labelme shapes that reproduce an ``(H, W)`` class mask and the objects of its
    ``(H, W)`` instance mask (``SegmentationObject``: 0 none, 1.. objects).

    Each object is traced on its own, so two objects of one class that touch stay two;
    the regions of an object with several share its instance id as ``group_id`` (labelme's
    (label, group_id) instance). Pixels of a class outside any object and 255 (ignore)
    are regions of their own. Paint order is :func:`~annotool.polygons.trace_regions`'
    (an outline inside another's hole comes later), so holes never erase an object.
    Raises AnnotationError for a class id without a name or more than MAX_OBJECTS
    (object, class) pairs.
    """
    classes = mask_values(class_mask).astype(np.int32)
    objects = mask_values(object_mask).astype(np.int32)
    painted = classes != BACKGROUND_ID
    keys, inverse = np.unique(objects[painted] * 256 + classes[painted], return_inverse=True)
    if len(keys) > MAX_OBJECTS:
        raise AnnotationError(
            f"the masks hold {len(keys)} (object, class) pairs, more than the {MAX_OBJECTS} "
            "that can be traced; import the class masks alone"
        )
    traced = np.zeros(classes.shape, dtype=np.uint8)
    traced[painted] = inverse + 1
    regions = trace_regions(traced, options.trace)
    parts = np.bincount([region.class_id for region in regions], minlength=len(keys) + 1)
    shapes = []
    for region in regions:
        if region.class_id == BACKGROUND_ID:
            shapes.append(_shape(region, class_names[BACKGROUND_ID], options.shape_type, ""))
            continue
        object_id, class_id = divmod(int(keys[region.class_id - 1]), 256)
        shape = _shape(region, _label(class_id, class_names), options.shape_type, "")
        # 255 is VOC's void border in object masks too; ignored pixels are no object.
        is_object = object_id not in (0, IGNORE_ID) and class_id != IGNORE_ID
        if is_object and parts[region.class_id] > 1:
            shape["group_id"] = object_id
        shapes.append(shape)
    return shapes


def _label(class_id: int, class_names: Sequence[str]) -> str:
    if class_id == IGNORE_ID:
        return IGNORE_LABEL
    if class_id >= len(class_names):
        raise AnnotationError(
            f"the mask holds class id {class_id}, but only {len(class_names)} classes are "
            f"named (0-{len(class_names) - 1}); give the full class list"
        )
    return class_names[class_id]


def _shape(region: Region, label: str, shape_type: ShapeType, description: str) -> dict[str, Any]:
    if shape_type == "mask":
        top, _, left, _ = region.box
        return mask_shape(label, region.filled, (top, left), description=description)
    return new_shape(label, region.points.tolist(), "polygon", description=description)


def new_shape(
    label: str,
    points: list[list[float]],
    shape_type: str,
    group_id: int | None = None,
    description: str = "",
    mask: str | None = None,
) -> dict[str, Any]:
    """A labelme shape as labelme writes it (``points``: ``[[x, y], ...]`` in pixels)."""
    return {
        "label": label,
        "points": points,
        "group_id": group_id,
        "description": description,
        "shape_type": shape_type,
        "flags": {},
        "mask": mask,
    }


def mask_shape(
    label: str,
    patch: NDArray[np.bool_],
    origin: tuple[int, int],
    group_id: int | None = None,
    description: str = "",
) -> dict[str, Any]:
    """A labelme ``mask`` shape painting the ``(h, w)`` bool ``patch`` whose top-left pixel
    is ``origin`` ``(top, left)`` in the image: lossless, and it paints only its pixels."""
    top, left = origin
    height, width = patch.shape
    # labelme 5.3+: the patch's top-left and bottom-right pixels, the patch a 0/1 PNG.
    points = [[float(left), float(top)], [float(left + width - 1), float(top + height - 1)]]
    return new_shape(label, points, "mask", group_id, description, _mask_png_base64(patch))


def _mask_png_base64(patch: NDArray[np.bool_]) -> str:
    buffer = io.BytesIO()
    Image.fromarray(patch.astype(np.uint8), mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def new_document(
    shapes: list[dict[str, Any]], json_path: Path, image_path: Path, height: int, width: int
) -> dict[str, Any]:
    """A labelme document for ``image_path`` (``imagePath`` relative to ``json_path``)."""
    relative = os.path.relpath(Path(image_path).absolute(), Path(json_path).absolute().parent)
    return {
        "version": LABELME_FORMAT_VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": Path(relative).as_posix(),
        "imageData": None,
        "imageHeight": int(height),
        "imageWidth": int(width),
    }


def human_pixels(json_path: Path, height: int, width: int) -> tuple[dict[str, Any], NDArray]:
    """The document at ``json_path`` as it is, and the ``(H, W)`` bool pixels its shapes
    paint (every shape, whatever its label).

    Raises AnnotationError when the file cannot be read as a labelme document, or when a
    shape cannot be drawn, so that a merge never drops or misreads what a person drew.
    """
    annotation, problems = read_annotation(json_path)
    errors = [problem for problem in problems if problem.severity == "error"]
    shape_errors = [problem for problem in errors if problem.shape_index is not None]
    if annotation is None or shape_errors:
        first = (shape_errors or errors)[0]
        raise AnnotationError(
            f"cannot merge into {first}; fix the file in labelme, or replace it with --overwrite"
        )
    document = read_labelme_json(json_path)
    if isinstance(document, Problem):  # changed since read_annotation read it
        raise AnnotationError(f"cannot merge into {document}")
    covered = np.zeros((height, width), dtype=bool)
    for shape in annotation.shapes:
        covered |= shape_mask(shape, height, width)
    return document, covered


def merged_document(document: dict[str, Any], predicted: list[dict[str, Any]]) -> dict[str, Any]:
    """``document`` with ``predicted`` shapes placed before its own shapes: every shape a
    person drew is kept as it is, and is painted last, so it wins where the two touch."""
    merged = dict(document)
    merged["shapes"] = [*predicted, *document.get("shapes", [])]
    return merged


def document_text(document: dict[str, Any]) -> str:
    """The JSON text labelme writes: UTF-8, indented by 2."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def write_document(path: Path, document: dict[str, Any]) -> None:
    """Atomically write ``document`` to ``path``."""
    atomic_write_text(Path(path), document_text(document))
