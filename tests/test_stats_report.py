"""Tests of annotool.stats.report: text tables and the plot."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from stats_fixtures import NAMES, make_dataset, make_labelme_folder

from annotool.stats import (
    compute_stats,
    format_table,
    labelme_stats,
    plot_stats,
)


def test_table_has_aligned_columns(tmp_path: Path) -> None:
    table = format_table(compute_stats(make_dataset(tmp_path / "d").root))

    lines = table.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("id"))
    rows = lines[header : header + 2 + len(NAMES)]
    assert rows[1].replace(" ", "").strip("-") == ""
    assert len({len(line) for line in rows}) == 1  # the last column is right-aligned
    assert "RGB mean" in table
    assert "classes with no pixels: 3 bird" in table


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "plots" / "stats.png"

    plot_stats(compute_stats(make_dataset(tmp_path / "d").root), path)

    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 500
    assert [p.name for p in path.parent.iterdir()] == ["stats.png"]


def test_labelme_plot(tmp_path: Path) -> None:
    path = tmp_path / "labels.png"

    plot_stats(labelme_stats(make_labelme_folder(tmp_path / "ann")), path)

    with Image.open(path) as image:
        assert image.format == "PNG"
