"""Which split each exported image belongs to: from a dataset's split files, or made here.

``--split-from DATASET_DIR`` reads ``ImageSets/Segmentation/{train,val,test}.txt`` of a
dataset (one that ``annotool convert`` wrote and ``annotool split`` split), so an export
uses exactly the split the VOC dataset uses. ``--val`` makes a new split the way
``annotool split`` does: stratified by the classes each image holds, with its seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from annotool.errors import DatasetError, SplitError
from annotool.split import TEST, TRAIN, VAL, split_targets, stratified_assign
from annotool.voc import VocLayout

SPLIT_NAMES = (TRAIN, VAL, TEST)
"""The splits an export writes, in this order; test only when the split files have one."""


@dataclass(frozen=True)
class SplitRequest:
    """How to split an export: ``split_from`` (a dataset folder) or ``val``, or neither."""

    split_from: Path | None = None
    val: float | int | None = None
    seed: int = 0
    optional: bool = False
    """A default split rather than one asked for: too few images for it means no split."""

    def __post_init__(self) -> None:
        if self.split_from is not None and self.val is not None:
            raise SplitError(
                "--split-from and --val exclude each other: take the dataset's split, or make one"
            )

    @property
    def wanted(self) -> bool:
        return self.split_from is not None or self.val is not None


def read_split_files(dataset_dir: Path) -> dict[str, str]:
    """Each stem's split from ``dataset_dir``'s ``train.txt``, ``val.txt`` (and ``test.txt``).

    Raises DatasetError when the folder or its train/val files are missing, or a stem is
    listed in two splits.
    """
    layout = VocLayout(Path(dataset_dir))
    if not layout.root.is_dir():
        raise DatasetError(f"--split-from: dataset directory {layout.root} does not exist")
    split_of: dict[str, str] = {}
    for name in SPLIT_NAMES:
        if name == TEST and not layout.split_path(name).is_file():
            continue
        for stem in layout.read_split(name):
            if split_of.setdefault(stem, name) != name:
                raise DatasetError(
                    f"{layout.split_dir()}: {stem!r} is listed in both {split_of[stem]}.txt and "
                    f"{name}.txt; run 'annotool split {layout.root} --overwrite' to split again"
                )
    return split_of


def check_split_size(request: SplitRequest, num_images: int) -> None:
    """Refuse a ``--val`` that ``num_images`` images cannot satisfy, before any work."""
    if request.val is not None and not request.optional:
        split_targets(num_images, request.val)


def assign_splits(
    stems: Sequence[str], class_presence: NDArray[np.bool_], request: SplitRequest
) -> list[str] | None:
    """The split of each stem; None for an optional split the images are too few for.

    ``class_presence`` is ``(N, num_classes)``: which classes each image holds (column 0
    is background, left out of the stratification as ``annotool split`` does). Raises
    SplitError naming the stems that the split files leave out.
    """
    if request.split_from is not None:
        split_of = read_split_files(request.split_from)
        missing = [stem for stem in stems if stem not in split_of]
        if missing:
            shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
            raise SplitError(
                f"{len(missing)} exported images are in none of the split files of "
                f"{request.split_from}: {shown}; convert and split that dataset again "
                "(annotool split --keep-existing adds new images), or use --val"
            )
        return [split_of[stem] for stem in stems]
    try:
        targets = split_targets(len(stems), request.val)
    except SplitError:
        if request.optional:
            return None
        raise
    return stratified_assign(class_presence[:, 1:], list(stems), targets, request.seed)
