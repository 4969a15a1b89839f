"""Tests of annotool.split.plan: split sizes, targets and group patterns."""

from __future__ import annotations

import pytest

from annotool.errors import SplitError
from annotool.split import (
    TEST,
    TRAIN,
    VAL,
    compile_group_pattern,
    group_labels,
    resolve_size,
    split_targets,
)


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
