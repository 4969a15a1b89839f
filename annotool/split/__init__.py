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

from annotool.split.dataset import (
    ClassRow,
    SplitResult,
    mask_class_presence,
    read_class_presence,
    split_dataset,
)
from annotool.split.plan import (
    DEFAULT_VAL,
    compile_group_pattern,
    group_labels,
    resolve_size,
    split_targets,
)
from annotool.split.report import format_split_table
from annotool.split.stratify import stratified_assign
from annotool.voc import TEST, TRAIN, TRAINVAL, VAL, fold_name

__all__ = [
    "DEFAULT_VAL",
    "TEST",
    "TRAIN",
    "TRAINVAL",
    "VAL",
    "ClassRow",
    "SplitResult",
    "compile_group_pattern",
    "fold_name",
    "format_split_table",
    "group_labels",
    "mask_class_presence",
    "read_class_presence",
    "resolve_size",
    "split_dataset",
    "split_targets",
    "stratified_assign",
]
