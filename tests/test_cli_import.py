"""``annotool import coco|yolo|voc`` through the command line: what it prints, exit codes,
and the commands a person types next."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image
from test_import_coco import image_entry, polygon_annotation, write_coco
from test_import_yolo import write_yolo

from annotool.cli import main
from annotool.fileio import TEMP_MARKER
from annotool.importers import documents
from annotool.labels import voc_palette
from annotool.masks import read_label_png


def invoke(*arguments: object) -> Result:
    return CliRunner().invoke(main, [str(argument) for argument in arguments])


def test_import_coco_writes_documents_and_says_what_comes_next(tmp_path: Path) -> None:
    path = write_coco(tmp_path / "coco", [polygon_annotation(1, [[1, 1, 6, 1, 6, 6]])])
    out = tmp_path / "out"
    result = invoke("import", "coco", path, out, "-q")
    assert result.exit_code == 0, result.output
    assert f"Wrote 1 labelme files (1 shapes) to {out}." in result.output
    assert f"annotool convert {out} DATASET --labels {out / 'labels.txt'}" in result.output
    result = invoke("convert", out, tmp_path / "dataset", "--labels", out / "labels.txt", "-q")
    assert result.exit_code == 0, result.output
    mask = read_label_png(tmp_path / "dataset" / "SegmentationClass" / "a.png")
    assert mask[3, 3] == 1 and mask[15, 25] == 0
    again = invoke("import", "coco", path, out, "-q")
    assert f"Left 1 JSON files that exist in {out} alone (--overwrite" in again.output


def test_import_coco_lists_every_invalid_entry_and_exits_1(tmp_path: Path) -> None:
    annotations = [
        polygon_annotation(4, [[1, 1, 2, 2]]),
        {**polygon_annotation(5, []), "image_id": 9},
    ]
    path = write_coco(tmp_path, annotations, images=[image_entry(1, "a"), image_entry(2, "b")])
    result = invoke("import", "coco", path, tmp_path / "out", "-q")
    assert result.exit_code == 1
    assert "2 problems; nothing was written" in result.output
    assert "annotation id 5: image_id 9 is not the id of an image" in result.output
    assert "image id 1 (JPEGImages/a.png): annotation id 4: segmentation polygon 0" in result.output
    assert not (tmp_path / "out").exists()
    result = invoke("import", "coco", path, tmp_path / "out", "-q", "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert "Skipped the images (or annotations) with these 2 problems:" in result.output
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["b.json", "labels.txt"]


def test_import_coco_disk_full_is_a_message_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_coco(tmp_path, [])

    def disk_full(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    result = invoke("import", "coco", path, tmp_path / "out", "-q")
    assert result.exit_code == 1
    assert f"Error: {tmp_path / 'out' / 'a.json'}: No space left on device; free" in result.output
    assert not (tmp_path / "out").exists()


def test_import_yolo_with_names_and_a_names_file(tmp_path: Path) -> None:
    write_yolo(tmp_path / "ds", {"a": "1 0.5 0.5 0.2 0.2\n"}, yaml=None)
    result = invoke("import", "yolo", tmp_path / "ds", tmp_path / "out", "--names", "cat,dog")
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "out" / "a.json").read_text())
    assert document["shapes"][0]["label"] == "dog"
    (tmp_path / "classes.txt").write_text("bird\nfish\n")
    result = invoke(
        "import", "yolo", tmp_path / "ds", tmp_path / "out2", "--names", tmp_path / "classes.txt"
    )
    assert json.loads((tmp_path / "out2" / "a.json").read_text())["shapes"][0]["label"] == "fish"
    result = invoke("import", "yolo", tmp_path / "ds", tmp_path / "out3", "--names", "cat,,dog")
    assert result.exit_code == 2 and "'--names'" in result.output


def test_import_yolo_without_names_says_how_to_give_them(tmp_path: Path) -> None:
    write_yolo(tmp_path / "ds", {"a": None}, yaml=None)
    result = invoke("import", "yolo", tmp_path / "ds", tmp_path / "out")
    assert result.exit_code == 1
    assert "holds no data.yaml or data.yml or dataset.yaml; give the class names" in result.output


def write_voc(root: Path, with_class_names: bool = True) -> np.ndarray:
    for folder in ("JPEGImages", "SegmentationClass"):
        (root / folder).mkdir(parents=True)
    Image.new("RGB", (12, 10), (40, 80, 120)).save(root / "JPEGImages" / "a.jpg")
    mask = np.zeros((10, 12), dtype=np.uint8)
    mask[2:7, 3:9] = 2
    mask[0:2, 0:2] = 255
    image = Image.fromarray(mask, mode="P")
    image.putpalette(voc_palette())
    image.save(root / "SegmentationClass" / "a.png")
    if with_class_names:
        (root / "class_names.txt").write_text("_background_\ncat\ndog\n")
    return mask


def test_import_voc_gives_the_masks_back_through_convert(tmp_path: Path) -> None:
    mask = write_voc(tmp_path / "voc")
    result = invoke("import", "voc", tmp_path / "voc", tmp_path / "json", "--tolerance", "0")
    assert result.exit_code == 0, result.output
    assert f"Wrote 1 labelme files to {tmp_path / 'json'}" in result.output
    labels = tmp_path / "voc" / "class_names.txt"
    result = invoke("convert", tmp_path / "json", tmp_path / "again", "--labels", labels, "-q")
    assert result.exit_code == 0, result.output
    assert np.array_equal(read_label_png(tmp_path / "again" / "SegmentationClass" / "a.png"), mask)


def test_import_voc_without_class_names_asks_for_labels(tmp_path: Path) -> None:
    write_voc(tmp_path / "voc", with_class_names=False)
    result = invoke("import", "voc", tmp_path / "voc", tmp_path / "json")
    assert result.exit_code == 1
    assert "has no class_names.txt; give the class list with --labels" in result.output
    result = invoke(
        "import", "voc", tmp_path / "voc", tmp_path / "json", "--labels", "_background_,cat,dog"
    )
    assert result.exit_code == 0, result.output


def test_import_voc_on_a_folder_that_is_no_dataset(tmp_path: Path) -> None:
    result = invoke("import", "voc", tmp_path, tmp_path / "json")
    assert result.exit_code == 1
    assert "is not a segmentation dataset" in result.output


def test_ctrl_c_while_writing_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_coco(tmp_path, [], images=[image_entry(1, "a"), image_entry(2, "b")])
    written: list[Path] = []

    def interrupted_on_second(target: Path, data: bytes) -> None:
        if written:
            raise KeyboardInterrupt
        written.append(target)
        target.write_bytes(data)

    monkeypatch.setattr(documents, "write_staged", interrupted_on_second)
    result = invoke("import", "coco", path, tmp_path / "out", "-q")
    assert result.exit_code == 130
    assert "Interrupted; nothing was written." in result.output
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(f".*{TEMP_MARKER}"))


def test_import_coco_and_yolo_take_a_label_map(tmp_path: Path) -> None:
    path = write_coco(tmp_path / "coco", [polygon_annotation(1, [[1, 1, 6, 1, 6, 6]])])
    result = invoke("import", "coco", path, tmp_path / "c", "--map", "cat=animal", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "c" / "a.json").read_text())["shapes"][0]["label"] == "animal"
    data = write_yolo(tmp_path / "ds", {"a": "1 0.5 0.5 0.2 0.2\n"})
    result = invoke("import", "yolo", data, tmp_path / "y", "--map", "d*=", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "y" / "a.json").read_text())["shapes"] == []
    assert (tmp_path / "y" / "labels.txt").read_text() == "__ignore__\n_background_\ncat\n"
    result = invoke("import", "yolo", data, tmp_path / "z", "--map", "no-equals-sign")
    assert result.exit_code == 2 and "'--map'" in result.output


def test_import_voc_traces_objects_unless_no_objects(tmp_path: Path) -> None:
    write_voc(tmp_path / "voc")
    (tmp_path / "voc" / "SegmentationObject").mkdir()
    objects = np.zeros((10, 12), dtype=np.uint8)
    objects[2:7, 3:6], objects[2:7, 6:9] = 1, 2  # two dogs side by side
    image = Image.fromarray(objects, mode="P")
    image.putpalette(voc_palette())
    image.save(tmp_path / "voc" / "SegmentationObject" / "a.png")
    for flag, dogs in (("--objects", 2), ("--no-objects", 1)):
        out = tmp_path / flag
        result = invoke("import", "voc", tmp_path / "voc", out, flag, "-q")
        assert result.exit_code == 0, result.output
        shapes = json.loads((out / "a.json").read_text())["shapes"]
        assert [shape["label"] for shape in shapes].count("dog") == dogs


def test_import_coco_takes_the_crowd_regions_of_annotool_exports_as_ignored(
    tmp_path: Path,
) -> None:
    """The round trip a person makes: export coco, then import coco without options."""
    images = tmp_path / "labelme"
    images.mkdir()
    Image.new("RGB", (20, 10)).save(images / "a.png")
    shapes = [
        {"label": "cat", "points": [[1, 1], [8, 1], [8, 8]], "shape_type": "polygon"},
        {"label": "__ignore__", "points": [[12, 1], [18, 1], [18, 8]], "shape_type": "polygon"},
    ]
    document = {"shapes": shapes, "imagePath": "a.png", "imageHeight": 10, "imageWidth": 20}
    (images / "a.json").write_text(json.dumps(document))
    labels = "_background_,cat"
    result = invoke("export", "coco", images, tmp_path / "coco", "--labels", labels, "-q")
    assert result.exit_code == 0, result.output
    result = invoke("import", "coco", tmp_path / "coco" / "annotations.json", tmp_path / "back")
    assert result.exit_code == 0, result.output
    back = json.loads((tmp_path / "back" / "a.json").read_text())["shapes"]
    assert sorted(shape["label"] for shape in back) == ["__ignore__", "cat"]
