from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from labelme_schema import check_labelme_document
from PIL import Image

from annotool.errors import AnnotationError
from annotool.labelme import read_annotation
from annotool.labelme_write import (
    LABELME_FORMAT_VERSION,
    ShapeOptions,
    document_text,
    human_pixels,
    merged_document,
    new_document,
    shapes_from_mask,
    shapes_from_objects,
    write_document,
)
from annotool.labels import IGNORE_ID, LabelSet
from annotool.polygons import TraceOptions
from annotool.rasterize import rasterize
from annotool.voc import mask_values

CLASS_NAMES = ("_background_", "cat", "dog")


def donut_mask() -> np.ndarray:
    mask = np.zeros((30, 40), dtype=np.uint8)
    mask[2:28, 2:30] = 1
    mask[8:20, 8:20] = 0
    mask[11:15, 11:15] = 2
    mask[25:30, 34:40] = IGNORE_ID
    return mask


@pytest.mark.parametrize("shape_type", ["polygon", "mask"])
def test_documents_are_labelme_documents_and_paint_the_mask(
    tmp_path: Path, shape_type: str
) -> None:
    mask = donut_mask()
    options = ShapeOptions(TraceOptions(tolerance=0), shape_type)  # type: ignore[arg-type]
    shapes = shapes_from_mask(mask, CLASS_NAMES, options)
    (tmp_path / "photos").mkdir()
    image = tmp_path / "photos" / "a.png"
    Image.fromarray(np.zeros((30, 40, 3), dtype=np.uint8)).save(image)
    json_path = tmp_path / "labels" / "a.json"
    write_document(json_path, new_document(shapes, json_path, image, 30, 40))

    document = json.loads(json_path.read_text(encoding="utf-8"))
    check_labelme_document(document, 30, 40)
    assert document["version"] == LABELME_FORMAT_VERSION
    assert document["imagePath"] == "../photos/a.png"
    assert [shape["label"] for shape in document["shapes"]] == [
        "cat",
        "_background_",
        "__ignore__",
        "dog",
    ]
    annotation, problems = read_annotation(json_path)
    assert annotation is not None and not problems
    painted, _ = rasterize(annotation.shapes, 30, 40, LabelSet(CLASS_NAMES))
    assert np.array_equal(np.where(painted == -1, IGNORE_ID, painted), mask)


def test_document_text_is_what_labelme_writes() -> None:
    document = new_document([], Path("a.json"), Path("a.jpg"), 3, 4)
    text = document_text(document)
    assert text.startswith('{\n  "version"') and text.endswith("}\n")
    assert json.loads(text) == document
    assert "ü" in document_text({"label": "Würfel"})  # UTF-8, not \\u escapes


def test_describe_gives_each_shape_its_description() -> None:
    mask = np.zeros((10, 10), dtype=np.uint8)
    mask[2:6, 2:6] = 1
    (plain,) = shapes_from_mask(mask, CLASS_NAMES)
    assert plain["description"] == ""
    (described,) = shapes_from_mask(
        mask, CLASS_NAMES, describe=lambda region: f"{region.pixels} pixels"
    )
    assert described["description"] == "16 pixels"


def test_a_class_id_without_a_name_is_an_error() -> None:
    mask = np.full((4, 4), 5, dtype=np.uint8)
    with pytest.raises(AnnotationError, match="class id 5, but only 3 classes"):
        shapes_from_mask(mask, CLASS_NAMES)


def write_human(path: Path, shapes: list[dict]) -> Path:
    Image.fromarray(np.zeros((20, 30, 3), dtype=np.uint8)).save(path.with_suffix(".png"))
    document = {
        "version": "5.7.0",
        "flags": {"checked": True},
        "shapes": shapes,
        "imagePath": path.with_suffix(".png").name,
        "imageData": None,
        "imageHeight": 20,
        "imageWidth": 30,
        "custom": "kept",
    }
    path.write_text(json.dumps(document))
    return path


