"""Findings: the shapes and regions of a photo that a model which never saw it disagrees with.

Two steps. :func:`measure_image` compares one photo's shapes with the class probabilities
of an out-of-fold model and keeps a few numbers per shape (:class:`ShapeEvidence`) and per
predicted object that no shape covers (:class:`RegionEvidence`). :func:`score_findings`
turns the evidence of the whole dataset into :class:`Finding` objects, one per shape or
region, with a score in 0..1 (higher: more likely a mistake) that means the same for
every kind, so that one ranking serves:

Each shape has three measures of disagreement, each in 0..1:

- ``wrong_label``: the mean probability, over the shape's visible pixels, of the other
  object class the model likes best there (that class is the suggestion);
- ``spurious``: the mean probability of background over the shape's visible pixels;
- ``boundary``: ``1 - IoU`` of the shape and the predicted regions of its class that
  touch it (only where the model sees its class on at least :data:`MIN_SUPPORT` of it).

A shape's score for a kind is how much more it disagrees than the shapes of its class
typically do: ``(measure - typical) / (1 - typical)``, ``typical`` the median measure over
the class's shapes (most shapes are right; with fewer than :data:`MIN_TYPICAL_SHAPES`
shapes, 0). So a model that confuses two classes a little everywhere, misses part of a
hard class or outlines every object of a class a bit differently does not flag every
shape of it, while the shape it disagrees with far more than with its siblings stands out.
A predicted object that shapes cover less than :data:`MAX_COVERED` of is ``missing``,
scored by the mean probability of its class over it, times the uncovered share, times its
size against the class's usual shape size (capped at 1): specks do not outrank objects.

A shape gets the one kind that scores highest for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from annotool.labelme import Shape
from annotool.labels import IGNORE_ID_NPY, LabelSet
from annotool.polygons import BACKGROUND_ID
from annotool.rasterize import instance_ids, rasterize, shape_patches

WRONG_LABEL = "wrong_label"
SPURIOUS = "spurious"
MISSING = "missing"
BOUNDARY = "boundary"
KINDS = (WRONG_LABEL, SPURIOUS, MISSING, BOUNDARY)

MIN_SUPPORT = 0.2
"""A shape is compared outline to outline only when at least this share of it is predicted
as its class; below that the model does not see its object there (spurious, wrong label)."""
MAX_COVERED = 0.3
"""A predicted object is missing when shapes cover less than this share of it."""
MIN_REGION_SHARE = 0.0005
"""Predicted objects smaller than this share of the photo are noise, not missing objects."""
SIZE_REFERENCE = 0.25
"""A missing object scores in full from this share of its class's median shape area."""
MIN_SCORE = 0.2
"""Findings scoring below this are left out of the report."""
MIN_TYPICAL_SHAPES = 5
"""A class needs this many shapes for its typical disagreement to be measured."""

Box = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)`` in image pixels, x1 and y1 exclusive."""
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class ShapeEvidence:
    """What the model says about one shape's visible pixels.

    ``mean_probabilities`` is ``(C,)``: the mean probability of each class over them;
    ``iou`` is the IoU of the shape and the predicted regions of its class that touch it,
    None when less than :data:`MIN_SUPPORT` of it is predicted as its class.
    """

    stem: str
    shape: int
    class_id: int
    area: int
    bbox: Box
    mean_probabilities: tuple[float, ...]
    iou: float | None


@dataclass(frozen=True)
class RegionEvidence:
    """A predicted object (connected region of one class) that shapes barely cover."""

    stem: str
    class_id: int
    area: int
    bbox: Box
    mean_probability: float
    covered: float
    """The share of its pixels under some shape."""


@dataclass(frozen=True)
class ImageEvidence:
    shapes: list[ShapeEvidence]
    regions: list[RegionEvidence]
    predicted: NDArray[np.uint8]
    """``(H, W)`` the model's class at each pixel."""


