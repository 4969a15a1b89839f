"""Reproducible, stratified, leak-free train/val/test splits and K folds of a dataset.

``split_dataset`` reads which classes each mask holds, assigns every image to a split,
and writes ``ImageSets/Segmentation/train.txt``, ``val.txt``, ``trainval.txt`` (and
``test.txt``), or ``fold<k>/train.txt`` and ``fold<k>/val.txt`` for K folds.

Decisions, so that the files can be trusted:

- **Classes.** An image holds a class when at least one of its mask pixels has that id.
  Ignore pixels (255) are no class. Background (0) is in nearly every image, so it is
  left out of the stratification (it would only dilute it); the table still counts it.
- **Sizes.** A split size is a fraction (``0 < x < 1`` of the images, rounded, at least
  one image) or a count (a whole number). Counts are met exactly when every image is its
  own group; with groups they are met as closely as whole groups allow.
- **Stratification** is iterative stratification (Sechidis et al., 2011) over groups,
  preceded by a coverage pass: rarest class first, every class found in at least two
  groups is given one group in train and one in val (then test, for classes in three or
  more groups; with folds, the folds in order, then test), choosing groups that hold the
  fewest classes so that other classes keep theirs, and followed by swaps of equal-sized
  groups between splits while they bring every class count closer to its share (this
  matters with groups and on small datasets). Coverage cannot always be reached
  (a val of one image cannot hold ten classes, and some multi-label layouts have no
  answer at all); classes that end up missing from a split are flagged in the table.
- **Groups.** ``group_pattern`` is a regular expression searched in each stem; stems whose
  first capture group is equal form one group and always land in one split. A stem that
  does not match is a group by itself, named by its stem.
- **Folds.** ``test`` is held out as one more stratified part; the K folds partition the
  rest, and fold k's val is part k, its train the other K-1 parts. ``trainval.txt`` then
  lists every image outside test.
- **Determinism.** Groups, classes and ties are visited in orders fixed by the sorted
  stems and class ids; ties are broken by ``np.random.default_rng(seed)``. Same dataset
  and seed, same files, on any machine.
- **Keeping a split.** With ``keep_existing`` the stems listed in the existing split files
  keep their split and only new stems are assigned, toward the targets given the
  existing assignment. Listed stems whose masks are gone are dropped with a warning.
- **Existing files** are refused unless ``overwrite`` or ``keep_existing``; split files of
  another layout (``test.txt`` no longer asked for, folds beyond K, top-level
  train/val files when switching to folds and back) are removed then, so that no stale
  file contradicts the new split.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from annotool.errors import DatasetError, OutputExistsError, SplitError
from annotool.labels import IGNORE_ID
from annotool.progress import ProgressCallback
from annotool.voc import VocLayout, read_label_png

TRAIN = "train"
VAL = "val"
TEST = "test"
TRAINVAL = "trainval"
DEFAULT_VAL = 0.2
BACKGROUND_ID = 0

_FOLD_DIR = re.compile(r"fold(\d+)")
SWAP_PASSES = 3
"""Most passes of the swap refinement over all groups."""
SWAP_CANDIDATES = 256
"""Most partner groups weighed for each swap; bounds the time on large datasets."""


def fold_name(fold: int) -> str:
    """The name of fold ``fold``'s val part: ``fold0``, ``fold1``, ..."""
    return f"fold{fold}"


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


@dataclass
class _Groups:
    """Images gathered into groups, numbered in order of first appearance."""

    labels: list[str]
    of_image: NDArray[np.intp]
    """``(N,)`` the group of each image."""
    sizes: NDArray[np.int64]
    """``(G,)`` images per group."""
    class_counts: NDArray[np.int64]
    """``(G, C)`` images of each group that hold each class."""

    @classmethod
    def gather(cls, presence: NDArray[np.bool_], labels: Sequence[str]) -> _Groups:
        # Classes in no image change nothing; dropping them keeps (G, C) small.
        presence = presence[:, presence.any(axis=0)]
        numbers: dict[str, int] = {}
        of_image = np.array(
            [numbers.setdefault(label, len(numbers)) for label in labels], dtype=np.intp
        )
        class_counts = np.zeros((len(numbers), presence.shape[1]), dtype=np.int64)
        np.add.at(class_counts, of_image, presence.astype(np.int64))
        sizes = np.bincount(of_image, minlength=len(numbers)).astype(np.int64)
        return cls(list(numbers), of_image, sizes, class_counts)


