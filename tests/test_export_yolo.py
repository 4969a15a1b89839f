"""annotool.export.yolo: the Ultralytics layout, label lines, splits, round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from export_factory import converted, every_shape_type, random_documents
from labelme_factory import make_dataset, photo, rectangle, shape, write_annotation, write_labels
from PIL import Image, ImageDraw

from annotool.errors import InvalidInputError
from annotool.export import SplitRequest, export_yolo
from annotool.export.verify import yolo_agreement
from annotool.export.yolo import DATA_FILE_COMMENT, read_yolo_polygon, yolo_line
from annotool.labels import load_labels
from annotool.voc import VocLayout

REAL_FIXTURES = ("semantic", "instance", "primitives", "embedded_image")
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "shapes"


def export(json_dir: Path, out_dir: Path, **options: object):
    return export_yolo(json_dir, out_dir, load_labels(json_dir / "labels.txt"), **options)


def label_lines(out_dir: Path, split: str, stem: str) -> list[list[str]]:
    text = (out_dir / "labels" / split / f"{stem}.txt").read_text(encoding="utf-8")
    return [line.split() for line in text.splitlines()]


def test_layout_and_data_yaml(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=5)
    result = export(annotations, tmp_path / "out")
    out = tmp_path / "out"
    assert result.split_sizes == {"train": 4, "val": 1}
    for split, count in result.split_sizes.items():
        images = sorted(p.stem for p in (out / "images" / split).glob("*.jpg"))
        labels = sorted(p.stem for p in (out / "labels" / split).glob("*.txt"))
        assert len(images) == count and images == labels
    assert (out / "data.yaml").read_text(encoding="utf-8") == (
        f"{DATA_FILE_COMMENT}\n"
        'train: images/train\nval: images/val\nnames:\n  0: "cat"\n  1: "dog"\n'
    )
    assert not list((out / "images").glob("*.jpg"))  # every image is in a split folder


def test_data_yaml_has_no_path_so_the_folder_can_be_moved(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=5)
    export(annotations, tmp_path / "out")
    moved = tmp_path / "elsewhere" / "dataset"
    moved.parent.mkdir()
    (tmp_path / "out").rename(moved)
    data = yaml.safe_load((moved / "data.yaml").read_text(encoding="utf-8"))
    # Ultralytics takes the folder of data.yaml as the root when there is no 'path'.
    assert "path" not in data
    for split in ("train", "val"):
        assert any((moved / data[split]).glob("*.jpg"))
    assert data["names"] == {0: "cat", 1: "dog"}


def test_class_indexes_are_those_of_the_labels_file_when_a_class_has_no_shapes(
    tmp_path: Path,
) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    write_labels(annotations / "labels.txt", "__ignore__\n_background_\nbird\ncat\nfish\ndog\n")
    out = tmp_path / "out"
    export(annotations, out, split=SplitRequest(val=1))
    data = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))
    assert data["names"] == {0: "bird", 1: "cat", 2: "fish", 3: "dog"}
    indexes = {
        line.split()[0]
        for path in (out / "labels").rglob("*.txt")
        for line in path.read_text(encoding="utf-8").splitlines()
    }
    assert indexes == {"1", "3"}  # cat and dog keep their ids; bird and fish are unused


def test_label_lines_hold_class_index_and_normalized_polygons(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_annotation(
        folder,
        "one",
        [rectangle("dog", 4, 6, 20, 18), shape("cat", [[30, 3], [38, 3], [34, 9]])],
    )
    write_labels(folder / "labels.txt")
    export(folder, tmp_path / "out")
    dog, cat = label_lines(tmp_path / "out", "train", "one")
    assert dog[0] == "1" and cat[0] == "0"
    assert [float(v) for v in dog[1:]] == pytest.approx(
        [4 / 40, 6 / 30, 20 / 40, 6 / 30, 20 / 40, 18 / 30, 4 / 40, 18 / 30], abs=1e-6
    )
    assert all(0 <= float(v) <= 1 for v in cat[1:]) and len(cat) == 7


def test_a_single_image_is_both_train_and_val(tmp_path: Path) -> None:
    result = export(make_dataset(tmp_path / "in", count=1), tmp_path / "out")
    assert result.split_sizes == {}
    data = (tmp_path / "out" / "data.yaml").read_text()
    assert "train: images/train\nval: images/train\n" in data


def test_split_from_a_dataset(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=3)
    voc = converted(annotations, tmp_path / "voc")
    for split, stems in (("train", ["image000"]), ("val", ["image001"]), ("test", ["image002"])):
        VocLayout(voc).write_split(split, stems)
    result = export(annotations, tmp_path / "out", split=SplitRequest(split_from=voc))
    assert result.split_sizes == {"train": 1, "val": 1, "test": 1}
    assert (tmp_path / "out" / "images" / "test" / "image002.jpg").is_file()
    assert "test: images/test\n" in (tmp_path / "out" / "data.yaml").read_text()


def test_grouped_polygons_are_joined_into_one_line(tmp_path: Path) -> None:
    export(every_shape_type(tmp_path / "in"), tmp_path / "out")
    lines = label_lines(tmp_path / "out", "train", "every")
    assert len(lines) == 10  # one line per object, the group of two triangles is one
    group = np.array([float(v) for v in lines[7][1:]]).reshape(-1, 2) * (80, 60)
    for corner in ([2, 45], [14, 45], [8, 57], [20, 45], [32, 45], [26, 57]):
        assert np.abs(group - corner).sum(axis=1).min() < 1e-3


def test_mask_shape_outline_is_traced_with_its_hole(tmp_path: Path) -> None:
    export(every_shape_type(tmp_path / "in"), tmp_path / "out")
    line = label_lines(tmp_path / "out", "train", "every")[6]
    class_index, polygon = read_yolo_polygon(" ".join(line), 60, 80)
    canvas = Image.new("L", (80, 60), 0)
    corners = [(int(x), int(y)) for x, y in polygon.astype(np.int32)]
    ImageDraw.Draw(canvas).polygon(corners, fill=1, outline=1)
    painted = np.asarray(canvas, dtype=bool)
    ring = np.ones((9, 12), dtype=bool)
    ring[3:6, 4:8] = False
    assert class_index == 0
    assert np.array_equal(painted[40:49, 62:74], ring)
    assert painted.sum() == ring.sum()


def test_yolo_line_rounds_up_so_truncation_gives_whole_pixels() -> None:
    polygon = np.array([[0, 0], [13, 0], [13, 326], [0, 326]], dtype=np.float64)
    _, back = read_yolo_polygon(yolo_line(3, polygon, 375, 500), 375, 500)
    assert np.array_equal(back.astype(np.int32), polygon.astype(np.int32))


def test_exif_rotated_photo_is_normalized_in_the_annotated_frame(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_annotation(folder, "phone", [rectangle("cat", 0, 0, 39, 9)], height=30, width=40)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(photo(40, 30)).save(folder / "phone.jpg", exif=exif.tobytes())
    write_labels(folder / "labels.txt")
    export(folder, tmp_path / "out")
    with Image.open(tmp_path / "out" / "images" / "train" / "phone.jpg") as image:
        assert image.size == (40, 30)
    (line,) = label_lines(tmp_path / "out", "train", "phone")
    assert [float(v) for v in line[1:]] == pytest.approx(
        [0, 0, 39 / 40, 0, 39 / 40, 9 / 30, 0, 9 / 30], abs=1e-6
    )


def test_invalid_file_writes_nothing(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    write_annotation(annotations, "bad", [shape("cat", [[1, 1], [5, 1]])])
    with pytest.raises(InvalidInputError, match="needs at least 3 points"):
        export(annotations, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_output_does_not_depend_on_workers(tmp_path: Path) -> None:
    annotations = random_documents(tmp_path / "in", count=6, seed=5)
    export(annotations, tmp_path / "one", workers=1)
    export(annotations, tmp_path / "two", workers=2)
    for path in sorted((tmp_path / "one").rglob("*.txt")):
        assert (
            path.read_bytes()
            == (tmp_path / "two" / path.relative_to(tmp_path / "one")).read_bytes()
        )


@pytest.mark.parametrize("name", REAL_FIXTURES)
def test_round_trip_on_the_labelme_fixtures(
    labelme_fixtures: Path, tmp_path: Path, name: str
) -> None:
    fixture = labelme_fixtures / name
    voc = converted(fixture / "annotations", tmp_path / "voc", fixture / "labels.txt")
    export_yolo(fixture / "annotations", tmp_path / "yolo", load_labels(fixture / "labels.txt"))
    agreement = yolo_agreement(tmp_path / "yolo", voc)
    assert agreement.images == len(list((fixture / "annotations").glob("*.json")))
    assert agreement.object_agreement >= 0.998
    assert agreement.worst_iou >= 0.98


def test_round_trip_on_the_bundled_example(tmp_path: Path) -> None:
    voc = converted(EXAMPLE, tmp_path / "voc")
    export_yolo(EXAMPLE, tmp_path / "yolo", load_labels(EXAMPLE / "labels.txt"))
    agreement = yolo_agreement(tmp_path / "yolo", voc)
    assert agreement.object_agreement >= 0.998
    assert agreement.worst_iou >= 0.95


@pytest.mark.parametrize("seed", range(3))
def test_round_trip_on_random_documents(tmp_path: Path, seed: int) -> None:
    """Objects cut into pieces by later shapes get bridges, which paint a few extra pixels."""
    annotations = random_documents(tmp_path / "in", count=8, seed=seed)
    voc = converted(annotations, tmp_path / "voc")
    export_yolo(annotations, tmp_path / "yolo", load_labels(annotations / "labels.txt"))
    agreement = yolo_agreement(tmp_path / "yolo", voc)
    assert agreement.object_agreement >= 0.985


def test_polygon_reaching_off_the_image_is_traced_from_its_pixels(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_annotation(folder, "edge", [shape("cat", [[-10, -5], [20, 4], [8, 25]])])
    write_labels(folder / "labels.txt")
    result = export(folder, tmp_path / "out")
    assert (result.polygon_instances, result.mask_instances) == (0, 1)
    (line,) = label_lines(tmp_path / "out", "train", "edge")
    assert all(0 <= float(value) <= 1 for value in line[1:])
    voc = converted(folder, tmp_path / "voc")
    assert yolo_agreement(tmp_path / "out", voc).object_agreement == 1.0
