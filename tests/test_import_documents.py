"""finish_import: existing files are kept unless overwrite, one JSON per stem, labels.txt,
and a failed write leaves nothing behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from annotool.errors import ForeignFormatError, OutputExistsError, Problem
from annotool.fileio import TEMP_MARKER
from annotool.importers.documents import (
    ImportedImage,
    WriteOptions,
    class_list,
    finish_import,
)
from annotool.labelmap import parse_label_map
from annotool.labelme_write import new_shape


def imported(tmp_path: Path, relative: str, label: str = "cat") -> ImportedImage:
    image = tmp_path / relative
    image.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6)).save(image)
    shape = new_shape(label, [[1.0, 1.0], [4.0, 1.0], [4.0, 4.0]], "polygon")
    return ImportedImage(f"image {relative}", image, 6, 8, (shape,))


CLASSES = ("_background_", "cat")


def test_existing_json_is_left_alone_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.json").write_text("corrected by a person")
    images = [imported(tmp_path, "a.png"), imported(tmp_path, "b.png")]
    result = finish_import(images, [], CLASSES, tmp_path / "src", out, WriteOptions())
    assert result.existing == [out / "a.json"] and result.written == [out / "b.json"]
    assert (out / "a.json").read_text() == "corrected by a person"
    result = finish_import(images, [], CLASSES, tmp_path / "src", out, WriteOptions(overwrite=True))
    assert result.written == [out / "a.json", out / "b.json"]
    assert '"imagePath": "../a.png"' in (out / "a.json").read_text()


def test_two_images_of_one_stem_are_refused(tmp_path: Path) -> None:
    images = [imported(tmp_path, "train/x.png"), imported(tmp_path, "val/x.png")]
    with pytest.raises(
        ForeignFormatError, match=r"image train/x.png and image val/x.png .*/x.json"
    ):
        finish_import(images, [], CLASSES, tmp_path / "src", tmp_path / "out", WriteOptions())
    assert not (tmp_path / "out").exists()


def test_a_labels_file_with_other_classes_is_kept_with_a_warning(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "labels.txt").write_text("__ignore__\n_background_\ndog\n")
    result = finish_import([], [], CLASSES, tmp_path / "src", out, WriteOptions())
    assert result.labels_file is None
    assert "labels.txt exists and lists other classes" in result.warnings[0]
    assert (out / "labels.txt").read_text() == "__ignore__\n_background_\ndog\n"
    result = finish_import([], [], CLASSES, tmp_path / "src", out, WriteOptions(overwrite=True))
    assert (out / "labels.txt").read_text() == "__ignore__\n_background_\ncat\n"


def test_problems_stop_the_import_unless_skip_invalid(tmp_path: Path) -> None:
    problems = [Problem(tmp_path / "src", "image id 2: broken")]
    with pytest.raises(Exception, match=r"1 problem; nothing was written(.|\n)*image id 2"):
        finish_import(
            [imported(tmp_path, "a.png")],
            problems,
            CLASSES,
            tmp_path / "src",
            tmp_path / "out",
            WriteOptions(),
        )
    assert not (tmp_path / "out").exists()
    result = finish_import(
        [imported(tmp_path, "a.png")],
        problems,
        CLASSES,
        tmp_path / "src",
        tmp_path / "out",
        WriteOptions(skip_invalid=True),
    )
    assert result.skipped == problems and len(result.written) == 1


def test_a_failed_write_leaves_no_file_and_no_staging_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved: list[str] = []
    real_replace = os.replace

    def fail_on_second(source: str, target: str) -> None:
        if moved:
            raise OSError(28, "No space left on device")
        moved.append(target)
        real_replace(source, target)

    images = [imported(tmp_path, "a.png"), imported(tmp_path, "b.png")]
    monkeypatch.setattr(os, "replace", fail_on_second)
    with pytest.raises(OSError, match="No space"):
        finish_import(images, [], CLASSES, tmp_path / "src", tmp_path / "out", WriteOptions())
    assert not list(tmp_path.glob(f".*{TEMP_MARKER}"))
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["a.json"]  # whole


def test_out_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("")
    with pytest.raises(OutputExistsError, match="is not a directory"):
        finish_import([], [], CLASSES, tmp_path / "src", tmp_path / "out", WriteOptions())


def test_class_list_keeps_the_source_order_and_refuses_unusable_names() -> None:
    assert class_list(["_background_", "b", "a", "b", "__ignore__"], "src") == (
        "_background_",
        "b",
        "a",
    )
    with pytest.raises(ForeignFormatError, match="src: the class name 'two\\\\nlines'"):
        class_list(["two\nlines"], "src")


def test_a_label_map_renames_merges_and_drops_shapes_and_classes(tmp_path: Path) -> None:
    label_map = parse_label_map({"cat": "animal", "dog": "animal", "bird": None, "fish": "x"})
    images = [imported(tmp_path, "a.png", "cat"), imported(tmp_path, "b.png", "bird")]
    classes = ("_background_", "cat", "dog", "bird")
    result = finish_import(
        images, [], classes, tmp_path / "src", tmp_path / "out", WriteOptions(label_map=label_map)
    )
    assert result.class_names == ("_background_", "animal")
    assert (tmp_path / "out" / "labels.txt").read_text() == "__ignore__\n_background_\nanimal\n"
    a = json.loads((tmp_path / "out" / "a.json").read_text())["shapes"]
    b = json.loads((tmp_path / "out" / "b.json").read_text())["shapes"]
    assert [shape["label"] for shape in a] == ["animal"] and b == []
    assert result.warnings == ["label map: 'fish' -> 'x' matches no label of the imported dataset"]
