from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from labelme_schema import check_labelme_document
from mask_scenes import CLASS_NAMES
from PIL import Image

from annotool.cli import main
from annotool.convert import ConvertOptions, convert_dataset
from annotool.errors import DatasetError
from annotool.labels import IGNORE_ID, load_labels, voc_colormap
from annotool.masks_to_labelme import find_mask_pairs, read_class_mask
from annotool.voc import read_label_png, write_label_png

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "shapes"
LABELS = ",".join(CLASS_NAMES)


def scene(height: int = 30, width: int = 40) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[2:20, 3:25] = 1
    mask[6:12, 8:14] = 0
    mask[22:, 30:] = 2
    mask[0:3, 35:] = IGNORE_ID
    return mask


def write_pair(folder: Path, stem: str, mask: np.ndarray, image_size: tuple[int, int]) -> None:
    write_label_png(folder / "masks" / f"{stem}.png", mask)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    height, width = image_size
    Image.fromarray(np.zeros((height, width, 3), dtype=np.uint8)).save(
        folder / "images" / f"{stem}.JPG", format="JPEG"
    )


def run(folder: Path, *extra: str) -> object:
    return CliRunner().invoke(
        main,
        [
            "masks-to-labelme",
            str(folder / "masks"),
            str(folder / "images"),
            str(folder / "labelme"),
            "--labels",
            LABELS,
            "-q",
            *extra,
        ],
    )


def test_cli_writes_labelme_files_that_convert_back(tmp_path: Path) -> None:
    write_pair(tmp_path, "a", scene(), (30, 40))
    result = run(tmp_path, "--tolerance", "0")
    assert result.exit_code == 0, result.output
    assert "Wrote 1 labelme files" in result.output
    document = json.loads((tmp_path / "labelme" / "a.json").read_text())
    check_labelme_document(document, 30, 40)
    assert document["imagePath"] == "../images/a.JPG"
    convert_dataset(
        tmp_path / "labelme",
        tmp_path / "voc",
        load_labels(LABELS),
        ConvertOptions(objects=False, visualizations=False),
    )
    assert np.array_equal(read_label_png(tmp_path / "voc" / "SegmentationClass" / "a.png"), scene())


def test_existing_json_is_skipped_unless_overwrite(tmp_path: Path) -> None:
    write_pair(tmp_path, "a", scene(), (30, 40))
    (tmp_path / "labelme").mkdir()
    (tmp_path / "labelme" / "a.json").write_text("person's work")
    skipped = run(tmp_path)
    assert skipped.exit_code == 0, skipped.output
    assert "Skipped 1 masks" in skipped.output
    assert (tmp_path / "labelme" / "a.json").read_text() == "person's work"
    replaced = run(tmp_path, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads((tmp_path / "labelme" / "a.json").read_text())["shapes"]


def test_mask_shapes_are_lossless(tmp_path: Path) -> None:
    write_pair(tmp_path, "a", scene(), (30, 40))
    result = run(tmp_path, "--shape-type", "mask")
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "labelme" / "a.json").read_text())
    check_labelme_document(document, 30, 40)
    assert {shape["shape_type"] for shape in document["shapes"]} == {"mask"}


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (
            "colours",
            r"b\.png is an RGB mask with colours that are not in the VOC colour map: "
            r"\(1, 2, 3\)",
        ),
        ("class-id", r"b\.png has class id 7, but --labels lists 4 classes"),
        ("size", r"b\.JPG is 41x30 but its mask .*b\.png is 40x30"),
        ("no-image", r"b\.png: no image named b"),
        ("not-png", r"cannot read mask .*b\.png"),
    ],
)
def test_bad_masks_are_named_and_the_others_converted(
    tmp_path: Path, break_it: str, message: str
) -> None:
    write_pair(tmp_path, "a", scene(), (30, 40))
    write_pair(tmp_path, "b", scene(), (30, 41 if break_it == "size" else 40))
    bad_mask = tmp_path / "masks" / "b.png"
    if break_it == "colours":
        colours = voc_colormap()[scene()]
        colours[0, 0] = (1, 2, 3)
        Image.fromarray(colours).save(bad_mask)
    elif break_it == "class-id":
        mask = scene()
        mask[5, 5] = 7
        write_label_png(bad_mask, mask)
    elif break_it == "no-image":
        (tmp_path / "images" / "b.JPG").unlink()
    elif break_it == "not-png":
        bad_mask.write_bytes(b"\x89PNG truncated")
    result = run(tmp_path)
    assert result.exit_code == 1
    assert "1 of 2 masks failed" in result.output
    assert pytest.importorskip("re").search(message, result.output), result.output
    assert (tmp_path / "labelme" / "a.json").is_file()
    assert not (tmp_path / "labelme" / "b.json").exists()


