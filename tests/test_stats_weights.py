"""Tests of annotool.stats.weights: class weights from pixel counts."""

from __future__ import annotations

import pytest

from annotool.stats import (
    class_weights,
)


@pytest.mark.parametrize(
    ("pixels", "denominators", "inverse", "median"),
    [
        ([10, 10], [20, 20], [1.0, 1.0], [1.0, 1.0]),
        ([30, 10, 0], [40, 40, 0], [40 / 60, 2.0, 0.0], [0.5 / 0.75, 0.5 / 0.25, 0.0]),
        ([0, 0], [0, 0], [0.0, 0.0], [0.0, 0.0]),
    ],
    ids=["balanced", "three-to-one-and-empty", "no-pixels"],
)
def test_class_weights_function(
    pixels: list[int], denominators: list[int], inverse: list[float], median: list[float]
) -> None:
    weights = class_weights(pixels, denominators)

    assert weights.inverse_frequency == pytest.approx(inverse)
    assert weights.median_frequency == pytest.approx(median)
