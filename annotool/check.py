"""Checking a folder of labelme annotations against a class list, without converting.

Every problem in every file is collected (not just the first), each naming its file and
shape, so one run tells the annotator everything to fix. ``annotool convert`` runs the
same checks before it writes anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from annotool.errors import AnnotoolError, Problem
from annotool.labelme import Annotation, read_annotation
from annotool.labels import IGNORE_LABEL, LabelSet
from annotool.parallel import map_in_order
from annotool.progress import ProgressCallback


def find_annotation_files(json_dir: Path, recursive: bool = False) -> list[Path]:
    """The labelme JSON files in ``json_dir`` (and its subfolders if ``recursive``), sorted.

    Raises AnnotoolError when the folder is missing, holds no JSON file, or two files
    share a stem (their outputs would overwrite each other).
    """
    json_dir = Path(json_dir)
    if not json_dir.is_dir():
        raise AnnotoolError(f"annotation folder {json_dir} does not exist")
    pattern = "**/*.json" if recursive else "*.json"
    files = sorted(path for path in json_dir.glob(pattern) if path.is_file())
    if not files:
        hint = "" if recursive else " (pass --recursive to search subfolders)"
        raise AnnotoolError(f"no labelme .json files found in {json_dir}{hint}")
    by_stem: dict[str, list[Path]] = {}
    for path in files:
        by_stem.setdefault(path.stem, []).append(path)
    clashes = {stem: paths for stem, paths in by_stem.items() if len(paths) > 1}
    if clashes:
        listing = "\n".join(
            f"  {stem}: " + ", ".join(str(path) for path in paths)
            for stem, paths in sorted(clashes.items())
        )
        raise AnnotoolError(
            "several annotation files share a name, so their outputs would overwrite each "
            f"other; rename them:\n{listing}"
        )
    return files


@dataclass(frozen=True)
class FileCheck:
    """What checking one annotation file found."""

    path: Path
    problems: tuple[Problem, ...]
    labels_used: frozenset[str]

    @property
    def ok(self) -> bool:
        return not any(problem.severity == "error" for problem in self.problems)


@dataclass
class CheckReport:
    """The result of checking a folder: every problem, errors and warnings."""

    files: list[FileCheck]
    warnings: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [
            problem
            for check in self.files
            for problem in check.problems
            if problem.severity == "error"
        ]

    @property
    def invalid_files(self) -> list[FileCheck]:
        return [check for check in self.files if not check.ok]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, object]:
        return {
            "files_checked": len(self.files),
            "invalid_files": len(self.invalid_files),
            "errors": [problem.to_dict() for problem in self.errors],
            "warnings": [problem.to_dict() for problem in self.warnings],
        }


def read_checked(path: Path, labels: LabelSet | None) -> tuple[Annotation | None, FileCheck]:
    """Read and check one annotation file: JSON, shapes, labels, image."""
    annotation, problems = read_annotation(path, labels)
    used = frozenset(shape.label for shape in annotation.shapes) if annotation else frozenset()
    return annotation, FileCheck(path=path, problems=tuple(problems), labels_used=used)


def check_file(path: Path, labels: LabelSet | None) -> FileCheck:
    """Check one annotation file: JSON, shapes, labels, image."""
    return read_checked(path, labels)[1]


def unused_classes(labels: LabelSet, used_labels: Iterable[str]) -> list[str]:
    """The classes of ``labels``, background aside, not among ``used_labels``."""
    used = set(used_labels)
    return [name for name in labels.class_names[1:] if name not in used]


def unused_class_warnings(labels: LabelSet, files: Sequence[FileCheck]) -> list[Problem]:
    """A warning for each class of ``labels`` that no annotation uses."""
    used = set().union(*(check.labels_used for check in files))
    return [
        Problem(
            path=Path(labels.source),
            message=f"class {name!r} (id {labels.class_id(name)}) is never used in the annotations",
            severity="warning",
        )
        for name in unused_classes(labels, used)
    ]


def check_annotations(
    json_dir: Path,
    labels: LabelSet,
    recursive: bool = False,
    workers: int = 1,
    progress: ProgressCallback | None = None,
) -> CheckReport:
    """Run every check on every annotation file in ``json_dir``."""
    files = find_annotation_files(json_dir, recursive)
    checks = list(map_in_order(partial(check_file, labels=labels), files, workers, progress))
    return CheckReport(files=checks, warnings=unused_class_warnings(labels, checks))


def labels_in_use(
    json_dir: Path,
    recursive: bool = False,
    workers: int = 1,
    progress: ProgressCallback | None = None,
) -> tuple[set[str], list[Problem]]:
    """Every label used in the annotations, and the problems of files that could not be read.

    Only the JSON is read (not the images), since only the labels matter here.
    """
    files = find_annotation_files(json_dir, recursive)
    labels: set[str] = set()
    problems: list[Problem] = []
    for path, outcome in zip(
        files, map_in_order(_read_labels, files, workers, progress), strict=True
    ):
        if isinstance(outcome, str):
            problems.append(Problem(path=path, message=outcome))
        else:
            labels.update(outcome)
    return labels, problems


def _read_labels(path: Path) -> set[str] | str:
    """The labels of one file's shapes, or a message saying why the file cannot be read."""
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        return f"cannot read labelme JSON: {error}"
    shapes = document.get("shapes") if isinstance(document, dict) else None
    if not isinstance(shapes, list):
        return "not a labelme file: it has no 'shapes' list"
    labels = {shape.get("label") for shape in shapes if isinstance(shape, dict)}
    return {label for label in labels if isinstance(label, str) and label} - {IGNORE_LABEL}
