"""import_coco: COCO files as other tools write them become labelme documents that paint
the same pixels; every invalid entry is named; nothing is half-written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from pycocotools import mask as coco_mask

from annotool.errors import ForeignFormatError, InvalidInputError
from annotool.fileio import TEMP_MARKER
from annotool.importers import CocoImportOptions, WriteOptions, import_coco
from annotool.labelme import read_annotation
from annotool.labelme_write import ShapeOptions
from annotool.labels import load_labels
from annotool.polygons import TraceOptions
from annotool.rasterize import rasterize

HEIGHT, WIDTH = 20, 30
EXACT = CocoImportOptions(shapes=ShapeOptions(TraceOptions(tolerance=0)))


def write_coco(
    root: Path,
    annotations: list[dict[str, Any]],
    images: list[dict[str, Any]] | None = None,
    categories: list[dict[str, Any]] | None = None,
) -> Path:
    """``root/annotations.json`` and its images under ``root/JPEGImages`` (labelme2coco's
    layout); ``images`` default to one image ``a.png`` with id 1."""
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    images = images or [image_entry(1, "a")]
    for image in images:
        size = (image.get("width") or WIDTH, image.get("height") or HEIGHT)
        Image.new("RGB", size, (90, 90, 90)).save(root / image["file_name"])
    document = {
        "images": images,
        "annotations": annotations,
        "categories": categories
        or [{"id": 0, "name": "_background_"}, {"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }
    path = root / "annotations.json"
    path.write_text(json.dumps(document))
    return path


def image_entry(image_id: int, stem: str) -> dict[str, Any]:
    return {"id": image_id, "file_name": f"JPEGImages/{stem}.png", "height": HEIGHT, "width": WIDTH}


def polygon_annotation(
    annotation_id: int, polygons: list[list[float]], category_id: int = 1, **fields: Any
) -> dict[str, Any]:
    return {
        "id": annotation_id,
        "image_id": 1,
        "category_id": category_id,
        "segmentation": polygons,
        "iscrowd": 0,
        **fields,
    }


def rle_annotation(annotation_id: int, pixels: np.ndarray, **fields: Any) -> dict[str, Any]:
    encoded = coco_mask.encode(np.asfortranarray(pixels.astype(np.uint8)))
    encoded["counts"] = encoded["counts"].decode("ascii")
    return {
        "id": annotation_id,
        "image_id": 1,
        "category_id": 1,
        "segmentation": encoded,
        "iscrowd": 1,
        **fields,
    }


def class_mask(json_path: Path) -> np.ndarray:
    """What convert paints from an imported document (cat = 1, dog = 2, ignore = -1)."""
    labels = load_labels("_background_,cat,dog")
    annotation, problems = read_annotation(json_path, labels)
    assert annotation is not None and problems == [], problems
    return rasterize(annotation.shapes, HEIGHT, WIDTH, labels)[0]


def test_polygons_become_shapes_with_group_ids_in_labelme_format(tmp_path: Path) -> None:
    square = [2, 2, 8, 2, 8, 8, 2, 8]
    parts = [[10, 10, 14, 10, 14, 14], [20, 2, 25, 2, 25, 6]]
    path = write_coco(
        tmp_path / "coco",
        [polygon_annotation(7, [square]), polygon_annotation(8, parts, category_id=2)],
    )
    result = import_coco(path, tmp_path / "out")
    document = json.loads((tmp_path / "out" / "a.json").read_text())
    assert document["imagePath"] == "../coco/JPEGImages/a.png"
    assert document["imageData"] is None
    assert (document["imageHeight"], document["imageWidth"]) == (HEIGHT, WIDTH)
    assert document["flags"] == {} and document["version"]
    shapes = [(s["label"], s["shape_type"], s["group_id"]) for s in document["shapes"]]
    assert shapes == [("cat", "polygon", None), ("dog", "polygon", 1), ("dog", "polygon", 1)]
    assert document["shapes"][0]["points"] == [[2, 2], [8, 2], [8, 8], [2, 8]]
    assert result.written == [tmp_path / "out" / "a.json"] and result.shapes == 3
    labels_text = (tmp_path / "out" / "labels.txt").read_text()
    assert labels_text == "__ignore__\n_background_\ncat\ndog\n"


def test_an_image_without_annotations_is_background(tmp_path: Path) -> None:
    path = write_coco(tmp_path, [], images=[image_entry(1, "a"), image_entry(2, "b")])
    import_coco(path, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "b.json").read_text())["shapes"] == []


def test_rle_regions_trace_back_to_the_same_pixels_holes_included(tmp_path: Path) -> None:
    ring = np.zeros((HEIGHT, WIDTH), dtype=bool)
    ring[2:15, 3:20] = True
    ring[6:10, 8:12] = False
    ring[16:19, 25:29] = True  # a second part
    annotation = rle_annotation(1, ring)
    path = write_coco(tmp_path, [annotation])
    import_coco(path, tmp_path / "out", EXACT)
    assert np.array_equal(class_mask(tmp_path / "out" / "a.json"), ring.astype(np.int32))
    shapes = json.loads((tmp_path / "out" / "a.json").read_text())["shapes"]
    assert {(s["label"], s["group_id"]) for s in shapes} == {("cat", 1), ("_background_", None)}


def test_uncompressed_rle_is_read(tmp_path: Path) -> None:
    pixels = np.zeros((HEIGHT, WIDTH), dtype=bool)
    pixels[3:9, 4:11] = True
    counts = np.diff(np.flatnonzero(np.diff(np.r_[-1, pixels.T.ravel(), -1])))
    counts = [0, *counts.tolist()] if pixels.T.ravel()[0] else counts.tolist()
    annotation = rle_annotation(1, pixels)
    annotation["segmentation"] = {"size": [HEIGHT, WIDTH], "counts": counts}
    import_coco(write_coco(tmp_path, [annotation]), tmp_path / "out", EXACT)
    assert np.array_equal(class_mask(tmp_path / "out" / "a.json"), pixels.astype(np.int32))


def test_a_hole_over_an_earlier_annotation_becomes_a_mask_shape(tmp_path: Path) -> None:
    crowd = np.zeros((HEIGHT, WIDTH), dtype=bool)
    crowd[1:19, 1:29] = True
    crowd[5:12, 5:12] = False  # where the single person stands
    person = polygon_annotation(1, [[6, 6, 10, 6, 10, 10, 6, 10]], category_id=2)
    path = write_coco(tmp_path, [person, rle_annotation(2, crowd)])
    result = import_coco(path, tmp_path / "out", EXACT)
    assert result.warnings == [
        "1 RLE regions were written as mask shapes, not polygons: a hole of theirs would "
        "have erased an earlier annotation lying in it"
    ]
    shapes = json.loads((tmp_path / "out" / "a.json").read_text())["shapes"]
    assert [s["shape_type"] for s in shapes] == ["polygon", "mask"]
    expected = crowd.astype(np.int32)
    expected[6:11, 6:11] = 2
    assert np.array_equal(class_mask(tmp_path / "out" / "a.json"), expected)


def test_mask_shape_type_writes_one_lossless_mask_per_rle_annotation(tmp_path: Path) -> None:
    pixels = np.zeros((HEIGHT, WIDTH), dtype=bool)
    pixels[2:5, 2:5] = pixels[10:15, 20:25] = True
    options = CocoImportOptions(shapes=ShapeOptions(shape_type="mask"))
    import_coco(write_coco(tmp_path, [rle_annotation(1, pixels)]), tmp_path / "out", options)
    shapes = json.loads((tmp_path / "out" / "a.json").read_text())["shapes"]
    assert [s["shape_type"] for s in shapes] == ["mask"]
    assert np.array_equal(class_mask(tmp_path / "out" / "a.json"), pixels.astype(np.int32))


@pytest.mark.parametrize(
    ("crowd", "labels"), [("keep", ["cat"]), ("ignore", ["__ignore__"]), ("drop", [])]
)
def test_crowd_regions_keep_their_category_become_ignore_or_go(
    tmp_path: Path, crowd: str, labels: list[str]
) -> None:
    pixels = np.zeros((HEIGHT, WIDTH), dtype=bool)
    pixels[2:6, 2:6] = True
    options = CocoImportOptions(crowd=crowd)  # type: ignore[arg-type]
    import_coco(write_coco(tmp_path, [rle_annotation(1, pixels)]), tmp_path / "out", options)
    shapes = json.loads((tmp_path / "out" / "a.json").read_text())["shapes"]
    assert [shape["label"] for shape in shapes] == labels


def test_a_detection_without_segmentation_becomes_a_rectangle(tmp_path: Path) -> None:
    box = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [3.0, 4.0, 5.0, 6.0]}
    import_coco(write_coco(tmp_path, [box]), tmp_path / "out")
    (shape,) = json.loads((tmp_path / "out" / "a.json").read_text())["shapes"]
    assert (shape["shape_type"], shape["points"]) == ("rectangle", [[3.0, 4.0], [8.0, 10.0]])


def test_images_are_found_in_the_folder_above_or_where_images_says(tmp_path: Path) -> None:
    (tmp_path / "train2017").mkdir()
    Image.new("RGB", (WIDTH, HEIGHT)).save(tmp_path / "train2017" / "x.png")
    (tmp_path / "annotations").mkdir()
    images = [{"id": 3, "file_name": "x.png", "height": HEIGHT, "width": WIDTH}]
    path = tmp_path / "annotations" / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": [], "categories": []}))
    with pytest.raises(InvalidInputError, match=r"image id 3 \(x.png\): the image .* --images"):
        import_coco(path, tmp_path / "out")
    import_coco(path, tmp_path / "out", CocoImportOptions(images=tmp_path / "train2017"))
    document = json.loads((tmp_path / "out" / "x.json").read_text())
    assert document["imagePath"] == "../train2017/x.png"


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (
            polygon_annotation(5, [[1, 1, 4, 4]]),
            r"image id 1 \(JPEGImages/a.png\): annotation id 5: segmentation polygon 0 has "
            r"2 points; a polygon needs at least 3",
        ),
        (polygon_annotation(5, [[1, 1, 4, 4, 5]]), "annotation id 5: .* odd number"),
        (polygon_annotation(5, [[1, 1, 4, 4, 5, 5]], category_id=9), "category_id 9 is not"),
        (
            {**polygon_annotation(5, [[1, 1, 4, 4, 5, 5]]), "image_id": 4},
            r"annotation id 5: image_id 4 is not the id of an image",
        ),
        (
            {"id": 5, "image_id": 1, "category_id": 1},
            "annotation id 5: no segmentation and no bbox",
        ),
        (
            {**rle_annotation(5, np.ones((4, 4), dtype=bool))},
            r"annotation id 5: the RLE segmentation's size is \[4, 4\]",
        ),
    ],
)
def test_invalid_entries_are_named_and_nothing_is_written(
    tmp_path: Path, annotation: dict[str, Any], message: str
) -> None:
    path = write_coco(tmp_path, [annotation])
    with pytest.raises(InvalidInputError, match=message) as raised:
        import_coco(path, tmp_path / "out")
    assert "nothing was written" in str(raised.value)
    assert str(path) in str(raised.value)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(f"*{TEMP_MARKER}"))


def test_skip_invalid_imports_the_valid_images_and_lists_the_others(tmp_path: Path) -> None:
    good = {**polygon_annotation(1, [[1, 1, 5, 1, 5, 5]]), "image_id": 2}
    bad = polygon_annotation(2, [[1, 1, 4, 4]])
    path = write_coco(tmp_path, [good, bad], images=[image_entry(1, "a"), image_entry(2, "b")])
    result = import_coco(path, tmp_path / "out", write=WriteOptions(skip_invalid=True))
    assert result.written == [tmp_path / "out" / "b.json"]
    assert [str(problem) for problem in result.skipped] == [
        f"{path}: image id 1 (JPEGImages/a.png): annotation id 2: segmentation polygon 0 has 2 "
        "points; a polygon needs at least 3 (fix or delete the annotation)"
    ]


def test_a_size_that_differs_from_the_image_is_an_error(tmp_path: Path) -> None:
    path = write_coco(tmp_path, [])
    document = json.loads(path.read_text())
    document["images"][0]["width"] = WIDTH + 1
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidInputError, match=rf"says {WIDTH + 1}x{HEIGHT}, but the image"):
        import_coco(path, tmp_path / "out")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"images": [', r"is not valid JSON: .* line 1 column 13"),
        ('{"annotations": []}', "is not a COCO annotation file: it has no 'images' list"),
        ('{"images": [], "categories": [{"id": 1}]}', r"categories\[0\] \(id 1\) has no 'name'"),
    ],
)
def test_files_that_are_not_coco_stop_the_import(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ForeignFormatError, match=message):
        import_coco(path, tmp_path / "out")


def test_duplicate_image_ids_stop_the_import(tmp_path: Path) -> None:
    path = write_coco(tmp_path, [], images=[image_entry(1, "a"), image_entry(1, "b")])
    with pytest.raises(ForeignFormatError, match="image id 1 is used twice"):
        import_coco(path, tmp_path / "out")


@pytest.mark.parametrize("counts", ["", "0", "zz\x7f", [3, 4], [700, -100]])
def test_rle_counts_that_do_not_cover_the_image_are_an_error(
    tmp_path: Path, counts: object
) -> None:
    """pycocotools decodes such counts without complaint, into garbage pixels."""
    annotation = rle_annotation(3, np.ones((HEIGHT, WIDTH), dtype=bool))
    annotation["segmentation"]["counts"] = counts
    with pytest.raises(InvalidInputError, match="annotation id 3: the RLE segmentation's counts"):
        import_coco(write_coco(tmp_path, [annotation]), tmp_path / "out")


def test_a_cvat_export_imports(tmp_path: Path) -> None:
    """CVAT's COCO 1.0 layout: annotations/instances_default.json beside images/, plain
    file names, brush masks as uncompressed RLE marked iscrowd, boxes with an empty
    segmentation, attributes on every annotation."""
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    Image.new("RGB", (WIDTH, HEIGHT)).save(tmp_path / "images" / "frame_000.png")
    brush = np.zeros((HEIGHT, WIDTH), dtype=bool)
    brush[4:9, 5:12] = True
    runs = np.diff(np.flatnonzero(np.diff(np.r_[-1, brush.T.ravel(), -1]))).tolist()
    common = {"image_id": 1, "attributes": {"occluded": False}, "area": 1.0}
    document = {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "version": ""},
        "categories": [{"id": 1, "name": "cat", "supercategory": ""}],
        "images": [{"id": 1, "width": WIDTH, "height": HEIGHT, "file_name": "frame_000.png"}],
        "annotations": [
            {
                **common,
                "id": 1,
                "category_id": 1,
                "segmentation": [],
                "bbox": [20, 2, 5, 4],
                "iscrowd": 0,
            },
            {
                **common,
                "id": 2,
                "category_id": 1,
                "iscrowd": 1,
                "bbox": [5, 4, 7, 5],
                "segmentation": {
                    "size": [HEIGHT, WIDTH],
                    "counts": runs,  # column-major runs, background first
                },
            },
        ],
    }
    path = tmp_path / "annotations" / "instances_default.json"
    path.write_text(json.dumps(document))
    import_coco(path, tmp_path / "out", EXACT)
    expected = brush.astype(np.int32)
    expected[2:7, 20:26] = 1
    assert np.array_equal(class_mask(tmp_path / "out" / "frame_000.json"), expected)


def test_a_size_of_the_unrotated_photo_names_its_exif_orientation(tmp_path: Path) -> None:
    path = write_coco(tmp_path, [])
    exif = Image.Exif()
    exif[0x0112] = 6  # turned 90 degrees: labelme shows it HEIGHT wide, WIDTH high
    Image.new("RGB", (WIDTH, HEIGHT)).save(tmp_path / "JPEGImages" / "a.jpg", exif=exif)
    document = json.loads(path.read_text())
    document["images"][0]["file_name"] = "JPEGImages/a.jpg"
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidInputError, match="its EXIF orientation 6 turns it"):
        import_coco(path, tmp_path / "out")


@settings(max_examples=25, deadline=None)
@given(
    layers=st.lists(
        st.tuples(
            arrays(np.bool_, (HEIGHT // 2, WIDTH // 2)),  # coarse pixels, scaled up below
            st.sampled_from([1, 2]),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_rle_annotations_paint_what_painting_their_pixels_in_order_paints(
    tmp_path_factory: pytest.TempPathFactory, layers: list[tuple[np.ndarray, int]]
) -> None:
    """Holes included: a hole over an earlier annotation must not erase it."""
    root = tmp_path_factory.mktemp("coco")
    expected = np.zeros((HEIGHT, WIDTH), dtype=np.int32)
    annotations = []
    for index, (coarse, category_id) in enumerate(layers):
        pixels = np.kron(coarse, np.ones((2, 2), dtype=bool))
        expected[pixels] = category_id
        annotations.append({**rle_annotation(index + 1, pixels), "category_id": category_id})
    import_coco(write_coco(root, annotations), root / "out", EXACT)
    assert np.array_equal(class_mask(root / "out" / "a.json"), expected)


def test_every_problem_of_an_image_is_listed_even_when_its_file_is_missing(
    tmp_path: Path,
) -> None:
    annotations = [polygon_annotation(1, [[1, 1, 2, 2]]), polygon_annotation(2, [], category_id=8)]
    path = write_coco(tmp_path, annotations)
    (tmp_path / "JPEGImages" / "a.png").unlink()
    with pytest.raises(InvalidInputError, match="3 problems") as raised:
        import_coco(path, tmp_path / "out")
    lines = str(raised.value).splitlines()[1:]
    assert [line.split(": ", 2)[2][:30] for line in lines] == [
        f"the image {tmp_path / 'JPEGImages' / 'a.png'}"[:30],
        "annotation id 1: segmentation ",
        "annotation id 2: category_id 8",
    ]


def test_crowd_regions_of_annotool_exports_are_ignored_once_by_default(tmp_path: Path) -> None:
    ignored = np.zeros((HEIGHT, WIDTH), dtype=bool)
    ignored[2:6, 2:6] = True
    crowds = [{**rle_annotation(1, ignored)}, {**rle_annotation(2, ignored), "category_id": 2}]
    path = write_coco(tmp_path, crowds)
    import_coco(path, tmp_path / "other")  # any other tool's crowd: its category
    labels = [
        shape["label"]
        for shape in json.loads((tmp_path / "other" / "a.json").read_text())["shapes"]
    ]
    assert labels == ["cat", "dog"]
    document = json.loads(path.read_text())
    document["info"] = {"description": "labelme annotations exported by annotool"}
    path.write_text(json.dumps(document))
    import_coco(path, tmp_path / "ours")
    shapes = json.loads((tmp_path / "ours" / "a.json").read_text())["shapes"]
    assert [shape["label"] for shape in shapes] == ["__ignore__"]