def test_rgb_masks_in_the_voc_colour_map_are_read_as_class_ids(tmp_path: Path) -> None:
    mask = scene()
    Image.fromarray(voc_colormap()[mask]).save(tmp_path / "rgb.png")
    Image.fromarray(mask, mode="L").save(tmp_path / "grey.png")
    write_label_png(tmp_path / "palette.png", mask)
    for name in ("rgb.png", "grey.png", "palette.png"):
        assert np.array_equal(read_class_mask(tmp_path / name), mask), name


def test_pairs_match_image_suffixes_in_any_case(tmp_path: Path) -> None:
    for name in ("masks/a.png", "masks/b.png", "masks/notes.txt", "images/a.jpeg", "images/B.PNG"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    pairs = find_mask_pairs(tmp_path / "masks", tmp_path / "images")
    assert [(pair.mask.name, pair.image and pair.image.name) for pair in pairs] == [
        ("a.png", "a.jpeg"),
        ("b.png", None),
    ]
    with pytest.raises(DatasetError, match=r"holds no \.png masks"):
        (tmp_path / "empty").mkdir()
        find_mask_pairs(tmp_path / "empty", tmp_path / "images")


@pytest.mark.parametrize(("tolerance", "least"), [("0", 0.999), ("1", 0.99)])
def test_round_trip_on_the_shared_fixtures_and_the_example(
    tmp_path: Path, labelme_fixtures: Path, tolerance: str, least: float
) -> None:
    # (masks, images, labels): labelme's own converter output for the shared fixtures
    # (their images as annotool converts them: embedded_image has no image file), and
    # annotool's conversion of the bundled example.
    sources = []
    for folder in [*sorted(labelme_fixtures.iterdir()), EXAMPLE]:
        labels = folder / "labels.txt"
        if not labels.is_file():
            continue
        annotations = folder / "annotations" if folder != EXAMPLE else folder
        voc = tmp_path / f"{folder.name}-voc"
        convert_dataset(annotations, voc, load_labels(labels), ConvertOptions(objects=False))
        expected = folder / "expected" / "SegmentationClass"
        masks = expected if expected.is_dir() else voc / "SegmentationClass"
        sources.append((masks, voc / "JPEGImages", labels))
    assert len(sources) == 5
    for index, (masks, images, labels_path) in enumerate(sources):
        out = tmp_path / f"labelme{index}"
        result = CliRunner().invoke(
            main,
            [
                "masks-to-labelme",
                str(masks),
                str(images),
                str(out),
                "--labels",
                str(labels_path),
                "--tolerance",
                tolerance,
                "-q",
            ],
        )
        assert result.exit_code == 0, result.output
        voc = tmp_path / f"voc{index}"
        convert_dataset(out, voc, load_labels(labels_path), ConvertOptions(objects=False))
        for original in sorted(masks.glob("*.png")):
            back = read_label_png(voc / "SegmentationClass" / original.name)
            assert np.mean(back == read_label_png(original)) >= least, original
    shutil.rmtree(tmp_path)
