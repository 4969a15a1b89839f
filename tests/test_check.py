"""Finding annotation files from the inputs, and the checks check.py adds to the reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotool.check import (
    AnnotationFiles,
    check_annotations,
    find_annotation_files,
    labels_in_use,
    read_checked,
)
from annotool.errors import AnnotoolError
from annotool.labelmap import parse_label_map
from annotool.labels import parse_labels

LABELS = parse_labels("__ignore__\n_background_\ncat\ndog\n", source="labels.txt")


def test_shape_outside_the_image_is_a_warning(write_labelme) -> None:
    inside = {"label": "cat", "points": [[1, 1], [5, 1], [5, 4]], "shape_type": "polygon"}
    outside = {"label": "cat", "points": [[30, 2]], "shape_type": "point"}
    annotation, check = read_checked(write_labelme([inside, outside]), LABELS)
    assert annotation is not None and len(annotation.shapes) == 2
    assert [(problem.message, problem.shape_index) for problem in check.problems] == [
        (
            "the shape lies entirely outside the 8x6 image, so it paints nothing; "
            "move it onto the image or delete it",
            1,
        )
    ]
    assert check.problems[0].severity == "warning" and check.ok


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    return path


def test_a_folder_gives_its_json_files_sorted(tmp_path: Path) -> None:
    b, a = touch(tmp_path / "b.json"), touch(tmp_path / "a.JSON")
    touch(tmp_path / "notes.txt")
    touch(tmp_path / "sub" / "c.json")
    assert find_annotation_files(tmp_path) == AnnotationFiles((a, b))
    assert find_annotation_files(tmp_path, recursive=True).files == (
        a,
        b,
        tmp_path / "sub" / "c.json",
    )


def test_files_and_folders_together_without_repeats(tmp_path: Path) -> None:
    one = touch(tmp_path / "x" / "one.json")
    two = touch(tmp_path / "y" / "two.json")
    found = find_annotation_files([two, tmp_path / "x", one])
    assert found.files == (one, two) and found.warnings == ()


def test_a_single_json_file(tmp_path: Path) -> None:
    one = touch(tmp_path / "one.json")
    assert find_annotation_files(one).files == (one,)


def test_a_folder_named_like_json_is_a_warning(tmp_path: Path) -> None:
    touch(tmp_path / "a.json")
    (tmp_path / "x.json").mkdir()
    found = find_annotation_files(tmp_path)
    assert found.files == (tmp_path / "a.json",)
    assert [(w.path, w.severity) for w in found.warnings] == [(tmp_path / "x.json", "warning")]
    assert "folder whose name ends in .json is not read" in found.warnings[0].message


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "gone", r"annotation input .*gone does not exist"),
        (lambda root: touch(root / "a.txt"), r"a\.txt is not a labelme \.json file"),
        (lambda root: root, r"no labelme \.json files found in .* \(pass --recursive"),
    ],
    ids=["missing", "not-json", "empty-folder"],
)
def test_bad_inputs_are_errors(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(AnnotoolError, match=message):
        find_annotation_files([make(tmp_path)])


def test_two_files_with_one_stem_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AnnotoolError, match="share a name"):
        find_annotation_files([touch(tmp_path / "a" / "s.json"), touch(tmp_path / "b" / "s.json")])


def test_resolved_inputs_pass_through(tmp_path: Path) -> None:
    resolved = AnnotationFiles((tmp_path / "never-listed.json",))
    assert find_annotation_files(resolved) is resolved


def test_check_with_a_label_map_reports_its_entries(write_labelme) -> None:
    path = write_labelme([{"label": "kitty", "points": [[1, 1], [5, 1], [5, 4]]}])
    label_map = parse_label_map(
        {"kitty": "cat", "doggo": "dog", "car": "vehicle"}, source="map.yaml"
    )
    report = check_annotations(path, LABELS, label_map=label_map)
    assert [str(problem) for problem in report.errors] == [
        "map.yaml: 'car' -> 'vehicle' maps to a class that is not in labels.txt; add "
        "'vehicle' there or change the entry"
    ]
    warnings = [str(w) for w in report.warnings if str(w).startswith("map.yaml")]
    assert warnings == [
        "map.yaml: 'doggo' -> 'dog' matches no label in the annotations; check its spelling "
        "(labels are case-sensitive) or remove the entry",
        "map.yaml: 'car' -> 'vehicle' matches no label in the annotations; check its "
        "spelling (labels are case-sensitive) or remove the entry",
    ]
    assert report.files[0].ok and not report.ok
    assert report.to_dict()["errors"][0]["file"] == "map.yaml"


def test_labels_in_use_after_a_label_map(write_labelme) -> None:
    triangle = [[1, 1], [5, 1], [5, 4]]
    labels = ("kitty", "cat", "car", "scribble", "fog", "sky")
    path = write_labelme([{"label": label, "points": triangle} for label in labels])
    label_map = parse_label_map(
        {"kitty": "cat", "scribble": None, "fog": "__ignore__", "sky": "_background_"}
    )
    assert labels_in_use(path) == (set(labels), [])
    assert labels_in_use(path, label_map=label_map) == ({"cat", "car", "_background_"}, [])