def test_merge_keeps_every_human_shape_and_adds_what_does_not_overlap(tmp_path: Path) -> None:
    human_shape = {
        "label": "cat",
        "points": [[1, 1], [8, 1], [8, 8], [1, 8]],
        "group_id": 3,
        "description": "drawn by Ana",
        "shape_type": "polygon",
        "flags": {"occluded": True},
        "other": 1,
    }
    json_path = write_human(tmp_path / "a.json", [human_shape])
    predicted = np.zeros((20, 30), dtype=np.uint8)
    predicted[1:9, 1:9] = 1  # the cat the person drew
    predicted[10:18, 15:25] = 2  # a dog nobody drew yet
    document, covered = human_pixels(json_path, 20, 30)
    assert covered.sum() == 64
    shapes = shapes_from_mask(predicted, CLASS_NAMES, avoid=covered)
    merged = merged_document(document, shapes)

    assert [shape["label"] for shape in merged["shapes"]] == ["dog", "cat"]
    assert merged["shapes"][-1] == human_shape
    assert merged["flags"] == {"checked": True} and merged["custom"] == "kept"


def test_merge_refuses_a_document_it_cannot_read_fully(tmp_path: Path) -> None:
    broken = tmp_path / "a.json"
    broken.write_text("{not json")
    with pytest.raises(AnnotationError, match=r"cannot merge into .*a\.json.*--overwrite"):
        human_pixels(broken, 20, 30)
    odd_shape = write_human(
        tmp_path / "b.json", [{"label": "cat", "points": [[1, 1]], "shape_type": "polygon"}]
    )
    with pytest.raises(AnnotationError, match=r"b\.json shape 0: .*--overwrite"):
        human_pixels(odd_shape, 20, 30)


@pytest.mark.parametrize("shape_type", ["polygon", "mask"])
def test_objects_are_traced_one_by_one_and_give_both_masks_back(
    tmp_path: Path, shape_type: str
) -> None:
    classes = np.zeros((30, 40), dtype=np.uint8)
    objects = np.zeros((30, 40), dtype=np.uint8)
    classes[2:12, 2:20], objects[2:12, 2:10], objects[2:12, 10:20] = 1, 1, 2  # two cats touch
    classes[15:28, 2:30], objects[15:28, 2:30] = 2, 3  # a dog with a hole
    classes[19:24, 8:14], objects[19:24, 8:14] = 0, 0
    classes[20:23, 9:12], objects[20:23, 9:12] = 1, 4  # a cat in the dog's hole
    classes[2:6, 30:36] = classes[8:12, 30:36] = 2  # one dog in two parts
    objects[2:6, 30:36] = objects[8:12, 30:36] = 5
    classes[0:2, 36:40] = IGNORE_ID
    options = ShapeOptions(TraceOptions(tolerance=0), shape_type)  # type: ignore[arg-type]
    shapes = shapes_from_objects(classes, objects, CLASS_NAMES, options)
    groups = {(shape["label"], shape["group_id"]) for shape in shapes}
    assert ("dog", 5) in groups and ("cat", None) in groups and ("cat", 1) not in groups
    path = tmp_path / "a.json"
    Image.new("RGB", (40, 30)).save(tmp_path / "a.png")
    write_document(path, new_document(shapes, path, tmp_path / "a.png", 30, 40))
    labels = LabelSet(CLASS_NAMES)
    annotation, problems = read_annotation(path, labels)
    assert annotation is not None and problems == []
    class_label, object_label = rasterize(annotation.shapes, 30, 40, labels)
    assert np.array_equal(mask_values(class_label), classes)
    painted = classes > 0
    pairs = np.unique(np.stack([objects[painted], object_label[painted]]), axis=1)
    assert pairs.shape[1] == len(np.unique(objects[painted])) == 6  # ignore is object 0


def test_too_many_objects_are_refused() -> None:
    objects = (np.arange(300).reshape(15, 20) % 254 + 1).astype(np.uint8)
    classes = (np.arange(300).reshape(15, 20) // 254 + 1).astype(np.uint8)
    with pytest.raises(AnnotationError, match=r"\(object, class\) pairs, more than the 254"):
        shapes_from_objects(classes, objects, CLASS_NAMES)


def test_void_and_ignored_pixels_are_no_object() -> None:
    """VOC2012 marks object borders 255 in both masks: ignore regions, never a group."""
    classes = np.zeros((10, 20), dtype=np.uint8)
    classes[0:2, :] = classes[8:10, :] = IGNORE_ID
    objects = np.where(classes == IGNORE_ID, IGNORE_ID, 0).astype(np.uint8)
    shapes = shapes_from_objects(classes, objects, CLASS_NAMES)
    assert [(shape["label"], shape["group_id"]) for shape in shapes] == [
        ("__ignore__", None),
        ("__ignore__", None),
    ]
