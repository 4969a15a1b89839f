"""What the COCO and YOLO exports share: the staged run over the files, splits, the summary.

Both run :func:`annotool.batch.write_valid_files` as ``convert`` does (every file checked,
all or nothing, ``skip_invalid``, workers, progress): each valid file's image is written
into the staging directory by its format's per-file writer, which returns an
:class:`ExportedFile`; the format's ``finish`` then writes what needs every file (the
COCO JSON, YOLO's split folders and ``data.yaml``) before the directory is moved into place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from annotool.batch import write_valid_files
from annotool.check import AnnotationInputs, FileCheck, find_annotation_files
from annotool.errors import Problem
from annotool.export.splits import SPLIT_NAMES, SplitRequest, assign_splits, check_split_size
from annotool.fileio import staged_dir
from annotool.labelmap import LabelMap
from annotool.labelme import Annotation
from annotool.labels import LabelSet
from annotool.progress import ProgressCallback

Payload = TypeVar("Payload")


@dataclass(frozen=True)
class ExportedFile(Generic[Payload]):
    """What exporting one file wrote and counted; ``payload`` is the format's own record.

    ``class_presence`` is ``(num_classes,)``: which classes the image holds (for --val).
    """

    stem: str
    class_presence: NDArray[np.bool_]
    polygon_instances: int
    mask_instances: int
    has_ignore: bool
    payload: Payload


@dataclass
class ExportResult:
    """The summary of an export."""

    out_dir: Path
    exported: list[str]
    skipped: list[FileCheck]
    split_sizes: dict[str, int]
    """Images per split; empty when the export is not split."""
    polygon_instances: int
    """Instances written as their shapes' polygons."""
    mask_instances: int
    """Instances written from their pixels (COCO RLE, YOLO traced outlines)."""
    images_with_ignore: int
    unused_classes: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    """What the inputs held that was not read (see find_annotation_files)."""

    @property
    def instances(self) -> int:
        return self.polygon_instances + self.mask_instances


Finish = Callable[[Path, list[ExportedFile[Payload]], list[str] | None], None]
"""Writes the files that need every exported file: (staging dir, files, their splits)."""


def run_export(
    inputs: AnnotationInputs,
    out_dir: Path,
    labels: LabelSet,
    make_writer: Callable[[Path], Callable[[Annotation], ExportedFile[Payload]]],
    finish: Finish[Payload],
    split: SplitRequest,
    *,
    recursive: bool,
    skip_invalid: bool,
    overwrite: bool,
    workers: int,
    progress: ProgressCallback | None,
    label_map: LabelMap | None = None,
) -> ExportResult:
    """Export every labelme file of ``inputs`` into ``out_dir``, staged, all or nothing.

    ``make_writer(staging)`` gives the picklable per-file writer; ``finish`` runs last.
    Files are read through ``label_map``.
    """
    found = find_annotation_files(inputs, recursive)
    files = found.files
    check_split_size(split, len(files))
    out_dir = Path(out_dir)
    exported: list[ExportedFile[Payload]] = []
    with staged_dir(out_dir, overwrite) as staging:
        summary = write_valid_files(
            files,
            labels,
            make_writer(staging),
            lambda _check, record: exported.append(record),
            verb="export",
            skip_invalid=skip_invalid,
            workers=workers,
            progress=progress,
            label_map=label_map,
        )
        splits = None
        if split.wanted:
            presence = np.stack([record.class_presence for record in exported])
            splits = assign_splits([record.stem for record in exported], presence, split)
        finish(staging, exported, splits)
    return ExportResult(
        out_dir=out_dir,
        exported=summary.written,
        skipped=summary.skipped,
        split_sizes={name: splits.count(name) for name in SPLIT_NAMES if name in splits}
        if splits is not None
        else {},
        polygon_instances=sum(record.polygon_instances for record in exported),
        mask_instances=sum(record.mask_instances for record in exported),
        images_with_ignore=sum(record.has_ignore for record in exported),
        unused_classes=summary.unused_classes(labels),
        warnings=list(found.warnings),
    )
