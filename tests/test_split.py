"""Tests of annotool.split: stratified, grouped, reproducible train/val/test splits and folds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from PIL import Image

from annotool.errors import DatasetError, OutputExistsError, SplitError
from annotool.split import (
    TEST,
    TRAIN,
    VAL,
    compile_group_pattern,
    format_split_table,
    group_labels,
    mask_class_presence,
    resolve_size,
    split_dataset,
    split_targets,
    stratified_assign,
)
from annotool.voc import LEGACY_CLASS_DIR, VocLayout, write_label_png

# --- helpers -------------------------------------------------------------------------


def label_mask(class_ids: Sequence[int], size: int = 8) -> NDArray[np.uint8]:
    """A ``(size, size)`` mask of background with one row of pixels per class id."""
    mask = np.zeros((size, size), dtype=np.uint8)
    for row, class_id in enumerate(class_ids):
        mask[row] = class_id
    return mask


def make_dataset(
    root: Path,
    classes_by_stem: dict[str, Sequence[int]],
    class_names: Sequence[str] | None = None,
    class_dir: str = "SegmentationClass",
) -> VocLayout:
    """A tiny VOC dataset: one small JPEG and one mask holding the given class ids per stem."""
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    for stem, class_ids in classes_by_stem.items():
        Image.new("RGB", (8, 8), (90, 120, 150)).save(root / "JPEGImages" / f"{stem}.jpg")
        write_label_png(root / class_dir / f"{stem}.png", label_mask(class_ids))
    layout = VocLayout.open(root)
    if class_names is not None:
        layout.write_class_names(list(class_names))
    return layout


def split_of(assignment: Sequence[str]) -> NDArray[np.str_]:
    return np.array(assignment)


# --- sizes and patterns --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "total", "expected"),
    [(0.2, 10, 2), (0.25, 10, 3), (0.01, 10, 1), (0.2, 2000, 400), (3, 10, 3), (0, 10, 0)],
    ids=["fraction", "half-up", "at-least-one", "large", "count", "zero"],
)
def test_resolve_size(value: float | int, total: int, expected: int) -> None:
    assert resolve_size(value, total, "val") == expected


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (1.0, "not a fraction between 0 and 1"),
        (1.5, "not a fraction between 0 and 1"),
        (-0.1, "not a fraction between 0 and 1"),
        (float("nan"), "not a fraction"),
        (-2, "negative"),
        (11, "asks for 11 images but the dataset has only 10"),
        (True, "neither a fraction nor a number"),
    ],
    ids=["one", "above-one", "negative-fraction", "nan", "negative-count", "too-many", "bool"],
)
def test_resolve_size_refuses(value: float | int, match: str) -> None:
    with pytest.raises(SplitError, match=match):
        resolve_size(value, 10, "val")


def test_split_targets_train_val_test() -> None:
    assert split_targets(10, 0.2, 0.1) == {TRAIN: 7, VAL: 2, TEST: 1}
    assert split_targets(10) == {TRAIN: 8, VAL: 2}


def test_split_targets_folds_spread_the_remainder() -> None:
    assert split_targets(11, None, 1, folds=3) == {"fold0": 4, "fold1": 3, "fold2": 3, TEST: 1}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"val": 5, "test": 5}, "leaving none for train"),
        ({"val": 0.6, "test": 0.4}, "leaving none for train"),
        ({"val": 0}, "at least one image"),
        ({"val": 0.2, "folds": 3}, "val and folds exclude each other"),
        ({"folds": 1}, "at least 2"),
        ({"folds": 6, "test": 5}, "6 folds need at least 6 images outside test"),
    ],
    ids=["counts-fill-all", "fractions-fill-all", "no-val", "val-with-folds", "one-fold", "folds"],
)
def test_split_targets_refuses(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(SplitError, match=match):
        split_targets(10, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pattern", "match"),
    [("(unclosed", "not a valid regular expression"), (r"video\d+", "no capture group")],
    ids=["invalid", "no-capture-group"],
)
def test_compile_group_pattern_refuses(pattern: str, match: str) -> None:
    with pytest.raises(SplitError, match=match):
        compile_group_pattern(pattern)


def test_group_labels_use_first_capture_group_and_stem_otherwise() -> None:
    pattern = compile_group_pattern(r"^(.+)_frame\d+$|^x(\d)?")
    stems = ["cam1_frame001", "cam1_frame002", "cam2_frame001", "other", "x"]
    assert group_labels(stems, pattern) == ["cam1", "cam1", "cam2", "other", "x"]
    assert group_labels(stems, None) == stems


# --- class presence ------------------------------------------------------------------


# --- stratified_assign: exact cases --------------------------------------------------


@pytest.mark.parametrize("seed", range(10), ids=lambda seed: f"seed{seed}")
def test_class_in_two_images_lands_in_train_and_val(seed: int) -> None:
    # Plain iterative stratification sends both images to train (1.6 wanted vs 0.4).
    presence = np.zeros((10, 2), dtype=bool)
    presence[[3, 7], 0] = True
    presence[:, 1] = True
    assignment = split_of(
        stratified_assign(presence, [str(i) for i in range(10)], {TRAIN: 8, VAL: 2}, seed)
    )
    assert sorted(assignment[[3, 7]]) == [TRAIN, VAL]
    assert (assignment == VAL).sum() == 2


def test_class_in_one_image_goes_where_it_fits_best() -> None:
    presence = np.zeros((5, 1), dtype=bool)
    presence[2, 0] = True
    assignment = stratified_assign(presence, list("abcde"), {TRAIN: 4, VAL: 1})
    assert assignment[2] == TRAIN
    assert assignment.count(VAL) == 1


def test_groups_stay_together_and_follow_fixed_members() -> None:
    presence = np.ones((6, 1), dtype=bool)
    groups = ["a", "a", "b", "b", "c", "c"]
    fixed = [None, None, None, VAL, None, None]
    assignment = stratified_assign(presence, groups, {TRAIN: 4, VAL: 2}, fixed=fixed)
    assert assignment == [TRAIN, TRAIN, VAL, VAL, TRAIN, TRAIN]


def test_stratification_keeps_class_shares_close_to_overall() -> None:
    rng = np.random.default_rng(7)
    presence = rng.random((600, 6)) < np.array([0.5, 0.3, 0.1, 0.05, 0.02, 0.8])
    assignment = split_of(
        stratified_assign(presence, [str(i) for i in range(600)], {TRAIN: 480, VAL: 120})
    )
    overall = presence.mean(axis=0)
    val_share = presence[assignment == VAL].mean(axis=0)
    train_share = presence[assignment == TRAIN].mean(axis=0)
    # A random 120-image val set misses by up to ~0.09 on the 0.5 class; this stays near exact.
    np.testing.assert_allclose(val_share, overall, atol=0.01)
    np.testing.assert_allclose(train_share, overall, atol=0.01)


def test_grouped_stratification_keeps_class_shares_close_to_overall() -> None:
    # Iterative stratification alone misses by 0.075 here; the swaps bring it to 0.0025.
    rng = np.random.default_rng(11)
    presence = rng.random((400, 6)) < np.array([0.5, 0.3, 0.15, 0.08, 0.04, 0.7])
    groups = [str(i // 4) for i in range(400)]
    assignment = split_of(stratified_assign(presence, groups, {TRAIN: 320, VAL: 80}))
    overall = presence.mean(axis=0)
    np.testing.assert_allclose(presence[assignment == VAL].mean(axis=0), overall, atol=0.01)


@pytest.mark.parametrize(
    ("groups", "targets", "fixed", "match"),
    [
        (["a"] * 5 + ["b"], {TRAIN: 4, VAL: 2}, None, "group 'a' has 5 images, more than any"),
        (["a", "a", "b", "b", "c", "c"], {TRAIN: 5, VAL: 1}, None, "smallest group, .a., has 2"),
        (["a"] * 3 + ["b"] * 3, {"fold0": 2, "fold1": 2, "fold2": 2}, None, "need at least 3"),
        (list("aabcde"), {TRAIN: 4, VAL: 2}, [TRAIN, VAL, *[None] * 4], "divided between"),
        (list("abcdef"), {TRAIN: 4, VAL: 1}, None, "must be >= 0 and add up to the 6"),
        (list("abcdef"), {TRAIN: 5, VAL: 1}, [TRAIN] * 6, "files assign every image elsewhere"),
    ],
    ids=["group-too-large", "val-smaller-than-groups", "folds-over-groups", "fixed-conflict",
         "sizes-do-not-add-up", "all-fixed-elsewhere"],
)  # fmt: skip
def test_stratified_assign_refuses(
    groups: list[str],
    targets: dict[str, int],
    fixed: list[str | None] | None,
    match: str,
) -> None:
    presence = np.ones((6, 1), dtype=bool)
    with pytest.raises(SplitError, match=match):
        stratified_assign(presence, groups, targets, fixed=fixed)


def test_different_seeds_give_different_splits() -> None:
    presence = np.random.default_rng(0).random((50, 3)) < 0.4
    stems = [str(i) for i in range(50)]
    splits = {tuple(stratified_assign(presence, stems, {TRAIN: 40, VAL: 10}, s)) for s in range(5)}
    assert len(splits) > 1


# --- stratified_assign: properties ---------------------------------------------------


@st.composite
def grouped_datasets(draw: st.DrawFn) -> tuple[NDArray[np.bool_], list[str]]:
    """Images in groups, each with a random set of classes, as presence matrix and labels.

    Some groups are "private": all their images hold one class only, which is the case
    where the coverage guarantee below can be proved.
    """
    num_classes = draw(st.integers(1, 5))
    presence_rows: list[list[bool]] = []
    labels: list[str] = []
    for group in range(draw(st.integers(2, 14))):
        size = draw(st.integers(1, 3))
        private_class = draw(st.none() | st.integers(0, num_classes - 1))
        for _ in range(size):
            if private_class is None:
                row = draw(st.lists(st.booleans(), min_size=num_classes, max_size=num_classes))
            else:
                row = [class_index == private_class for class_index in range(num_classes)]
            presence_rows.append(row)
            labels.append(f"g{group}")
    return np.array(presence_rows, dtype=bool).reshape(len(labels), num_classes), labels


def singletons(presence: NDArray[np.bool_]) -> list[str]:
    return [str(i) for i in range(presence.shape[0])]


@st.composite
def singleton_datasets(draw: st.DrawFn) -> tuple[NDArray[np.bool_], dict[str, int]]:
    num_images = draw(st.integers(3, 40))
    num_classes = draw(st.integers(1, 6))
    cells = draw(
        st.lists(
            st.booleans(), min_size=num_images * num_classes, max_size=num_images * num_classes
        )
    )
    val = draw(st.integers(1, num_images - 2))
    test = draw(st.integers(0, num_images - val - 1))
    targets = {TRAIN: num_images - val - test, VAL: val}
    if test:
        targets[TEST] = test
    return np.array(cells, dtype=bool).reshape(num_images, num_classes), targets


@given(singleton_datasets(), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_counts_are_met_exactly_without_groups(
    dataset: tuple[NDArray[np.bool_], dict[str, int]], seed: int
) -> None:
    presence, targets = dataset
    assignment = stratified_assign(presence, singletons(presence), targets, seed)
    assert {name: assignment.count(name) for name in targets} == targets


@given(singleton_datasets(), st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_same_seed_same_split(dataset: tuple[NDArray[np.bool_], dict[str, int]], seed: int) -> None:
    presence, targets = dataset
    first = stratified_assign(presence, singletons(presence), targets, seed)
    assert stratified_assign(presence.copy(), singletons(presence), dict(targets), seed) == first


@given(grouped_datasets(), st.integers(0, 1000), st.integers(1, 3))
@settings(max_examples=80, deadline=None)
def test_groups_are_never_split(
    dataset: tuple[NDArray[np.bool_], list[str]], seed: int, val_groups: int
) -> None:
    presence, labels = dataset
    num_images = len(labels)
    val = min(num_images - 1, val_groups * 3)
    try:
        assignment = stratified_assign(presence, labels, {TRAIN: num_images - val, VAL: val}, seed)
    except SplitError:
        return  # whole groups cannot meet some requests; the message is tested elsewhere
    split_by_group: dict[str, set[str]] = {}
    for label, split in zip(labels, assignment, strict=True):
        split_by_group.setdefault(label, set()).add(split)
    assert all(len(splits) == 1 for splits in split_by_group.values())


def private_group_counts(presence: NDArray[np.bool_], labels: list[str]) -> dict[int, int]:
    """For each class, the groups whose images hold that class and no other."""
    classes_by_group: dict[str, set[int]] = {}
    for row, label in zip(presence, labels, strict=True):
        classes_by_group.setdefault(label, set()).update(np.flatnonzero(row).tolist())
    counts: dict[int, int] = {}
    for classes in classes_by_group.values():
        if len(classes) == 1:
            (only,) = classes
            counts[only] = counts.get(only, 0) + 1
    return counts


@given(grouped_datasets(), st.integers(0, 1000))
@settings(max_examples=80, deadline=None)
def test_classes_with_two_private_groups_land_in_train_and_val(
    dataset: tuple[NDArray[np.bool_], list[str]], seed: int
) -> None:
    # Coverage cannot always be reached (three images holding classes {a,b}, {a,c}, {b,c}
    # have none), so the property is stated where it can be proved: a class with two
    # groups holding only it is covered when val and train each have room for one
    # largest group per class found in two or more groups.
    presence, labels = dataset
    private = private_group_counts(presence, labels)
    covered = sorted(class_index for class_index, count in private.items() if count >= 2)
    groups_per_class = [
        len({label for label, row in zip(labels, presence, strict=True) if row[class_index]})
        for class_index in range(presence.shape[1])
    ]
    largest_group = max(labels.count(label) for label in set(labels))
    val = max(1, sum(count >= 2 for count in groups_per_class)) * largest_group
    if len(labels) - val < val:
        return
    assignment = split_of(
        stratified_assign(presence, labels, {TRAIN: len(labels) - val, VAL: val}, seed)
    )
    for class_index in covered:
        assert presence[assignment == TRAIN, class_index].any()
        assert presence[assignment == VAL, class_index].any()


@given(grouped_datasets(), st.integers(0, 1000), st.integers(2, 4))
@settings(max_examples=80, deadline=None)
def test_folds_partition_the_images(
    dataset: tuple[NDArray[np.bool_], list[str]], seed: int, folds: int
) -> None:
    presence, labels = dataset
    try:
        targets = split_targets(len(labels), folds=folds)
        assignment = stratified_assign(presence, labels, targets, seed)
    except SplitError:
        return
    assert set(assignment) == set(targets)
    if len(set(labels)) == len(labels):
        assert [assignment.count(name) for name in targets] == list(targets.values())


@given(singleton_datasets(), st.integers(0, 1000), st.data())
@settings(max_examples=60, deadline=None)
def test_fixed_images_keep_their_split(
    dataset: tuple[NDArray[np.bool_], dict[str, int]], seed: int, data: st.DataObject
) -> None:
    presence, targets = dataset
    earlier = stratified_assign(presence, singletons(presence), targets, seed)
    kept = data.draw(st.lists(st.booleans(), min_size=len(earlier), max_size=len(earlier)))
    fixed = [split if keep else None for split, keep in zip(earlier, kept, strict=True)]
    assignment = stratified_assign(presence, singletons(presence), targets, seed + 1, fixed)
    assert all(new == old for new, old in zip(assignment, fixed, strict=True) if old is not None)
    assert {name: assignment.count(name) for name in targets} == targets


# --- split_dataset: files on disk ----------------------------------------------------

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


def test_format_split_table_flags_absent_classes(tmp_path: Path) -> None:
    layout = make_dataset(tmp_path / "ds", {"a": [1], "b": [2], "c": [2], "d": []})
    table = format_split_table(split_dataset(layout.root, val=1, seed=0))
    assert table.splitlines() == [
        "class   all   share  train   share   val   share",
        "------  ---  ------  -----  -------  ---  -------",
        "0         4  100.0%      3  100.0%     1  100.0%",
        "1         1   25.0%      1   33.3%     0    0.0%!",
        "2         2   50.0%      1   33.3%     1  100.0%",
        "------  ---  ------  -----  -------  ---  -------",
        "images    4              3             1",
        "! 1 (1 image) is absent from val",
    ]
