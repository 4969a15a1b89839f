from __future__ import annotations

import base64
import dataclasses
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotool.errors import AnnotationError
from annotool.images import resolve_image_path
from annotool.labelmap import parse_label_map
from annotool.labelme import (
    Annotation,
    copyable_jpeg_bytes,
    load_image,
    read_annotation,
)
from annotool.labels import parse_labels

LABELS = parse_labels("__ignore__\n_background_\ncat\ndog\n", source="labels.txt")
TRIANGLE = [[1.0, 1.0], [5.0, 1.0], [5.0, 4.0]]
WriteLabelme = Callable[..., Path]
DROP = object()
"""Marks a key to remove from a shape or from the document."""


def shape(**changes: object) -> dict[str, object]:
    """A valid polygon shape with ``changes`` applied (``DROP`` removes a key)."""
    base: dict[str, object] = {
        "label": "cat",
        "points": TRIANGLE,
        "group_id": None,
        "shape_type": "polygon",
        "flags": {},
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not DROP}


def png_base64(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def jpeg_with_orientation(path: Path, orientation: int | None, mode: str = "RGB") -> None:
    """A 16x8 JPEG, black with a white top-left 8x4 quadrant, tagged with ``orientation``."""
    image = Image.new("RGB", (16, 8), "black")
    image.paste((255, 255, 255), (0, 0, 8, 4))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.convert(mode).save(path, format="JPEG", quality=95, exif=exif.tobytes())


def errors(problems: list) -> list[tuple[str, int | None]]:
    return [(problem.message, problem.shape_index) for problem in problems]


# ---------------------------------------------------------------- reading valid files


def test_reads_shapes_and_image_fields(write_labelme: WriteLabelme) -> None:
    path = write_labelme(
        [
            shape(),
            shape(label="dog", shape_type="rectangle", points=[[0, 0], [3, 2]], group_id=4),
            shape(label="__ignore__", shape_type="point", points=[[2, 2]]),
        ]
    )
    annotation, problems = read_annotation(path, LABELS)
    assert problems == []
    assert annotation is not None
    assert [s.index for s in annotation.shapes] == [0, 1, 2]
    assert [s.shape_type for s in annotation.shapes] == ["polygon", "rectangle", "point"]
    assert annotation.shapes[1].group_id == 4
    assert annotation.shapes[0].points.dtype == np.float64
    assert annotation.shapes[0].points.tolist() == TRIANGLE
    assert (annotation.image_height, annotation.image_width) == (6, 8)
    assert annotation.image_size == (6, 8)
    assert annotation.image_path == "a.png" and annotation.image_data is None


@pytest.mark.parametrize("shape_type", [DROP, None], ids=["missing", "null"])
def test_missing_shape_type_means_polygon(write_labelme: WriteLabelme, shape_type: object) -> None:
    annotation, problems = read_annotation(write_labelme([shape(shape_type=shape_type)]), LABELS)
    assert problems == []
    assert annotation is not None and annotation.shapes[0].shape_type == "polygon"


def test_labels_are_not_checked_without_a_label_set(write_labelme: WriteLabelme) -> None:
    annotation, problems = read_annotation(write_labelme([shape(label="horse")]))
    assert problems == []
    assert annotation is not None and annotation.shapes[0].label == "horse"


def test_mask_shape_decodes_its_patch(write_labelme: WriteLabelme) -> None:
    patch = np.array([[0, 255, 255], [255, 0, 0]], dtype=np.uint8)
    path = write_labelme(
        [shape(shape_type="mask", points=[[1, 1], [3, 2]], mask=png_base64(patch))]
    )
    annotation, problems = read_annotation(path, LABELS)
    assert problems == []
    assert annotation is not None
    mask = annotation.shapes[0].mask
    assert mask is not None and mask.dtype == np.bool_
    assert mask.tolist() == [[False, True, True], [True, False, False]]


def test_every_unknown_label_is_reported_with_its_shape(write_labelme: WriteLabelme) -> None:
    path = write_labelme([shape(label="dgo"), shape(), shape(label="horse")])
    annotation, problems = read_annotation(path, LABELS)
    assert annotation is not None
    assert [problem.shape_index for problem in problems] == [0, 2]
    assert problems[0].message == (
        "label 'dgo' is not in labels.txt (known: _background_, cat, dog); did you mean 'dog'?"
    )
    assert "label 'horse' is not in labels.txt" in problems[1].message
    assert "add it to labels.txt" in problems[1].message
    assert str(problems[0]) == f"{path} shape 0: {problems[0].message}"


# ---------------------------------------------------------------- every problem


SHAPE_PROBLEMS = [
    pytest.param(
        ["not a shape"], "the shape is a JSON string, not an object", 0, id="shape-not-object"
    ),
    pytest.param([shape(label=DROP)], "no label", 0, id="no-label"),
    pytest.param([shape(label=3)], "label must be text, not number", 0, id="label-not-text"),
    pytest.param(
        [shape(), shape(shape_type="ellipse")],
        "unknown shape_type 'ellipse' (known: polygon, rectangle, circle, line, linestrip, "
        "point, oriented_rectangle, mask)",
        1,
        id="unknown-shape-type",
    ),
    pytest.param([shape(shape_type=5)], "unknown shape_type 5", 0, id="shape-type-not-text"),
    pytest.param(
        [shape(points=[[1, 1], [2, 2]])],
        "shape_type polygon needs at least 3 points, but the shape has 2",
        0,
        id="polygon-too-few-points",
    ),
    pytest.param(
        [shape(shape_type="linestrip", points=[[1, 1]])],
        "shape_type linestrip needs at least 2 points, but the shape has 1",
        0,
        id="linestrip-too-few-points",
    ),
    pytest.param(
        [shape(shape_type="rectangle", points=TRIANGLE)],
        "shape_type rectangle needs exactly 2 points, but the shape has 3",
        0,
        id="rectangle-three-points",
    ),
    pytest.param(
        [shape(shape_type="circle", points=[[1, 1]])],
        "shape_type circle needs exactly 2 points, but the shape has 1",
        0,
        id="circle-one-point",
    ),
    pytest.param(
        [shape(shape_type="point", points=[])],
        "shape_type point needs exactly 1 point, but the shape has 0",
        0,
        id="point-no-points",
    ),
    pytest.param(
        [shape(shape_type="oriented_rectangle", points=TRIANGLE)],
        "shape_type oriented_rectangle needs exactly 4 points, but the shape has 3",
        0,
        id="oriented-rectangle-three-points",
    ),
    pytest.param([shape(points=DROP)], "the shape has no points", 0, id="no-points"),
    pytest.param(
        [shape(points="1,2")], "the shape has 'points' that is not a list", 0, id="points-not-list"
    ),
    pytest.param(
        [shape(points=[[1, 1], ["a", 2], [3, 3]])],
        'point 1 is ["a", 2], not a pair of numbers [x, y]',
        0,
        id="non-numeric-coordinate",
    ),
    pytest.param(
        [shape(points=[[1, 1], [2, 2, 2], [3, 3]])],
        "point 1 is [2, 2, 2], not a pair of numbers",
        0,
        id="three-coordinates",
    ),
    pytest.param(
        [shape(points=[[1, 1], [True, 2], [3, 3]])],
        "point 1 is [true, 2], not a pair of numbers",
        0,
        id="boolean-coordinate",
    ),
    pytest.param(
        [shape(points=[[1, 1], [float("nan"), 2], [3, 3]])],
        "point 1 is [NaN, 2], but coordinates must be finite numbers within ±100000 pixels",
        0,
        id="nan-coordinate",
    ),
    pytest.param(
        [shape(points=[[1, 1], [2, float("inf")], [3, 3]])],
        "point 1 is [2, Infinity], but coordinates must be finite numbers",
        0,
        id="infinite-coordinate",
    ),
    pytest.param(
        [shape(points=[[1, 1], [2, 10**400], [3, 3]])],
        "0000, but coordinates must be finite numbers",
        0,
        id="huge-integer-coordinate",
    ),
    pytest.param(
        [shape(shape_type="circle", points=[[1, 1], [-100_001, 1]])],
        "point 1 is [-100001, 1], but coordinates must be finite numbers within ±100000",
        0,
        id="coordinate-too-far-out",
    ),
    pytest.param(
        [shape(group_id="a")], "group_id must be an integer or null, not 'a'", 0, id="group-id-text"
    ),
    pytest.param(
        [shape(group_id=1.5)],
        "group_id must be an integer or null, not 1.5",
        0,
        id="group-id-float",
    ),
    pytest.param(
        [shape(group_id=True)],
        "group_id must be an integer or null, not True",
        0,
        id="group-id-bool",
    ),
    pytest.param(
        [shape(shape_type="mask", points=[[0, 0], [1, 1]])],
        "the mask shape has no mask data",
        0,
        id="mask-missing",
    ),
    pytest.param(
        [shape(shape_type="mask", points=[[0, 0], [1, 1]], mask="abc")],
        "the mask data is not a base64-encoded image",
        0,
        id="mask-bad-base64",
    ),
    pytest.param(
        [shape(shape_type="mask", points=[[0, 0], [1, 1]], mask=base64.b64encode(b"x").decode())],
        "the mask data is not a base64-encoded image",
        0,
        id="mask-not-an-image",
    ),
    pytest.param(
        [
            shape(
                shape_type="mask",
                points=[[0, 0], [1, 1]],
                mask=png_base64(np.zeros((2, 2, 3), dtype=np.uint8)),
            )
        ],
        "the mask image has shape (2, 2, 3), but it must be a non-empty single-channel image",
        0,
        id="mask-rgb",
    ),
]


@pytest.mark.parametrize(("shapes", "message", "shape_index"), SHAPE_PROBLEMS)
def test_shape_problems(
    write_labelme: WriteLabelme, shapes: list, message: str, shape_index: int
) -> None:
    annotation, problems = read_annotation(write_labelme(shapes), LABELS)
    assert annotation is not None
    assert len(problems) == 1, errors(problems)
    assert message in problems[0].message
    assert problems[0].shape_index == shape_index
    assert problems[0].severity == "error"
    assert shape_index not in [s.index for s in annotation.shapes]


def test_all_problems_of_a_file_are_collected(write_labelme: WriteLabelme) -> None:
    shapes = [shape(label="dgo"), shape(points=[[1, 1]]), shape(group_id="x", shape_type="?")]
    annotation, problems = read_annotation(write_labelme(shapes, imageHeight=9), LABELS)
    assert annotation is not None and annotation.shapes == ()
    assert [problem.shape_index for problem in problems] == [0, 1, 2, 2, None]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            b'{"shapes": [',
            "the file ends unexpectedly at line 1 column 13 (truncated?)",
            id="truncated",
        ),
        pytest.param(
            b'{"shapes": [}', "invalid JSON at line 1 column 13: Expecting value", id="syntax-error"
        ),
        pytest.param(b"", "the file is empty", id="empty"),
        pytest.param(b"[" * 100_000, "nested too deeply", id="deeply-nested"),
        pytest.param(b"\xff\xfe{}", "not UTF-8 text (invalid start byte at byte 0)", id="not-utf8"),
        pytest.param(
            b"[1, 2]", "the top level is a JSON array, not an object", id="top-level-array"
        ),
        pytest.param(b'{"imagePath": "a.png"}', "it has no 'shapes' list", id="no-shapes"),
        pytest.param(
            b'{"shapes": {}}', "it has a 'shapes' that is not a list", id="shapes-not-list"
        ),
    ],
)
def test_unusable_json_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    annotation, problems = read_annotation(path, LABELS)
    assert annotation is None
    assert len(problems) == 1
    assert message in problems[0].message
    assert problems[0].path == path and problems[0].shape_index is None


