"""``convert --update``: only what changed is converted, and the result is a fresh convert's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from labelme_factory import make_dataset, rectangle, write_annotation
from PIL import Image
from test_cli_convert import tree_digest

import annotool.convert
from annotool.convert import ConvertOptions, ConvertResult, convert_dataset, convert_settings
from annotool.errors import InvalidInputError, ManifestError
from annotool.labels import load_labels, parse_labels
from annotool.manifest import MANIFEST_FILE, Manifest, read_manifest
from annotool.update import plan_update, settings_changes, update_dataset

OPTIONS = ConvertOptions()


def converted(annotations: Path, out: Path, options: ConvertOptions = OPTIONS) -> Path:
    labels = load_labels(annotations / "labels.txt")
    convert_dataset(annotations, out, labels, options, workers=1)
    return out


def update(annotations: Path, out: Path, options: ConvertOptions = OPTIONS) -> ConvertResult:
    return update_dataset(annotations, out, load_labels(annotations / "labels.txt"), options)


def edit(annotations: Path, stem: str) -> None:
    """Move the first shape of ``stem`` by one pixel (same size of file: its time tells)."""
    path = annotations / f"{stem}.json"
    document = json.loads(path.read_text())
    document["shapes"][0]["points"][0][0] += 1
    path.write_text(json.dumps(document))


def assert_same_as_fresh(annotations: Path, out: Path, tmp_path: Path) -> None:
    fresh = converted(annotations, tmp_path / "fresh")
    assert tree_digest(out) == tree_digest(fresh)


def test_an_unchanged_dataset_is_kept_whole(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=3)
    out = converted(annotations, tmp_path / "out")
    before = tree_digest(out)
    result = update(annotations, out)
    assert (result.converted, result.kept, result.removed) == ([], 3, [])
    assert tree_digest(out) == before
    assert result.total_pixels == 3 * 30 * 40


def test_edits_deletes_and_additions_give_a_fresh_converts_bytes(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=5)
    out = converted(annotations, tmp_path / "out")
    edit(annotations, "image000")
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(annotations / "image001.jpg")
    (annotations / "image002.json").unlink()
    write_annotation(annotations, "new", [rectangle("dog", 1, 1, 9, 9)])

    result = update(annotations, out)

    assert result.converted == ["image000", "image001", "new"]
    assert (result.kept, result.removed, result.redo_reasons) == (2, ["image002"], [])
    assert not list(out.rglob("image002.*"))
    assert_same_as_fresh(annotations, out, tmp_path)
    assert result.unused_classes == []


def test_a_file_touched_but_not_changed_is_kept_with_its_new_time(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    out = converted(annotations, tmp_path / "out")
    later = os.stat(annotations / "image000.jpg").st_mtime_ns + 10**9
    os.utime(annotations / "image000.jpg", ns=(later, later))
    result = update(annotations, out)
    assert (result.converted, result.kept) == ([], 2)
    assert read_manifest(out).by_stem()["image000"].image.mtime_ns == later  # type: ignore[union-attr]
    assert_same_as_fresh(annotations, out, tmp_path)


def test_changed_labels_convert_everything_and_say_why(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    out = converted(annotations, tmp_path / "out")
    (annotations / "labels.txt").write_text("__ignore__\n_background_\ndog\ncat\n")
    result = update(annotations, out)
    assert result.converted == ["image000", "image001"] and result.kept == 0
    assert result.redo_reasons == ["the labels (class names or their order) changed"]
    assert_same_as_fresh(annotations, out, tmp_path)


def test_a_changed_option_converts_everything_and_says_which(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    out = converted(annotations, tmp_path / "out")
    result = update(annotations, out, ConvertOptions(visualizations=False, npy=True))
    assert result.redo_reasons == [
        "--npy changed (was off, now on)",
        "--viz/--no-viz changed (was on, now off)",
    ]
    assert not (out / "SegmentationClassVisualization").exists()
    fresh = converted(
        annotations, tmp_path / "fresh", ConvertOptions(visualizations=False, npy=True)
    )
    assert tree_digest(out) == tree_digest(fresh)


def test_settings_changes_names_the_version() -> None:
    labels = parse_labels("_background_\ncat\n")
    settings = convert_settings(labels, OPTIONS)
    manifest = Manifest("0.0.1", settings, ())
    assert settings_changes(manifest, settings, "0.1.0") == [
        "annotool's version changed (0.0.1 -> 0.1.0)"
    ]
    assert settings_changes(manifest, settings, "0.0.1") == []


def test_plan_keeps_only_files_whose_json_and_image_are_unchanged(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=3)
    out = converted(annotations, tmp_path / "out")
    edit(annotations, "image001")
    (annotations / "image002.jpg").unlink()
    files = sorted(annotations.glob("*.json"))
    labels = load_labels(annotations / "labels.txt")
    plan = plan_update(files, read_manifest(out), convert_settings(labels, OPTIONS))
    assert [path.name for path, _ in plan.keep] == ["image000.json"]
    assert [path.name for path in plan.convert] == ["image001.json", "image002.json"]


def test_outputs_deleted_by_hand_are_written_again(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    out = converted(annotations, tmp_path / "out")
    (out / "SegmentationObject" / "image001.png").unlink()
    (out / "JPEGImages" / "stray.jpg").write_bytes(b"not from this convert")
    result = update(annotations, out)
    assert (result.converted, result.kept) == (["image001"], 1)
    assert_same_as_fresh(annotations, out, tmp_path)


def test_split_lists_are_kept_and_a_stale_one_is_named(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=3)
    out = converted(annotations, tmp_path / "out")
    splits = out / "ImageSets" / "Segmentation"
    splits.mkdir(parents=True)
    (splits / "train.txt").write_text("image000\nimage001\n")
    (splits / "val.txt").write_text("image002\n")
    (annotations / "image002.json").unlink()
    write_annotation(annotations, "new", [rectangle("dog", 1, 1, 9, 9)])
    result = update(annotations, out)
    assert (splits / "val.txt").read_text() == "image002\n"
    messages = [str(problem) for problem in result.warnings]
    assert any(
        "val.txt" in m and "1 image the dataset no longer has (image002)" in m for m in messages
    )
    assert any("1 image in no split list (new)" in m for m in messages)


def test_a_folder_without_manifest_is_refused_and_left_alone(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    out = tmp_path / "out"
    (out / "SegmentationClass").mkdir(parents=True)
    (out / "SegmentationClass" / "mine.png").write_bytes(b"someone else's")
    before = tree_digest(out)
    with pytest.raises(ManifestError, match="was not written by annotool convert"):
        update(annotations, out)
    assert tree_digest(out) == before


def test_a_missing_folder_is_converted_in_full(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    result = update(annotations, tmp_path / "out")
    assert result.converted == ["image000", "image001"]
    assert result.redo_reasons == [f"{tmp_path / 'out'} held no dataset yet"]
    assert_same_as_fresh(annotations, tmp_path / "out", tmp_path)


def test_an_invalid_file_fails_the_update_and_leaves_the_dataset(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    out = converted(annotations, tmp_path / "out")
    before = tree_digest(out)
    write_annotation(annotations, "bad", [rectangle("horse", 1, 1, 9, 9)])
    with pytest.raises(InvalidInputError, match="horse"):
        update(annotations, out)
    assert tree_digest(out) == before


def test_an_interrupted_update_leaves_the_previous_dataset_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    annotations = make_dataset(tmp_path / "in", count=4)
    out = converted(annotations, tmp_path / "out")
    before = tree_digest(out)
    for stem in ("image000", "image002", "image003"):
        edit(annotations, stem)
    write_example = annotool.convert.write_example
    calls = []

    def interrupted_on_the_second_file(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return write_example(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(annotool.convert, "write_example", interrupted_on_the_second_file)
    with pytest.raises(KeyboardInterrupt):
        update(annotations, out)
    assert tree_digest(out) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in", "out"]
    monkeypatch.undo()
    assert update(annotations, out).converted == ["image000", "image002", "image003"]
    assert_same_as_fresh(annotations, out, tmp_path)


def test_the_manifest_is_part_of_the_dataset(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=1)
    out = converted(annotations, tmp_path / "out")
    manifest = read_manifest(out)
    assert (out / MANIFEST_FILE).is_file()
    (entry,) = manifest.entries
    assert entry.stem == "image000" and entry.labels_used == ("__ignore__", "cat", "dog")
    assert entry.image is not None and entry.image.path == str(annotations / "image000.jpg")
    assert sum(entry.pixels) == 30 * 40


UPDATE_SCRIPT = """
import sys
from pathlib import Path
from annotool.convert import ConvertOptions
from annotool.labels import load_labels
from annotool.update import update_dataset
json_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
update_dataset(json_dir, out_dir, load_labels(json_dir / "labels.txt"), ConvertOptions(), workers=2)
"""


@pytest.mark.slow
def test_a_killed_update_leaves_the_previous_dataset_whole(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=240)
    out = converted(annotations, tmp_path / "out")
    before = tree_digest(out)
    for path in annotations.glob("*.json"):
        edit(annotations, path.stem)
    process = subprocess.Popen(
        [sys.executable, "-c", UPDATE_SCRIPT, str(annotations), str(out)], start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        staged = [path for path in tmp_path.iterdir() if "annotool-tmp" in path.name]
        if staged and len(list(staged[0].glob("SegmentationClass/*.png"))) >= 20:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the update finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    assert tree_digest(out) == before
    result = update(annotations, out)  # removes the killed run's staging folder
    assert len(result.converted) == 240
    assert not [path for path in tmp_path.iterdir() if "annotool-tmp" in path.name]
    assert_same_as_fresh(annotations, out, tmp_path)


def test_a_change_that_keeps_size_and_time_is_found_right_after_a_convert(tmp_path: Path) -> None:
    annotations = make_dataset(tmp_path / "in", count=2)
    out = converted(annotations, tmp_path / "out")
    path = annotations / "image000.json"
    status = os.stat(path)
    edit(annotations, "image000")  # same size
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))  # same time, as a coarse clock
    assert os.stat(path).st_size == status.st_size
    result = update(annotations, out)
    assert (result.converted, result.kept) == (["image000"], 1)
    assert_same_as_fresh(annotations, out, tmp_path)
