"""Findings: evidence per shape and region, and the scores that rank them."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from annotool.labelme import Shape
from annotool.labels import load_labels
from annotool.review.findings import (
    BOUNDARY,
    MISSING,
    SPURIOUS,
    WRONG_LABEL,
    ShapeEvidence,
    measure_image,
    score_findings,
)

LABELS = load_labels("_background_,cat,dog")
HEIGHT, WIDTH = 60, 80


def box(index: int, label: str, x0: int, y0: int, x1: int, y1: int) -> Shape:
    """A rectangle painting columns x0..x1 and rows y0..y1 (inclusive, as labelme does)."""
    points = np.array([[x0, y0], [x1, y1]], dtype=np.float64)
    return Shape(index=index, label=label, shape_type="rectangle", points=points, group_id=None)


def probabilities(*regions: tuple[int, int, int, int, int, float]) -> NDArray[np.float32]:
    """``(3, H, W)``: background everywhere, then ``(class, x0, y0, x1, y1, p)`` regions
    (inclusive) where the class gets ``p`` and background the rest."""
    result = np.zeros((3, HEIGHT, WIDTH), dtype=np.float32)
    result[0] = 1.0
    for class_id, x0, y0, x1, y1, p in regions:
        result[:, y0 : y1 + 1, x0 : x1 + 1] = 0.0
        result[0, y0 : y1 + 1, x0 : x1 + 1] = 1.0 - p
        result[class_id, y0 : y1 + 1, x0 : x1 + 1] = p
    return result


def test_a_shape_the_model_agrees_with_gives_no_finding() -> None:
    shapes = [box(0, "cat", 10, 10, 29, 29)]
    evidence = measure_image("a", shapes, probabilities((1, 10, 10, 29, 29, 0.9)), LABELS)
    assert evidence.regions == []
    (item,) = evidence.shapes
    assert item.iou == pytest.approx(1.0)
    assert item.bbox == (10, 10, 30, 30)
    assert score_findings(evidence.shapes, evidence.regions, LABELS.class_names) == []


def test_wrong_label_suggests_the_class_the_model_sees() -> None:
    shapes = [box(0, "cat", 10, 10, 29, 29)]
    evidence = measure_image("a", shapes, probabilities((2, 10, 10, 29, 29, 0.8)), LABELS)
    (finding,) = score_findings(evidence.shapes, evidence.regions, LABELS.class_names)
    assert (finding.kind, finding.label, finding.suggested_label) == (WRONG_LABEL, "cat", "dog")
    assert finding.score == pytest.approx(0.8)
    assert finding.shape == 0


def test_spurious_shape_on_background() -> None:
    shapes = [box(0, "cat", 10, 10, 29, 29)]
    evidence = measure_image("a", shapes, probabilities(), LABELS)
    (finding,) = score_findings(evidence.shapes, evidence.regions, LABELS.class_names)
    assert (finding.kind, finding.suggested_label, finding.iou) == (SPURIOUS, None, None)
    assert finding.score == pytest.approx(1.0)


def test_missing_object_is_located_by_its_box() -> None:
    shapes = [box(0, "cat", 10, 10, 29, 29)]
    scores = probabilities((1, 10, 10, 29, 29, 0.9), (2, 50, 30, 69, 49, 0.7))
    evidence = measure_image("a", shapes, scores, LABELS)
    (region,) = evidence.regions
    assert region.covered == 0.0
    (finding,) = score_findings(evidence.shapes, evidence.regions, LABELS.class_names)
    assert (finding.kind, finding.shape, finding.suggested_label) == (MISSING, None, "dog")
    assert finding.bbox == (50, 30, 70, 50)
    assert finding.score == pytest.approx(0.7)


def test_a_predicted_speck_is_not_a_missing_object() -> None:
    evidence = measure_image("a", [], probabilities((2, 5, 5, 5, 5, 0.9)), LABELS)
    assert evidence.regions == []


def test_moved_shape_is_a_boundary_finding_against_its_class_typical_outline() -> None:
    good = [
        ShapeEvidence("b", index, 1, 400, (0, 0, 20, 20), (0.1, 0.9, 0.0), 0.9)
        for index in range(4)
    ]
    shapes = [box(0, "cat", 20, 10, 39, 29)]  # the object is at x 10..29: moved by half
    evidence = measure_image("a", shapes, probabilities((1, 10, 10, 29, 29, 0.95)), LABELS)
    (item,) = evidence.shapes
    assert item.iou == pytest.approx(1 / 3)
    findings = score_findings([*good, *evidence.shapes], evidence.regions, LABELS.class_names)
    (finding,) = [finding for finding in findings if finding.stem == "a"]
    assert finding.kind == BOUNDARY
    # 1 - IoU = 2/3; the class usually disagrees by 0.1.
    assert finding.score == pytest.approx((2 / 3 - 0.1) / 0.9, abs=1e-3)


def test_only_visible_pixels_of_an_overlapped_shape_count() -> None:
    # The dog is drawn over the right half of the cat; the model agrees with both.
    shapes = [box(0, "cat", 10, 10, 49, 29), box(1, "dog", 30, 10, 49, 29)]
    scores = probabilities((1, 10, 10, 29, 29, 0.9), (2, 30, 10, 49, 29, 0.9))
    evidence = measure_image("a", shapes, scores, LABELS)
    cat = evidence.shapes[0]
    assert cat.area == 20 * 20
    assert cat.mean_probabilities[2] == pytest.approx(0.0)
    assert score_findings(evidence.shapes, evidence.regions, LABELS.class_names) == []


def test_ignore_and_background_shapes_are_not_judged() -> None:
    labels = load_labels("_background_,cat,dog")
    shapes = [box(0, "_background_", 10, 10, 29, 29)]
    evidence = measure_image("a", shapes, probabilities((1, 10, 10, 29, 29, 0.9)), labels)
    assert evidence.shapes == []


def test_findings_are_ranked_highest_first_across_kinds() -> None:
    shapes = [box(0, "cat", 2, 2, 21, 21), box(1, "dog", 40, 2, 59, 21)]
    scores = probabilities((2, 2, 2, 21, 21, 0.6), (2, 40, 40, 59, 55, 0.95))
    evidence = measure_image("a", shapes, scores, LABELS)
    findings = score_findings(evidence.shapes, evidence.regions, LABELS.class_names)
    assert [finding.kind for finding in findings] == [SPURIOUS, MISSING, WRONG_LABEL]
    assert [finding.score for finding in findings] == sorted(
        (finding.score for finding in findings), reverse=True
    )
    assert all(0.0 <= finding.score <= 1.0 for finding in findings)


def evidence(index: int, probabilities: tuple[float, float, float]) -> ShapeEvidence:
    return ShapeEvidence("b", index, 1, 100, (0, 0, 10, 10), probabilities, None)


def test_what_the_model_says_of_every_shape_of_a_class_flags_none() -> None:
    # The model half-misses every cat (a hard class) and confuses some with dogs; only the
    # shape it disagrees with far more than with its siblings is a finding.
    usual = [evidence(index, (0.45, 0.45, 0.1)) for index in range(6)]
    odd = evidence(6, (0.05, 0.05, 0.9))
    findings = score_findings([*usual, odd], [], LABELS.class_names)
    (finding,) = findings
    assert (finding.shape, finding.kind, finding.suggested_label) == (6, WRONG_LABEL, "dog")
    assert finding.score == pytest.approx((0.9 - 0.1) / 0.9, abs=1e-3)


def test_few_shapes_of_a_class_are_scored_as_measured() -> None:
    shapes = [evidence(index, (0.45, 0.45, 0.1)) for index in range(3)]
    findings = score_findings(shapes, [], LABELS.class_names)
    assert [(finding.kind, finding.score) for finding in findings] == [(SPURIOUS, 0.45)] * 3