class _Assignment:
    """Groups being assigned to splits, with what each split still needs."""

    def __init__(
        self, groups: _Groups, targets: NDArray[np.int64], rng: np.random.Generator
    ) -> None:
        self.groups = groups
        self.targets = targets
        self.rng = rng
        self.split_of_group = np.full(len(groups.sizes), -1, dtype=np.intp)
        self.fixed = np.zeros(len(groups.sizes), dtype=bool)
        """``(G,)`` groups whose split came from the existing split files."""
        self.capacity = targets.astype(np.int64)
        """``(S,)`` images each split can still take."""
        class_totals = groups.class_counts.sum(axis=0)
        self.wanted = np.outer(targets / targets.sum(), class_totals)
        """``(S, C)`` images of each class each split still needs to reach its share."""
        self.held = np.zeros_like(self.wanted, dtype=np.int64)
        """``(S, C)`` images of each class each split holds."""
        self.unassigned_class_counts = class_totals.astype(np.int64)

    def assign(self, group: int, split: int) -> None:
        self._add(group, split, 1)
        self.split_of_group[group] = split
        self.unassigned_class_counts -= self.groups.class_counts[group]

    def move(self, group: int, split: int) -> None:
        """Move an assigned group to another split."""
        self._add(group, int(self.split_of_group[group]), -1)
        self._add(group, split, 1)
        self.split_of_group[group] = split

    def _add(self, group: int, split: int, sign: int) -> None:
        counts = self.groups.class_counts[group]
        self.capacity[split] -= sign * self.groups.sizes[group]
        self.wanted[split] -= sign * counts
        self.held[split] += sign * counts

    def unassigned(self) -> NDArray[np.bool_]:
        return self.split_of_group < 0

    def best_split(self, group: int, class_index: int | None) -> int:
        """The split for ``group``: among those with room for it, the one that needs
        ``class_index`` most, then the one with most room; random among equals."""
        open_splits = self.targets > 0
        fitting = open_splits & (self.capacity >= self.groups.sizes[group])
        candidates = np.flatnonzero(fitting if fitting.any() else open_splits)
        noise = self.rng.random(len(self.targets))

        def preference(split: int) -> tuple[float, int, float]:
            need = 0.0
            if class_index is not None and fitting.any():
                need = float(self.wanted[split, class_index])
            return (need, int(self.capacity[split]), float(noise[split]))

        return int(max(candidates, key=preference))


def stratified_assign(
    presence: NDArray[np.bool_],
    groups: Sequence[str],
    targets: Mapping[str, int],
    seed: int = 0,
    fixed: Sequence[str | None] | None = None,
) -> list[str]:
    """Assign each image to a split, stratified by class presence and keeping groups whole.

    ``presence`` is ``(N, C)``: image ``i`` holds class ``c``. ``groups[i]`` names image
    ``i``'s group. ``targets`` maps split names to image counts summing to ``N``, in
    coverage priority order (``train, val, test`` or ``fold0 ... fold<K-1>, test``).
    ``fixed[i]``, when not None, is a split image ``i`` (and so its whole group) must keep.
    Returns each image's split name. Raises SplitError for requests whole groups cannot
    meet.
    """
    presence = np.asarray(presence, dtype=bool)
    split_names = list(targets)
    target_counts = np.array([targets[name] for name in split_names], dtype=np.int64)
    _check_inputs(presence, groups, target_counts, fixed, split_names)
    if presence.shape[0] == 0:
        return []
    gathered = _Groups.gather(presence, groups)
    assignment = _Assignment(gathered, target_counts, np.random.default_rng(seed))
    if fixed is not None:
        _assign_fixed(assignment, fixed, split_names)
    _check_group_sizes(assignment, split_names)
    # One random rank per group settles ties between equally good groups reproducibly.
    tie_rank = assignment.rng.permutation(len(gathered.sizes))
    _cover_classes(assignment, tie_rank)
    _fill_empty_splits(assignment, tie_rank)
    _stratify_rest(assignment, tie_rank)
    _refine_by_swaps(assignment, tie_rank)
    _check_nonempty(assignment, split_names)
    split_of_image = assignment.split_of_group[gathered.of_image]
    return [split_names[split] for split in split_of_image]