@dataclass(frozen=True)
class Finding:
    """One likely mistake: a shape (``shape`` its index in the file) or, for ``missing``,
    a predicted region (``shape`` None)."""

    stem: str
    shape: int | None
    kind: str
    label: str | None
    suggested_label: str | None
    score: float
    bbox: Box
    iou: float | None = None


def measure_image(
    stem: str,
    shapes: Sequence[Shape],
    probabilities: NDArray[np.float32],
    labels: LabelSet,
) -> ImageEvidence:
    """The evidence about one photo: ``probabilities`` is ``(C, H, W)`` (the model's
    softmax at the photo's size), ``shapes`` the photo's labelme shapes."""
    num_classes, height, width = probabilities.shape
    predicted = probabilities.argmax(axis=0).astype(np.uint8)
    class_label, object_label = rasterize(shapes, height, width, labels)
    components: dict[int, NDArray[np.int32]] = {}

    def components_of(class_id: int) -> NDArray[np.int32]:
        if class_id not in components:
            components[class_id] = ndimage.label(predicted == class_id, _EIGHT_CONNECTED)[0]
        return components[class_id]

    evidence = []
    patches = shape_patches(shapes, height, width)
    for shape, instance, patch in zip(shapes, instance_ids(shapes), patches, strict=True):
        class_id = labels.class_id(shape.label)
        if patch is None or class_id is None or class_id in (BACKGROUND_ID, IGNORE_ID_NPY):
            continue
        (top, bottom, left, right), pixels = patch
        visible = pixels & (object_label[top:bottom, left:right] == instance)
        area = int(visible.sum())
        if area == 0:
            continue
        means = probabilities[:, top:bottom, left:right][:, visible].mean(axis=1)
        evidence.append(
            ShapeEvidence(
                stem=stem,
                shape=shape.index,
                class_id=class_id,
                area=area,
                bbox=_box_of(visible, top, left),
                mean_probabilities=tuple(float(value) for value in means),
                iou=_iou_with_prediction(components_of(class_id), visible, top, left),
            )
        )
    annotated = class_label != BACKGROUND_ID
    regions = []
    min_area = max(4, int(MIN_REGION_SHARE * height * width))
    for class_id in range(1, num_classes):
        labelled = components_of(class_id)
        for index, (rows, cols) in enumerate(ndimage.find_objects(labelled), start=1):
            if rows is None:
                continue
            region = labelled[rows, cols] == index
            area = int(region.sum())
            if area < min_area:
                continue
            covered = float(annotated[rows, cols][region].mean())
            if covered >= MAX_COVERED:
                continue
            regions.append(
                RegionEvidence(
                    stem=stem,
                    class_id=class_id,
                    area=area,
                    bbox=_box_of(region, rows.start, cols.start),
                    mean_probability=float(probabilities[class_id, rows, cols][region].mean()),
                    covered=covered,
                )
            )
    return ImageEvidence(evidence, regions, predicted)


def _iou_with_prediction(
    components: NDArray[np.int32], visible: NDArray[np.bool_], top: int, left: int
) -> float | None:
    window = components[top : top + visible.shape[0], left : left + visible.shape[1]]
    touched = np.unique(window[visible])
    touched = touched[touched > 0]
    if touched.size == 0:
        return None
    predicted = np.isin(components, touched)
    overlap = int(
        (predicted[top : top + visible.shape[0], left : left + visible.shape[1]] & visible).sum()
    )
    area = int(visible.sum())
    if overlap < MIN_SUPPORT * area:
        return None
    return overlap / (area + int(predicted.sum()) - overlap)


def _box_of(pixels: NDArray[np.bool_], top: int, left: int) -> Box:
    rows = np.flatnonzero(pixels.any(axis=1))
    cols = np.flatnonzero(pixels.any(axis=0))
    return (
        left + int(cols[0]),
        top + int(rows[0]),
        left + int(cols[-1]) + 1,
        top + int(rows[-1]) + 1,
    )


