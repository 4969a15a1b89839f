"""Annotation-level statistics of a folder of labelme JSON files, without converting."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from annotool.check import AnnotationFiles, find_annotation_files, read_checked
from annotool.labelmap import LabelMap
from annotool.parallel import map_in_order
from annotool.progress import ProgressCallback
from annotool.stats.results import SCHEMA_VERSION


@dataclass(frozen=True)
class LabelCount:
    """How one label is used across a labelme folder."""

    label: str
    shapes: int
    images: int
    instances: int
    shape_types: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "shapes": self.shapes,
            "images": self.images,
            "instances": self.instances,
            "shape_types": dict(self.shape_types),
        }


@dataclass(frozen=True)
class LabelmeStats:
    """Annotation-level counts of a folder of labelme JSON files (see :meth:`to_dict`)."""

    folder: str
    files: int
    labels: tuple[LabelCount, ...]
    shape_types: dict[str, int]
    files_without_shapes: tuple[str, ...]
    problems: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{"schema_version": 1, "kind": "labelme", "folder", "files", "shapes",
        "labels": [{"label", "shapes", "images", "instances", "shape_types": {type: n}}],
        "shape_types": {type: n}, "files_without_shapes": [name], "problems": [message]}``.
        """
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "labelme",
            "folder": self.folder,
            "files": self.files,
            "shapes": sum(self.shape_types.values()),
            "labels": [item.to_dict() for item in self.labels],
            "shape_types": dict(self.shape_types),
            "files_without_shapes": list(self.files_without_shapes),
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class _FileShapes:
    """The valid shapes of one labelme file as ``(label, shape_type, instance key)``."""

    name: str
    shapes: tuple[tuple[str, str, tuple[str | None, int]], ...]
    problems: tuple[str, ...]
    readable: bool


def _read_file_shapes(path: Path, label_map: LabelMap | None) -> _FileShapes:
    annotation, check = read_checked(path, labels=None, label_map=label_map)
    messages = tuple(str(problem) for problem in check.problems)
    if annotation is None:
        return _FileShapes(path.name, (), messages, readable=False)
    shapes = tuple(
        (
            shape.label,
            shape.shape_type,
            # An instance is a (label, group_id) pair, the label as written in the file
            # (before a label map); without a group id, each shape is one.
            (None, shape.index) if shape.group_id is None else (shape.source_label, shape.group_id),
        )
        for shape in annotation.shapes
    )
    return _FileShapes(path.name, shapes, messages, readable=True)


def labelme_stats(
    json_dir: Path,
    progress: ProgressCallback | None = None,
    workers: int = 1,
    files: AnnotationFiles | None = None,
    label_map: LabelMap | None = None,
) -> LabelmeStats:
    """Count shapes per label and shape type, images per label, and files without shapes.

    Reads the ``*.json`` files directly in ``json_dir`` in sorted order with the same
    parser as ``annotool convert``; every problem it finds is listed in ``problems``, and
    invalid shapes and unreadable files are left out of the counts. An instance is a
    (label, group_id) pair per file, a null group_id making each shape its own instance,
    as ``annotool convert`` numbers them. ``progress`` is called per file. ``files``: the
    folder's files when the caller has already listed them with find_annotation_files.
    Labels are counted after ``label_map``; the shapes it drops are not counted.
    """
    json_dir = Path(json_dir)
    files = find_annotation_files(json_dir if files is None else files)
    shapes: Counter[str] = Counter()
    images: Counter[str] = Counter()
    instances: Counter[str] = Counter()
    types_per_label: dict[str, Counter[str]] = {}
    shape_types: Counter[str] = Counter()
    without_shapes: list[str] = []
    problems: list[str] = []
    for summary in map_in_order(
        partial(_read_file_shapes, label_map=label_map),
        files.files,
        workers=workers,
        progress=progress,
    ):
        problems += summary.problems
        if not summary.readable:
            continue
        if not summary.shapes:
            without_shapes.append(summary.name)
        for label, shape_type, _ in summary.shapes:
            shapes[label] += 1
            shape_types[shape_type] += 1
            types_per_label.setdefault(label, Counter())[shape_type] += 1
        images.update({label for label, _, _ in summary.shapes})
        instances.update(label for label, _ in {(label, key) for label, _, key in summary.shapes})
    labels = tuple(
        LabelCount(
            label=label,
            shapes=shapes[label],
            images=images[label],
            instances=instances[label],
            shape_types=dict(sorted(types_per_label[label].items())),
        )
        for label in sorted(shapes)
    )
    return LabelmeStats(
        folder=str(json_dir),
        files=len(files.files),
        labels=labels,
        shape_types=dict(sorted(shape_types.items())),
        files_without_shapes=tuple(without_shapes),
        problems=tuple(problems),
    )