def _check_inputs(
    presence: NDArray[np.bool_],
    groups: Sequence[str],
    target_counts: NDArray[np.int64],
    fixed: Sequence[str | None] | None,
    split_names: list[str],
) -> None:
    if presence.ndim != 2:
        raise SplitError(f"class presence must be (images, classes), got shape {presence.shape}")
    num_images = presence.shape[0]
    if len(groups) != num_images or (fixed is not None and len(fixed) != num_images):
        raise SplitError(
            f"{num_images} images but {len(groups)} group labels"
            + ("" if fixed is None else f" and {len(fixed)} fixed splits")
        )
    if (target_counts < 0).any() or int(target_counts.sum()) != num_images:
        sizes = dict(zip(split_names, target_counts.tolist(), strict=True))
        raise SplitError(f"split sizes {sizes} must be >= 0 and add up to the {num_images} images")


def _assign_fixed(
    assignment: _Assignment, fixed: Sequence[str | None], split_names: list[str]
) -> None:
    numbers = {name: number for number, name in enumerate(split_names)}
    labels = assignment.groups.labels
    for image, split_name in enumerate(fixed):
        if split_name is None:
            continue
        if split_name not in numbers:
            raise SplitError(f"image {image} is fixed to unknown split {split_name!r}")
        group = int(assignment.groups.of_image[image])
        current = int(assignment.split_of_group[group])
        if current >= 0 and current != numbers[split_name]:
            raise SplitError(
                f"group {labels[group]!r} is already divided between {split_names[current]} "
                f"and {split_name} in the existing split files; its images would leak "
                "between splits, so split again without keeping the existing files"
            )
        if current < 0:
            assignment.assign(group, numbers[split_name])
            assignment.fixed[group] = True


def _check_group_sizes(assignment: _Assignment, split_names: list[str]) -> None:
    open_names = [
        name for name, target in zip(split_names, assignment.targets, strict=True) if target > 0
    ]
    if len(open_names) > len(assignment.groups.sizes):
        raise SplitError(
            f"{len(open_names)} parts ({', '.join(open_names)}) need at least "
            f"{len(open_names)} groups of images, but the images form only "
            f"{len(assignment.groups.sizes)}; ask for fewer parts or folds, or use a finer "
            "group pattern"
        )
    free = assignment.unassigned()
    if not free.any():
        return
    labels = assignment.groups.labels
    free_groups = np.flatnonzero(free)
    largest = free_groups[np.argmax(assignment.groups.sizes[free_groups])]
    smallest = free_groups[np.argmin(assignment.groups.sizes[free_groups])]
    largest_split = int(np.argmax(assignment.targets))
    if assignment.groups.sizes[largest] > assignment.targets[largest_split]:
        raise SplitError(
            f"group {labels[largest]!r} has {assignment.groups.sizes[largest]} images, more "
            f"than any split should hold (the largest, {split_names[largest_split]}, should "
            f"hold {assignment.targets[largest_split]}); use a finer group pattern, or fewer folds"
        )
    for split, name in enumerate(split_names):
        untouched = assignment.capacity[split] == assignment.targets[split]
        if untouched and 0 < assignment.targets[split] < assignment.groups.sizes[smallest]:
            raise SplitError(
                f"{name} should hold {assignment.targets[split]} images, but even the smallest "
                f"group, {labels[smallest]!r}, has {assignment.groups.sizes[smallest]}; ask for "
                f"a larger {name} or use a finer group pattern"
            )


def _cover_classes(assignment: _Assignment, tie_rank: NDArray[np.intp]) -> None:
    """Put every class found in m >= 2 groups into the first m open splits, rarest first."""
    has_class = assignment.groups.class_counts > 0
    groups_per_class = has_class.sum(axis=0)
    classes_per_group = has_class.sum(axis=1)
    sizes = assignment.groups.sizes
    open_splits = np.flatnonzero(assignment.targets > 0)
    for class_index in np.lexsort((np.arange(len(groups_per_class)), groups_per_class)):
        count = int(groups_per_class[class_index])
        if count < 2:
            continue
        for split in open_splits[:count]:
            if assignment.held[split, class_index] > 0:
                continue
            candidates = np.flatnonzero(
                has_class[:, class_index]
                & assignment.unassigned()
                & (sizes <= assignment.capacity[split])
            )
            if len(candidates) == 0:
                continue
            # Groups with few classes first, so rarer classes keep their other groups.
            best = candidates[
                np.lexsort(
                    (tie_rank[candidates], sizes[candidates], classes_per_group[candidates])
                )[0]
            ]
            assignment.assign(int(best), int(split))


