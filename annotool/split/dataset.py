"""Splitting a dataset on disk: read class presence, keep or replace split files, write them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from annotool.errors import DatasetError, OutputExistsError, SplitError
from annotool.labels import IGNORE_ID
from annotool.masks import (
    class_presence,
    read_label_png,
    unknown_class_ids,
    unknown_ids_warning,
)
from annotool.progress import ProgressCallback
from annotool.split.plan import compile_group_pattern, group_labels, split_targets
from annotool.split.stratify import stratified_assign
from annotool.tables import name_some
from annotool.voc import TEST, TRAIN, TRAINVAL, VAL, VocLayout, fold_name

BACKGROUND_ID = 0
LISTED_STEMS = 5
"""Most dropped stems named in a warning; the rest are counted."""


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
    existing_files = layout.split_files()
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
    warnings += _unknown_id_warnings(layout, stems, presence)
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


def _unknown_id_warnings(
    layout: VocLayout, stems: list[str], presence: NDArray[np.bool_]
) -> list[str]:
    """A warning naming the masks with class ids beyond ``class_names.txt``; they are split
    like the others, and named by id in the table."""
    names = layout.read_class_names()
    if names is None:
        return []
    found = [
        (layout.class_mask_path(stem), unknown)
        for stem, present in zip(stems, presence, strict=True)
        if (unknown := unknown_class_ids(present, len(names)))
    ]
    return [unknown_ids_warning(found, len(names), layout.class_names_path)] if found else []


def _read_existing(
    layout: VocLayout, stems: list[str], split_names: list[str], folds: int | None
) -> tuple[list[str | None], list[str]]:
    """The split each stem has in the existing files (None for new stems), and warnings."""
    # (part, split file, fold): where each part's stems are listed.
    sources: list[tuple[str, str, int | None]] = []
    present_folds = [fold for fold in layout.folds() if layout.split_path(VAL, fold).is_file()]
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
        sources += [(fold_name(fold), VAL, fold) for fold in present_folds]
    else:
        sources += [(name, name, None) for name in (TRAIN, VAL)]
    sources.append((TEST, TEST, None))
    index = {stem: position for position, stem in enumerate(stems)}
    fixed: list[str | None] = [None] * len(stems)
    origin: dict[str, Path] = {}
    gone: dict[Path, list[str]] = {}
    for split_name, file_split, fold in sources:
        path = layout.split_path(file_split, fold)
        if not path.is_file():
            continue
        if split_name not in split_names:
            raise SplitError(
                f"{path} holds a {split_name} split, but no {split_name} part was asked for; "
                f"ask for one (e.g. --{split_name}), or split again with --overwrite"
            )
        for stem in layout.read_split(file_split, fold):
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
        + name_some(missing, LISTED_STEMS)
        for path, missing in gone.items()
    ]
    return fixed, warnings


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
