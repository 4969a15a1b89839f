"""Iterative stratification of grouped, multi-label images into splits (pure numpy).

See :mod:`annotool.split` for the rules; :func:`stratified_assign` is the entry point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from annotool.errors import SplitError

SWAP_PASSES = 3
"""Most passes of the swap refinement over all groups."""
SWAP_CANDIDATES = 256
"""Most partner groups weighed for each swap; bounds the time on large datasets."""


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