def test_utf8_bom_is_accepted(write_labelme: WriteLabelme) -> None:
    path = write_labelme([shape()])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    annotation, problems = read_annotation(path, LABELS)
    assert annotation is not None and problems == []


@pytest.mark.parametrize(
    "path_name", ["missing.json", "folder.json"], ids=["missing-file", "directory"]
)
def test_unreadable_file(tmp_path: Path, path_name: str) -> None:
    (tmp_path / "folder.json").mkdir()
    annotation, problems = read_annotation(tmp_path / path_name, LABELS)
    assert annotation is None
    assert "cannot read the file" in problems[0].message


IMAGE_PROBLEMS = [
    pytest.param(
        {"imagePath": "missing.png"},
        "image not found: imagePath 'missing.png' points to",
        id="image-file-missing",
    ),
    pytest.param(
        {"imagePath": None},
        "no image: imageData is empty and imagePath is missing",
        id="no-image-at-all",
    ),
    pytest.param({"imageData": "abc"}, "imageData is not valid base64", id="image-data-not-base64"),
    pytest.param(
        {"imageData": base64.b64encode(b"hello").decode()},
        "cannot read the image from imageData",
        id="image-data-not-an-image",
    ),
    pytest.param(
        {"imageHeight": 7},
        "the image from {image} is 8x6, but the file says imageWidth=8 imageHeight=7",
        id="height-mismatch",
    ),
    pytest.param(
        {"imageWidth": 9, "imageHeight": DROP},
        "is 8x6, but the file says imageWidth=9 imageHeight=None",
        id="width-mismatch",
    ),
    pytest.param(
        {"imageHeight": "6"}, "imageHeight must be a positive integer, not '6'", id="height-text"
    ),
    pytest.param(
        {"imageWidth": 0}, "imageWidth must be a positive integer, not 0", id="width-zero"
    ),
    pytest.param(
        {"imagePath": 5}, "imagePath must be text or null, not number", id="image-path-number"
    ),
]