def score_findings(
    shapes: Sequence[ShapeEvidence],
    regions: Sequence[RegionEvidence],
    class_names: Sequence[str],
    min_score: float = MIN_SCORE,
) -> list[Finding]:
    """Every finding scoring at least ``min_score``, highest score first (ties: file, then
    shape order), from the evidence of a whole dataset; see the module docstring."""
    measures = [_measures(item, class_names) for item in shapes]
    typical = _typical(shapes, measures)
    findings = [
        _shape_finding(item, measured, typical, class_names)
        for item, measured in zip(shapes, measures, strict=True)
    ]
    median_area = _median_areas(shapes)
    for region in regions:
        reference = SIZE_REFERENCE * median_area.get(region.class_id, region.area)
        size = min(1.0, region.area / reference) if reference > 0 else 1.0
        findings.append(
            Finding(
                stem=region.stem,
                shape=None,
                kind=MISSING,
                label=None,
                suggested_label=class_names[region.class_id],
                score=_clip(region.mean_probability * (1.0 - region.covered) * size),
                bbox=region.bbox,
            )
        )
    kept = [finding for finding in findings if finding.score >= min_score]
    return sorted(
        kept,
        key=lambda item: (
            -item.score,
            item.stem,
            -1 if item.shape is None else item.shape,
            item.bbox,
        ),
    )


_Measures = dict[str, tuple[float, str | None]]
"""A shape's measure of disagreement for each kind that applies, with the suggested class."""


def _measures(item: ShapeEvidence, class_names: Sequence[str]) -> _Measures:
    means = np.asarray(item.mean_probabilities)
    measures: _Measures = {SPURIOUS: (float(means[BACKGROUND_ID]), None)}
    others = means.copy()
    others[[BACKGROUND_ID, item.class_id]] = -1.0
    if len(others) > 2:
        other = int(np.argmax(others))
        measures[WRONG_LABEL] = (float(means[other]), class_names[other])
    if item.iou is not None:
        measures[BOUNDARY] = (1.0 - item.iou, class_names[item.class_id])
    return measures


def _typical(
    shapes: Sequence[ShapeEvidence], measures: Sequence[_Measures]
) -> dict[tuple[int, str], float]:
    """The median measure of each kind over each class's shapes (enough of them)."""
    values: dict[tuple[int, str], list[float]] = {}
    for item, measured in zip(shapes, measures, strict=True):
        for kind, (value, _suggested) in measured.items():
            values.setdefault((item.class_id, kind), []).append(value)
    return {
        key: float(np.median(found))
        for key, found in values.items()
        if len(found) >= MIN_TYPICAL_SHAPES
    }


def _shape_finding(
    item: ShapeEvidence,
    measures: _Measures,
    typical: dict[tuple[int, str], float],
    class_names: Sequence[str],
) -> Finding:
    candidates = []
    for kind, (value, suggested) in measures.items():
        base = typical.get((item.class_id, kind), 0.0)
        excess = (value - base) / (1.0 - base) if base < 1.0 else 0.0
        candidates.append((excess, kind, suggested))
    score, kind, suggested = max(candidates, key=lambda candidate: candidate[0])
    return Finding(
        stem=item.stem,
        shape=item.shape,
        kind=kind,
        label=class_names[item.class_id],
        suggested_label=suggested,
        score=_clip(score),
        bbox=item.bbox,
        iou=item.iou,
    )


def _median_areas(shapes: Sequence[ShapeEvidence]) -> dict[int, float]:
    by_class: dict[int, list[int]] = {}
    for item in shapes:
        by_class.setdefault(item.class_id, []).append(item.area)
    return {class_id: float(np.median(values)) for class_id, values in by_class.items()}


def _clip(score: float) -> float:
    return round(min(1.0, max(0.0, score)), 4)
