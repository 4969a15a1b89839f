"""Split sizes and groups: how many images each part gets, and which images stay together."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from annotool.errors import SplitError
from annotool.voc import TEST, TRAIN, VAL, fold_name

DEFAULT_VAL = 0.2


def resolve_size(value: float | int, num_images: int, name: str) -> int:
    """How many of ``num_images`` images a split of size ``value`` gets.

    ``value`` is a fraction ``0 < value < 1`` (rounded half up, at least one image), a
    whole number of images, or 0 for none. ``name`` names the split in error messages.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SplitError(f"{name} size {value!r} is neither a fraction nor a number of images")
    if isinstance(value, int):
        if value < 0:
            raise SplitError(f"{name} size {value} is negative; give a number of images >= 0")
        if value > num_images:
            raise SplitError(
                f"{name} asks for {value} images but the dataset has only {num_images}"
            )
        return value
    if not (math.isfinite(value) and 0 <= value < 1):
        raise SplitError(
            f"{name} size {value} is not a fraction between 0 and 1; for a number of images "
            f"give a whole number such as 50"
        )
    if value == 0:
        return 0
    return max(1, math.floor(value * num_images + 0.5))


def split_targets(
    num_images: int,
    val: float | int | None = None,
    test: float | int = 0,
    folds: int | None = None,
) -> dict[str, int]:
    """The number of images each part should get, in coverage priority order.

    Without folds: ``train``, ``val`` (default 0.2) and, when asked, ``test``. With K
    folds: ``fold0`` ... ``fold<K-1>`` (sizes differing by at most one) and ``test``.
    """
    test_count = resolve_size(test, num_images, TEST)
    targets: dict[str, int]
    if folds is None:
        val_count = resolve_size(DEFAULT_VAL if val is None else val, num_images, VAL)
        if val_count == 0:
            raise SplitError("val must hold at least one image; give a fraction or a count > 0")
        train_count = num_images - val_count - test_count
        if train_count < 1:
            raise SplitError(
                f"val ({val_count} images) and test ({test_count} images) take all "
                f"{num_images} images of the dataset, leaving none for train; ask for less"
            )
        targets = {TRAIN: train_count, VAL: val_count}
    else:
        if val is not None:
            raise SplitError(
                "val and folds exclude each other: with K folds, each fold's val is one "
                "K-th of the images outside test"
            )
        if folds < 2:
            raise SplitError(f"{folds} folds make no cross-validation; ask for at least 2")
        rest = num_images - test_count
        if rest < folds:
            raise SplitError(
                f"{folds} folds need at least {folds} images outside test, but there are {rest}"
            )
        base, extra = divmod(rest, folds)
        targets = {fold_name(fold): base + (fold < extra) for fold in range(folds)}
    if test_count:
        targets[TEST] = test_count
    return targets


def compile_group_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a ``--group`` regular expression; it must have a capture group."""
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise SplitError(
            f"group pattern {pattern!r} is not a valid regular expression: {error}"
        ) from None
    if compiled.groups < 1:
        raise SplitError(
            f"group pattern {pattern!r} has no capture group; put the part of the stem that "
            r"names the group in parentheses, e.g. '^(.+)_frame\d+$'"
        )
    return compiled


def group_labels(stems: Sequence[str], pattern: re.Pattern[str] | None) -> list[str]:
    """Each stem's group: the pattern's first capture group where it matches, else the stem."""
    if pattern is None:
        return list(stems)
    labels = []
    for stem in stems:
        match = pattern.search(stem)
        captured = match.group(1) if match else None
        labels.append(stem if captured is None else captured)
    return labels