def _fill_empty_splits(assignment: _Assignment, tie_rank: NDArray[np.intp]) -> None:
    """Give each split still empty one group that fits, so that the greedy pass below
    cannot leave it empty by filling its room with pieces of the wrong size."""
    classes_per_group = (assignment.groups.class_counts > 0).sum(axis=1)
    sizes = assignment.groups.sizes
    for split in np.flatnonzero(assignment.targets > 0):
        if (assignment.split_of_group == split).any():
            continue
        candidates = np.flatnonzero(assignment.unassigned() & (sizes <= assignment.capacity[split]))
        if len(candidates) == 0:
            continue
        # The fewest classes disturbs the stratification least; the largest fills the room.
        order = np.lexsort(
            (tie_rank[candidates], -sizes[candidates], classes_per_group[candidates])
        )
        assignment.assign(int(candidates[order[0]]), int(split))


def _stratify_rest(assignment: _Assignment, tie_rank: NDArray[np.intp]) -> None:
    """Iterative stratification: the class with the fewest unassigned images goes first."""
    has_class = assignment.groups.class_counts > 0
    sizes = assignment.groups.sizes
    while True:
        remaining = assignment.unassigned_class_counts
        if not (remaining > 0).any():
            break
        class_index = int(np.argmin(np.where(remaining > 0, remaining, np.iinfo(np.int64).max)))
        members = np.flatnonzero(has_class[:, class_index] & assignment.unassigned())
        for group in members[np.lexsort((tie_rank[members], -sizes[members]))]:
            assignment.assign(int(group), assignment.best_split(int(group), class_index))
    leftovers = np.flatnonzero(assignment.unassigned())
    for group in leftovers[np.lexsort((tie_rank[leftovers], -sizes[leftovers]))]:
        assignment.assign(int(group), assignment.best_split(int(group), None))


def _refine_by_swaps(assignment: _Assignment, tie_rank: NDArray[np.intp]) -> None:
    """Swap equal-sized groups between splits while that brings the class counts closer
    to each split's share; greedy passes leave small datasets visibly off their shares.

    The loss is the sum over splits and classes of (held - share)^2 / class images. A swap
    keeps split sizes and whole groups, never touches fixed groups and never takes the
    last image of a class out of a split, so the coverage above is kept.
    """
    groups = assignment.groups
    if groups.class_counts.shape[1] == 0:
        return
    class_totals = groups.class_counts.sum(axis=0)
    weights = 1.0 / np.maximum(class_totals, 1)
    shares = np.outer(assignment.targets / assignment.targets.sum(), class_totals)
    movable = np.flatnonzero(~assignment.fixed)
    # Only groups of one size can be swapped; pools per size keep each step O(candidates).
    pools = {int(size): movable[groups.sizes[movable] == size] for size in np.unique(groups.sizes)}

    def cannot_improve() -> bool:
        # A swap moves whole images, so it changes a class count by at least 1 where it
        # changes it at all; when no two splits miss a class share by more than 1 between
        # them, every swap makes the loss worse or leaves it.
        errors = assignment.held - shares
        return bool((errors.max(axis=0) - errors.min(axis=0)).max() <= 1)

    for _ in range(SWAP_PASSES):
        if cannot_improve():
            return
        swapped = False
        for group in movable[np.argsort(tie_rank[movable])]:
            split = int(assignment.split_of_group[group])
            pool = pools[int(groups.sizes[group])]
            if len(pool) > SWAP_CANDIDATES:
                pool = pool[assignment.rng.integers(0, len(pool), SWAP_CANDIDATES)]
            partners = pool[assignment.split_of_group[pool] != split]
            if len(partners) == 0:
                continue
            other_splits = assignment.split_of_group[partners]
            errors = assignment.held - shares
            # gained[p]: what this group's split gains and partner p's split loses.
            gained = groups.class_counts[partners] - groups.class_counts[group]
            # An elementwise product and numpy's own sum, not BLAS (`@`), whose rounding
            # depends on the CPU: the same choice on every machine.
            terms = 2 * gained * (errors[split] - errors[other_splits]) + 2 * gained**2
            change = (terms * weights).sum(axis=1)
            held_here = assignment.held[split]
            held_there = assignment.held[other_splits]
            keeps_classes = ((held_here + gained > 0) | (held_here == 0)).all(axis=1) & (
                (held_there - gained > 0) | (held_there == 0)
            ).all(axis=1)
            change = np.where(keeps_classes, change, np.inf)
            best = int(np.argmin(change))
            if change[best] < -1e-9:
                assignment.move(int(group), int(other_splits[best]))
                assignment.move(int(partners[best]), split)
                swapped = True
                if cannot_improve():
                    return
        if not swapped:
            break


