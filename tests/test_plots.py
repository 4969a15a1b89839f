"""Tests of annotool.plots: deterministic PNGs of figures and charts."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from annotool.plots import (
    BarPanel,
    bar_panels_png,
    confusion_heatmap_png,
    new_figure,
    write_figure_png,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _line_figure() -> Figure:
    figure = new_figure(3, 2)
    figure.add_subplot().plot([0, 1, 2], [2, 0, 1])
    return figure


def test_write_figure_png_is_a_png_without_software_metadata(tmp_path: Path) -> None:
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    write_figure_png(_line_figure(), first)
    write_figure_png(_line_figure(), second)

    with Image.open(first) as image:
        assert image.format == "PNG"
        assert image.size == (300, 200)
        assert "Software" not in image.info
    assert first.read_bytes() == second.read_bytes()


def test_bar_panels_and_heatmap_are_deterministic_pngs() -> None:
    panels = [BarPanel("share", [1.0, 2.0], ["1", "2"], False)]
    colours = [(0.0, 0.0, 0.0), (0.5, 0.0, 0.0)]
    first = bar_panels_png("title", ["a", "b"], colours, panels * 2)
    assert first == bar_panels_png("title", ["a", "b"], colours, panels * 2)
    heatmap = confusion_heatmap_png(np.array([[3, 1], [0, 0]]), ["bg", "cat"], "scores")
    assert heatmap == confusion_heatmap_png(np.array([[3, 1], [0, 0]]), ["bg", "cat"], "scores")
    for png in (first, heatmap):
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG"
            assert "Software" not in image.info
