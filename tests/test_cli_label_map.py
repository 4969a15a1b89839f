"""`--map` on every command that reads labelme JSON: convert, check, labels, stats of a
labelme folder, export coco and export yolo; messages and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from labelme_factory import make_dataset, rectangle, write_annotation, write_labels
from PIL import Image

from annotool.cli import main


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def annotations(folder: Path) -> Path:
    """Two images: kitty and cat rectangles, a car, a scribble; labels.txt: cat, dog."""
    for index in range(2):
        write_annotation(
            folder,
            f"image{index}",
            [
                rectangle("kitty", 2, 2, 10, 10),
                rectangle("cat", 12, 2, 20, 10),
                rectangle("car", 22, 2, 30, 10, group_id=1),
                rectangle("scribble", 2, 15, 38, 28),
            ],
        )
    write_labels(folder / "labels.txt")
    return folder


MAP_YAML = "kitty: cat\ncar: dog\nscribble:\n"


def test_convert_with_a_map_file(tmp_path: Path) -> None:
    folder = annotations(tmp_path / "in")
    map_file = tmp_path / "map.yaml"
    map_file.write_text(MAP_YAML)
    out = tmp_path / "out"
    code, output = run("convert", folder, out, "--labels", folder / "labels.txt", "--map", map_file)
    assert code == 0, output
    with Image.open(out / "SegmentationClass" / "image0.png") as image:
        mask = np.array(image)
    assert (mask[2:11, 2:11] == 1).all() and (mask[2:11, 22:31] == 2).all()
    assert (mask[15:29, 2:10] == 0).all()  # the scribble is dropped, not painted


def test_convert_without_the_map_fails_on_the_unknown_labels(tmp_path: Path) -> None:
    folder = annotations(tmp_path / "in")
    code, output = run("convert", folder, tmp_path / "out", "--labels", folder / "labels.txt")
    assert code == 1 and "label 'kitty' is not in" in output


def test_convert_refuses_a_map_naming_a_class_missing_from_labels(tmp_path: Path) -> None:
    folder = annotations(tmp_path / "in")
    out = tmp_path / "out"
    code, output = run(
        "convert",
        folder,
        out,
        "--labels",
        folder / "labels.txt",
        "--map",
        "kitty=cat",
        "--map",
        "car=vehicle",
        "--map",
        "scribble=",
        "-q",
    )
    assert code == 1
    assert (
        "Error: --map car=vehicle: 'car' -> 'vehicle' maps to a class that is not in "
        f"{folder / 'labels.txt'}; add 'vehicle' there or change the entry"
    ) in output
    assert not out.exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("missing.yaml", "'missing.yaml': no such file, and not an OLD=NEW pair"),
        ("{tmp}/bad.yaml", "bad.yaml: invalid YAML at line 2"),
    ],
)
def test_an_unreadable_map_is_a_usage_error(tmp_path: Path, value: str, message: str) -> None:
    folder = annotations(tmp_path / "in")
    (tmp_path / "bad.yaml").write_text("car: dog\n  nested: wrong\n")
    code, output = run(
        "check", folder, "--labels", folder / "labels.txt", "--map", value.format(tmp=tmp_path)
    )
    assert code == 2
    assert "Invalid value for '--map'" in output and message in output


def test_check_warns_about_entries_matching_nothing(tmp_path: Path) -> None:
    folder = annotations(tmp_path / "in")
    code, output = run(
        "check",
        folder,
        "--labels",
        folder / "labels.txt",
        "--map",
        "kitty=cat",
        "--map",
        "car=dog",
        "--map",
        "scribble=",
        "--map",
        "Doggo=dog",
        "-q",
    )
    assert code == 0, output
    assert (
        "warning: --map Doggo=dog: 'Doggo' -> 'dog' matches no label in the annotations; "
        "check its spelling (labels are case-sensitive) or remove the entry"
    ) in output
    assert "Checked 2 files: 0 errors in 0 files, 1 warnings." in output


def test_check_fails_on_a_mapped_class_missing_from_labels(tmp_path: Path) -> None:
    folder = annotations(tmp_path / "in")
    map_file = tmp_path / "map.yaml"
    map_file.write_text("kitty: cat\ncar: vehicle\nscribble: ~\n")
    code, output = run("check", folder, "--labels", folder / "labels.txt", "--map", map_file, "-q")
    assert code == 1
    assert (
        f"error: {map_file}: line 2: 'car' -> 'vehicle' maps to a class that is not in "
        f"{folder / 'labels.txt'}; add 'vehicle' there or change the entry"
    ) in output
    # Each shape of the entry is named too, with the map as the cause.
    assert "label 'vehicle' (the label map's name for 'car') is not in" in output


def test_check_json_lists_the_map_error(tmp_path: Path) -> None:
    folder = annotations(tmp_path / "in")
    code, output = run(
        "check", folder, "--labels", folder / "labels.txt", "--json", "-q", "--map", "x*=bird"
    )
    report = json.loads(output)
    assert code == 1
    assert report["errors"][0]["file"] == "--map x*=bird"
    assert "'x*' -> 'bird' maps to a class that is not in" in report["errors"][0]["message"]


def test_labels_writes_the_mapped_list(tmp_path: Path) -> None:
    folder = annotations(tmp_path / "in")
    code, output = run("labels", folder, "--map", "kitty=cat", "--map", "scribble=")
    assert code == 0
    assert output == "__ignore__\n_background_\ncar\ncat\n"
    code, output = run("labels", folder, "--map", "k*=cat", "--map", "c*=__ignore__")
    assert code == 0
    assert output == "__ignore__\n_background_\ncat\nscribble\n"


def test_stats_of_a_labelme_folder_counts_after_the_map(tmp_path: Path) -> None:
    folder = annotations(tmp_path / "in")
    code, output = run("stats", folder, "--map", "kitty=cat", "--map", "s*=", "-q", "--json", "-")
    assert code == 0, output
    counts = {item["label"]: item["shapes"] for item in json.loads(output)["labels"]}
    assert counts == {"car": 2, "cat": 4}


def test_stats_of_a_dataset_refuses_a_map(tmp_path: Path) -> None:
    folder = make_dataset(tmp_path / "in", count=1)
    out = tmp_path / "out"
    assert run("convert", folder, out, "--labels", folder / "labels.txt", "-q")[0] == 0
    code, output = run("stats", out, "--map", "cat=dog")
    assert code == 2
    assert "--map applies to labelme .json files, not to a converted dataset" in output


def test_export_coco_merges_categories(tmp_path: Path) -> None:
    folder = annotations(tmp_path / "in")
    out = tmp_path / "coco"
    code, output = run(
        "export",
        "coco",
        folder,
        out,
        "--labels",
        folder / "labels.txt",
        "--map",
        "kitty=cat",
        "--map",
        "car=cat",
        "--map",
        "scribble=",
        "-q",
    )
    assert code == 0, output
    document = json.loads((out / "annotations.json").read_text())
    cat_id = next(c["id"] for c in document["categories"] if c["name"] == "cat")
    assert [a["category_id"] for a in document["annotations"]] == [cat_id] * 6


def test_export_yolo_keeps_class_indexes_after_a_merge(tmp_path: Path) -> None:
    folder = annotations(tmp_path / "in")
    out = tmp_path / "yolo"
    code, output = run(
        "export",
        "yolo",
        folder,
        out,
        "--labels",
        folder / "labels.txt",
        "--map",
        "kitty=dog",
        "--map",
        "car=dog",
        "--map",
        "scribble=",
        "-q",
    )
    assert code == 0, output
    indexes = sorted(
        line.split()[0] for path in (out / "labels").rglob("*.txt") for line in path.open()
    )
    assert indexes == ["0", "0", "1", "1", "1", "1"]  # cat 0, dog 1 as in labels.txt


@pytest.mark.parametrize(
    "command",
    [["convert"], ["check"], ["labels"], ["stats"], ["export", "coco"], ["export", "yolo"]],
)
def test_every_command_reading_labelme_json_takes_map(command: list[str]) -> None:
    code, output = run(*command, "--help")
    assert code == 0 and "--map FILE|OLD=NEW" in output and "docs/label-map.md" in output
