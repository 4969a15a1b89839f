"""importers.rle: COCO's compressed run lengths read as pycocotools writes them; RLE
regions become shapes that paint their pixels without erasing earlier ones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pycocotools import mask as coco_mask

from annotool.importers.rle import PaintedPixels, decode_rle, rle_shapes, run_lengths
from annotool.labelme_write import ShapeOptions, new_shape
from annotool.polygons import TraceOptions


@settings(max_examples=60, deadline=None)
@given(
    pixels=arrays(
        np.uint8, st.tuples(st.integers(1, 30), st.integers(1, 30)), elements=st.integers(0, 1)
    )
)
def test_run_lengths_read_what_pycocotools_writes(pixels: np.ndarray) -> None:
    encoded = coco_mask.encode(np.asfortranarray(pixels))
    runs = run_lengths(encoded["counts"].decode("ascii"))
    assert runs is not None and sum(runs) == pixels.size
    column_major = pixels.T.ravel()
    starts = np.flatnonzero(np.diff(np.r_[0, column_major])) if column_major.size else []
    expected = np.diff(np.r_[0, starts, column_major.size]).tolist()
    assert [run for run in runs if run] == [run for run in expected if run]


@pytest.mark.parametrize("counts", ["", "0", "zz\x7f", [3, 4], [18, -2, 4]])
def test_counts_that_do_not_cover_the_image_are_refused(counts: object) -> None:
    with pytest.raises(ValueError, match="run lengths must add up to height x width"):
        decode_rle({"size": [4, 5], "counts": counts}, 4, 5)


def test_a_hole_over_earlier_pixels_makes_one_mask_shape() -> None:
    ring = np.zeros((12, 12), dtype=bool)
    ring[1:11, 1:11] = True
    ring[4:8, 4:8] = False
    exact = ShapeOptions(TraceOptions(tolerance=0))
    empty = PaintedPixels(12, 12)
    assert [shape["label"] for shape in rle_shapes("cat", ring, empty, 1, exact)] == [
        "cat",
        "_background_",
    ]
    painted = PaintedPixels(12, 12)
    painted.add([new_shape("dog", [[5.0, 5.0], [6.0, 5.0], [6.0, 6.0]], "polygon")])
    (shape,) = rle_shapes("cat", ring, painted, 1, exact)
    assert shape["shape_type"] == "mask" and shape["points"] == [[1.0, 1.0], [10.0, 10.0]]
