"""Tests of annotool.stats.labelme: annotation-level counts of labelme folders."""

from __future__ import annotations

from pathlib import Path

from stats_fixtures import make_dataset, make_labelme_folder

from annotool.stats import (
    format_labelme_table,
    is_labelme_dir,
    labelme_stats,
)


def test_labelme_folder_counts(tmp_path: Path) -> None:
    folder = make_labelme_folder(tmp_path / "ann")

    result = labelme_stats(folder)

    by_label = {item.label: item for item in result.labels}
    assert list(by_label) == ["__ignore__", "cat", "dog"]
    cat = by_label["cat"]
    assert (cat.shapes, cat.images, cat.instances) == (4, 2, 3)
    assert cat.shape_types == {"polygon": 3, "rectangle": 1}
    assert by_label["dog"].shape_types == {"point": 1}
    assert result.shape_types == {"point": 1, "polygon": 4, "rectangle": 1}
    assert result.files == 4
    assert result.files_without_shapes == ("three.json",)
    assert len(result.problems) == 1 and "broken.json" in result.problems[0]
    document = result.to_dict()
    assert document["kind"] == "labelme" and document["shapes"] == 6
    assert "Files without shapes: 1 (three.json)" in format_labelme_table(result)


def test_labelme_folder_detection(tmp_path: Path) -> None:
    assert is_labelme_dir(make_labelme_folder(tmp_path / "ann"))
    assert not is_labelme_dir(make_dataset(tmp_path / "d").root)
    assert not is_labelme_dir(tmp_path / "missing")