@pytest.mark.parametrize(("fields", "message"), IMAGE_PROBLEMS)
def test_image_problems(write_labelme: WriteLabelme, fields: dict, message: str) -> None:
    path = write_labelme([shape()])
    document = json.loads(path.read_text())
    document.update(fields)
    document = {key: value for key, value in document.items() if value is not DROP}
    path.write_text(json.dumps(document))
    annotation, problems = read_annotation(path, LABELS)
    assert annotation is not None
    assert message.format(image=path.parent / "a.png") in "\n".join(
        problem.message for problem in problems
    )
    assert all(problem.shape_index is None for problem in problems)


def test_corrupt_image_file_is_reported(write_labelme: WriteLabelme) -> None:
    path = write_labelme([shape()])
    (path.parent / "a.png").write_bytes(b"not a png at all")
    annotation, problems = read_annotation(path, LABELS)
    assert len(problems) == 1
    assert f"cannot read the image from {path.parent / 'a.png'}" in problems[0].message
    assert annotation is not None
    with pytest.raises(AnnotationError, match="cannot decode the image"):
        load_image(annotation)


def test_truncated_jpeg_passes_the_header_check_but_fails_to_load(
    write_labelme: WriteLabelme,
) -> None:
    path = write_labelme([shape()], size=(64, 64), image_suffix=".jpg")
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="JPEG")
    (path.parent / "a.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    annotation, problems = read_annotation(path, LABELS)
    assert annotation is not None and problems == []
    with pytest.raises(
        AnnotationError, match=rf"{path.name}: cannot decode the image from .*a\.jpg"
    ):
        load_image(annotation)


# ---------------------------------------------------------------- image paths


def test_windows_backslash_image_path(write_labelme: WriteLabelme, tmp_path: Path) -> None:
    path = write_labelme([shape()], imagePath="images\\a.png")
    (tmp_path / "images").mkdir()
    (tmp_path / "a.png").rename(tmp_path / "images" / "a.png")
    annotation, problems = read_annotation(path, LABELS)
    assert problems == []
    assert annotation is not None
    assert (
        resolve_image_path(annotation.path, annotation.image_path) == tmp_path / "images" / "a.png"
    )
    assert load_image(annotation).pixels.shape == (6, 8, 3)


def test_absolute_windows_path_falls_back_to_the_file_beside_the_json(
    write_labelme: WriteLabelme, tmp_path: Path
) -> None:
    path = write_labelme([shape()], imagePath="C:\\Users\\me\\photos\\a.png")
    annotation, problems = read_annotation(path, LABELS)
    assert problems == []
    assert (
        annotation is not None
        and resolve_image_path(annotation.path, annotation.image_path) == tmp_path / "a.png"
    )


def test_image_path_is_relative_to_the_json_not_the_working_directory(
    write_labelme: WriteLabelme, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_labelme([shape()], imagePath="../a.png")
    nested = tmp_path / "json"
    nested.mkdir()
    moved = path.rename(nested / path.name)
    monkeypatch.chdir(nested)
    annotation, problems = read_annotation(moved, LABELS)
    assert problems == []
    assert (
        annotation is not None
        and resolve_image_path(annotation.path, annotation.image_path) == nested / "../a.png"
    )


def test_resolve_image_path_is_none_for_embedded_only_files(tmp_path: Path) -> None:
    annotation = Annotation(tmp_path / "a.json", (), 2, 2, None, "xyz")
    assert resolve_image_path(annotation.path, annotation.image_path) is None


# ---------------------------------------------------------------- imageData


def test_image_data_wins_over_image_path(write_labelme: WriteLabelme) -> None:
    pixels = np.full((3, 4, 3), (10, 200, 30), dtype=np.uint8)
    path = write_labelme(
        [shape()],
        imagePath="missing.png",
        imageData=png_base64(pixels),
        imageHeight=3,
        imageWidth=4,
    )
    annotation, problems = read_annotation(path, LABELS)
    assert problems == []
    assert annotation is not None and annotation.image_size == (3, 4)
    loaded = load_image(annotation)
    assert np.array_equal(loaded.pixels, pixels)
    assert loaded.jpeg_bytes is None


def test_image_data_with_a_data_url_prefix(write_labelme: WriteLabelme) -> None:
    pixels = np.full((3, 4, 3), 99, dtype=np.uint8)
    data = "data:image/png;base64," + png_base64(pixels)
    path = write_labelme([shape()], imageData=data, imageHeight=3, imageWidth=4)
    annotation, problems = read_annotation(path, LABELS)
    assert problems == []
    assert annotation is not None and np.array_equal(load_image(annotation).pixels, pixels)


def test_embedded_rgb_jpeg_bytes_are_kept(write_labelme: WriteLabelme, tmp_path: Path) -> None:
    jpeg_with_orientation(tmp_path / "source.jpg", None)
    data = (tmp_path / "source.jpg").read_bytes()
    path = write_labelme(
        [shape()], imageData=base64.b64encode(data).decode(), imageHeight=8, imageWidth=16
    )
    annotation, problems = read_annotation(path, LABELS)
    assert problems == []
    assert annotation is not None
    assert load_image(annotation).jpeg_bytes == data
    assert copyable_jpeg_bytes(annotation) == data


def test_the_header_read_with_the_annotation_decides_the_jpeg_copy(
    write_labelme: WriteLabelme, tmp_path: Path
) -> None:
    # convert copies the JPEG on the strength of the header read_annotation parsed,
    # without parsing it again.
    jpeg_with_orientation(tmp_path / "source.jpg", None)
    data = (tmp_path / "source.jpg").read_bytes()
    path = write_labelme(
        [shape()], imageData=base64.b64encode(data).decode(), imageHeight=8, imageWidth=16
    )
    annotation, _ = read_annotation(path, LABELS)
    assert annotation is not None and annotation.image_header is not None
    assert annotation.image_header.copyable_jpeg and annotation.image_size == (8, 16)
    not_copyable = dataclasses.replace(
        annotation, image_header=dataclasses.replace(annotation.image_header, copyable_jpeg=False)
    )
    assert copyable_jpeg_bytes(not_copyable) is None


def test_embedded_image_is_shown_as_stored_even_with_an_orientation_tag(
    write_labelme: WriteLabelme, tmp_path: Path
) -> None:
    # labelme stores imageData already oriented and displays it as stored.
    jpeg_with_orientation(tmp_path / "source.jpg", 6)
    data = base64.b64encode((tmp_path / "source.jpg").read_bytes()).decode()
    path = write_labelme([shape()], imageData=data, imageHeight=8, imageWidth=16)
    annotation, problems = read_annotation(path, LABELS)
    assert problems == []
    assert annotation is not None
    loaded = load_image(annotation)
    assert loaded.pixels.shape == (8, 16, 3)
    assert loaded.jpeg_bytes is None


# ---------------------------------------------------------------- EXIF orientation


@pytest.mark.parametrize(
    ("orientation", "size", "white_quadrant"),
    [
        (6, (16, 8), (slice(0, 8), slice(4, 8))),  # rotate 90 clockwise: top-left -> top-right
        (3, (8, 16), (slice(4, 8), slice(8, 16))),  # rotate 180: top-left -> bottom-right
        (8, (16, 8), (slice(8, 16), slice(0, 4))),  # rotate 90 counter-clockwise: -> bottom-left
    ],
    ids=["orientation-6", "orientation-3", "orientation-8"],
)
def test_exif_orientation_gives_the_annotated_frame(
    write_labelme: WriteLabelme,
    tmp_path: Path,
    orientation: int,
    size: tuple[int, int],
    white_quadrant: tuple[slice, slice],
) -> None:
    height, width = size
    path = write_labelme([shape()], image_suffix=".jpg", imageHeight=height, imageWidth=width)
    jpeg_with_orientation(tmp_path / "a.jpg", orientation)
    annotation, problems = read_annotation(path, LABELS)
    assert problems == []
    assert annotation is not None and annotation.image_size == (height, width)
    loaded = load_image(annotation)
    assert loaded.pixels.shape == (height, width, 3)
    assert loaded.jpeg_bytes is None
    assert copyable_jpeg_bytes(annotation) is None
    white = np.zeros((height, width), dtype=bool)
    white[white_quadrant] = True
    brightness = loaded.pixels.mean(axis=2)
    assert brightness[white].min() > 200 and brightness[~white].max() < 55


def test_size_check_uses_the_oriented_frame(write_labelme: WriteLabelme, tmp_path: Path) -> None:
    path = write_labelme([shape()], image_suffix=".jpg", imageHeight=8, imageWidth=16)
    jpeg_with_orientation(tmp_path / "a.jpg", 6)
    _, problems = read_annotation(path, LABELS)
    assert len(problems) == 1
    assert "is 8x16 after EXIF orientation, but the file says imageWidth=16 imageHeight=8" in (
        problems[0].message
    )


@pytest.mark.parametrize("orientation", [None, 1], ids=["no-orientation", "orientation-1"])
def test_plain_rgb_jpeg_bytes_are_the_file(
    write_labelme: WriteLabelme, tmp_path: Path, orientation: int | None
) -> None:
    path = write_labelme([shape()], image_suffix=".jpg", imageHeight=8, imageWidth=16)
    jpeg_with_orientation(tmp_path / "a.jpg", orientation)
    annotation, _ = read_annotation(path, LABELS)
    assert annotation is not None
    loaded = load_image(annotation)
    assert loaded.jpeg_bytes == (tmp_path / "a.jpg").read_bytes()
    assert copyable_jpeg_bytes(annotation) == loaded.jpeg_bytes
    assert loaded.pixels.shape == (8, 16, 3) and loaded.pixels[0, 0].min() > 200


def test_png_exif_orientation_is_applied_like_labelme(
    write_labelme: WriteLabelme, tmp_path: Path
) -> None:
    path = write_labelme([shape()], imageHeight=16, imageWidth=8)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (16, 8), "black").save(tmp_path / "a.png", exif=exif.tobytes())
    annotation, problems = read_annotation(path, LABELS)
    assert problems == []
    assert annotation is not None and load_image(annotation).pixels.shape == (16, 8, 3)


def test_multi_picture_jpeg_from_a_phone_is_copied(
    write_labelme: WriteLabelme, tmp_path: Path
) -> None:
    path = write_labelme([shape()], size=(8, 16), image_suffix=".jpg")
    first, second = Image.new("RGB", (16, 8), "red"), Image.new("RGB", (16, 8), "blue")
    first.save(tmp_path / "a.jpg", format="MPO", save_all=True, append_images=[second])
    annotation, problems = read_annotation(path, LABELS)
    assert problems == []
    assert annotation is not None
    loaded = load_image(annotation)
    assert loaded.jpeg_bytes == (tmp_path / "a.jpg").read_bytes()
    assert loaded.pixels[0, 0, 0] > 200 and loaded.pixels[0, 0, 2] < 50  # the first picture


# ---------------------------------------------------------------- image modes


def _mode_image(mode: str) -> Image.Image:
    if mode == "RGBA":
        return Image.new("RGBA", (4, 3), (10, 20, 30, 0))
    if mode == "P":
        image = Image.new("P", (4, 3), 1)
        image.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
        return image
    if mode == "P-transparency":
        image = Image.new("P", (4, 3), 1)
        image.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
        image.info["transparency"] = bytes([255, 0])  # index 1 fully transparent
        return image
    if mode == "LA":
        return Image.new("LA", (4, 3), (77, 0))
    if mode == "I;16":
        return Image.fromarray(np.full((3, 4), 32896, dtype=np.uint16))
    if mode == "1":
        return Image.new("1", (4, 3), 1)
    return Image.new(mode, (4, 3), 77)


@pytest.mark.filterwarnings("error")  # no Pillow warning may reach the user
@pytest.mark.parametrize(
    ("mode", "rgb"),
    [
        ("RGBA", (10, 20, 30)),
        ("P", (200, 100, 50)),
        ("P-transparency", (200, 100, 50)),
        ("L", (77, 77, 77)),
        ("LA", (77, 77, 77)),
        ("I;16", (128, 128, 128)),
        ("1", (255, 255, 255)),
    ],
    ids=["RGBA", "P", "P-with-transparency", "L", "LA", "I16", "1-bit"],
)
def test_png_modes_become_rgb(
    write_labelme: WriteLabelme, tmp_path: Path, mode: str, rgb: tuple[int, int, int]
) -> None:
    path = write_labelme([shape()], size=(3, 4))
    _mode_image(mode).save(tmp_path / "a.png")
    annotation, problems = read_annotation(path, LABELS)
    assert problems == []
    assert annotation is not None
    loaded = load_image(annotation)
    assert loaded.pixels.dtype == np.uint8 and loaded.pixels.shape == (3, 4, 3)
    assert not loaded.pixels.flags.writeable
    assert {tuple(int(v) for v in pixel) for pixel in loaded.pixels.reshape(-1, 3)} == {rgb}
    assert loaded.jpeg_bytes is None


def test_sixteen_bit_range_maps_to_eight_bits(write_labelme: WriteLabelme, tmp_path: Path) -> None:
    path = write_labelme([shape()], size=(1, 3))
    values = np.array([[0, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "a.png")
    annotation, _ = read_annotation(path, LABELS)
    assert annotation is not None
    assert load_image(annotation).pixels[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize(
    ("mode", "color", "rgb"),
    [("CMYK", (0, 0, 0, 0), (255, 255, 255)), ("L", 77, (77, 77, 77))],
    ids=["CMYK", "greyscale"],
)
def test_non_rgb_jpegs_become_rgb_and_are_not_copied(
    write_labelme: WriteLabelme, tmp_path: Path, mode: str, color: object, rgb: tuple[int, ...]
) -> None:
    path = write_labelme([shape()], size=(8, 8), image_suffix=".jpg")
    Image.new(mode, (8, 8), color).save(tmp_path / "a.jpg", quality=95)
    annotation, problems = read_annotation(path, LABELS)
    assert problems == []
    assert annotation is not None
    loaded = load_image(annotation)
    assert loaded.pixels.shape == (8, 8, 3)
    assert np.abs(loaded.pixels.astype(int) - rgb).max() <= 2
    assert loaded.jpeg_bytes is None and copyable_jpeg_bytes(annotation) is None


def test_load_image_without_any_image_raises(tmp_path: Path) -> None:
    annotation = Annotation(tmp_path / "a.json", (), 2, 2, "gone.png", None)
    with pytest.raises(AnnotationError, match=r"a\.json: image not found: imagePath 'gone\.png'"):
        load_image(annotation)


# --- the label map, applied as the file is parsed ---


def test_label_map_renames_and_keeps_what_was_written(write_labelme: WriteLabelme) -> None:
    path = write_labelme([shape(label="kitty"), shape(label="dog"), shape(label="puppy")])
    label_map = parse_label_map({"kitty": "cat", "pup*": "dog"})
    annotation, problems = read_annotation(path, LABELS, label_map)
    assert problems == [] and annotation is not None
    assert [(s.label, s.mapped_from, s.source_label) for s in annotation.shapes] == [
        ("cat", "kitty", "kitty"),
        ("dog", None, "dog"),
        ("dog", "puppy", "puppy"),
    ]
    assert annotation.labels_in_file == {"kitty", "dog", "puppy"}


def test_a_dropped_shape_is_skipped_unchecked_and_indexes_stay(
    write_labelme: WriteLabelme,
) -> None:
    path = write_labelme(
        [shape(label="scribble", points=[[1, 1]]), shape(label="owl"), shape(label="dog")]
    )
    label_map = parse_label_map({"scribble": None})
    annotation, problems = read_annotation(path, LABELS, label_map)
    assert annotation is not None
    assert [(s.index, s.label) for s in annotation.shapes] == [(2, "dog")]
    # The dropped shape's single point is no problem; the unknown label still is.
    assert [(p.shape_index, p.message.split(" (")[0]) for p in problems] == [
        (1, "label 'owl' is not in labels.txt")
    ]
    assert annotation.labels_in_file == {"scribble", "owl", "dog"}


def test_a_mapped_label_missing_from_labels_names_the_map(write_labelme: WriteLabelme) -> None:
    path = write_labelme([shape(label="car")])
    _, problems = read_annotation(path, LABELS, parse_label_map({"car": "vehicle"}))
    assert [str(problem) for problem in problems] == [
        f"{path} shape 0: label 'vehicle' (the label map's name for 'car') is not in "
        "labels.txt (known: _background_, cat, dog); add it there or change the map entry"
    ]
