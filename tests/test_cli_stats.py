"""Tests of the ``annotool stats`` command: output, files written, and error messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from annotool.cli import main
from annotool.voc import VocLayout, write_label_png


def make_dataset(root: Path, splits: bool = True) -> Path:
    """Two 6x8 images: 'a' half cat, 'b' a dog square and an ignore row."""
    layout = VocLayout(root)
    layout.images_dir.mkdir(parents=True)
    a = np.zeros((6, 8), np.uint8)
    a[:, :4] = 1
    b = np.zeros((6, 8), np.uint8)
    b[2:4, 2:4] = 2
    b[5] = 255
    for stem, mask in {"a": a, "b": b}.items():
        write_label_png(layout.class_mask_path(stem), mask)
        Image.new("RGB", (8, 6), (200, 100, 50)).save(layout.images_dir / f"{stem}.jpg")
    layout.write_class_names(["_background_", "cat", "dog"])
    if splits:
        layout.write_split("train", ["a"])
        layout.write_split("val", ["b"])
    return root


def make_labelme_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    Image.new("RGB", (8, 6)).save(folder / "one.jpg")
    document = {
        "version": "5.4.1",
        "shapes": [
            {"label": "cat", "points": [[0, 0], [4, 0], [4, 4]], "shape_type": "polygon"},
            {"label": "dog", "points": [[1, 1], [3, 3]], "shape_type": "rectangle"},
        ],
        "imagePath": "one.jpg",
        "imageData": None,
        "imageHeight": 6,
        "imageWidth": 8,
    }
    (folder / "one.json").write_text(json.dumps(document), encoding="utf-8")
    return folder


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["stats", *args])
    return result.exit_code, result.stdout, result.stderr


def test_help() -> None:
    code, out, _ = run("--help")

    assert code == 0
    for option in ("--split", "--json", "--plot", "--no-rgb", "--workers", "--quiet"):
        assert option in out


def test_table_on_stdout(tmp_path: Path) -> None:
    code, out, _ = run(str(make_dataset(tmp_path / "d")), "-q")

    assert code == 0
    assert "Images: 2" in out
    assert "Images per split" in out
    assert "split 'val' has no image of cat" in out
    assert "split 'train' has no image of dog" in out


def test_json_file_and_plot(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d")
    json_path = tmp_path / "out" / "stats.json"
    plot_path = tmp_path / "out" / "stats.png"

    code, out, err = run(str(root), "-q", "--json", str(json_path), "--plot", str(plot_path))

    assert code == 0, err
    assert "Images: 2" in out
    document = json.loads(json_path.read_text(encoding="utf-8"))
    assert document["schema_version"] == 1
    assert [item["pixels"] for item in document["classes"]] == [60, 24, 4]
    assert document["images"]["rgb_mean"] is not None
    with Image.open(plot_path) as image:
        assert image.format == "PNG"
    assert f"Wrote {json_path}" in err
    assert sorted(path.name for path in json_path.parent.iterdir()) == ["stats.json", "stats.png"]


def test_json_to_stdout_replaces_the_table(tmp_path: Path) -> None:
    code, out, _ = run(str(make_dataset(tmp_path / "d")), "-q", "--json", "-", "--no-rgb")

    assert code == 0
    document = json.loads(out)
    assert document["images"]["rgb_mean"] is None
    assert set(document["splits"]) == {"train", "val"}


def test_split_option(tmp_path: Path) -> None:
    code, out, _ = run(str(make_dataset(tmp_path / "d")), "-q", "--split", "train", "--json", "-")

    assert code == 0
    document = json.loads(out)
    assert document["split"] == "train"
    assert document["images"]["count"] == 1


def test_progress_bar_goes_to_stderr_and_quiet_silences_it(tmp_path: Path) -> None:
    root = str(make_dataset(tmp_path / "d"))

    _, _, loud = run(root, "--workers", "1")
    _, _, quiet = run(root, "--workers", "1", "-q")

    assert "Measuring" in loud
    assert quiet == ""


@pytest.mark.parametrize(
    ("build", "extra", "message"),
    [
        (lambda root: None, [], "dataset directory .* does not exist"),
        (lambda root: root.mkdir(), [], "neither a segmentation dataset"),
        (make_dataset, ["--split", "test"], r"split 'test' not found .*available: train, val"),
        (
            lambda root: make_dataset(root, splits=False),
            ["--split", "train"],
            r"available: none\); run 'annotool split",
        ),
        (make_labelme_folder, ["--split", "train"], "--split needs a converted dataset"),
    ],
    ids=["missing-dir", "not-a-dataset", "unknown-split", "no-split-files", "labelme-split"],
)
def test_errors(tmp_path: Path, build, extra: list[str], message: str) -> None:
    root = tmp_path / "d"
    build(root)

    code, out, err = run(str(root), "-q", *extra)

    assert code != 0
    assert out == ""
    assert re.search(message, err.replace("\n", " ")), err


def test_labelme_folder(tmp_path: Path) -> None:
    folder = make_labelme_folder(tmp_path / "ann")
    plot_path = tmp_path / "labels.png"

    code, out, err = run(str(folder), "-q", "--plot", str(plot_path))

    assert code == 0, err
    assert "labelme folder" in out
    assert "rectangle" in out
    assert plot_path.is_file()


def test_labelme_folder_json(tmp_path: Path) -> None:
    code, out, _ = run(str(make_labelme_folder(tmp_path / "ann")), "-q", "--json", "-")

    assert code == 0
    document = json.loads(out)
    assert document["kind"] == "labelme"
    assert [item["label"] for item in document["labels"]] == ["cat", "dog"]


def test_a_class_id_beyond_class_names_is_described_with_a_warning_naming_the_file(
    tmp_path: Path,
) -> None:
    root = make_dataset(tmp_path / "d")
    mask = np.zeros((6, 8), np.uint8)
    mask[0] = 9
    write_label_png(VocLayout(root).class_mask_path("b"), mask)

    code, out, _ = run(str(root), "-q")

    assert code == 0
    assert "class_9" in out
    assert f"{VocLayout(root).class_mask_path('b')} (class id 9)" in out


def test_an_rgb_mask_is_refused_naming_the_file(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d")
    Image.new("RGB", (8, 6), (128, 0, 0)).save(VocLayout(root).class_mask_path("a"))

    code, _, err = run(str(root), "-q")

    assert code == 1
    assert f"{VocLayout(root).class_mask_path('a')} is a RGB image" in err
    assert "pixel values are class ids" in err
