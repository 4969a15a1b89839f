"""``--labelme DIR``: copies of the labelme files with findings, to fix them in labelme.

Each copy is the original document with, on every flagged shape, the flag
``review_<kind>`` set and a description saying what the review found; every missing
object becomes a new polygon labelled ``?<class>`` (so that it is plainly a suggestion and
no class of the label list: converting the copy without accepting it fails loudly) with
the flag ``review_missing``. ``imagePath`` is rewritten to reach the original photo from
the copy. The originals are never written.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotool.errors import AnnotationError
from annotool.fileio import write_staged
from annotool.labelme import Annotation, read_labelme_json
from annotool.labelme_write import ShapeOptions, document_text, shapes_from_mask
from annotool.masks import read_label_png
from annotool.polygons import TraceOptions
from annotool.review.findings import BOUNDARY, MISSING, SPURIOUS, WRONG_LABEL, Finding

SUGGESTION_PREFIX = "?"
"""Labels of suggested shapes start with this: ``?cat``."""
FLAG_PREFIX = "review_"


def describe(finding: Finding) -> str:
    """The description a flagged shape gets: what the review found, and how sure it is."""
    score = f"score {finding.score:.2f}"
    if finding.kind == WRONG_LABEL:
        what = f"the model sees {finding.suggested_label!r} here, not {finding.label!r}"
    elif finding.kind == SPURIOUS:
        what = "the model sees only background here"
    elif finding.kind == BOUNDARY:
        iou = "?" if finding.iou is None else f"{finding.iou:.2f}"
        what = f"the outline disagrees with the model's (IoU {iou})"
    else:
        what = f"the model sees a {finding.suggested_label!r} that no shape covers"
    return f"annotool review: {finding.kind} ({score}): {what}"


def write_labelme_copies(
    staging: Path,
    final_dir: Path,
    findings: Sequence[Finding],
    annotations: Mapping[str, Annotation],
    predicted_dir: Path,
    class_names: Sequence[str],
) -> list[Path]:
    """Write a copy of each file with findings into ``staging`` (which becomes
    ``final_dir``); returns the copies' final paths, sorted."""
    by_stem: dict[str, list[Finding]] = {}
    for finding in findings:
        by_stem.setdefault(finding.stem, []).append(finding)
    written = []
    for stem in sorted(by_stem):
        annotation = annotations[stem]
        document = read_labelme_json(annotation.path)
        if not isinstance(document, dict):
            raise AnnotationError(f"{annotation.path} can no longer be read: {document}")
        copied = _flagged(document, by_stem[stem], predicted_dir / f"{stem}.png", class_names)
        if copied.get("imagePath") and not copied.get("imageData"):
            original = annotation.path.parent / str(copied["imagePath"]).replace("\\", "/")
            target = final_dir / annotation.path.name
            copied["imagePath"] = Path(
                os.path.relpath(os.path.abspath(original), os.path.abspath(target.parent))
            ).as_posix()
        write_staged(staging / annotation.path.name, document_text(copied).encode("utf-8"))
        written.append(final_dir / annotation.path.name)
    return written


def _flagged(
    document: dict[str, Any],
    findings: Sequence[Finding],
    predicted_path: Path,
    class_names: Sequence[str],
) -> dict[str, Any]:
    copied = copy.deepcopy(document)
    shapes: list[Any] = copied["shapes"]
    predicted = None
    for finding in findings:
        if finding.shape is not None:
            shape = shapes[finding.shape]
            if isinstance(shape, dict):
                flags = shape.get("flags") if isinstance(shape.get("flags"), dict) else {}
                shape["flags"] = {**flags, FLAG_PREFIX + finding.kind: True}
                shape["description"] = describe(finding)
            continue
        if predicted is None:
            predicted = read_label_png(predicted_path)
        shapes.extend(_suggested_shapes(finding, predicted, class_names))
    return copied


def _suggested_shapes(
    finding: Finding, predicted: np.ndarray, class_names: Sequence[str]
) -> list[dict[str, Any]]:
    """The outline of a missing object, labelled ``?<class>``, from the predicted mask
    inside the finding's box."""
    class_id = class_names.index(str(finding.suggested_label))
    x0, y0, x1, y1 = finding.bbox
    region = np.zeros_like(predicted)
    region[y0:y1, x0:x1] = np.where(predicted[y0:y1, x0:x1] == class_id, class_id, 0)
    traced = shapes_from_mask(region, class_names, ShapeOptions(TraceOptions(tolerance=1.0)))
    traced = [shape for shape in traced if shape["label"] == class_names[class_id]][:1]
    for shape in traced:
        shape["label"] = SUGGESTION_PREFIX + class_names[class_id]
        shape["flags"] = {FLAG_PREFIX + MISSING: True}
        shape["description"] = describe(finding)
    return traced
