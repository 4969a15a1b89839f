"""import_yolo: Ultralytics datasets (data.yaml in its forms, segmentation and detection
lines) become labelme documents; every bad line is named by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotool.errors import ForeignFormatError, InvalidInputError
from annotool.importers import WriteOptions, import_yolo
from annotool.importers.yolo import find_dataset, label_path
from annotool.labelme import read_annotation
from annotool.labels import load_labels
from annotool.rasterize import rasterize

HEIGHT, WIDTH = 20, 40


def write_yolo(
    root: Path,
    labels: dict[str, str | None],
    yaml: str | None = "path: .\ntrain: images/train\nval: images/train\nnames: [cat, dog]\n",
    split: str = "train",
) -> Path:
    """Images ``root/images/<split>/<stem>.png`` with label text (None: no label file)."""
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    for stem, text in labels.items():
        Image.new("RGB", (WIDTH, HEIGHT)).save(root / "images" / split / f"{stem}.png")
        if text is not None:
            (root / "labels" / split / f"{stem}.txt").write_text(text)
    if yaml is not None:
        (root / "data.yaml").write_text(yaml)
    return root / "data.yaml"


def shapes(json_path: Path) -> list[dict[str, object]]:
    return json.loads(json_path.read_text())["shapes"]


def test_polygons_and_boxes_become_polygons_and_rectangles(tmp_path: Path) -> None:
    text = "0 0.25 0.25 0.5 0.25 0.5 0.75\n\n1 0.75 0.5 0.2 0.4\n"
    data = write_yolo(tmp_path / "ds", {"a": text, "b": None})
    result = import_yolo(data, tmp_path / "out")
    polygon, box = shapes(tmp_path / "out" / "a.json")
    assert (polygon["label"], polygon["shape_type"]) == ("cat", "polygon")
    assert polygon["points"] == [[10.0, 5.0], [20.0, 5.0], [20.0, 15.0]]
    assert (box["label"], box["shape_type"]) == ("dog", "rectangle")
    assert box["points"] == [[26.0, 6.0], [34.0, 14.0]]
    assert shapes(tmp_path / "out" / "b.json") == []  # no label file: background
    document = json.loads((tmp_path / "out" / "a.json").read_text())
    assert document["imagePath"] == "../ds/images/train/a.png"
    assert (document["imageHeight"], document["imageWidth"]) == (HEIGHT, WIDTH)
    assert (tmp_path / "out" / "labels.txt").read_text() == "__ignore__\n_background_\ncat\ndog\n"
    assert result.shapes == 2


def test_the_documents_paint_the_polygons_pixels(tmp_path: Path) -> None:
    data = write_yolo(tmp_path, {"a": "1 0.1 0.1 0.5 0.1 0.5 0.9 0.1 0.9\n"})
    import_yolo(data, tmp_path / "out")
    labels = load_labels("_background_,cat,dog")
    annotation, problems = read_annotation(tmp_path / "out" / "a.json", labels)
    assert annotation is not None and problems == []
    class_label = rasterize(annotation.shapes, HEIGHT, WIDTH, labels)[0]
    expected = np.zeros((HEIGHT, WIDTH), dtype=np.int32)
    expected[2:19, 4:21] = 2
    assert np.array_equal(class_label, expected)


@pytest.mark.parametrize(
    "names",
    ["names: [cat, dog]", "names:\n  0: cat\n  1: dog", "nc: 2\nnames: ['cat', 'dog']"],
)
def test_names_as_a_list_or_a_mapping(tmp_path: Path, names: str) -> None:
    data = write_yolo(tmp_path, {"a": "1 0.5 0.5 0.2 0.2\n"}, f"train: images/train\n{names}\n")
    import_yolo(data, tmp_path / "out")
    assert shapes(tmp_path / "out" / "a.json")[0]["label"] == "dog"


def test_path_absolute_relative_or_stale_finds_the_images(tmp_path: Path) -> None:
    data = write_yolo(tmp_path / "ds", {"a": "0 0.5 0.5 0.2 0.2\n"})
    for root in (str(tmp_path / "ds"), "../ds", "/somewhere/else/datasets/ds"):
        data.write_text(f"path: {root}\ntrain: images/train\nnames: [cat]\n")
        assert [path.name for path in find_dataset(data).images] == ["a.png"]


def test_a_split_may_be_a_text_file_listing_images(tmp_path: Path) -> None:
    data = write_yolo(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n", "b": None})
    (tmp_path / "train.txt").write_text("./images/train/b.png\n")
    data.write_text("path: .\ntrain: train.txt\nnames: [cat]\n")
    assert [path.name for path in find_dataset(data).images] == ["b.png"]


def test_a_folder_without_yaml_needs_names(tmp_path: Path) -> None:
    write_yolo(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n"}, yaml=None)
    with pytest.raises(ForeignFormatError, match=r"holds no data.yaml .* --names"):
        import_yolo(tmp_path, tmp_path / "out")
    import_yolo(tmp_path, tmp_path / "out", names=["bird"])
    assert shapes(tmp_path / "out" / "a.json")[0]["label"] == "bird"


def test_points_one_pixel_outside_are_moved_onto_the_border(tmp_path: Path) -> None:
    data = write_yolo(tmp_path, {"a": "0 -0.02 0 1.02 0 1.02 1.05\n"})
    import_yolo(data, tmp_path / "out")
    assert shapes(tmp_path / "out" / "a.json")[0]["points"] == [
        [0.0, 0.0],
        [40.0, 0.0],
        [40.0, 20.0],
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0.5 0.5 1.2 0.5 0.5 0.9", r"line 2: x = 1.2 is outside 0..1 \(pixel 48.0 of 40\)"),
        ("2 0.5 0.5 0.2 0.2", "line 2: class 2 has no name: the names are those of classes 0-1"),
        ("0 0.5 zero 0.2 0.2", "line 2: 'zero' is not a number"),
        ("0 0.5 0.5 0.2", "line 2: 3 numbers after the class; a line holds 4"),
        ("0.5 0.5 0.5 0.2 0.2", "line 2: the class index 0.5 is not a whole number"),
        ("0 0.5 0.5 0 0.2", "line 2: the box has no width or height"),
    ],
)
def test_bad_lines_are_named_and_nothing_is_written(
    tmp_path: Path, line: str, message: str
) -> None:
    data = write_yolo(tmp_path, {"a": f"0 0.5 0.5 0.1 0.1\n{line}\n"})
    with pytest.raises(InvalidInputError, match=message) as raised:
        import_yolo(data, tmp_path / "out")
    assert str(tmp_path / "labels" / "train" / "a.txt") in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_skip_invalid_imports_the_other_images(tmp_path: Path) -> None:
    data = write_yolo(tmp_path, {"a": "7 0.5 0.5 0.2 0.2\n", "b": "0 0.5 0.5 0.2 0.2\n"})
    result = import_yolo(data, tmp_path / "out", write=WriteOptions(skip_invalid=True))
    assert result.written == [tmp_path / "out" / "b.json"]
    assert "a.txt: line 1: class 7 has no name" in str(result.skipped[0])


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("names: [a\ntrain: x", r"is not valid YAML at line \d+ column \d+"),
        ("- a\n- b\n", "is not a dataset YAML"),
        ("train: images/train\n", "has no names"),
        ("train: images/train\nnc: 3\nnames: [a, b]\n", "nc is 3, but names lists 2 classes"),
        (
            "train: images/nowhere\nnames: [a]\n",
            r"the splits \(train: images/nowhere\) are not found",
        ),
        ("names: [a]\n", "names no split"),
        ("train: images/train\nnames: [cat, no]\n", "names entry 1 reads as False: YAML takes"),
    ],
)
def test_bad_yaml_stops_the_import(tmp_path: Path, yaml: str, message: str) -> None:
    data = write_yolo(tmp_path, {"a": None}, yaml)
    with pytest.raises(ForeignFormatError, match=message):
        import_yolo(data, tmp_path / "out")


def test_label_path_replaces_the_last_images_folder() -> None:
    assert label_path(Path("/d/images/train/images/x.jpg")) == Path("/d/images/train/labels/x.txt")
    assert label_path(Path("/d/photos/x.JPG")) == Path("/d/photos/x.txt")


def test_every_bad_line_of_a_file_is_listed(tmp_path: Path) -> None:
    data = write_yolo(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n9 0.5 0.5 0.2 0.2\n0 x 1 1 1\n"})
    with pytest.raises(InvalidInputError, match="2 problems") as raised:
        import_yolo(data, tmp_path / "out")
    assert ": line 2: class 9" in str(raised.value) and ": line 3: 'x'" in str(raised.value)


def test_an_image_a_split_list_names_that_does_not_exist_is_named(tmp_path: Path) -> None:
    data = write_yolo(tmp_path, {"a": None})
    (tmp_path / "train.txt").write_text("images/train/a.png\nimages/train/gone.png\n")
    data.write_text("train: train.txt\nnames: [cat]\n")
    with pytest.raises(
        InvalidInputError, match=r"data.yaml: the image .*gone.png it lists does not"
    ):
        import_yolo(data, tmp_path / "out")