def _check_nonempty(assignment: _Assignment, split_names: list[str]) -> None:
    for split, name in enumerate(split_names):
        if assignment.targets[split] > 0 and not (assignment.split_of_group == split).any():
            reason = (
                "the existing split files assign every image elsewhere; split again with "
                "--overwrite"
                if assignment.fixed.any()
                else "whole groups did not fit; use a finer group pattern"
            )
            raise SplitError(
                f"{name} should hold {assignment.targets[split]} images but would get none: "
                + reason
            )


def class_presence(mask: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """``(IGNORE_ID,)``: which class ids 0-254 occur in an ``(H, W)`` uint8 mask."""
    pixels = mask.ravel()
    # Masks are long runs of one value: looking only at the first pixel of each run is
    # several times faster than counting every pixel (np.bincount, np.unique).
    run_starts = np.flatnonzero(pixels[1:] != pixels[:-1]) + 1
    present = np.zeros(IGNORE_ID + 1, dtype=bool)
    present[pixels[run_starts]] = True
    present[pixels[:1]] = True
    return present[:IGNORE_ID]


def mask_class_presence(path: Path) -> NDArray[np.bool_]:
    """``(IGNORE_ID,)``: which class ids 0-254 occur in the mask at ``path``."""
    return class_presence(read_label_png(path))


def read_class_presence(
    layout: VocLayout, stems: Sequence[str], progress: ProgressCallback | None = None
) -> NDArray[np.bool_]:
    """``(N, IGNORE_ID)``: which class ids 0-254 each stem's mask holds; reads each mask once."""
    presence = np.zeros((len(stems), IGNORE_ID), dtype=bool)
    for index, stem in enumerate(stems):
        presence[index] = mask_class_presence(layout.class_mask_path(stem))
        if progress is not None:
            progress(1)
    return presence


@dataclass(frozen=True)
class ClassRow:
    """One class in the split table: images holding it, overall and per split."""

    class_id: int
    name: str
    images: int
    per_split: tuple[int, ...]


@dataclass(frozen=True)
class SplitResult:
    """The split made by :func:`split_dataset` and the per-class table data."""

    stems: tuple[str, ...]
    """Every stem of the dataset, sorted."""
    assignment: tuple[str, ...]
    """The part of each stem: ``train``/``val``/``test``, or ``fold<k>``/``test``."""
    split_names: tuple[str, ...]
    """The parts in table order."""
    targets: tuple[int, ...]
    """The number of images each part was asked to hold."""
    classes: tuple[ClassRow, ...]
    folds: int | None
    files: tuple[Path, ...]
    """The split files written."""
    warnings: tuple[str, ...]

    def stems_in(self, split: str) -> list[str]:
        """The sorted stems assigned to ``split``."""
        pairs = zip(self.stems, self.assignment, strict=True)
        return [stem for stem, part in pairs if part == split]

    @property
    def split_sizes(self) -> tuple[int, ...]:
        return tuple(self.assignment.count(name) for name in self.split_names)

    def absent(self) -> list[tuple[ClassRow, str]]:
        """(class, split) pairs where a class present in the dataset is missing from a split.

        Background is left out: it is not stratified.
        """
        return [
            (row, split)
            for row in self.classes
            if row.images > 0 and row.class_id != BACKGROUND_ID
            for split, count in zip(self.split_names, row.per_split, strict=True)
            if count == 0
        ]


def split_dataset(
    dataset_dir: Path,
    val: float | int | None = None,
    test: float | int = 0,
    seed: int = 0,
    group_pattern: str | None = None,
    folds: int | None = None,
    keep_existing: bool = False,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> SplitResult:
    """Split the dataset at ``dataset_dir`` and write its ``ImageSets/Segmentation`` files.

    ``val`` (default 0.2, not with ``folds``) and ``test`` are fractions or image counts;
    ``folds`` asks for K-fold files instead of one train/val split. ``progress`` is called
    with 1 after each mask read. See the module docstring for every rule. Raises
    SplitError for impossible requests, OutputExistsError when split files exist and
    neither ``overwrite`` nor ``keep_existing`` is set, DatasetError for unreadable data.
    Nothing is written when it raises.
    """
    layout = VocLayout.open(Path(dataset_dir))
    stems = layout.stems()
    if not stems:
        raise DatasetError(f"{layout.class_dir} holds no .png masks; there is nothing to split")
    if seed < 0:
        raise SplitError(f"seed {seed} is negative; give a whole number >= 0")
    targets = split_targets(len(stems), val, test, folds)
    pattern = compile_group_pattern(group_pattern) if group_pattern is not None else None
    existing_files = _existing_split_files(layout)
    if existing_files and not (overwrite or keep_existing):
        raise OutputExistsError(
            f"{existing_files[0]} already exists; pass --overwrite to replace the split files, "
            "or --keep-existing to keep their assignments and add only new images"
        )
    fixed: list[str | None] = [None] * len(stems)
    warnings: list[str] = []
    if keep_existing:
        fixed, warnings = _read_existing(layout, stems, list(targets), folds)
    presence = read_class_presence(layout, stems, progress)
    assignment = stratified_assign(
        presence[:, BACKGROUND_ID + 1 :],
        group_labels(stems, pattern),
        targets,
        seed,
        fixed,
    )
    files = _write_split_files(layout, stems, assignment, list(targets), folds, existing_files)
    return SplitResult(
        stems=tuple(stems),
        assignment=tuple(assignment),
        split_names=tuple(targets),
        targets=tuple(targets.values()),
        classes=_class_rows(layout, presence, assignment, list(targets)),
        folds=folds,
        files=tuple(files),
        warnings=tuple(warnings),
    )


def _existing_split_files(layout: VocLayout) -> list[Path]:
    """Every split file annotool writes that exists now: top-level and per fold, sorted."""
    directory = layout.split_dir()
    if not directory.is_dir():
        return []
    files = [layout.split_path(name) for name in (TRAIN, VAL, TRAINVAL, TEST)]
    for fold in _existing_folds(layout):
        files += [layout.split_path(TRAIN, fold), layout.split_path(VAL, fold)]
    return [path for path in files if path.is_file()]


def _existing_folds(layout: VocLayout) -> list[int]:
    directory = layout.split_dir()
    if not directory.is_dir():
        return []
    return sorted(
        int(match.group(1))
        for path in directory.iterdir()
        if path.is_dir() and (match := _FOLD_DIR.fullmatch(path.name))
    )


def _read_existing(
    layout: VocLayout, stems: list[str], split_names: list[str], folds: int | None
) -> tuple[list[str | None], list[str]]:
    """The split each stem has in the existing files (None for new stems), and warnings."""
    sources: list[tuple[str, Path]] = []
    present_folds = [
        fold for fold in _existing_folds(layout) if layout.split_path(VAL, fold).is_file()
    ]
    top_level = [layout.split_path(name) for name in (TRAIN, VAL)]
    if folds is None and present_folds and not any(path.is_file() for path in top_level):
        raise SplitError(
            f"the existing split in {layout.split_dir()} has folds; pass --folds "
            f"{len(present_folds)} to keep it, or split again with --overwrite"
        )
    if folds is not None and not present_folds and any(path.is_file() for path in top_level):
        raise SplitError(
            f"the existing split in {layout.split_dir()} is one train/val split, not folds; "
            "drop --folds to keep it, or split again with --overwrite"
        )
    if folds is not None:
        if present_folds and present_folds != list(range(folds)):
            raise SplitError(
                f"the existing split has folds {present_folds} but {folds} folds were asked "
                f"for; keep the same number of folds, or split again with --overwrite"
            )
        sources += [(fold_name(fold), layout.split_path(VAL, fold)) for fold in present_folds]
    else:
        sources += [(name, layout.split_path(name)) for name in (TRAIN, VAL)]
    sources.append((TEST, layout.split_path(TEST)))
    index = {stem: position for position, stem in enumerate(stems)}
    fixed: list[str | None] = [None] * len(stems)
    origin: dict[str, Path] = {}
    gone: dict[Path, list[str]] = {}
    for split_name, path in sources:
        if not path.is_file():
            continue
        if split_name not in split_names:
            raise SplitError(
                f"{path} holds a {split_name} split, but no {split_name} part was asked for; "
                f"ask for one (e.g. --{split_name}), or split again with --overwrite"
            )
        for stem in _read_split_file(path):
            if stem not in index:
                gone.setdefault(path, []).append(stem)
                continue
            if stem in origin and origin[stem] != path:
                raise SplitError(
                    f"{stem!r} is listed in both {origin[stem]} and {path}; remove it from one "
                    "of them, or split again with --overwrite"
                )
            origin[stem] = path
            fixed[index[stem]] = split_name
    warnings = [
        f"{path} lists {len(missing)} stem(s) with no mask in the dataset, dropped: "
        + ", ".join(missing[:5])
        + (", ..." if len(missing) > 5 else "")
        for path, missing in gone.items()
    ]
    return fixed, warnings


def _read_split_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"cannot read split file {path}: {error}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _write_split_files(
    layout: VocLayout,
    stems: list[str],
    assignment: list[str],
    split_names: list[str],
    folds: int | None,
    existing_files: list[Path],
) -> list[Path]:
    def members(*names: str) -> list[str]:
        return [stem for stem, part in zip(stems, assignment, strict=True) if part in names]

    contents: list[tuple[str, int | None, list[str]]] = []
    if folds is None:
        contents += [
            (TRAIN, None, members(TRAIN)),
            (VAL, None, members(VAL)),
            (TRAINVAL, None, members(TRAIN, VAL)),
        ]
    else:
        fold_names = [fold_name(fold) for fold in range(folds)]
        for fold, name in enumerate(fold_names):
            others = [other for other in fold_names if other != name]
            contents += [(TRAIN, fold, members(*others)), (VAL, fold, members(name))]
        contents.append((TRAINVAL, None, members(*fold_names)))
    if TEST in split_names:
        contents.append((TEST, None, members(TEST)))
    written = [layout.split_path(name, fold) for name, fold, _ in contents]
    for name, fold, split_stems in contents:
        layout.write_split(name, split_stems, fold)
    for stale in sorted(set(existing_files) - set(written)):
        stale.unlink()
        if stale.parent != layout.split_dir() and not any(stale.parent.iterdir()):
            stale.parent.rmdir()
    return written


def _class_rows(
    layout: VocLayout,
    presence: NDArray[np.bool_],
    assignment: list[str],
    split_names: list[str],
) -> tuple[ClassRow, ...]:
    """Per-class image counts: every class of ``class_names.txt`` and every id seen."""
    names = layout.read_class_names() or []
    seen = np.flatnonzero(presence.any(axis=0))
    class_ids = sorted(set(range(len(names))) | {int(class_id) for class_id in seen})
    parts = np.array(assignment)
    rows = []
    for class_id in class_ids:
        column = presence[:, class_id]
        rows.append(
            ClassRow(
                class_id=class_id,
                name=names[class_id] if class_id < len(names) else str(class_id),
                images=int(column.sum()),
                per_split=tuple(int((column & (parts == name)).sum()) for name in split_names),
            )
        )
    return tuple(rows)


def format_split_table(result: SplitResult) -> str:
    """The per-class table of image counts per split, with each split's share of images.

    A ``!`` marks a class missing from a split; the lines below the table name them.
    """
    sizes = result.split_sizes
    total = len(result.stems)
    name_width = max([len("class"), len("images")] + [len(row.name) for row in result.classes])
    header = f"{'class':<{name_width}}  {'all':>6} {'share':>6} " + "".join(
        f" | {name:>6} {'share':>6} " for name in result.split_names
    )
    header = header.rstrip()
    lines = [header, "-" * len(header)]
    for row in result.classes:
        line = f"{row.name:<{name_width}}  {row.images:>6} {_share(row.images, total):>6} "
        for count, size in zip(row.per_split, sizes, strict=True):
            flag = "!" if count == 0 and row.images > 0 and row.class_id != BACKGROUND_ID else " "
            line += f" | {count:>6} {_share(count, size):>6}{flag}"
        lines.append(line.rstrip())
    lines.append("-" * len(header))
    lines.append(
        f"{'images':<{name_width}}  {total:>6} {'':>6} "
        + "".join(f" | {size:>6} {'':>6}" for size in sizes).rstrip()
    )
    absent: dict[str, list[str]] = {}
    for row, split in result.absent():
        absent.setdefault(f"{row.name} ({row.images} image{'s' * (row.images != 1)})", []).append(
            split
        )
    for label, splits in absent.items():
        lines.append(f"! {label} is absent from {', '.join(splits)}")
    return "\n".join(lines)


def _share(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}%" if total else "-"
