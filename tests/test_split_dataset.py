"""Tests of annotool.split.dataset: split files on disk, kept, replaced and folded."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from split_fixtures import make_dataset

from annotool.errors import DatasetError, OutputExistsError, SplitError
from annotool.split import (
    TEST,
    TRAIN,
    VAL,
    mask_class_presence,
    split_dataset,
)
from annotool.voc import LEGACY_CLASS_DIR

TEN_IMAGES = {f"img{i:02d}": ([1] if i < 4 else []) + ([2] if i % 2 else []) for i in range(10)}


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_split_dataset_writes_sorted_consistent_files(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "ds", TEN_IMAGES, ["_background_", "cat", "dog"])
    result = split_dataset(layout.root, val=0.2, test=2)
    train, val, test = (read_lines(layout.split_path(name)) for name in (TRAIN, VAL, TEST))
    trainval = read_lines(layout.split_path("trainval"))
    assert (len(train), len(val), len(test)) == (6, 2, 2)
    for stems in (train, val, test, trainval):
        assert stems == sorted(stems)
    assert trainval == sorted(train + val)
    assert sorted(train + val + test) == sorted(TEN_IMAGES)
    assert result.stems_in(VAL) == val
    assert [path.name for path in result.files] == [
        "train.txt", "val.txt", "trainval.txt", "test.txt"
    ]  # fmt: skip


def test_split_dataset_table_counts_classes_per_split(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "ds", TEN_IMAGES, ["_background_", "cat", "dog"])
    result = split_dataset(layout.root, val=3)
    rows = {row.name: row for row in result.classes}
    assert list(rows) == ["_background_", "cat", "dog"]
    assert (rows["cat"].images, rows["dog"].images, rows["_background_"].images) == (4, 5, 10)
    for row in result.classes:
        assert sum(row.per_split) == row.images
    assert result.split_sizes == (7, 3)
    assert rows["cat"].per_split[1] >= 1 and rows["dog"].per_split[1] >= 1


def test_split_dataset_ignores_ignore_pixels_and_names_unknown_ids(tmp_path: Path) -> None:
    layout = make_dataset(
        tmp_path / "ds", {"a": [255, 3], "b": [3], "c": [], "d": [255]}, ["_background_", "x"]
    )
    result = split_dataset(layout.root, val=1)
    assert [(row.name, row.images) for row in result.classes] == [
        ("_background_", 4), ("x", 0), ("3", 2)
    ]  # fmt: skip
    assert mask_class_presence(layout.class_mask_path("d"))[:4].tolist() == [1, 0, 0, 0]
    (warning,) = result.warnings
    assert warning.startswith("2 mask(s) hold class ids beyond the 2 classes of ")
    assert f"{layout.class_mask_path('a')} (class id 3), " in warning
    assert f"{layout.class_mask_path('b')} (class id 3)" in warning


def test_split_dataset_refuses_an_rgb_mask_naming_it(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "ds", TEN_IMAGES)
    Image.new("RGB", (8, 8), (128, 0, 0)).save(layout.class_mask_path("img03"))
    with pytest.raises(DatasetError, match=r"img03\.png is a RGB image; label masks must be"):
        split_dataset(layout.root)
    assert not layout.image_sets_dir.exists()


def test_split_dataset_reads_legacy_mask_folder(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "ds", TEN_IMAGES, class_dir=LEGACY_CLASS_DIR)
    result = split_dataset(layout.root)
    assert result.split_sizes == (8, 2)
    assert [row.name for row in result.classes] == ["0", "1", "2"]


def test_split_dataset_reports_progress_per_mask(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "ds", TEN_IMAGES)
    calls: list[int] = []
    split_dataset(layout.root, progress=calls.append)
    assert calls == [1] * 10


def test_split_dataset_refuses_existing_files_without_overwrite(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "ds", TEN_IMAGES)
    split_dataset(layout.root, seed=1)
    before = layout.split_path(VAL).read_bytes()
    with pytest.raises(OutputExistsError, match=r"train\.txt already exists; pass --overwrite"):
        split_dataset(layout.root, seed=2, val=5)
    assert layout.split_path(VAL).read_bytes() == before
    split_dataset(layout.root, seed=2, val=5, overwrite=True)
    assert len(read_lines(layout.split_path(VAL))) == 5


def test_overwrite_removes_split_files_of_another_layout(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "ds", TEN_IMAGES)
    split_dataset(layout.root, test=2, folds=None)
    split_dataset(layout.root, folds=2, overwrite=True)
    files = sorted(
        str(path.relative_to(layout.split_dir())) for path in layout.split_dir().rglob("*")
    )
    assert files == [
        "fold0", "fold0/train.txt", "fold0/val.txt", "fold1", "fold1/train.txt", "fold1/val.txt",
        "trainval.txt",
    ]  # fmt: skip
    split_dataset(layout.root, overwrite=True)
    assert sorted(path.name for path in layout.split_dir().iterdir()) == [
        "train.txt", "trainval.txt", "val.txt"
    ]  # fmt: skip


def test_folds_files_partition_the_dataset(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "ds", TEN_IMAGES)
    split_dataset(layout.root, folds=3, test=1)
    test = read_lines(layout.split_path(TEST))
    vals = [read_lines(layout.split_path(VAL, fold)) for fold in range(3)]
    assert sorted(sum(vals, test)) == sorted(TEN_IMAGES)
    assert [len(val) for val in vals] == [3, 3, 3]
    for fold in range(3):
        train = read_lines(layout.split_path(TRAIN, fold))
        assert train == sorted(set(TEN_IMAGES) - set(vals[fold]) - set(test))
    assert read_lines(layout.split_path("trainval")) == sorted(set(TEN_IMAGES) - set(test))


def test_group_pattern_keeps_videos_in_one_split(tmp_path: Path) -> None:
    stems = {f"vid{video}_f{frame}": [1 + video % 3] for video in range(6) for frame in range(3)}
    layout = make_dataset(tmp_path / "ds", stems)
    result = split_dataset(layout.root, val=0.34, group_pattern=r"^(vid\d+)_", folds=None)
    for video in range(6):
        assert (
            len({result.assignment[result.stems.index(f"vid{video}_f{f}")] for f in range(3)}) == 1
        )
    assert result.split_sizes == (12, 6)


def test_keep_existing_adds_new_stems_and_drops_vanished_ones(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "ds", TEN_IMAGES)
    first = split_dataset(layout.root, seed=3)
    layout.class_mask_path("img00").unlink()
    make_dataset(layout.root, {f"new{i}": [1] for i in range(5)})
    second = split_dataset(layout.root, seed=4, keep_existing=True)
    earlier = dict(zip(first.stems, first.assignment, strict=True))
    for stem, split in zip(second.stems, second.assignment, strict=True):
        if stem in earlier:
            assert split == earlier[stem]
    assert "img00" not in second.stems
    assert len(second.warnings) == 1 and "img00" in second.warnings[0]
    assert second.split_sizes == (11, 3)


def test_keep_existing_keeps_folds(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "ds", TEN_IMAGES)
    first = split_dataset(layout.root, folds=3)
    make_dataset(layout.root, {"new0": [1], "new1": [2]})
    second = split_dataset(layout.root, folds=3, keep_existing=True)
    earlier = dict(zip(first.stems, first.assignment, strict=True))
    pairs = zip(second.stems, second.assignment, strict=True)
    assert all(earlier.get(stem, part) == part for stem, part in pairs)
    assert sorted(second.split_sizes) == [4, 4, 4]
    with pytest.raises(SplitError, match=r"has folds \[0, 1, 2\] but 4 folds were asked for"):
        split_dataset(layout.root, folds=4, keep_existing=True)


@pytest.mark.parametrize(
    ("first", "second", "match"),
    [
        ({"folds": 2}, {}, "has folds; pass --folds 2 to keep it"),
        ({}, {"folds": 2}, "is one train/val split, not folds; drop --folds"),
    ],
    ids=["folds-then-single", "single-then-folds"],
)
def test_keep_existing_refuses_another_layout(
    tmp_path: Path, first: dict[str, int], second: dict[str, int], match: str
) -> None:
    layout = make_dataset(tmp_path / "ds", TEN_IMAGES)
    split_dataset(layout.root, **first)  # type: ignore[arg-type]
    with pytest.raises(SplitError, match=match):
        split_dataset(layout.root, keep_existing=True, **second)  # type: ignore[arg-type]


def test_keep_existing_refuses_a_test_file_without_test(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "ds", TEN_IMAGES)
    split_dataset(layout.root, test=2)
    with pytest.raises(SplitError, match=r"test\.txt holds a test split, but no test part"):
        split_dataset(layout.root, keep_existing=True)


def test_keep_existing_refuses_a_group_already_divided(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "ds", {"v1_a": [1], "v1_b": [1], "v2_a": [1], "v3_a": []})
    layout.write_split(TRAIN, ["v1_a", "v2_a"])
    layout.write_split(VAL, ["v1_b"])
    with pytest.raises(SplitError, match="group 'v1' is already divided between train and val"):
        split_dataset(layout.root, val=1, group_pattern=r"^(v\d)_", keep_existing=True)


def test_keep_existing_refuses_a_stem_in_two_files(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "ds", TEN_IMAGES)
    layout.write_split(TRAIN, ["img01"])
    layout.write_split(VAL, ["img01"])
    with pytest.raises(SplitError, match=r"'img01' is listed in both .*train\.txt and .*val\.txt"):
        split_dataset(layout.root, keep_existing=True)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda root: root.mkdir(), "neither SegmentationClass/ nor"),
        (lambda root: (root / "SegmentationClass").mkdir(parents=True), "no JPEGImages/"),
        (
            lambda root: ((root / "SegmentationClass").mkdir(parents=True),
                          (root / "JPEGImages").mkdir()),
            "holds no .png masks",
        ),
    ],
    ids=["no-masks-folder", "no-images-folder", "no-masks"],
)  # fmt: skip
def test_split_dataset_refuses_incomplete_datasets(
    tmp_path: Path, make: Callable[[Path], object], match: str
) -> None:
    make(tmp_path / "ds")
    with pytest.raises(DatasetError, match=match):
        split_dataset(tmp_path / "ds")


def test_split_files_do_not_depend_on_hash_seed(tmp_path: Path) -> None:
    stems = {f"s{i:02d}": [1 + i % 4, 5] if i % 3 else [2] for i in range(30)}
    layout = make_dataset(tmp_path / "ds", stems)
    script = (
        "import sys; from annotool.split import split_dataset; "
        "split_dataset(sys.argv[1], val=0.3, group_pattern=r'^s\\d(\\d)', overwrite=True)"
    )
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", script, str(layout.root)], check=True, env=env)
        outputs.append([layout.split_path(name).read_bytes() for name in (TRAIN, VAL)])
    assert outputs[0] == outputs[1]
