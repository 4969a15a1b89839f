from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mask_scenes import masks, round_trip
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from skimage import measure

from annotool.labelme_write import ShapeOptions
from annotool.labels import IGNORE_ID
from annotool.polygons import (
    DEFAULT_TOLERANCE,
    MAX_SIMPLIFICATION_CHANGE,
    Region,
    TraceOptions,
    approximate_polygon,
    trace_regions,
)

EXACT = ShapeOptions(TraceOptions(tolerance=0))
DEFAULT = ShapeOptions(TraceOptions())
MASK_SHAPES = ShapeOptions(TraceOptions(), shape_type="mask")


def paint(regions: list[Region], shape: tuple[int, int]) -> NDArray[np.uint8]:
    """Paint the regions' polygons in order as labelme does (Pillow, outline included)."""
    canvas = Image.new("L", (shape[1], shape[0]), 0)
    pen = ImageDraw.Draw(canvas)
    for region in regions:
        pen.polygon(
            [tuple(point) for point in region.points.tolist()],
            fill=region.class_id,
            outline=region.class_id,
        )
    return np.asarray(canvas)


def agreement(first: NDArray, second: NDArray) -> float:
    return float(np.mean(first == second))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mask=masks())
def test_round_trip_through_convert_gives_the_mask_back(mask: NDArray[np.uint8]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        exact = round_trip({"exact": mask}, Path(folder) / "exact", EXACT)["exact"]
        default = round_trip({"default": mask}, Path(folder) / "default", DEFAULT)["default"]
        lossless = round_trip({"mask": mask}, Path(folder) / "mask", MASK_SHAPES)["mask"]
    assert agreement(exact, mask) >= 0.999
    assert agreement(default, mask) >= 0.99
    assert np.array_equal(lossless, mask)


@settings(max_examples=200, deadline=None)
@given(mask=masks(), tolerance=st.sampled_from([0.0, 0.5, DEFAULT_TOLERANCE, 2.0]))
def test_polygons_are_valid_labelme_polygons(mask: NDArray[np.uint8], tolerance: float) -> None:
    height, width = mask.shape
    for region in trace_regions(mask, TraceOptions(tolerance=tolerance)):
        points = region.points
        assert points.ndim == 2 and points.shape[1] == 2
        assert len(np.unique(points, axis=0)) >= 3
        assert np.all(np.isfinite(points))
        assert np.all((points >= 0) & (points <= (width - 1 + 0.25, height - 1 + 0.25)))


@settings(max_examples=200, deadline=None)
@given(mask=masks())
def test_exact_polygons_paint_the_mask_pixel_for_pixel(mask: NDArray[np.uint8]) -> None:
    assert np.array_equal(paint(trace_regions(mask, TraceOptions(tolerance=0)), mask.shape), mask)


def test_a_donut_is_a_polygon_then_a_background_hole_then_what_is_inside() -> None:
    canvas = Image.new("L", (40, 40), 0)
    pen = ImageDraw.Draw(canvas)
    pen.ellipse((2, 2, 37, 37), fill=1)
    pen.ellipse((10, 10, 29, 29), fill=0)
    pen.rectangle((17, 17, 22, 22), fill=2)
    mask = np.array(canvas)
    regions = trace_regions(mask, TraceOptions(tolerance=0))
    assert [region.class_id for region in regions] == [1, 0, 2]
    assert np.array_equal(paint(regions, mask.shape), mask)


def test_regions_touching_the_border_close_and_ignore_is_kept() -> None:
    mask = np.zeros((10, 12), dtype=np.uint8)
    mask[:, :4] = 1
    mask[6:, 8:] = IGNORE_ID
    regions = trace_regions(mask, TraceOptions(tolerance=0))
    assert sorted(region.class_id for region in regions) == [1, IGNORE_ID]
    assert np.array_equal(paint(regions, mask.shape), mask)
    first = regions[0].points
    assert first[:, 0].min() == 0 and first[:, 1].max() == 9


@pytest.mark.parametrize(
    "pixels",
    [[(3, 3)], [(2, 2), (2, 3), (2, 4)], [(1, 5), (2, 5), (3, 5)], [(1, 1), (2, 2), (3, 3)]],
    ids=["speck", "row", "column", "diagonal"],
)
def test_one_and_two_point_outlines_get_a_third_point_that_paints_nothing_more(
    pixels: list[tuple[int, int]],
) -> None:
    mask = np.zeros((7, 8), dtype=np.uint8)
    for row, col in pixels:
        mask[row, col] = 2
    regions = trace_regions(mask, TraceOptions(tolerance=0))
    assert all(len(np.unique(region.points, axis=0)) >= 3 for region in regions)
    assert np.array_equal(paint(regions, mask.shape), mask)


def test_min_area_drops_specks_and_holes_fill() -> None:
    mask = np.zeros((20, 20), dtype=np.uint8)
    mask[2:18, 2:18] = 1
    mask[8:10, 8:10] = 0  # a 4-pixel hole
    mask[0, 19] = 2  # a 1-pixel speck
    regions = trace_regions(mask, TraceOptions(tolerance=0, min_area=5))
    assert [region.class_id for region in regions] == [1]
    expected = np.zeros_like(mask)
    expected[2:18, 2:18] = 1
    assert np.array_equal(paint(regions, mask.shape), expected)


def test_regions_mostly_under_avoided_pixels_are_dropped() -> None:
    mask = np.zeros((10, 30), dtype=np.uint8)
    mask[2:8, 2:8] = 1  # a person annotated this one
    mask[2:8, 20:26] = 2  # and touched this one on its edge only
    avoid = np.zeros(mask.shape, dtype=bool)
    avoid[1:9, 1:9] = True
    avoid[2:8, 25] = True  # 6 of 36 pixels: 17 %
    avoid[2:8, 25] = False
    avoid[2:4, 25] = True  # 2 of 36 pixels: under the 10 % limit
    regions = trace_regions(mask, TraceOptions(), avoid=avoid)
    assert [region.class_id for region in regions] == [2]


def test_simplification_keeps_few_points_on_smooth_outlines() -> None:
    canvas = Image.new("L", (640, 480), 0)
    ImageDraw.Draw(canvas).ellipse((20, 10, 610, 470), fill=1)
    mask = np.array(canvas)
    exact = trace_regions(mask, TraceOptions(tolerance=0))[0]
    simplified = trace_regions(mask, TraceOptions())[0]
    assert len(simplified.points) < len(exact.points) / 3
    changed = np.count_nonzero(paint([simplified], mask.shape) != mask)
    assert 0 < changed <= MAX_SIMPLIFICATION_CHANGE * np.count_nonzero(mask)


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(-2, 2), st.integers(-2, 2)), min_size=1, max_size=300),
    tolerance=st.sampled_from([0.3, 0.5, 1.0, 2.0, 5.0]),
)
def test_approximate_polygon_keeps_the_points_scikit_image_keeps(
    steps: list[tuple[int, int]], tolerance: float
) -> None:
    chain = np.cumsum(np.array([(0, 0), *steps], dtype=np.float64), axis=0)
    closed = np.vstack((chain, chain[:1]))
    expected = measure.approximate_polygon(closed, tolerance)
    assert np.array_equal(approximate_polygon(closed, tolerance), expected)


def test_a_mask_with_values_beyond_255_is_refused() -> None:
    with pytest.raises(Exception, match="do not fit a PNG mask"):
        trace_regions(np.full((3, 3), 300, dtype=np.int32))
