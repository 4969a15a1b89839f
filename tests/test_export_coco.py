"""annotool.export.coco: the COCO layout, objects as SegmentationObject holds them, round trip."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from export_factory import converted, every_shape_type, random_documents
from labelme_factory import make_dataset, photo, rectangle, shape, write_annotation, write_labels
from PIL import Image
from pycocotools.coco import COCO

from annotool.errors import DatasetError, InvalidInputError, OutputExistsError, SplitError
from annotool.export import SplitRequest, export_coco
from annotool.export.instances import CIRCLE_TOLERANCE
from annotool.export.verify import coco_agreement
from annotool.labels import load_labels
from annotool.voc import VocLayout

REAL_FIXTURES = ("semantic", "instance", "primitives", "embedded_image")
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "shapes"


def load(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def export(json_dir: Path, out_dir: Path, **options: object) -> dict:
    export_coco(json_dir, out_dir, load_labels(json_dir / "labels.txt"), **options)
    return json.loads((out_dir / "annotations.json").read_text(encoding="utf-8"))


def test_layout_categories_and_images(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    document = export(annotations, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == [
        "image000.jpg",
        "image001.jpg",
    ]
    assert [(c["id"], c["name"]) for c in document["categories"]] == [(1, "cat"), (2, "dog")]
    assert document["images"] == [
        {"id": 1, "file_name": "image000.jpg", "height": 30, "width": 40},
        {"id": 2, "file_name": "image001.jpg", "height": 30, "width": 40},
    ]
    ids = [annotation["id"] for annotation in document["annotations"]]
    assert ids == list(range(1, len(ids) + 1))
    # The source JPEG is copied byte for byte, as convert copies it.
    copied = (tmp_path / "out" / "images" / "image000.jpg").read_bytes()
    assert copied == (annotations / "image000.jpg").read_bytes()


def test_pycocotools_loads_the_export_and_masks_match_convert(tmp_path: Path) -> None:
    annotations = every_shape_type(tmp_path / "in")
    export(annotations, tmp_path / "out")
    coco = load(tmp_path / "out" / "annotations.json")
    cat_ids = coco.getAnnIds(imgIds=[1], catIds=[1], iscrowd=False)
    assert len(cat_ids) == 5  # triangle, circle, linestrip, mask, painted-over rectangle
    mask = coco.annToMask(coco.loadAnns(cat_ids[0])[0])
    assert mask.shape == (60, 80) and mask[8, 12] == 1
    agreement = coco_agreement(
        tmp_path / "out" / "annotations.json", converted(annotations, tmp_path / "voc")
    )
    assert agreement.instances == 10
    assert agreement.object_agreement > 0.96


def test_each_shape_type_gets_polygons_or_rle(tmp_path: Path) -> None:
    document = export(every_shape_type(tmp_path / "in"), tmp_path / "out")
    objects = [a for a in document["annotations"] if not a["iscrowd"]]
    kinds = ["polygon" if isinstance(a["segmentation"], list) else "rle" for a in objects]
    # polygon, rectangle, circle | line, linestrip, point, mask | group of two polygons
    # | rectangle painted over by the next one | that rectangle
    assert kinds == ["polygon"] * 3 + ["rle"] * 4 + ["polygon", "rle", "polygon"]
    group = objects[7]
    assert len(group["segmentation"]) == 2
    assert group["category_id"] == 2
    circle = objects[2]["segmentation"][0]
    radii = np.hypot(np.array(circle[0::2]) - 50, np.array(circle[1::2]) - 10)
    assert np.allclose(radii, 8, atol=0.01)
    # The polygon's sides stray at most CIRCLE_TOLERANCE px from the circle.
    assert 8 * (1 - np.cos(np.pi / len(radii))) <= CIRCLE_TOLERANCE
    for annotation in objects:
        rle_area = int(annotation["area"])
        assert rle_area > 0
        x, y, width, height = annotation["bbox"]
        assert x >= 0 and y >= 0 and x + width <= 80 and y + height <= 60


def test_rle_is_compressed_with_the_image_size(tmp_path: Path) -> None:
    document = export(every_shape_type(tmp_path / "in"), tmp_path / "out")
    rle = next(
        a["segmentation"] for a in document["annotations"] if isinstance(a["segmentation"], dict)
    )
    assert rle["size"] == [60, 80] and isinstance(rle["counts"], str)


def test_ignore_regions_are_crowd_annotations_of_every_category(tmp_path: Path) -> None:
    document = export(every_shape_type(tmp_path / "in"), tmp_path / "out")
    crowd = [a for a in document["annotations"] if a["iscrowd"]]
    assert sorted(a["category_id"] for a in crowd) == [1, 2]
    assert all(a["area"] == 16 * 5 and a["bbox"] == [64.0, 0.0, 16.0, 5.0] for a in crowd)


def test_ignore_drop_writes_no_crowd(tmp_path: Path) -> None:
    document = export(every_shape_type(tmp_path / "in"), tmp_path / "out", ignore="drop")
    assert not any(a["iscrowd"] for a in document["annotations"])
    assert len(document["annotations"]) == 10


def test_unknown_ignore_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ignore must be one of"):
        export(make_dataset(tmp_path / "in", 1), tmp_path / "out", ignore="keep")


def test_background_shapes_and_covered_objects_are_left_out(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_annotation(
        folder,
        "covered",
        [
            rectangle("cat", 2, 2, 10, 10),
            rectangle("dog", 0, 0, 20, 20),  # covers the cat completely
            rectangle("_background_", 15, 15, 25, 25),  # paints over part of the dog
        ],
    )
    write_labels(folder / "labels.txt")
    document = export(folder, tmp_path / "out")
    (dog,) = document["annotations"]
    assert dog["category_id"] == 2 and isinstance(dog["segmentation"], dict)
    assert dog["area"] == 21 * 21 - 6 * 6


def test_exif_rotated_photo_is_oriented_and_sized_as_annotated(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_annotation(folder, "phone", [rectangle("cat", 0, 0, 39, 9)], height=30, width=40)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 30 wide and 40 high, shown 40 wide and 30 high
    Image.fromarray(photo(40, 30)).save(folder / "phone.jpg", exif=exif.tobytes())
    write_labels(folder / "labels.txt")
    document = export(folder, tmp_path / "out")
    assert (document["images"][0]["width"], document["images"][0]["height"]) == (40, 30)
    with Image.open(tmp_path / "out" / "images" / "phone.jpg") as image:
        assert image.size == (40, 30)
    coco = load(tmp_path / "out" / "annotations.json")
    assert coco.annToMask(coco.loadAnns(1)[0])[:9, :39].all()


def test_split_from_a_dataset_writes_one_file_per_split(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=4)
    voc = converted(annotations, tmp_path / "voc")
    layout = VocLayout(voc)
    layout.write_split("train", ["image000", "image001", "image003"])
    layout.write_split("val", ["image002"])
    export_coco(
        annotations,
        tmp_path / "out",
        load_labels(annotations / "labels.txt"),
        split=SplitRequest(split_from=voc),
    )
    assert not (tmp_path / "out" / "annotations.json").exists()
    train = json.loads((tmp_path / "out" / "instances_train.json").read_text())
    val = json.loads((tmp_path / "out" / "instances_val.json").read_text())
    assert [i["file_name"] for i in train["images"]] == [
        "image000.jpg",
        "image001.jpg",
        "image003.jpg",
    ]
    assert [(i["id"], i["file_name"]) for i in val["images"]] == [(3, "image002.jpg")]
    assert {a["image_id"] for a in val["annotations"]} == {3}
    train_ids = {a["id"] for a in train["annotations"]}
    assert train_ids.isdisjoint(a["id"] for a in val["annotations"])
    assert len(list((tmp_path / "out" / "images").iterdir())) == 4


def test_split_files_missing_an_image_are_an_error(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=3)
    voc = converted(annotations, tmp_path / "voc")
    VocLayout(voc).write_split("train", ["image000"])
    VocLayout(voc).write_split("val", ["image001"])
    with pytest.raises(SplitError, match=r"1 exported images are in none .*image002"):
        export_coco(
            annotations,
            tmp_path / "out",
            load_labels(annotations / "labels.txt"),
            split=SplitRequest(split_from=voc),
        )
    assert not (tmp_path / "out").exists()


def test_split_from_without_split_files_names_annotool_split(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    voc = converted(annotations, tmp_path / "voc")
    with pytest.raises(DatasetError, match="annotool split"):
        export_coco(
            annotations,
            tmp_path / "out",
            load_labels(annotations / "labels.txt"),
            split=SplitRequest(split_from=voc),
        )


def test_val_split_is_stratified_and_seeded(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=5)
    labels = load_labels(annotations / "labels.txt")
    result = export_coco(annotations, tmp_path / "a", labels, split=SplitRequest(val=2, seed=3))
    assert result.split_sizes == {"train": 3, "val": 2}
    export_coco(annotations, tmp_path / "b", labels, split=SplitRequest(val=2, seed=3))
    for name in ("instances_train.json", "instances_val.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_split_from_and_val_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(SplitError, match="exclude each other"):
        SplitRequest(split_from=tmp_path, val=0.2)


def test_output_does_not_depend_on_workers(tmp_path: Path) -> None:
    annotations = every_shape_type(tmp_path / "in")
    make_dataset(annotations, count=4)
    one = export(annotations, tmp_path / "one", workers=1)
    two = export(annotations, tmp_path / "two", workers=2)
    assert one == two


def test_invalid_file_writes_nothing(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    write_annotation(annotations, "bad", [shape("horse", [[1, 1], [5, 1], [3, 4]])])
    with pytest.raises(InvalidInputError, match=r"1 of 3 .*--skip-invalid to export") as error:
        export(annotations, tmp_path / "out")
    assert "horse" in str(error.value)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.*"))


def test_skip_invalid_exports_the_rest(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    write_annotation(annotations, "bad", [shape("horse", [[1, 1], [5, 1], [3, 4]])])
    result = export_coco(
        annotations, tmp_path / "out", load_labels(annotations / "labels.txt"), skip_invalid=True
    )
    assert result.exported == ["image000", "image001"]
    assert [check.path.stem for check in result.skipped] == ["bad"]


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        export(annotations, tmp_path / "out")
    export(annotations, tmp_path / "out", overwrite=True)
    assert not (tmp_path / "out" / "keep.txt").exists()


@pytest.mark.parametrize("name", REAL_FIXTURES)
def test_round_trip_on_the_labelme_fixtures(
    labelme_fixtures: Path, tmp_path: Path, name: str
) -> None:
    """annToMask of every annotation against convert's masks: at least 99.5% of pixels."""
    fixture = labelme_fixtures / name
    voc = converted(fixture / "annotations", tmp_path / "voc", fixture / "labels.txt")
    export_coco(fixture / "annotations", tmp_path / "coco", load_labels(fixture / "labels.txt"))
    agreement = coco_agreement(tmp_path / "coco" / "annotations.json", voc)
    assert agreement.images == len(list((fixture / "annotations").glob("*.json")))
    assert agreement.object_agreement >= 0.995
    assert agreement.class_agreement >= 0.995
    assert agreement.worst_iou >= 0.9


def test_round_trip_on_the_bundled_example(tmp_path: Path) -> None:
    voc = converted(EXAMPLE, tmp_path / "voc")
    export_coco(EXAMPLE, tmp_path / "coco", load_labels(EXAMPLE / "labels.txt"))
    agreement = coco_agreement(tmp_path / "coco" / "annotations.json", voc)
    assert agreement.object_agreement >= 0.995
    assert agreement.worst_iou >= 0.9


@pytest.mark.parametrize("seed", range(3))
def test_round_trip_on_random_documents(tmp_path: Path, seed: int) -> None:
    """Small random images of every shape type, overlapping: polygons' borders weigh more."""
    annotations = random_documents(tmp_path / "in", count=8, seed=seed)
    voc = converted(annotations, tmp_path / "voc")
    export_coco(annotations, tmp_path / "coco", load_labels(annotations / "labels.txt"))
    agreement = coco_agreement(tmp_path / "coco" / "annotations.json", voc)
    assert agreement.object_agreement >= 0.98
    assert agreement.class_agreement >= 0.98
    assert agreement.worst_iou >= 0.3
