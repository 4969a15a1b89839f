"""`annotool convert`, `annotool check` and `annotool labels` from the command line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from labelme_factory import (
    make_dataset,
    photo,
    rectangle,
    shape,
    write_annotation,
    write_labels,
)
from PIL import Image

from annotool.cli import main
from annotool.labels import voc_palette


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root``."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def convert(json_dir: Path, out_dir: Path, *extra: str | Path) -> tuple[int, str]:
    return run("convert", json_dir, out_dir, "--labels", json_dir / "labels.txt", "-q", *extra)


def test_convert_writes_the_voc_layout(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    code, output = convert(annotations, tmp_path / "out", "--workers", "1")
    assert code == 0, output
    out = tmp_path / "out"
    assert (out / "class_names.txt").read_text() == "_background_\ncat\ndog\n"
    for folder, suffix in [
        ("JPEGImages", ".jpg"),
        ("SegmentationClass", ".png"),
        ("SegmentationObject", ".png"),
        ("SegmentationClassVisualization", ".jpg"),
        ("SegmentationObjectVisualization", ".jpg"),
    ]:
        assert sorted(p.name for p in (out / folder).iterdir()) == [
            f"image000{suffix}",
            f"image001{suffix}",
        ]
    assert not (out / "SegmentationClassNpy").exists()
    with Image.open(out / "SegmentationClass" / "image000.png") as mask:
        assert mask.mode == "P"
        assert mask.getpalette() == voc_palette()
        values = np.asarray(mask)
    assert values[10, 5] == 1  # cat rectangle
    assert values[10, 28] == 2  # dog triangle
    assert values[25, 35] == 255  # __ignore__ rectangle
    assert values[0, 0] == 0
    assert "Converted 2 images" in output
    assert "cat" in output and "%" in output


def test_plain_jpeg_is_copied_byte_for_byte(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    assert convert(annotations, tmp_path / "out")[0] == 0
    copied = (tmp_path / "out" / "JPEGImages" / "image000.jpg").read_bytes()
    assert copied == (annotations / "image000.jpg").read_bytes()


def test_png_source_is_reencoded_as_jpeg(tmp_path: Path) -> None:
    annotations = tmp_path / "in"
    rgba = Image.fromarray(np.dstack([photo(30, 40), np.full((30, 40), 200, np.uint8)]), "RGBA")
    write_annotation(
        annotations, "rgba", [rectangle("cat", 1, 1, 9, 9)], image=rgba, image_suffix=".png"
    )
    write_labels(annotations / "labels.txt")
    assert convert(annotations, tmp_path / "out")[0] == 0
    with Image.open(tmp_path / "out" / "JPEGImages" / "rgba.jpg") as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (40, 30))


def test_exif_rotated_photo_gives_masks_in_the_annotated_frame(tmp_path: Path) -> None:
    annotations = tmp_path / "in"
    stored = Image.fromarray(photo(40, 30))  # stored 30 wide, 40 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown: 40 wide, 30 high
    write_annotation(annotations, "phone", [rectangle("cat", 0, 0, 39, 9)], height=30, width=40)
    stored.save(annotations / "phone.jpg", exif=exif.tobytes())
    write_labels(annotations / "labels.txt")
    assert convert(annotations, tmp_path / "out")[0] == 0
    with Image.open(tmp_path / "out" / "JPEGImages" / "phone.jpg") as image:
        assert image.size == (40, 30)
    with Image.open(tmp_path / "out" / "SegmentationClass" / "phone.png") as mask:
        assert mask.size == (40, 30)
        assert np.asarray(mask)[:10].min() == 1


def test_optional_outputs(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    assert convert(annotations, tmp_path / "out", "--no-objects", "--no-viz", "--npy")[0] == 0
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "JPEGImages",
        "SegmentationClass",
        "SegmentationClassNpy",
        "annotool-manifest.json",
        "class_names.txt",
    ]
    array = np.load(out / "SegmentationClassNpy" / "image000.npy")
    assert array.dtype == np.int32
    assert array[25, 35] == -1
    assert array[10, 5] == 1


def test_npy_with_objects(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    assert convert(annotations, tmp_path / "out", "--npy")[0] == 0
    objects = np.load(tmp_path / "out" / "SegmentationObjectNpy" / "image000.npy")
    assert objects.dtype == np.int32
    assert set(np.unique(objects)) == {0, 1, 2}


def test_output_does_not_depend_on_workers(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=6)
    assert convert(annotations, tmp_path / "one", "--workers", "1")[0] == 0
    assert convert(annotations, tmp_path / "two", "--workers", "2")[0] == 0
    assert tree_digest(tmp_path / "one") == tree_digest(tmp_path / "two")


def test_existing_output_is_refused_then_overwritten(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    code, output = convert(annotations, out)
    assert code == 1
    assert "already exists and is not empty" in output and "--overwrite" in output
    assert (out / "old.txt").read_text() == "keep me"
    code, output = convert(annotations, out, "--overwrite")
    assert code == 0, output
    assert not (out / "old.txt").exists()
    assert (out / "SegmentationClass" / "image000.png").exists()


def test_comma_separated_labels(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    code, output = run(
        "convert", annotations, tmp_path / "out", "--labels", "_background_,cat,dog", "-q"
    )
    assert code == 0, output
    assert (tmp_path / "out" / "class_names.txt").read_text() == "_background_\ncat\ndog\n"


@pytest.mark.parametrize(
    ("labels_text", "message"),
    [
        ("cat\n_background_\n", "line 1 must be '__ignore__' or '_background_', but got 'cat'"),
        ("_background_\ncat\ncat\n", "line 3 repeats 'cat' from line 2"),
        ("_background_\ncat\n\ndog\n", "line 3 is blank"),
    ],
    ids=["first-line", "duplicate", "blank-between"],
)
def test_bad_labels_file_is_a_usage_error(tmp_path: Path, labels_text: str, message: str) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    write_labels(annotations / "labels.txt", labels_text)
    code, output = convert(annotations, tmp_path / "out")
    assert code == 2
    assert message in output
    assert not (tmp_path / "out").exists()


def _unknown_label(folder: Path) -> None:
    write_annotation(folder, "zzz", [rectangle("cat", 1, 1, 5, 5), rectangle("cow", 1, 1, 5, 5)])


def _truncated_json(folder: Path) -> None:
    path = write_annotation(folder, "zzz", [rectangle("cat", 1, 1, 5, 5)])
    path.write_text(path.read_text()[:40])


def _missing_image(folder: Path) -> None:
    write_annotation(folder, "zzz", [rectangle("cat", 1, 1, 5, 5)])
    (folder / "zzz.jpg").unlink()


def _size_mismatch(folder: Path) -> None:
    write_annotation(folder, "zzz", [rectangle("cat", 1, 1, 5, 5)], imageHeight=99)


def _unknown_shape_type(folder: Path) -> None:
    write_annotation(folder, "zzz", [shape("cat", [[1, 1], [4, 4]], "blob")])


def _too_few_points(folder: Path) -> None:
    write_annotation(folder, "zzz", [shape("cat", [[1, 1], [4, 4]], "polygon")])


def _non_finite_point(folder: Path) -> None:
    path = write_annotation(folder, "zzz", [shape("cat", [[1, 1], [4, 4], [9, 1]])])
    path.write_text(path.read_text().replace("[9, 1]", "[NaN, 1]"))


def _not_json(folder: Path) -> None:
    (folder / "zzz.json").write_text("this is not json")


@pytest.mark.parametrize(
    ("break_input", "message"),
    [
        (_unknown_label, "zzz.json shape 1"),
        (_truncated_json, "zzz.json"),
        (_missing_image, "zzz.json"),
        (_size_mismatch, "zzz.json"),
        (_unknown_shape_type, "zzz.json shape 0"),
        (_too_few_points, "zzz.json shape 0"),
        (_non_finite_point, "zzz.json shape 0"),
        (_not_json, "zzz.json"),
    ],
    ids=[
        "unknown-label",
        "truncated-json",
        "missing-image",
        "size-mismatch",
        "unknown-shape-type",
        "too-few-points",
        "non-finite",
        "not-json",
    ],
)
def test_invalid_input_writes_nothing_and_names_the_problem(
    tmp_path: Path, break_input, message: str
) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    break_input(annotations)
    code, output = convert(annotations, tmp_path / "out", "--workers", "2")
    assert code == 1
    assert "1 of 3 annotation files are invalid; nothing was written" in output
    assert message in output
    assert "Traceback" not in output
    assert not (tmp_path / "out").exists()
    assert not [path for path in tmp_path.iterdir() if "annotool-tmp" in path.name]


def test_every_unknown_label_is_listed(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    write_annotation(annotations, "a", [rectangle("cow", 1, 1, 5, 5)])
    write_annotation(annotations, "b", [rectangle("cat", 1, 1, 5, 5), rectangle("pig", 1, 1, 5, 5)])
    code, output = convert(annotations, tmp_path / "out")
    assert code == 1
    assert "a.json shape 0" in output and "'cow'" in output
    assert "b.json shape 1" in output and "'pig'" in output


def test_skip_invalid_converts_the_rest(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    _unknown_label(annotations)
    code, output = convert(annotations, tmp_path / "out", "--skip-invalid")
    assert code == 0, output
    assert "Converted 2 images" in output and "skipped 1" in output
    assert "zzz.json" in output and "'cow'" in output
    masks = sorted(p.name for p in (tmp_path / "out" / "SegmentationClass").iterdir())
    assert masks == ["image000.png", "image001.png"]


def test_skip_invalid_with_nothing_valid_fails(tmp_path: Path) -> None:
    annotations = tmp_path / "in"
    annotations.mkdir()
    _not_json(annotations)
    write_labels(annotations / "labels.txt")
    code, output = convert(annotations, tmp_path / "out", "--skip-invalid")
    assert code == 1
    assert "no annotation file is valid" in output


def test_duplicate_stems_in_subfolders_are_an_error(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    write_annotation(annotations / "sub", "image000", [rectangle("cat", 1, 1, 5, 5)])
    code, output = convert(annotations, tmp_path / "out", "--recursive")
    assert code == 1
    assert "share a name" in output and "image000" in output
    assert not (tmp_path / "out").exists()


def test_recursive_reads_subfolders(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    write_annotation(annotations / "sub", "nested", [rectangle("dog", 1, 1, 5, 5)])
    assert convert(annotations, tmp_path / "flat")[0] == 0
    assert convert(annotations, tmp_path / "deep", "--recursive")[0] == 0
    assert len(list((tmp_path / "flat" / "SegmentationClass").iterdir())) == 1
    assert len(list((tmp_path / "deep" / "SegmentationClass").iterdir())) == 2


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    code, output = run("convert", tmp_path / "in", tmp_path / "out", "--labels", "_background_,a")
    assert code == 1
    assert "no labelme .json files found" in output


def test_check_reports_problems_and_fails(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    _unknown_label(annotations)
    code, output = run("check", annotations, "--labels", annotations / "labels.txt", "-q")
    assert code == 1
    assert "error: " in output and "zzz.json shape 1" in output
    assert "Checked 2 files: 1 errors in 1 files" in output


def test_check_warnings_do_not_fail(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    write_labels(annotations / "labels.txt", "__ignore__\n_background_\ncat\ndog\nbird\n")
    code, output = run("check", annotations, "--labels", annotations / "labels.txt", "-q")
    assert code == 0, output
    assert "warning: " in output and "'bird' (id 3) is never used" in output


def test_check_json_report(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    _too_few_points(annotations)
    code, output = run("check", annotations, "--labels", annotations / "labels.txt", "--json", "-q")
    assert code == 1
    report = json.loads(output)
    assert report["files_checked"] == 2
    assert report["invalid_files"] == 1
    [error] = report["errors"]
    assert error["file"].endswith("zzz.json")
    assert error["shape"] == 0
    assert error["severity"] == "error"
    assert report["warnings"] == []


def test_labels_lists_used_labels(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    write_annotation(annotations, "b", [rectangle("aardvark", 1, 1, 5, 5)])
    code, output = run("labels", annotations)
    assert code == 0
    assert output == "__ignore__\n_background_\naardvark\ncat\ndog\n"
    code, _ = run("labels", annotations, "-o", tmp_path / "labels.txt")
    assert code == 0
    assert (tmp_path / "labels.txt").read_text() == output


def test_too_many_instances_for_a_png_mask(tmp_path: Path) -> None:
    annotations = tmp_path / "in"
    squares = [rectangle("cat", x % 40, x // 40, x % 40, x // 40) for x in range(0, 2 * 255, 2)]
    write_annotation(annotations, "crowd", squares)
    write_labels(annotations / "labels.txt")
    code, output = convert(annotations, tmp_path / "out")
    assert code == 1
    assert "255 instances" in output and "--no-objects" in output
    assert convert(annotations, tmp_path / "out", "--no-objects")[0] == 0


def test_convert_takes_a_single_json_file(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    one = annotations / "image001.json"
    code, output = run(
        "convert", one, tmp_path / "out", "--labels", annotations / "labels.txt", "-q"
    )
    assert code == 0, output
    assert [p.name for p in (tmp_path / "out" / "SegmentationClass").iterdir()] == ["image001.png"]


def test_convert_and_check_take_files_and_folders_together(tmp_path: Path) -> None:
    first = make_dataset(tmp_path / "a", count=2)
    second = tmp_path / "b"
    write_annotation(second, "other", [rectangle("dog", 1, 1, 5, 5)])
    labels = first / "labels.txt"
    out = tmp_path / "out"
    code, output = run("convert", first, second / "other.json", out, "--labels", labels)
    assert code == 0, output
    assert "Converted 3 images" in output
    code, output = run("check", second / "other.json", first, "--labels", labels, "-q")
    assert code == 0 and "Checked 3 files" in output


def test_a_folder_named_json_is_a_warning_not_silence(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    (annotations / "x.json").mkdir()
    labels = annotations / "labels.txt"
    result = CliRunner().invoke(
        main, ["convert", str(annotations), str(tmp_path / "out"), "--labels", str(labels), "-q"]
    )
    assert result.exit_code == 0
    assert f"warning: {annotations / 'x.json'}: a folder whose name ends in .json" in (
        result.output
    )
    for command in (["check", annotations, "--labels", labels, "-q"], ["stats", annotations]):
        code, output = run(*command)
        assert code == 0 and f"warning: {annotations / 'x.json'}: a folder" in output


def test_a_missing_or_non_json_input_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("")
    for bad, message in [
        (tmp_path / "gone", "does not exist"),
        (tmp_path / "notes.txt", "is not a labelme .json file"),
    ]:
        code, output = run("check", bad, "--labels", "_background_,cat")
        assert code == 1 and message in output


def test_update_says_what_it_converted_kept_and_removed(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=3)
    out = tmp_path / "out"
    assert convert(annotations, out)[0] == 0
    (annotations / "image001.json").unlink()
    write_annotation(annotations, "new", [rectangle("dog", 1, 1, 9, 9)])
    code, output = convert(annotations, out, "--update")
    assert code == 0, output
    assert f"Updated {out}: converted 1, kept 2, removed 1 (skipped 0)." in output
    fresh = tmp_path / "fresh"
    assert convert(annotations, fresh)[0] == 0
    assert tree_digest(out) == tree_digest(fresh)


def test_update_with_changed_labels_says_why_it_converts_everything(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    out = tmp_path / "out"
    assert convert(annotations, out)[0] == 0
    write_labels(annotations / "labels.txt", "__ignore__\n_background_\ncat\ndog\nbird\n")
    code, output = convert(annotations, out, "--update", "--no-objects")
    assert code == 0, output
    assert "Converting everything: the labels (class names or their order) changed." in output
    assert "Converting everything: --objects/--no-objects changed (was on, now off)." in output
    assert "converted 2, kept 0, removed 0" in output


def test_update_refuses_a_folder_another_tool_wrote(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    out = tmp_path / "out"
    (out / "JPEGImages").mkdir(parents=True)
    code, output = convert(annotations, out, "--update")
    assert code == 1
    assert "has no annotool-manifest.json, so it was not written by annotool convert" in output
    assert sorted(path.name for path in out.iterdir()) == ["JPEGImages"]


def test_update_and_overwrite_together_are_a_usage_error(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    code, output = convert(annotations, tmp_path / "out", "--update", "--overwrite")
    assert code == 2
    assert "--update reuses OUT_DIR and --overwrite replaces it" in output


def test_update_with_another_label_map_converts_everything(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    out = tmp_path / "out"
    assert convert(annotations, out)[0] == 0
    code, output = convert(annotations, out, "--update", "--map", "dog=cat")
    assert code == 0, output
    assert "Converting everything: the label map (--map) changed." in output
    code, output = convert(annotations, out, "--update", "--map", "dog=cat")
    assert "converted 0, kept 2, removed 0" in output
    fresh = tmp_path / "fresh"
    assert convert(annotations, fresh, "--map", "dog=cat")[0] == 0
    assert tree_digest(out) == tree_digest(fresh)
