"""Tests of annotool.stats.labelme: annotation-level counts of labelme folders."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from stats_fixtures import make_dataset, make_labelme_folder

from annotool.labelmap import parse_label_map
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


def test_labelme_stats_counts_labels_after_the_label_map(tmp_path: Path) -> None:
    folder = make_labelme_folder(tmp_path / "ann")
    label_map = parse_label_map({"dog": "cat", "__ignore__": None})
    result = labelme_stats(folder, label_map=label_map)
    (cat,) = result.labels
    # one: 2 cats + 1 dog, each its own object; two: one grouped cat of 2 shapes.
    assert (cat.label, cat.shapes, cat.images, cat.instances) == ("cat", 5, 2, 4)
    assert cat.shape_types == {"point": 1, "polygon": 3, "rectangle": 1}


def test_objects_merged_by_the_map_stay_apart_in_the_counts(tmp_path: Path) -> None:
    folder = tmp_path / "ann"
    folder.mkdir()
    Image.new("RGB", (8, 6)).save(folder / "a.jpg")
    triangle = [[1, 1], [5, 1], [5, 4]]
    shapes = [
        {"label": "car", "points": triangle, "group_id": 1},
        {"label": "car", "points": triangle, "group_id": 1},
        {"label": "truck", "points": triangle, "group_id": 1},
    ]
    document = {"shapes": shapes, "imagePath": "a.jpg", "imageHeight": 6, "imageWidth": 8}
    (folder / "a.json").write_text(json.dumps(document), encoding="utf-8")
    result = labelme_stats(
        folder, label_map=parse_label_map({"car": "vehicle", "truck": "vehicle"})
    )
    (vehicle,) = result.labels
    assert (vehicle.label, vehicle.shapes, vehicle.instances) == ("vehicle", 3, 2)
